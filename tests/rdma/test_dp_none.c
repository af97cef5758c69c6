/* A build without MPI (configure --without-mpi) refuses a plan with
 * replicas > 1: dtp_dp_open of src/rdma/dp_none.c (linked into this test
 * whatever the build) fails as bad input (exit status 2) with a message that
 * names the replicas and how to get MPI; nothing is left open. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rdma/dp.h"

static void test_refused(void **state)
{
	struct dtp_err err = { 0 };
	struct dtp_dp *dp = (struct dtp_dp *)&err;
	int r;

	(void)state;
	assert_int_equal(dtp_dp_built(), 0);
	r = dtp_dp_open(2, 3, &dp, &err);
	assert_int_equal(r, -ENOTSUP);
	assert_null(dp);
	assert_int_equal(dtp_err_exit(&err, r), DTP_EXIT_BADINPUT);
	assert_non_null(strstr(err.msg, "replicas = 2 needs MPI"));
	assert_non_null(strstr(err.msg, "libopenmpi-dev"));
	assert_non_null(strstr(err.msg, "--with-mpi"));
	assert_non_null(strstr(err.msg, "replicas = 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
