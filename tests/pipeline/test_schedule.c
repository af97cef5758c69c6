/* Unit tests for the schedules (src/pipeline/schedule.c) and the simulator
 * (src/pipeline/simulate.c): every micro-batch exactly once each way, the
 * backward order, no deadlock, the 1F1B stash bound, predicted step times. */
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

static const enum dtp_schedule_kind kinds[] = { DTP_SCHEDULE_GPIPE, DTP_SCHEDULE_1F1B };

static void build_all(enum dtp_schedule_kind kind, int K, int M, struct dtp_schedule *sch)
{
	struct dtp_err err = { 0 };

	for (int s = 0; s < K; s++)
		assert_int_equal(dtp_schedule_build(kind, s, K, M, &sch[s], &err), 0);
}

static void free_all(struct dtp_schedule *sch, int K)
{
	for (int s = 0; s < K; s++)
		dtp_schedule_free(&sch[s]);
}

/* Every (stage, m) has exactly one FWD and one BWD, each with exactly the
 * receive and send it implies, forwards and backwards in micro-batch order,
 * and FWD m before BWD m. */
static void test_each_micro_once_in_order(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int K = 1; K <= 6; K++) {
			for (int M = 1; M <= 10; M++) {
				struct dtp_schedule sch[6];

				build_all(kinds[k], K, M, sch);
				for (int s = 0; s < K; s++) {
					int count[7][10] = { { 0 } }, next_f = 0, next_b = 0;
					int fwd_at[10], bwd_at[10];

					for (int i = 0; i < sch[s].n_ops; i++) {
						const struct dtp_op *op = &sch[s].ops[i];

						assert_true(op->kind >= 1 && op->kind <= 6);
						assert_true(op->micro >= 0 && op->micro < M);
						count[op->kind][op->micro]++;
						if (op->kind == DTP_OP_FWD) {
							assert_int_equal(op->micro, next_f++);
							fwd_at[op->micro] = i;
						}
						if (op->kind == DTP_OP_BWD) {
							assert_int_equal(op->micro, next_b++);
							bwd_at[op->micro] = i;
						}
						/* a receive comes right before its compute, a send right after */
						if (op->kind == DTP_OP_RECV_ACT || op->kind == DTP_OP_RECV_GRAD) {
							assert_true(i + 1 < sch[s].n_ops);
							assert_int_equal(sch[s].ops[i + 1].micro, op->micro);
						}
					}
					for (int m = 0; m < M; m++) {
						assert_int_equal(count[DTP_OP_FWD][m], 1);
						assert_int_equal(count[DTP_OP_BWD][m], 1);
						assert_int_equal(count[DTP_OP_RECV_ACT][m], s > 0);
						assert_int_equal(count[DTP_OP_SEND_GRAD][m], s > 0);
						assert_int_equal(count[DTP_OP_SEND_ACT][m], s < K - 1);
						assert_int_equal(count[DTP_OP_RECV_GRAD][m], s < K - 1);
						assert_true(fwd_at[m] < bwd_at[m]);
					}
					assert_int_equal(sch[s].n_ops,
							 M * (2 + 2 * (s > 0) + 2 * (s < K - 1)));
				}
				free_all(sch, K);
			}
		}
	}
}

/* The K lists run against each other to the end, with unbounded buffering
 * and with a single credit per link direction. */
static void test_no_deadlock(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int K = 1; K <= 6; K++) {
			for (int M = 1; M <= 10; M++) {
				struct dtp_schedule sch[6];
				struct dtp_err err = { 0 };

				build_all(kinds[k], K, M, sch);
				for (int cap = 0; cap <= 2; cap++) {
					int r = dtp_schedule_check(sch, K, cap, &err);

					if (r)
						print_error("kind %d K=%d M=%d cap=%d: %s\n",
							    (int)kinds[k], K, M, cap, err.msg);
					assert_int_equal(r, 0);
				}
				free_all(sch, K);
			}
		}
	}
}

/* The checker is not vacuous: a stage that sends its gradients in reverse
 * order is a protocol error, and one that waits for a gradient before it
 * has sent the activation deadlocks. */
