/* Unit tests for the liveness judgement (pipeline/liveness.c): when silence
 * or a standstill of a neighbour is a failure, from its heartbeat state. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/stage.h"
#include "rdma/heartbeat.h"

#define S 1000000000ull
#define NOW (1000 * S)

/* a beat stamped after the judge's clock was read (the heartbeat thread got
 * one in between): just heard, not 584 years of silence */
static void test_beat_newer_than_now(void **state)
{
	struct dtp_hb_state ps = { .heard_ns = NOW + 3000000, .since_ns = NOW + 3000000,
				   .waiting_on = -1 };
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 1, 5000, 10000, &err), 0);
	ps.waiting_on = 2;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 1, 5000, 10000, &err), 0);
}

static void test_silence(void **state)
{
	struct dtp_hb_state ps = { .heard_ns = NOW - 6 * S, .since_ns = NOW - 6 * S,
				   .waiting_on = 0 };
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 1, 5000, 10000, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no heartbeat from stage 1 for 6.0 s"));
	ps.closed = ECONNRESET;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 1, 5000, 10000, &err), -ECONNRESET);
	assert_non_null(strstr(err.msg, "stage 1 closed its connection"));
	/* within the bound: alive */
	ps.closed = 0;
	ps.heard_ns = NOW - 4 * S;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 1, 5000, 10000, &err), 0);
}

static void test_standstill(void **state)
{
	struct dtp_hb_state ps = { .heard_ns = NOW, .since_ns = NOW - 11 * S, .waiting_on = -1 };
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 2, 5000, 10000, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "stage 2 is alive but has made no progress for 11.0 s"));
	/* waiting on another stage: never blamed */
	ps.waiting_on = 3;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 2, 5000, 10000, &err), 0);
	/* slow work seen before raises the bound: 4 x 3 s */
	ps.waiting_on = -1;
	ps.longest_ns = 3 * S;
	assert_int_equal(dtp_liveness_judge(&ps, NOW, 2, 5000, 10000, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_beat_newer_than_now),
		cmocka_unit_test(test_silence),
		cmocka_unit_test(test_standstill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
