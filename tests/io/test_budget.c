/* A dataset 16 times the loader's budget (256 MiB of shards, 16 MiB budget):
 * a whole epoch streams through while the peak RSS grows by no more than the
 * budget + 16 MiB (VmHWM from /proc, read in a fresh child before and after). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include "io_fixture.h"

#define REC_FEAT (64 * 1024 - 4)   /* 64 KiB records */
#define RECS_PER_SHARD 1024         /* 64 MiB shards */
#define SHARDS 4
#define BUDGET (16u << 20)

/* in the child: exit 0 when the epoch is whole and the memory bound holds */
static int child(const char *dir)
{
	static char seen[SHARDS * RECS_PER_SHARD];
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_loader_io_stats st;
	struct dtp_err err;
	int32_t labels[4];
	float *in;
	long before, after;
	int n, i, total = 0;

	in = malloc(4 * REC_FEAT * sizeof(float));
	if (!in)
		return 10;
	memset(in, 0, 4 * REC_FEAT * sizeof(float));   /* the caller's batch: touched before */
	before = (long)(dtp_peak_rss() >> 10);
	dtp_loader_config_default(&c);
	c.path = dir;
	c.budget_bytes = BUDGET;
	c.seed = 7;
	c.wrap = 0;
	if (dtp_loader_open(&c, &l, &err)) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 11;
	}
	while ((n = dtp_loader_next(l, 4, in, labels, &err)) > 0) {
		for (i = 0; i < n; i++) {
			if (labels[i] < 0 || labels[i] >= SHARDS * RECS_PER_SHARD || seen[labels[i]]++)
				return 12;
			if (in[i * REC_FEAT + 5] != (float)(uint8_t)(labels[i] * 7 + 5) / 255.0f)
				return 13;
		}
		total += n;
	}
	if (n < 0) {
		fprintf(stderr, "next: %s\n", err.msg);
		return 14;
	}
	dtp_loader_io_stats(l, &st);
	after = (long)(dtp_peak_rss() >> 10);
	fprintf(stderr, "budget %u KiB, loader memory %zu KiB, window %zu samples, direct %d, fixed %d; VmHWM %ld -> %ld KiB (+%ld KiB)\n",
		BUDGET >> 10, st.memory_bytes >> 10, st.window_samples, st.direct, st.fixed_buffers,
		before, after, after - before);
	dtp_loader_close(l);
	free(in);
	if (total != SHARDS * RECS_PER_SHARD)
		return 15;
	if (st.memory_bytes > BUDGET)
		return 16;
	if (before <= 0 || after - before > (long)(BUDGET >> 10) + 16 * 1024)
		return 17;
	return 0;
}

static void test_budget_bounds_rss(void **state)
{
	char *dir = fx_tmpdir();
	char p[4400];
	int s, status;
	pid_t pid;

	for (s = 0; s < SHARDS; s++) {
		snprintf(p, sizeof(p), "%.4000s/big%d.dtpr", dir, s);
		assert_int_equal(fx_record_shard(p, REC_FEAT, (uint64_t)s * RECS_PER_SHARD, RECS_PER_SHARD), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	fx_rmtree(dir);
	free(dir);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_bounds_rss),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