static void test_check_catches_broken_lists(void **state)
{
	struct dtp_schedule sch[2];
	struct dtp_err err = { 0 };
	struct dtp_op tmp;

	(void)state;
	build_all(DTP_SCHEDULE_GPIPE, 2, 3, sch);
	/* stage 1 = RA0 F0 RA1 F1 RA2 F2 B0 SG0 B1 SG1 B2 SG2: swap SG0 and SG2 */
	tmp = sch[1].ops[7];
	sch[1].ops[7] = sch[1].ops[11];
	sch[1].ops[11] = tmp;
	assert_int_equal(dtp_schedule_check(sch, 2, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "stage 0"));
	free_all(sch, 2);

	build_all(DTP_SCHEDULE_GPIPE, 2, 1, sch);
	/* stage 0 = F0 SA0 RG0 B0: swap SA0 and RG0 */
	tmp = sch[0].ops[1];
	sch[0].ops[1] = sch[0].ops[2];
	sch[0].ops[2] = tmp;
	assert_int_equal(dtp_schedule_check(sch, 2, 0, &err), -EDEADLK);
	assert_non_null(strstr(err.msg, "deadlock"));
	assert_non_null(strstr(err.msg, "stage 0 at recv_grad 0"));
	free_all(sch, 2);
}

/* 1F1B keeps at most K-s micro-batches stashed (min(K-s, M)); GPipe all M. */
static void test_stash_bound(void **state)
{
	(void)state;
	for (int K = 1; K <= 6; K++) {
		for (int M = 1; M <= 10; M++) {
			struct dtp_schedule g[6], f[6];

			build_all(DTP_SCHEDULE_GPIPE, K, M, g);
			build_all(DTP_SCHEDULE_1F1B, K, M, f);
			for (int s = 0; s < K; s++) {
				int bound = K - s < M ? K - s : M;

				assert_int_equal(g[s].max_stash, M);
				assert_true(f[s].max_stash <= K - s);
				assert_int_equal(f[s].max_stash, bound);
				assert_int_equal(dtp_schedule_stash_needed(f[s].ops, f[s].n_ops),
						 f[s].max_stash);
			}
			/* the one source for the memory cap and the partitioner */
			int gs[6], fs[6];

			assert_int_equal(dtp_schedule_stash_slots(DTP_SCHEDULE_GPIPE, K, M, gs, NULL), 0);
			assert_int_equal(dtp_schedule_stash_slots(DTP_SCHEDULE_1F1B, K, M, fs, NULL), 0);
			for (int s = 0; s < K; s++) {
				assert_int_equal(gs[s], g[s].max_stash);
				assert_int_equal(fs[s], f[s].max_stash);
			}
			free_all(g, K);
			free_all(f, K);
		}
	}
}

static void test_bad_arguments(void **state)
{
	struct dtp_schedule s;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_schedule_build(DTP_SCHEDULE_GPIPE, 2, 2, 4, &s, &err), -EINVAL);
	assert_int_equal(dtp_schedule_build(DTP_SCHEDULE_GPIPE, 0, 2, 0, &s, &err), -EINVAL);
	assert_int_equal(dtp_schedule_build((enum dtp_schedule_kind)7, 0, 2, 4, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "gpipe"));
}

/* Equal stages, no transfer time: both schedules take (M+K-1)(f+b) and the
 * bubble is (K-1)/(M+K-1). */
static void test_simulate_equal_stages(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int K = 1; K <= 6; K++) {
			for (int M = 1; M <= 10; M++) {
				struct dtp_schedule sch[6];
				struct dtp_sim_result r;
				struct dtp_err err = { 0 };
				double f[6], b[6];

				for (int s = 0; s < K; s++)
					f[s] = 1.0, b[s] = 2.0;
				build_all(kinds[k], K, M, sch);
				assert_int_equal(dtp_schedule_simulate(sch, K, f, b, 0.0, &r, &err), 0);
				assert_true(fabs(r.step_time - (M + K - 1) * 3.0) < 1e-9);
				assert_true(fabs(r.bubble - (double)(K - 1) / (M + K - 1)) < 1e-9);
				free_all(sch, K);
			}
		}
	}
}

