/* Unit tests for the bootstrap: rank precedence and Slurm node lists. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rdma/bootstrap.h"

static const char *const rank_vars[] = {
	"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID",
};

static void clear_rank_env(void)
{
	for (int i = 0; i < 4; i++)
		unsetenv(rank_vars[i]);
	unsetenv("SLURM_STEP_ID");
}

static void test_rank_precedence(void **state)
{
	enum dtp_rank_source src;
	int rank = 99;
	struct dtp_err err;

	(void)state;
	clear_rank_env();
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, -1);
	assert_int_equal(src, DTP_RANK_NONE);

	/* set from the lowest precedence up: each new variable must win */
	setenv("SLURM_STEP_ID", "0", 1);
	setenv("SLURM_PROCID", "4", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 4);
	assert_int_equal(src, DTP_RANK_SLURM);
	setenv("PMI_RANK", "3", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 3);
	assert_int_equal(src, DTP_RANK_PMI);
	setenv("PMIX_RANK", "2", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 2);
	assert_int_equal(src, DTP_RANK_PMIX);
	setenv("OMPI_COMM_WORLD_RANK", "1", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 1);
	assert_int_equal(src, DTP_RANK_OMPI);
	assert_string_equal(dtp_rank_source_name(src), "OMPI_COMM_WORLD_RANK");
	/* --stage beats them all */
	assert_int_equal(dtp_rank_detect(0, &rank, &src, &err), 0);
	assert_int_equal(rank, 0);
	assert_int_equal(src, DTP_RANK_OPTION);
	/* and a lower one is used when a higher one is unset */
	unsetenv("OMPI_COMM_WORLD_RANK");
	unsetenv("PMIX_RANK");
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 3);
	clear_rank_env();
}

/* a batch script's environment has SLURM_PROCID=0 but no job step: no rank
 * (dtpipe launches the stages); a task of a job step (srun) has both */
static void test_rank_slurm_batch_step(void **state)
{
	enum dtp_rank_source src = DTP_RANK_OPTION;
	int rank = 99;
	struct dtp_err err;

	(void)state;
	clear_rank_env();
	setenv("SLURM_PROCID", "0", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, -1);
	assert_int_equal(src, DTP_RANK_NONE);
	setenv("SLURM_STEP_ID", "0", 1);
	assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), 0);
	assert_int_equal(rank, 0);
	assert_int_equal(src, DTP_RANK_SLURM);
	clear_rank_env();
}

static void test_rank_bad_value(void **state)
{
	enum dtp_rank_source src = DTP_RANK_NONE;
	int rank = 7;
	struct dtp_err err;
	const char *bad[] = { "", "x", "-1", "2a", " 3" };

	(void)state;
	clear_rank_env();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("PMI_RANK", bad[i], 1);
		assert_int_equal(dtp_rank_detect(-1, &rank, &src, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "PMI_RANK"));
		assert_int_equal(rank, 7);
	}
	clear_rank_env();
}

static void expect_list(const char *list, const char *const *want, int n)
{
	struct dtp_hostlist h;
	struct dtp_err err = { 0 };

	if (dtp_slurm_nodelist_expand(list, &h, &err) != 0)
		fail_msg("'%s': %s", list, err.msg);
	assert_int_equal(h.n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(h.names[i], want[i]);
	dtp_hostlist_free(&h);
}

static void test_nodelist_expand(void **state)
{
	(void)state;
	{
		const char *w[] = { "node2", "node3", "node7", "gpu01" };
		expect_list("node[2-3,7],gpu01", w, 4);
	}
	{
		const char *w[] = { "single" };
		expect_list("single", w, 1);
	}
	{
		const char *w[] = { "n08", "n09", "n10", "n011" };
		expect_list("n[08-10,011]", w, 4);
	}
	{
		const char *w[] = { "r1n1", "r1n2", "r2n1", "r2n2" };
		expect_list("r[1-2]n[1-2]", w, 4);
	}
	{
		const char *w[] = { "a5-ib", "a6-ib", "b", "c1", "c3" };
		expect_list("a[5-6]-ib,b,c[1,3]", w, 5);
	}
	{
		const char *w[] = { "host-1.example.org", "10.0.0.7" };
		expect_list("host-1.example.org,10.0.0.7", w, 2);
	}
	{
		const char *w[] = { "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10" };
		expect_list("x[0-10]", w, 11);
	}
}

static void test_nodelist_errors(void **state)
{
	const char *bad[] = {
		"", "a[", "a]", "a[]", "a[1-]", "a[-2]", "a[3-1]", "a[1,]", "a[x]",
		"a[1-2", "a,,b", ",a", "a,", "a[1[2]]", "a[1-2-3]",
	};
	struct dtp_hostlist h = { 5, NULL };
	struct dtp_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dtp_slurm_nodelist_expand(bad[i], &h, &err);

		if (rc != -EINVAL)
			fail_msg("'%s' gave %d", bad[i], rc);
		assert_int_equal(h.n, 5);   /* output untouched */
	}
	assert_int_equal(dtp_slurm_nodelist_expand("n[0-99999999]", &h, &err), -E2BIG);
}

