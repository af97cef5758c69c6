/* Unit tests for the shared-core simulator (tools/partition-share.c): with
 * every stage on cores of its own it is the schedule simulator; stages on
 * one core keep that core busy and no more (the step is their summed
 * compute), and their ops' spans stretch; groups come from equal cpulists. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tools/partition-share.h"

static const double fwd[4] = { 0.010, 0.030, 0.020, 0.015 };
static const double bin[4] = { 0.012, 0.035, 0.020, 0.020 };
static const double bw[4] = { 0.010, 0.025, 0.022, 0.018 };

static void test_alone_is_the_simulator(void **state)
{
	static const enum dtp_schedule_kind kinds[] = { DTP_SCHEDULE_GPIPE, DTP_SCHEDULE_1F1B,
							 DTP_SCHEDULE_ZBH1 };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_result r;
	struct dtp_sim_result ref;

	(void)state;
	dtp_share_none(&sh, 4);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		assert_int_equal(dtp_schedule_predict_split(kinds[i], 4, 6, fwd, bin, bw, 0.001, &ref,
							    &err), 0);
		assert_int_equal(dtp_share_simulate(kinds[i], 4, 6, fwd, bin, bw, 0.001, &sh, &r,
						    &err), 0);
		assert_true(fabs(r.step_time - ref.step_time) < 1e-9);
		assert_true(fabs(r.bubble - ref.bubble) < 1e-9);
		for (int s = 0; s < 4; s++) {
			assert_true(fabs(r.fwd_span[s] - fwd[s]) < 1e-9);
			assert_true(fabs(r.bwd_span[s] - bin[s] - bw[s]) < 1e-9);
		}
	}
}

/* three stages on one core: never idle (no transfer time), never faster */
static void test_one_core_runs_the_sum(void **state)
{
	static const char cores[3][128] = { "0", "0", "0" };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_result r;
	double sum = 0;

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 3, cores, NULL, &err), 1);
	assert_int_equal(sh.n_groups, 1);
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_1F1B, 3, 8, fwd, bin, bw, 0, &sh, &r, &err),
			 0);
	for (int s = 0; s < 3; s++)
		sum += 8 * (fwd[s] + bin[s] + bw[s]);
	assert_true(fabs(r.step_time - sum) < 1e-9);
	/* the stages overlap in 1F1B's steady state: their ops take longer */
	for (int s = 0; s < 3; s++)
		assert_true(r.fwd_span[s] + r.bwd_span[s] > 1.05 * (fwd[s] + bin[s] + bw[s]));
}

/* four stages on two cores as placement puts them (core s % 2): stages 0
 * and 2 share core 0, 1 and 3 core 1; the step lies between the plain
 * simulator's and all the compute on one core */
static void test_two_cores_four_stages(void **state)
{
	static const char cores[4][128] = { "0", "1", "0", "1" };
	struct dtp_err err = { 0 };
	struct dtp_share sh, none;
	struct dtp_share_result r, alone;
	double sum = 0;

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 4, cores, NULL, &err), 1);
	assert_int_equal(sh.n_groups, 2);
	assert_int_equal(sh.group[0], sh.group[2]);
	assert_int_equal(sh.group[1], sh.group[3]);
	assert_int_not_equal(sh.group[0], sh.group[1]);
	dtp_share_none(&none, 4);
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_GPIPE, 4, 8, fwd, bin, bw, 0, &sh, &r, &err),
			 0);
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_GPIPE, 4, 8, fwd, bin, bw, 0, &none,
					    &alone, &err), 0);
	for (int s = 0; s < 4; s++)
		sum += 8 * (fwd[s] + bin[s] + bw[s]);
	assert_true(r.step_time > alone.step_time + 1e-6);
	assert_true(r.step_time >= sum / 2 - 1e-9);
	assert_true(r.step_time < sum);
	/* processor sharing: an op advances at half speed while its mate runs
	 * one too, so its stage's spans exceed its compute by half the time
	 * they overlap; alone, nothing overlaps */
	for (int s = 0; s < 4; s++) {
		double own = fwd[s] + bin[s] + bw[s];

		assert_true(r.overlap[s] > 0);
		assert_true(fabs(r.fwd_span[s] + r.bwd_span[s] - own - r.overlap[s] / 2) < 1e-9);
		assert_true(alone.overlap[s] == 0);
	}
}