/* Uneven stages and a transfer time, worked by hand. GPipe K=2 M=4,
 * f = (1, 2), b = (2, 4), x = 0.5: stage 1 forwards start at 1.5, 3.5, 5.5,
 * 7.5 and end at 9.5; its backwards end at 13.5, 17.5, 21.5, 25.5; stage 0's
 * last backward starts when gradient 3 arrives at 26 and ends at 28. */
static void test_simulate_uneven_with_transfer(void **state)
{
	struct dtp_schedule sch[2];
	struct dtp_sim_result r;
	struct dtp_err err = { 0 };
	double f[2] = { 1, 2 }, b[2] = { 2, 4 };

	(void)state;
	build_all(DTP_SCHEDULE_GPIPE, 2, 4, sch);
	assert_int_equal(dtp_schedule_simulate(sch, 2, f, b, 0.5, &r, &err), 0);
	assert_true(fabs(r.step_time - 28.0) < 1e-9);
	assert_true(fabs(r.busy[0] - 12.0) < 1e-9);
	assert_true(fabs(r.busy[1] - 24.0) < 1e-9);
	assert_true(fabs(r.bubble - (1.0 - 36.0 / 56.0)) < 1e-9);
	free_all(sch, 2);
}

/* ZB-H1 for every K <= 8 and M <= 32: per stage, each micro-batch has one
 * F, one B (BWD_IN) and one W (BWD_W), no whole BWD; F, B and W each in
 * micro-batch order, F m before B m before W m, B m's send right after it;
 * at most min(K, M) micro-batches between F and W (1F1B's stage 0) and the
 * slot counts from the list; the K lists run to the end with unbounded
 * buffering and one or two credits; and with F = B = W = 1 and M >= K the
 * step is 3M + K - 1: a third of 1F1B's bubble of 3(K - 1). */
