/* ZB-H2 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024): the op
 * lists come from the paper's greedy list scheduler (its section 3.2, the
 * automatic scheduler's heuristic) run on all K stages at once with
 * F = B = W = 1 and free transfers, under ZB-H2's memory limit of 2K - 1
 * micro-batches past F and not past W on every stage. Each stage, at its
 * clock, runs the first op that can start then: B of the oldest micro-batch
 * whose output gradient is there; else F of the next micro-batch whose input
 * is there, if under the limit; else W of the oldest micro-batch past B;
 * else it waits for the next message. So stage s runs up to 2(K - s) - 1
 * forwards before its first B (ZB-H2's longer warm-up, which hides the
 * transfers ZB-H1 waits for) and its Ws fill the drain.
 *
 * With F = B = W and no transfer time the step is 3M + K - 1, as ZB-H1's: a
 * synchronous step (the gradient norm and the optimizer after the last W)
 * keeps the last stage's first forward K - 1 behind the first stage's, the
 * bubble the paper removes only by its post-validation, which dtpipe does
 * not do. ZB-H2 gains where transfers take time or the stages are uneven.
 *
 * The lists depend on (K, M) only, so every stage process builds the same
 * set; F, B and W each run in micro-batch order (the weight gradients are
 * summed in micro-batch order, bit-identical to one stage). dtp_schedule_build
 * then runs the first stage's B and an adjacent W as one backward. */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdlib.h>

/* the list scheduler's state: per stage, its clock, how many F, B and W it
 * has run, and when each micro-batch's input (act) and output gradient
 * (grad) reaches it; -1: not sent yet */
struct zb_state {
	int K, M;
	int nf[DTP_MAX_STAGES], nb[DTP_MAX_STAGES], nw[DTP_MAX_STAGES];
	long t[DTP_MAX_STAGES];
	long *act, *grad;   /* K * M each: [s * M + m] */
};

/* ZB-H2's memory limit, the paper's (2p - 1) M_B: about twice 1F1B's first
 * stage */
static int limit_of(int K)
{
	return 2 * K - 1;
}

/* when stage s can run its next B (-1: its gradient has not been sent) */
static long b_ready(const struct zb_state *z, int s)
{
	int m = z->nb[s];

	if (m >= z->nf[s])
		return -1;
	return s == z->K - 1 ? z->t[s] : z->grad[(size_t)s * z->M + m];
}

/* when stage s can run its next F (-1: not now: done, at its limit, or the
 * input has not been sent) */
static long f_ready(const struct zb_state *z, int s)
{
	int m = z->nf[s];

	if (m >= z->M || m - z->nw[s] >= limit_of(z->K))
		return -1;
	return s == 0 ? z->t[s] : z->act[(size_t)s * z->M + m];
}

static long later(long a, long t)
{
	return a < 0 ? -1 : a > t ? a : t;
}

/* the earliest time stage s can start an op (-1: it waits on a message not
 * sent yet, or it is done) */
static long earliest(const struct zb_state *z, int s)
{
	long b = later(b_ready(z, s), z->t[s]), f = later(f_ready(z, s), z->t[s]), e = -1;

	if (z->nw[s] < z->nb[s])
		return z->t[s];
	if (b >= 0)
		e = b;
	if (f >= 0 && (e < 0 || f < e))
		e = f;
	return e;
}

static void push(struct dtp_op *ops, int *n, int kind, int m)
{
	ops[*n].kind = kind;
	ops[*n].micro = m;
	(*n)++;
}

/* run stage s's next op at time `at` (its earliest), appending it with its
 * receive and send to ops when s is the stage being built */
static void run_one(struct zb_state *z, int s, long at, struct dtp_op *ops, int *n)
{
	int K = z->K, M = z->M, mine = ops != NULL;

	z->t[s] = at;
	if (b_ready(z, s) >= 0 && b_ready(z, s) <= at) {
		int m = z->nb[s]++;

		if (mine && s < K - 1)
			push(ops, n, DTP_OP_RECV_GRAD, m);
		if (mine)
			push(ops, n, DTP_OP_BWD_IN, m);
		z->t[s] = at + 1;
		if (s > 0) {
			z->grad[(size_t)(s - 1) * M + m] = z->t[s];
			if (mine)
				push(ops, n, DTP_OP_SEND_GRAD, m);
		}
	} else if (f_ready(z, s) >= 0 && f_ready(z, s) <= at) {
		int m = z->nf[s]++;

		if (mine && s > 0)
			push(ops, n, DTP_OP_RECV_ACT, m);
		if (mine)
			push(ops, n, DTP_OP_FWD, m);
		z->t[s] = at + 1;
		if (s < K - 1) {
			z->act[(size_t)(s + 1) * M + m] = z->t[s];
			if (mine)
				push(ops, n, DTP_OP_SEND_ACT, m);
		}
	} else {
		if (mine)
			push(ops, n, DTP_OP_BWD_W, z->nw[s]);
		z->nw[s]++;
		z->t[s] = at + 1;
	}
}

int dtp_schedule_build_zbh2(int stage, int stages, int micro, struct dtp_op *ops, int *n_ops,
			    struct dtp_err *err)
{
	struct zb_state z = { .K = stages, .M = micro };
	size_t cells = (size_t)stages * (size_t)micro;
	int r = 0;

	z.act = malloc(cells * sizeof(*z.act));
	z.grad = malloc(cells * sizeof(*z.grad));
	if (!z.act || !z.grad) {
		r = dtp_errf_runtime(err, -ENOMEM, "schedule zb-h2: out of memory for %d x %d stages",
				     stages, micro);
		goto out_free;
	}
	for (size_t i = 0; i < cells; i++)
		z.act[i] = z.grad[i] = -1;
	*n_ops = 0;
	for (;;) {
		long best = -1, e;
		int who = -1;

		for (int s = 0; s < stages; s++) {
			e = earliest(&z, s);
			if (e >= 0 && (best < 0 || e < best)) {
				best = e;
				who = s;
			}
		}
		if (who < 0)
			break;
		run_one(&z, who, best, who == stage ? ops : NULL, n_ops);
	}
	for (int s = 0; s < stages; s++)
		if (z.nw[s] != micro) {
			/* cannot happen: stage K-1 always has an F or a B to run */
			r = dtp_errf_runtime(err, -EDEADLK, "schedule zb-h2: stage %d stalls at %d of %d "
					     "weight gradients (K = %d, M = %d)", s, z.nw[s], micro,
					     stages, micro);
			break;
		}
out_free:
	free(z.act);
	free(z.grad);
	return r;
}