/* the kind whose trace name is `name` */
static int span_kind(const char *name)
{
	for (int k = 0; k < 64; k++)
		if (strcmp(dtp_trace_span_name(k), name) == 0)
			return k;
	fail_msg("no span kind %s", name);
	return -1;
}

/* the overlap a trace shows: stage 0 [0, 4] beside its mate's [1, 2] and
 * [3, 6] (2 s), the mate the same; stage 1 on a core of its own none; a
 * send is not compute; per micro-batch (M = 2) */
static void test_overlap_from_a_trace(void **state)
{
	static const char cores[3][128] = { "0", "1", "0" };
	int F = span_kind("fwd"), B = span_kind("bwd"), S = span_kind("send");
	const struct dtp_trace_event ev[] = {
		{ .stage = 0, .kind = F, .t0 = 0, .t1 = 4 },
		{ .stage = 2, .kind = F, .t0 = 1, .t1 = 2 },
		{ .stage = 2, .kind = B, .t0 = 3, .t1 = 6 },
		{ .stage = 0, .kind = S, .t0 = 4, .t1 = 6 },
		{ .stage = 1, .kind = B, .t0 = 0, .t1 = 10 },
	};
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	double ov[3];

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 3, cores, NULL, &err), 1);
	dtp_share_overlap(&sh, 3, 2, ev, 5, ov);
	assert_true(fabs(ov[0] - 1.0) < 1e-12);
	assert_true(fabs(ov[2] - 1.0) < 1e-12);
	assert_true(ov[1] == 0);
}

/* two threads' worth of cores for two one-thread stages: no one waits */
static void test_enough_cores_do_not_share(void **state)
{
	static const char cores[2][128] = { "0-1", "0-1" };
	static const int threads[2] = { 1, 1 };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_result r;

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 2, cores, threads, &err), 0);
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_1F1B, 2, 4, fwd, bin, bw, 0, &sh, &r, &err),
			 0);
	for (int s = 0; s < 2; s++)
		assert_true(fabs(r.fwd_span[s] - fwd[s]) < 1e-9);
}

/* an extra of nothing is the plain op lists; per-step work and the exchange
 * add once per step, whatever M */
static void test_step_extra_adds_once(void **state)
{
	static const enum dtp_schedule_kind kinds[] = { DTP_SCHEDULE_GPIPE, DTP_SCHEDULE_1F1B };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_extra ex;
	struct dtp_share_result r, plain;

	(void)state;
	dtp_share_none(&sh, 4);
	dtp_share_extra_none(&ex);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(dtp_share_simulate(kinds[i], 4, 6, fwd, bin, bw, 0.001, &sh, &plain,
						    &err), 0);
		assert_int_equal(dtp_share_simulate_step(kinds[i], 4, 6, fwd, bin, bw, 0.001, &sh, &ex,
							 &r, &err), 0);
		assert_true(fabs(r.step_time - plain.step_time) < 1e-9);
	}
	/* one stage: the step is M forwards and backwards, its pre and post work */
	ex.pre[0] = 0.004;
	ex.post[0] = 0.002;
	for (int M = 2; M <= 8; M *= 2) {
		assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 1, M, fwd, bin, bw, 0,
							 &sh, &ex, &r, &err), 0);
		assert_true(fabs(r.step_time - M * (fwd[0] + bin[0] + bw[0]) - 0.006) < 1e-9);
		/* the ops' spans do not hold the per-step work */
		assert_true(fabs(r.fwd_span[0] - fwd[0]) < 1e-9);
	}
	/* four stages alone: stage 0's pre work delays everything, its post
	 * work ends the step, the exchange is 3 hops up and 3 down */
	dtp_share_extra_none(&ex);
	ex.pre[0] = 0.004;
	ex.post[0] = 0.002;
	ex.hop = 1e-5;
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_GPIPE, 4, 6, fwd, bin, bw, 0, &sh, &plain,
					    &err), 0);
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 4, 6, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	assert_true(fabs(r.step_time - plain.step_time - 0.006 - 6e-5) < 1e-9);
}

