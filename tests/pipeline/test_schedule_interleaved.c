/* Unit tests for interleaved 1F1B (src/pipeline/schedule_interleaved.c) and
 * the simulator's wrap link: for every (K, M, v) the validator accepts up to
 * K = 8, M = 32, v = 4, every (micro-batch, chunk) exactly once each way with
 * its receive and send, each chunk's backwards in micro-batch order (the
 * bit-identity rule), no deadlock with unbounded buffering and with one
 * credit per link, the stash per chunk, Megatron's step time
 * (M + (K-1)/v)(f+b) on equal stages, and clear refusals. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"

#define IL DTP_SCHEDULE_INTERLEAVED

static void build_all(int K, int M, int v, struct dtp_schedule *sch)
{
	struct dtp_err err = { 0 };

	for (int s = 0; s < K; s++) {
		int r = dtp_schedule_build_v(IL, s, K, M, v, &sch[s], &err);

		if (r)
			print_error("K=%d M=%d v=%d stage %d: %s\n", K, M, v, s, err.msg);
		assert_int_equal(r, 0);
	}
}

static void free_all(struct dtp_schedule *sch, int K)
{
	for (int s = 0; s < K; s++)
		dtp_schedule_free(&sch[s]);
}

/* stage s's list: each (m, c) once each way, with exactly the receives and
 * sends the chain implies, right before and after its compute; each chunk's
 * forwards and backwards in micro-batch order, FWD before BWD */
static void check_list(const struct dtp_schedule *sc, int K, int M, int v)
{
	static int count[DTP_OP_KIND_MAX + 1][DTP_MAX_VIRTUAL_STAGES][32];
	int next_f[DTP_MAX_VIRTUAL_STAGES] = { 0 }, next_b[DTP_MAX_VIRTUAL_STAGES] = { 0 };
	int s = sc->stage, live = 0, most = 0;

	memset(count, 0, sizeof(count));
	assert_int_equal(sc->chunks, v);
	for (int i = 0; i < sc->n_ops; i++) {
		const struct dtp_op *op = &sc->ops[i];
		int c = op->chunk, m = op->micro, starts = s == 0 && c == 0, ends = s == K - 1 && c == v - 1;

		assert_true(op->kind >= DTP_OP_RECV_ACT && op->kind <= DTP_OP_SEND_GRAD);
		assert_true(m >= 0 && m < M && c >= 0 && c < v);
		count[op->kind][c][m]++;
		if (op->kind == DTP_OP_FWD) {
			assert_int_equal(m, next_f[c]++);
			if (!starts) {
				assert_true(i > 0);
				assert_int_equal(sc->ops[i - 1].kind, DTP_OP_RECV_ACT);
				assert_int_equal(sc->ops[i - 1].micro, m);
				assert_int_equal(sc->ops[i - 1].chunk, c);
			}
			if (!ends) {
				assert_true(i + 1 < sc->n_ops);
				assert_int_equal(sc->ops[i + 1].kind, DTP_OP_SEND_ACT);
				assert_int_equal(sc->ops[i + 1].micro, m);
				assert_int_equal(sc->ops[i + 1].chunk, c);
			}
			if (++live > most)
				most = live;
		}
		if (op->kind == DTP_OP_BWD) {
			/* the weight gradient of chunk c accumulates m = 0, 1, ... */
			assert_int_equal(m, next_b[c]++);
			assert_true(next_f[c] > m);
			if (!ends)
				assert_int_equal(sc->ops[i - 1].kind, DTP_OP_RECV_GRAD);
			if (!starts)
				assert_int_equal(sc->ops[i + 1].kind, DTP_OP_SEND_GRAD);
			live--;
		}
	}
	for (int c = 0; c < v; c++) {
		int starts = s == 0 && c == 0, ends = s == K - 1 && c == v - 1;

		assert_int_equal(next_f[c], M);
		assert_int_equal(next_b[c], M);
		for (int m = 0; m < M; m++) {
			assert_int_equal(count[DTP_OP_FWD][c][m], 1);
			assert_int_equal(count[DTP_OP_BWD][c][m], 1);
			assert_int_equal(count[DTP_OP_RECV_ACT][c][m], !starts);
			assert_int_equal(count[DTP_OP_SEND_GRAD][c][m], !starts);
			assert_int_equal(count[DTP_OP_SEND_ACT][c][m], !ends);
			assert_int_equal(count[DTP_OP_RECV_GRAD][c][m], !ends);
		}
	}
	assert_int_equal(sc->max_stash, most);
}

/* Every (K, M, v) the validator accepts up to K = 8, M = 32, v = 4: the
 * lists, no deadlock (unbounded and one credit), the step time on equal
 * chunks: (M + (K-1)/v)(f + b) with f, b a whole stage's times */
