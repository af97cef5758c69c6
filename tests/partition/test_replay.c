/* Unit tests for the stage replay (tools/partition-replay.c): every stage of
 * a plan replays its own op list (gpt and mlp, whole and split backwards,
 * recompute) and gives the compute the trace would show per op kind: a
 * forward and a backward on every stage, nothing in the forward op of a last
 * stage that recomputes, a W only where the schedule splits the backward;
 * what it cannot replay is refused. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"
#include "tools/partition-replay.h"

#define GPT "[model]\nkind = gpt\nlayers = 2\ndim = 32\nheads = 2\nseq_len = 16\nvocab = 64\n"
#define MLP "[model]\nkind = mlp\nwidths = 20-16-12-10\n"

static struct dtp_plan *load(const char *text)
{
	struct dtp_plan *p = calloc(1, sizeof(*p));
	struct dtp_err err = { 0 };

	assert_non_null(p);
	if (dtp_plan_parse_string(text, "t.ini", p, &err))
		fail_msg("plan: %s", err.msg);
	return p;
}

/* 1 when stage s's op list splits its backward into B and W */
static int splits(const struct dtp_plan *p, int s)
{
	struct dtp_schedule sc;
	struct dtp_err err = { 0 };
	int w = 0;

	assert_int_equal(dtp_schedule_build(p->schedule, s, p->num_stages, p->micro_batches, &sc,
					    &err), 0);
	for (int i = 0; i < sc.n_ops; i++)
		w |= sc.ops[i].kind == DTP_OP_BWD_W;
	dtp_schedule_free(&sc);
	return w;
}

/* every stage: forward and backward > 0; W > 0 exactly where the stage's
 * list splits the backward (some stage does when `split`); the forward op
 * free on a last stage that recomputes */
static void check_plan(const char *text, int split, int last_fwd_free)
{
	struct dtp_plan *p = load(text);
	struct dtp_err err = { 0 };
	int any = 0;

	for (int s = 0; s < p->num_stages; s++) {
		double f = -1, b = -1, w = -1;
		int r = dtp_tool_replay_stage(p, s, s % 2 ? "0" : NULL, 2, &f, &b, &w, &err);

		if (r)
			fail_msg("stage %d: %s", s, err.msg);
		any |= splits(p, s);
		if (last_fwd_free && s == p->num_stages - 1)
			assert_true(f == 0);
		else
			assert_true(f > 0);
		assert_true(b > 0);
		if (splits(p, s))
			assert_true(w > 0);
		else
			assert_true(w == 0);
	}
	assert_int_equal(any, split);
	free(p);
}

static void test_gpt_1f1b(void **state)
{
	(void)state;
	check_plan(GPT "[train]\nmicro_batch = 2\nmicro_batches = 4\nschedule = 1f1b\n"
		   "[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2\n[stage.2]\nunits = 3\n", 0, 0);
}

static void test_gpt_gpipe_recompute(void **state)
{
	(void)state;
	check_plan(GPT "[train]\nmicro_batch = 2\nmicro_batches = 3\nschedule = gpipe\n"
		   "recompute = yes\n[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2-3\n", 0, 1);
}

static void test_mlp_split(void **state)
{
	(void)state;
	check_plan(MLP "[train]\nmicro_batch = 4\nmicro_batches = 4\nschedule = zb-h1\n"
		   "[stage.0]\nunits = 0\n[stage.1]\nunits = 1-2\n", 1, 0);
	check_plan(MLP "[train]\nmicro_batch = 4\nmicro_batches = 2\noptimizer = sgd\n"
		   "[stage.0]\nunits = 0-2\n", 0, 0);
}

/* pinned to the stage's cores for the replay, the thread's affinity as before after */
static void test_affinity_restored(void **state)
{
	struct dtp_plan *p = load(MLP "[train]\nmicro_batch = 4\nmicro_batches = 2\n"
				  "[stage.0]\nunits = 0-2\n");
	struct dtp_err err = { 0 };
	cpu_set_t before, after;
	double f, b, w;

	(void)state;
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(before), &before), 0);
	assert_int_equal(dtp_tool_replay_stage(p, 0, "0", 1, &f, &b, &w, &err), 0);
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&before, &after));
	free(p);
}

static void test_refused(void **state)
{
	struct dtp_plan *p = load(MLP "[train]\nmicro_batch = 4\nmicro_batches = 2\n"
				  "[stage.0]\nunits = 0\n[stage.1]\nunits = 1-2\n");
	struct dtp_err err = { 0 };
	double f, b, w;

	(void)state;
	assert_int_equal(dtp_tool_replay_stage(p, 2, NULL, 1, &f, &b, &w, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "stage 2 of 2"));
	assert_int_equal(dtp_tool_replay_stage(p, 0, NULL, 0, &f, &b, &w, &err), -EINVAL);
	assert_int_equal(dtp_tool_replay_stage(p, 0, "0-x", 1, &f, &b, &w, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a cpulist"));
	/* a CPU this process may not use (no machine here has 4000) */
	assert_int_equal(dtp_tool_replay_stage(p, 0, "4000", 1, &f, &b, &w, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cannot run on cores 4000"));
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpt_1f1b),
		cmocka_unit_test(test_gpt_gpipe_recompute),
		cmocka_unit_test(test_mlp_split),
		cmocka_unit_test(test_affinity_restored),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