/* two stages on one core: the other's per-step work shares the core with
 * this one's first forward, which stretches */
static void test_step_work_shares_the_core(void **state)
{
	static const char cores[2][128] = { "0", "0" };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_extra ex;
	struct dtp_share_result r, plain;

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 2, cores, NULL, &err), 1);
	dtp_share_extra_none(&ex);
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &plain, &err), 0);
	ex.pre[1] = 0.005;
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	/* stage 0's 10 ms forward runs at half speed for 10 ms beside it */
	assert_true(fabs(r.fwd_span[0] - 0.015) < 1e-9);
	/* one core: the step is all the compute */
	assert_true(fabs(r.step_time - plain.step_time - 0.005) < 1e-9);
	/* sharing costing twice the turns: while both run, each at 1/4 */
	ex.share_pen[0] = ex.share_pen[1] = 2;
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	assert_true(fabs(r.fwd_span[0] - 0.025) < 1e-9);
	/* and not at all once they take turns (the rest of the step) */
	assert_true(fabs(r.step_time - plain.step_time - 0.015) < 1e-9);
}

/* the busy-core slowdown applies only while another group computes */
static void test_slow_only_beside_busy_cores(void **state)
{
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_extra ex;
	struct dtp_share_result r, plain;

	(void)state;
	dtp_share_none(&sh, 2);
	dtp_share_extra_none(&ex);
	/* GPipe, one micro-batch: the stages never compute at once */
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &plain, &err), 0);
	ex.slow[0] = ex.slow[1] = 2;
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	assert_true(fabs(r.step_time - plain.step_time) < 1e-9);
	/* with stage 1's pre work beside stage 0's first forward, both slow */
	ex.pre[1] = 0.005;
	ex.slow_step[1] = 2;
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 1, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	/* 10 ms of pre work at half speed covers 5 ms of stage 0's forward
	 * (10 ms of wall), the other 5 alone: 15 ms */
	assert_true(fabs(r.fwd_span[0] - 0.015) < 1e-9);
	/* eight micro-batches: forwards overlap, the step grows */
	dtp_share_extra_none(&ex);
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 8, fwd, bin, bw, 0, &sh, &ex,
						 &plain, &err), 0);
	ex.slow[0] = ex.slow[1] = 2;
	assert_int_equal(dtp_share_simulate_step(DTP_SCHEDULE_GPIPE, 2, 8, fwd, bin, bw, 0, &sh, &ex,
						 &r, &err), 0);
	assert_true(r.step_time > plain.step_time * 1.2);
	assert_true(r.step_time < plain.step_time * 2);
}

static void test_bad_input(void **state)
{
	static const char cores[2][128] = { "0", "x" };
	struct dtp_err err = { 0 };
	struct dtp_share sh;
	struct dtp_share_result r;

	(void)state;
	assert_int_equal(dtp_share_from_cores(&sh, 2, cores, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "stage 1"));
	dtp_share_none(&sh, 2);
	assert_int_equal(dtp_share_simulate(DTP_SCHEDULE_1F1B, 2, 0, fwd, bin, bw, 0, &sh, &r, &err),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alone_is_the_simulator),
		cmocka_unit_test(test_one_core_runs_the_sum),
		cmocka_unit_test(test_two_cores_four_stages),
		cmocka_unit_test(test_overlap_from_a_trace),
		cmocka_unit_test(test_enough_cores_do_not_share),
		cmocka_unit_test(test_step_extra_adds_once),
		cmocka_unit_test(test_step_work_shares_the_core),
		cmocka_unit_test(test_slow_only_beside_busy_cores),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