static void test_zbh1_all(void **state)
{
	(void)state;
	for (int K = 1; K <= 8; K++) {
		for (int M = 1; M <= 32; M++) {
			struct dtp_schedule sch[8], one[8];
			struct dtp_sim_result r, r1;
			struct dtp_err err = { 0 };
			double f[8], b[8], w[8];
			int slots[8], wslots[8];

			build_all(DTP_SCHEDULE_ZBH1, K, M, sch);
			assert_int_equal(dtp_schedule_stash_slots(DTP_SCHEDULE_ZBH1, K, M, slots, &err), 0);
			assert_int_equal(dtp_schedule_wstash_slots(DTP_SCHEDULE_ZBH1, K, M, wslots, &err), 0);
			for (int s = 0; s < K; s++) {
				int nf = 0, nb = 0, nw = 0, cnt[DTP_OP_KIND_MAX + 1] = { 0 };

				for (int i = 0; i < sch[s].n_ops; i++) {
					const struct dtp_op *op = &sch[s].ops[i];

					assert_true(op->kind >= 1 && op->kind <= DTP_OP_KIND_MAX);
					/* the first stage: B and W as one, W at once */
					if (s == 0)
						assert_int_not_equal(op->kind, DTP_OP_BWD_IN);
					else
						assert_int_not_equal(op->kind, DTP_OP_BWD);
					cnt[op->kind]++;
					if (op->kind == DTP_OP_FWD)
						assert_int_equal(op->micro, nf++);
					if (op->kind == DTP_OP_BWD) {
						assert_int_equal(op->micro, nb++);
						assert_int_equal(op->micro, nw++);
						assert_true(op->micro < nf);
					}
					if (op->kind == DTP_OP_BWD_IN) {
						assert_int_equal(op->micro, nb++);
						assert_true(op->micro < nf);
						if (s > 0) {
							assert_int_equal(sch[s].ops[i + 1].kind, DTP_OP_SEND_GRAD);
							assert_int_equal(sch[s].ops[i + 1].micro, op->micro);
						}
					}
					if (op->kind == DTP_OP_BWD_W) {
						assert_int_equal(op->micro, nw++);
						assert_true(op->micro < nb);
					}
				}
				assert_int_equal(nf, M);
				assert_int_equal(nb, M);
				assert_int_equal(nw, M);
				assert_int_equal(cnt[DTP_OP_RECV_ACT], s > 0 ? M : 0);
				assert_int_equal(cnt[DTP_OP_SEND_ACT], s < K - 1 ? M : 0);
				assert_int_equal(cnt[DTP_OP_RECV_GRAD], s < K - 1 ? M : 0);
				assert_int_equal(cnt[DTP_OP_SEND_GRAD], s > 0 ? M : 0);
				assert_true(sch[s].max_stash <= (K < M ? K : M));
				assert_int_equal(slots[s], sch[s].max_stash);
				assert_int_equal(wslots[s], sch[s].max_wstash);
				if (s == 0)
					assert_int_equal(sch[s].max_wstash, 0);
				else
					assert_true(sch[s].max_wstash >= 1 &&
						    sch[s].max_wstash <= sch[s].max_stash);
				f[s] = b[s] = w[s] = 1.0;
			}
			for (int cap = 0; cap <= 2; cap++) {
				int rc = dtp_schedule_check(sch, K, cap, &err);

				if (rc)
					print_error("zb-h1 K=%d M=%d cap=%d: %s\n", K, M, cap, err.msg);
				assert_int_equal(rc, 0);
			}
			assert_int_equal(dtp_schedule_simulate_split(sch, K, f, b, w, 0.0, &r, &err), 0);
			build_all(DTP_SCHEDULE_1F1B, K, M, one);
			assert_int_equal(dtp_schedule_simulate_split(one, K, f, b, w, 0.0, &r1, &err), 0);
			assert_true(r.step_time <= r1.step_time + 1e-9);
			if (M >= K)
				assert_true(fabs(r.step_time - (3.0 * M + K - 1)) < 1e-9);
			assert_true(fabs(r1.step_time - 3.0 * (M + K - 1)) < 1e-9);
			free_all(one, K);
			free_all(sch, K);
		}
	}
}

/* Every schedule (gpipe, 1f1b, zb-h1, zb-h2) for every K <= 8 and M <= 32:
 * per stage, each micro-batch once through F, once through the backward
 * (BWD, or B then W), each with exactly the receive and send it implies,
 * each kind in micro-batch order; the K lists run to the end in the
 * simulator with unbounded buffering and one or two credits; and the stash
 * the executor indexes as m % slots (W stash: m % wslots) never hands out a
 * slot still in use, with slots[s] (what --mem-cap predicts from) the most
 * in use at once, counted here from the list. zb-h2 holds at most 2K - 1
 * micro-batches and its step is never longer than zb-h1's, with or without
 * transfer time. */