static void test_all_accepted(void **state)
{
	struct dtp_err err = { 0 };
	int n = 0;

	(void)state;
	for (int K = 2; K <= 8; K++) {
		for (int v = 2; v <= 4; v++) {
			for (int M = K; M <= 32; M += K) {
				struct dtp_schedule sch[8];
				double f[32], bi[32], bw[32], ideal;
				struct dtp_sim_result res;

				build_all(K, M, v, sch);
				for (int s = 0; s < K; s++)
					check_list(&sch[s], K, M, v);
				for (int cap = 0; cap <= 2; cap++) {
					int r = dtp_schedule_check(sch, K, cap, &err);

					if (r)
						print_error("K=%d M=%d v=%d cap=%d: %s\n", K, M, v, cap, err.msg);
					assert_int_equal(r, 0);
				}
				for (int i = 0; i < K * v; i++)
					f[i] = 1.0 / v, bi[i] = 1.0 / v, bw[i] = 1.0 / v;
				assert_int_equal(dtp_schedule_simulate_split(sch, K, f, bi, bw, 0, &res, &err), 0);
				ideal = (M + (double)(K - 1) / v) * 3.0;
				assert_true(fabs(res.step_time - ideal) < 1e-9 * ideal);
				free_all(sch, K);
				n++;
			}
		}
	}
	assert_int_equal(n, 3 * (16 + 10 + 8 + 6 + 5 + 4 + 4));
}

/* The validator's side: M not a multiple of K, one stage, v out of range */
static void test_refusals(void **state)
{
	struct dtp_schedule sc;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_schedule_build_v(IL, 0, 4, 6, 2, &sc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "multiple of K"));
	assert_int_equal(dtp_schedule_build_v(IL, 0, 1, 4, 2, &sc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "2..64 (1f1b for one stage)"));
	assert_int_equal(dtp_schedule_build_v(IL, 0, 2, 4, 1, &sc, &err), -EINVAL);
	assert_int_equal(dtp_schedule_build_v(IL, 0, 2, 4, DTP_MAX_VIRTUAL_STAGES + 1, &sc, &err),
			 -EINVAL);
	assert_int_equal(dtp_schedule_build_v(IL, 2, 2, 4, 2, &sc, &err), -EINVAL);
	assert_int_equal(dtp_schedule_build_v(DTP_SCHEDULE_1F1B, 0, 2, 4, 2, &sc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "interleaved"));
	assert_int_equal(dtp_schedule_build(IL, 0, 2, 4, &sc, &err), -EINVAL);
	/* a plain kind through _v is the plain list */
	assert_int_equal(dtp_schedule_build_v(DTP_SCHEDULE_1F1B, 1, 2, 4, 1, &sc, &err), 0);
	assert_int_equal(sc.chunks, 1);
	assert_int_equal(sc.chunk_stash[0], sc.max_stash);
	dtp_schedule_free(&sc);
}

/* The wrap link is checked, not assumed: stage 0 taking its chunk-1
 * activations in another order is a protocol error naming the chunks, and a
 * stage 0 that waits for chunk 1 before sending chunk 0 deadlocks. */
static void test_wrap_link_checked(void **state)
{
	struct dtp_schedule sch[2];
	struct dtp_err err = { 0 };
	int a = -1, b = -1;

	(void)state;
	build_all(2, 2, 2, sch);
	for (int i = 0; i < sch[0].n_ops; i++) {
		const struct dtp_op *op = &sch[0].ops[i];

		if (op->kind == DTP_OP_RECV_ACT && op->chunk == 1) {
			if (a < 0)
				a = i;
			else
				b = i;
		}
	}
	assert_true(a >= 0 && b > a);
	sch[0].ops[a].micro = 1, sch[0].ops[b].micro = 0;
	assert_int_equal(dtp_schedule_check(sch, 2, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "chunk 1"));
	free_all(sch, 2);

	/* stage 0 = F(0,0) SA F(1,0) SA RA(0,1) ...: move RA(0,1) first */
	build_all(2, 2, 2, sch);
	assert_int_equal(sch[0].ops[4].kind, DTP_OP_RECV_ACT);
	for (int i = 4; i > 0; i--) {
		struct dtp_op t = sch[0].ops[i];

		sch[0].ops[i] = sch[0].ops[i - 1];
		sch[0].ops[i - 1] = t;
	}
	assert_int_equal(dtp_schedule_check(sch, 2, 0, &err), -EDEADLK);
	assert_non_null(strstr(err.msg, "stage 0 at recv_act 0 chunk 1"));
	free_all(sch, 2);
}

/* The stash per chunk, from the list: Megatron's warm-up plus one on
 * stage s (all of them when M = K); the per-stage slot counts agree. */