static void test_stage_host(void **state)
{
	struct dtp_hostlist h;
	struct dtp_err err;
	char host[64];

	(void)state;
	assert_int_equal(dtp_slurm_nodelist_expand("n[1-4]", &h, &err), 0);
	/* one stage per node */
	assert_int_equal(dtp_slurm_stage_host(&h, NULL, 2, host, sizeof(host), &err), 0);
	assert_string_equal(host, "n3");
	assert_int_equal(dtp_slurm_stage_host(&h, "", 4, host, sizeof(host), &err), -ERANGE);
	/* block: 2,2,2 then 1 */
	const char *want[] = { "n1", "n1", "n2", "n2", "n3", "n3", "n4" };
	for (int s = 0; s < 7; s++) {
		assert_int_equal(dtp_slurm_stage_host(&h, "2(x3),1", s, host, sizeof(host), &err), 0);
		assert_string_equal(host, want[s]);
	}
	assert_int_equal(dtp_slurm_stage_host(&h, "2(x3),1", 7, host, sizeof(host), &err), -ERANGE);
	assert_int_equal(dtp_slurm_stage_host(&h, "1,3", 3, host, sizeof(host), &err), 0);
	assert_string_equal(host, "n2");
	/* more tasks per node entries than nodes */
	assert_int_equal(dtp_slurm_stage_host(&h, "1(x6)", 5, host, sizeof(host), &err), -ERANGE);
	assert_int_equal(dtp_slurm_stage_host(&h, "2(y3)", 0, host, sizeof(host), &err), -EINVAL);
	assert_int_equal(dtp_slurm_stage_host(&h, "0", 0, host, sizeof(host), &err), -EINVAL);
	assert_int_equal(dtp_slurm_stage_host(&h, "2x", 0, host, sizeof(host), &err), -EINVAL);
	dtp_hostlist_free(&h);
}

static void test_host_of_stage_env(void **state)
{
	struct dtp_err err;
	char host[64];

	(void)state;
	unsetenv("SLURM_STEP_NODELIST");
	unsetenv("SLURM_JOB_NODELIST");
	unsetenv("SLURM_STEP_TASKS_PER_NODE");
	unsetenv("SLURM_TASKS_PER_NODE");
	assert_int_equal(dtp_slurm_host_of_stage(0, host, sizeof(host), &err), -ENOENT);
	setenv("SLURM_JOB_NODELIST", "job[1-2]", 1);
	setenv("SLURM_STEP_NODELIST", "step[5-6]", 1);
	setenv("SLURM_STEP_TASKS_PER_NODE", "2(x2)", 1);
	assert_int_equal(dtp_slurm_host_of_stage(2, host, sizeof(host), &err), 0);
	assert_string_equal(host, "step6");
	unsetenv("SLURM_STEP_NODELIST");
	unsetenv("SLURM_STEP_TASKS_PER_NODE");
	assert_int_equal(dtp_slurm_host_of_stage(1, host, sizeof(host), &err), 0);
	assert_string_equal(host, "job2");
	unsetenv("SLURM_JOB_NODELIST");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank_precedence),
		cmocka_unit_test(test_rank_slurm_batch_step),
		cmocka_unit_test(test_rank_bad_value),
		cmocka_unit_test(test_nodelist_expand),
		cmocka_unit_test(test_nodelist_errors),
		cmocka_unit_test(test_stage_host),
		cmocka_unit_test(test_host_of_stage_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