static void test_every_schedule_all(void **state)
{
	static const enum dtp_schedule_kind all[] = { DTP_SCHEDULE_GPIPE, DTP_SCHEDULE_1F1B,
						      DTP_SCHEDULE_ZBH1, DTP_SCHEDULE_ZBH2 };

	(void)state;
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		int split = dtp_schedule_splits(all[k]);

		for (int K = 1; K <= 8; K++) {
			for (int M = 1; M <= 32; M++) {
				struct dtp_schedule sch[8];
				struct dtp_err err = { 0 };
				int slots[8], wslots[8];

				build_all(all[k], K, M, sch);
				assert_int_equal(dtp_schedule_stash_slots(all[k], K, M, slots, &err), 0);
				assert_int_equal(dtp_schedule_wstash_slots(all[k], K, M, wslots, &err), 0);
				for (int s = 0; s < K; s++) {
					int cnt[DTP_OP_KIND_MAX + 1][32] = { { 0 } };
					int nf = 0, nb = 0, nw = 0, live = 0, most = 0, wlive = 0, wmost = 0;
					int slot_of[32], wslot_of[32];
					int busy[32] = { 0 }, wbusy[32] = { 0 };

					assert_true(slots[s] >= 1 && slots[s] <= 32);
					assert_int_equal(wslots[s], sch[s].max_wstash);
					if (!split || (s == 0 && all[k] == DTP_SCHEDULE_ZBH1))
						assert_int_equal(wslots[s], 0);
					for (int i = 0; i < sch[s].n_ops; i++) {
						const struct dtp_op *op = &sch[s].ops[i];
						int m = op->micro;

						assert_true(op->kind >= 1 && op->kind <= DTP_OP_KIND_MAX);
						assert_true(m >= 0 && m < M);
						cnt[op->kind][m]++;
						switch (op->kind) {
						case DTP_OP_FWD:
							assert_int_equal(m, nf++);
							slot_of[m] = m % slots[s];
							assert_int_equal(busy[slot_of[m]], 0);
							busy[slot_of[m]] = 1;
							if (++live > most)
								most = live;
							break;
						case DTP_OP_BWD:
						case DTP_OP_BWD_IN:
							/* a split schedule's first stage runs
							 * B and W as one where W follows B */
							if (op->kind == DTP_OP_BWD_IN)
								assert_true(split);
							else if (split)
								assert_int_equal(s, 0);
							if (op->kind == DTP_OP_BWD) {
								cnt[DTP_OP_BWD_IN][m] += split;
								cnt[DTP_OP_BWD_W][m] += split;
								if (split)
									assert_int_equal(m, nw++);
							}
							assert_int_equal(m, nb++);
							assert_true(m < nf);
							if (op->kind == DTP_OP_BWD) {
								busy[slot_of[m]] = 0;
								live--;
								break;
							}
							wslot_of[m] = m % wslots[s];
							assert_int_equal(wbusy[wslot_of[m]], 0);
							wbusy[wslot_of[m]] = 1;
							if (++wlive > wmost)
								wmost = wlive;
							break;
						case DTP_OP_BWD_W:
							assert_true(split);
							assert_int_equal(m, nw++);
							assert_true(m < nb);
							busy[slot_of[m]] = 0;
							wbusy[wslot_of[m]] = 0;
							live--;
							wlive--;
							break;
						case DTP_OP_RECV_ACT:
							assert_int_equal(sch[s].ops[i + 1].kind, DTP_OP_FWD);
							assert_int_equal(sch[s].ops[i + 1].micro, m);
							break;
						case DTP_OP_RECV_GRAD:
							assert_true(sch[s].ops[i + 1].kind == DTP_OP_BWD_IN ||
								    sch[s].ops[i + 1].kind == DTP_OP_BWD);
							assert_int_equal(sch[s].ops[i + 1].micro, m);
							break;
						case DTP_OP_SEND_ACT:
							assert_int_equal(sch[s].ops[i - 1].kind, DTP_OP_FWD);
							assert_int_equal(sch[s].ops[i - 1].micro, m);
							break;
						case DTP_OP_SEND_GRAD:
							assert_int_equal(sch[s].ops[i - 1].kind, split ? DTP_OP_BWD_IN :
									 DTP_OP_BWD);
							assert_int_equal(sch[s].ops[i - 1].micro, m);
							break;
						}
					}
					for (int m = 0; m < M; m++) {
						assert_int_equal(cnt[DTP_OP_FWD][m], 1);
						assert_int_equal(cnt[split ? DTP_OP_BWD_IN : DTP_OP_BWD][m], 1);
						assert_int_equal(cnt[DTP_OP_BWD_W][m], split);
						assert_int_equal(cnt[DTP_OP_RECV_ACT][m], s > 0);
						assert_int_equal(cnt[DTP_OP_SEND_ACT][m], s < K - 1);
						assert_int_equal(cnt[DTP_OP_RECV_GRAD][m], s < K - 1);
						assert_int_equal(cnt[DTP_OP_SEND_GRAD][m], s > 0);
					}
					assert_int_equal(live, 0);
					assert_int_equal(most, slots[s]);
					assert_int_equal(wmost, wslots[s]);
					if (all[k] == DTP_SCHEDULE_ZBH2)
						assert_true(slots[s] <= 2 * K - 1);
				}
				for (int cap = 0; cap <= 2; cap++) {
					int rc = dtp_schedule_check(sch, K, cap, &err);

					if (rc)
						print_error("%s K=%d M=%d cap=%d: %s\n",
							    dtp_schedule_name(all[k]), K, M, cap, err.msg);
					assert_int_equal(rc, 0);
				}
				if (all[k] == DTP_SCHEDULE_ZBH2) {
					double one[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

					for (double x = 0; x <= 0.5; x += 0.5) {
						struct dtp_sim_result r1, r2;

						assert_int_equal(dtp_schedule_predict_split(DTP_SCHEDULE_ZBH1, K, M, one, one,
											    one, x, &r1, &err), 0);
						assert_int_equal(dtp_schedule_simulate_split(sch, K, one, one, one, x,
											     &r2, &err), 0);
						assert_true(r2.step_time <= r1.step_time + 1e-9);
					}
				}
				free_all(sch, K);
			}
		}
	}
}