static void test_stash(void **state)
{
	struct dtp_err err = { 0 };
	int slots[4 * 2];

	(void)state;
	for (int K = 2; K <= 6; K++) {
		for (int M = K; M <= 4 * K; M += K) {
			struct dtp_schedule sch[6];

			build_all(K, M, 2, sch);
			for (int s = 0; s < K; s++) {
				int warm = M == K ? 2 * M : 2 * (K - s - 1) + K, sum = 0;

				if (warm > 2 * M)
					warm = 2 * M;
				assert_int_equal(sch[s].max_stash, warm < 2 * M ? warm + 1 : warm);
				for (int c = 0; c < 2; c++) {
					assert_true(sch[s].chunk_stash[c] >= 1 && sch[s].chunk_stash[c] <= M);
					sum += sch[s].chunk_stash[c];
				}
				assert_true(sum >= sch[s].max_stash);
			}
			free_all(sch, K);
		}
	}
	assert_int_equal(dtp_schedule_chunk_stash_slots(IL, 4, 8, 2, slots, &err), 0);
	/* K = 4, M = 8: stage 0 forwards chunk 0's m = 0..7 before its first
	 * chunk-0 backward, chunk 1's m = 0..3 before chunk 1's first; stage 3
	 * forwards chunk 0's m = 0..3 and, after chunk 1's m = 0..3 (each
	 * backwarded at once), m = 4 before chunk 0's first backward */
	assert_int_equal(slots[0], 8);
	assert_int_equal(slots[1], 4);
	assert_int_equal(slots[6], 5);
	assert_int_equal(slots[7], 1);
}

/* Interleaving divides 1F1B's bubble by about v on equal stages */
static void test_predict_beats_1f1b(void **state)
{
	double f[8], bi[8], bw[8], f1[4], b1[4], w1[4];
	struct dtp_sim_result il, one;
	struct dtp_err err = { 0 };

	(void)state;
	for (int i = 0; i < 8; i++)
		f[i] = 0.5, bi[i] = 0.5, bw[i] = 0.5;
	for (int i = 0; i < 4; i++)
		f1[i] = 1, b1[i] = 1, w1[i] = 1;
	assert_int_equal(dtp_schedule_predict_v(IL, 4, 8, 2, f, bi, bw, 0, &il, &err), 0);
	assert_int_equal(dtp_schedule_predict_v(DTP_SCHEDULE_1F1B, 4, 8, 1, f1, b1, w1, 0, &one,
						&err), 0);
	assert_true(fabs(one.step_time - 33.0) < 1e-9);   /* (M + K - 1)(f + b) */
	assert_true(fabs(il.step_time - 28.5) < 1e-9);    /* (M + (K-1)/2)(f + b) */
	assert_true(il.bubble < one.bubble);
	assert_true(fabs(il.busy[0] - 24.0) < 1e-9);      /* a stage's chunks summed */
}

/* --mem-cap's prediction of an interleaved stage: the parameters of all
 * its chunks, and each chunk's stash slots from the built list */
static void test_mem_predict(void **state)
{
	const char *text =
		"[model]\nkind = mlp\nwidths = 32-32-32-32-32-32-32-32-10\n"
		"[train]\nmicro_batch = 4\nmicro_batches = 8\nschedule = %s\n%s"
		"[stage.0]\nunits = %s\n[stage.1]\nunits = %s\n";
	struct dtp_plan il, one;
	struct dtp_stage_mem a, b, c;
	struct dtp_err err = { 0 };
	int slots[4];
	char buf[512];

	(void)state;
	snprintf(buf, sizeof(buf), text, "interleaved", "virtual_stages = 2\n", "0-1, 4-5", "2-3, 6-7");
	assert_int_equal(dtp_plan_parse_string(buf, "il.ini", &il, &err), 0);
	snprintf(buf, sizeof(buf), text, "1f1b", "", "0-3", "4-7");
	assert_int_equal(dtp_plan_parse_string(buf, "one.ini", &one, &err), 0);
	assert_int_equal(dtp_stage_mem_predict(&il, 0, &a, &err), 0);
	assert_int_equal(dtp_stage_mem_predict(&one, 0, &b, &err), 0);
	assert_int_equal(dtp_stage_mem_predict(&one, 1, &c, &err), 0);
	/* units 0-1 and 4-5 hold as many parameters as 0-3 (all 32 x 32 + 32) */
	assert_int_equal(a.params, b.params);
	/* 1f1b's stage 0 stashes 2 micro-batches of 4 units; interleaved
	 * stage 0 slots for chunk 0's 4 and chunk 1's 2, of 2 units each: 1.5
	 * times the stash for the smaller bubble */
	assert_int_equal(dtp_schedule_chunk_stash_slots(DTP_SCHEDULE_INTERLEAVED, 2, 8, 2, slots, &err), 0);
	assert_int_equal(slots[0], 4);
	assert_int_equal(slots[1], 2);
	assert_true(a.stash > b.stash + b.stash / 4 && a.stash < 2 * b.stash);
	assert_true(a.total > b.total);
	il.mem_cap_bytes = b.total;
	assert_true(a.total > il.mem_cap_bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_accepted),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_wrap_link_checked),
		cmocka_unit_test(test_stash),
		cmocka_unit_test(test_predict_beats_1f1b),
		cmocka_unit_test(test_mem_predict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