/* ZB-H1 at K = 2 places its Ws where they fill idle time, never where
 * they lengthen the busier stage: F = B = W = 1 on stage 0 and 1 + d on
 * stage 1. With stage 1 the heavier (d >= 0) the step is its least
 * possible, stage 1's work after stage 0's first forward: 1 + 3M(1 + d)
 * (stage 1's last two Ws cover stage 0's last B and W). With stage 0 the
 * heavier, stage 0's work and its one unavoidable wait: for the first
 * gradient, stage 1's F and B of micro-batch 0, less stage 0's second
 * forward: 3M + 2(1 + d) - 1. */
static void test_zbh1_k2_fills_the_lighter_stage(void **state)
{
	struct dtp_err err = { 0 };

	(void)state;
	for (int M = 2; M <= 32; M++) {
		for (int i = -6; i <= 6; i++) {
			double d = 0.05 * i, f[2] = { 1, 1 + d }, least;
			struct dtp_sim_result r;

			assert_int_equal(dtp_schedule_predict_split(DTP_SCHEDULE_ZBH1, 2, M, f, f, f, 0,
								    &r, &err), 0);
			if (d >= 0)
				least = 1 + 3 * M * (1 + d);
			else
				least = 3 * M + 2 * (1 + d) - 1;
			if (fabs(r.step_time - least) > 1e-9)
				print_error("zb-h1 K=2 M=%d d=%+.2f: step %.4f, least %.4f\n", M, d,
					    r.step_time, least);
			assert_true(fabs(r.step_time - least) < 1e-9);
		}
	}
	/* K = 3, 4 with the last stage the heavier: its work after the
	 * first forwards of the K - 1 stages before it (ZB-H1's memory does
	 * not reach that bound where an earlier stage is the heavier:
	 * zb-h2's longer warm-up does, for more stash) */
	for (int K = 3; K <= 4; K++) {
		for (int M = K; M <= 32; M++) {
			for (int i = 0; i <= 6; i++) {
				double d = 0.05 * i, f[4] = { 1, 1, 1, 1 }, least = K - 1 + 3 * M * (1 + d);
				struct dtp_sim_result r;

				f[K - 1] = 1 + d;
				assert_int_equal(dtp_schedule_predict_split(DTP_SCHEDULE_ZBH1, K, M, f, f,
									    f, 0, &r, &err), 0);
				if (fabs(r.step_time - least) > 1e-9)
					print_error("zb-h1 K=%d M=%d d=%+.2f: step %.4f, least %.4f\n",
						    K, M, d, r.step_time, least);
				assert_true(fabs(r.step_time - least) < 1e-9);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_schedule_all),
		cmocka_unit_test(test_zbh1_all),
		cmocka_unit_test(test_zbh1_k2_fills_the_lighter_stage),
		cmocka_unit_test(test_each_micro_once_in_order),
		cmocka_unit_test(test_no_deadlock),
		cmocka_unit_test(test_check_catches_broken_lists),
		cmocka_unit_test(test_stash_bound),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_simulate_equal_stages),
		cmocka_unit_test(test_simulate_uneven_with_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
