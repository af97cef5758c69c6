/* The schedule simulator: runs the K op lists of one step against each other,
 * to prove they cannot deadlock (dtp_schedule_check) and to predict the step
 * time and bubble from per-stage compute times (dtp_schedule_simulate). */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* v of a list (1 for a list built without chunks) */
static int chunks_of(const struct dtp_schedule *sc)
{
	return sc->chunks > 1 ? sc->chunks : 1;
}

static int check_set(const struct dtp_schedule *scheds, int K, struct dtp_err *err)
{
	if (K < 1 || K > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "simulate: %d stages; use 1..%d", K, DTP_MAX_STAGES);
	for (int s = 0; s < K; s++) {
		if (scheds[s].stage != s || scheds[s].stages != K || scheds[s].micro != scheds[0].micro ||
		    chunks_of(&scheds[s]) != chunks_of(&scheds[0]))
			return dtp_errf_input(err, -EINVAL,
					      "simulate: list %d is for stage %d of %d with M=%d, expected stage %d of %d with M=%d",
					      s, scheds[s].stage, scheds[s].stages, scheds[s].micro, s, K,
					      scheds[0].micro);
	}
	return 0;
}

/* In-order message queues, one per link and direction: up[s] carries
 * activations s -> s+1, down[s] gradients s+1 -> s (interleaved lists: s+1
 * taken mod K, the wrap link K-1 -> 0). A message is m + c M for micro-batch
 * m's chunk c (the sender's). */
struct queues {
	int M;                    /* messages per link and direction at most: M v */
	int *up, *down;           /* K*M micro ids */
	int *up_head, *up_tail, *down_head, *down_tail;   /* K each */
	double *up_at, *down_at;  /* arrival time of each queued message */
};

static int queues_init(struct queues *q, int K, int M)
{
	q->M = M;
	q->up = calloc((size_t)K * M, sizeof(int));
	q->down = calloc((size_t)K * M, sizeof(int));
	q->up_at = calloc((size_t)K * M, sizeof(double));
	q->down_at = calloc((size_t)K * M, sizeof(double));
	q->up_head = calloc((size_t)K * 4, sizeof(int));
	if (!q->up || !q->down || !q->up_at || !q->down_at || !q->up_head) {
		free(q->up);
		free(q->down);
		free(q->up_at);
		free(q->down_at);
		free(q->up_head);
		return -ENOMEM;
	}
	q->up_tail = q->up_head + K;
	q->down_head = q->up_head + 2 * K;
	q->down_tail = q->up_head + 3 * K;
	return 0;
}

static void queues_free(struct queues *q)
{
	free(q->up);
	free(q->down);
	free(q->up_at);
	free(q->down_at);
	free(q->up_head);
}

/* The common walker. times == NULL: just check progress. */
struct walk {
	const struct dtp_schedule *sch;
	int K;
	int capacity;    /* messages in flight per link and direction; 0 = unbounded */
	const double *fwd, *bin, *bw;   /* per stage: F, B, W */
	double xfer;
	double *t;       /* K clocks, or NULL */
	double *busy;    /* K, or NULL */
	int *pc;         /* K */
	struct dtp_sim_op **ops;   /* K arrays of each list's n_ops, or NULL */
};

static int step_one_timed(struct walk *w, struct queues *q, int s, struct dtp_err *err);

/* Try to run stage s's next op; 1 if it ran, 0 if it must wait, <0 error.
 * With w->ops, the op's start (the stage's clock when it got to it) and end. */
static int step_one(struct walk *w, struct queues *q, int s, struct dtp_err *err)
{
	int pc = w->pc[s];
	double t0 = w->t ? w->t[s] : 0.0;
	int r = step_one_timed(w, q, s, err);

	if (r == 1 && w->ops && w->t) {
		w->ops[s][pc].t0 = t0;
		w->ops[s][pc].t1 = w->t[s];
	}
	return r;
}

static int step_one_timed(struct walk *w, struct queues *q, int s, struct dtp_err *err)
{
	const struct dtp_schedule *sc = &w->sch[s];
	const struct dtp_op *op = &sc->ops[w->pc[s]];
	int M = q->M, v = chunks_of(sc), m = op->micro, *head, *tail, *box, id, want;
	double *at;

	switch (op->kind) {
	case DTP_OP_FWD:
	case DTP_OP_BWD:
	case DTP_OP_BWD_IN:
	case DTP_OP_BWD_W:
		if (w->t) {
			int i = s * v + op->chunk;   /* times per chunk (v = 1: per stage) */
			double d = op->kind == DTP_OP_FWD ? w->fwd[i] :
				   op->kind == DTP_OP_BWD_IN ? w->bin[i] :
				   op->kind == DTP_OP_BWD_W ? w->bw[i] : w->bin[i] + w->bw[i];

			w->t[s] += d;
			w->busy[s] += d;
		}
		w->pc[s]++;
		return 1;
	case DTP_OP_SEND_ACT:
	case DTP_OP_SEND_GRAD: {
		int peer = op->kind == DTP_OP_SEND_ACT ? s + 1 : s - 1;

		/* the wrap link: chunk c of K-1 feeds chunk c+1 of stage 0 */
		if (v > 1 && op->kind == DTP_OP_SEND_ACT && peer == w->K && op->chunk < v - 1)
			peer = 0;
		if (v > 1 && op->kind == DTP_OP_SEND_GRAD && peer < 0 && op->chunk > 0)
			peer = w->K - 1;
		if (peer < 0 || peer >= w->K)
			return dtp_errf_runtime(err, -EPROTO, "simulate: stage %d sends %s %d to no stage",
						s, dtp_op_name(op->kind), m);
		if (op->kind == DTP_OP_SEND_ACT) {
			box = q->up + (size_t)s * M, at = q->up_at + (size_t)s * M;
			head = &q->up_head[s], tail = &q->up_tail[s];
		} else {
			box = q->down + (size_t)peer * M, at = q->down_at + (size_t)peer * M;
			head = &q->down_head[peer], tail = &q->down_tail[peer];
		}
		if (*tail >= M)
			return dtp_errf_runtime(err, -EPROTO, "simulate: stage %d sends more than %d messages", s, M);
		if (w->capacity > 0 && *tail - *head >= w->capacity)
			return 0;   /* no credit: the peer has not taken enough yet */
		box[*tail] = m + op->chunk * q->M / v;
		at[*tail] = w->t ? w->t[s] + w->xfer : 0.0;
		(*tail)++;
		w->pc[s]++;
		return 1;
	}
	case DTP_OP_RECV_ACT:
	case DTP_OP_RECV_GRAD:
		/* what the sender sent: chunk c - 1 of K-1 over the wrap link,
		 * c + 1 of stage 0 back over it, else the same chunk */
		want = m + op->chunk * (M / v);
		if (op->kind == DTP_OP_RECV_ACT) {
			int from = s - 1;

			if (s == 0 && v > 1 && op->chunk > 0)
				from = w->K - 1, want -= M / v;
			else if (s == 0)
				return dtp_errf_runtime(err, -EPROTO, "simulate: stage 0 receives an activation");
			box = q->up + (size_t)from * M, at = q->up_at + (size_t)from * M;
			head = &q->up_head[from], tail = &q->up_tail[from];
		} else {
			int link = s;

			if (s == w->K - 1 && v > 1 && op->chunk < v - 1)
				link = s, want += M / v;   /* down[K-1]: from stage 0 */
			else if (s == w->K - 1)
				return dtp_errf_runtime(err, -EPROTO, "simulate: the last stage receives a gradient");
			box = q->down + (size_t)link * M, at = q->down_at + (size_t)link * M;
			head = &q->down_head[link], tail = &q->down_tail[link];
		}
		if (*head == *tail)
			return 0;
		id = box[*head];
		if (id != want)
			return dtp_errf_runtime(err, -EPROTO,
						"simulate: stage %d waits for %s %d (chunk %d) but %d (chunk %d) arrives",
						s, dtp_op_name(op->kind), m, op->chunk, id % (M / v),
						id / (M / v));
		if (w->t && at[*head] > w->t[s])
			w->t[s] = at[*head];
		(*head)++;
		w->pc[s]++;
		return 1;
	}
	return dtp_errf_runtime(err, -EINVAL, "simulate: stage %d has an unknown op kind %d", s, op->kind);
}

static int walk_all(struct walk *w, struct dtp_err *err)
{
	struct queues q;
	int progress, r, done, M = w->sch[0].micro * chunks_of(&w->sch[0]);
	char where[512];
	size_t len;

	r = queues_init(&q, w->K, M);
	if (r)
		return dtp_errf_runtime(err, r, "simulate: out of memory");
	do {
		progress = 0;
		done = 1;
		for (int s = 0; s < w->K; s++) {
			while (w->pc[s] < w->sch[s].n_ops) {
				r = step_one(w, &q, s, err);
				if (r < 0)
					goto out_free;
				if (r == 0)
					break;
				progress = 1;
			}
			if (w->pc[s] < w->sch[s].n_ops)
				done = 0;
		}
	} while (progress && !done);
	r = 0;
	if (!done) {
		where[0] = '\0';
		len = 0;
		for (int s = 0; s < w->K && len < sizeof(where) - 64; s++) {
			if (w->pc[s] >= w->sch[s].n_ops)
				continue;
			const struct dtp_op *op = &w->sch[s].ops[w->pc[s]];

			len += (size_t)snprintf(where + len, sizeof(where) - len, " stage %d at %s %d", s,
						dtp_op_name(op->kind), op->micro);
			if (chunks_of(&w->sch[s]) > 1)
				len += (size_t)snprintf(where + len, sizeof(where) - len, " chunk %d",
							op->chunk);
			len += (size_t)snprintf(where + len, sizeof(where) - len, ";");
		}
		r = dtp_errf_runtime(err, -EDEADLK, "simulate: deadlock:%s", where);
	}
out_free:
	queues_free(&q);
	return r;
}

int dtp_schedule_check(const struct dtp_schedule *scheds, int K, int capacity,
		       struct dtp_err *err)
{
	int pc[DTP_MAX_STAGES] = { 0 };
	struct walk w = { .sch = scheds, .K = K, .capacity = capacity, .pc = pc };
	int r = check_set(scheds, K, err);

	if (r)
		return r;
	return walk_all(&w, err);
}

int dtp_schedule_simulate_split(const struct dtp_schedule *scheds, int K, const double *fwd,
				const double *bwd_in, const double *bwd_w, double xfer,
				struct dtp_sim_result *out, struct dtp_err *err)
{
	return dtp_schedule_simulate_ops(scheds, K, fwd, bwd_in, bwd_w, xfer, NULL, out, err);
}

int dtp_schedule_simulate_ops(const struct dtp_schedule *scheds, int K, const double *fwd,
			      const double *bwd_in, const double *bwd_w, double xfer,
			      struct dtp_sim_op **ops, struct dtp_sim_result *out,
			      struct dtp_err *err)
{
	int pc[DTP_MAX_STAGES] = { 0 };
	double t[DTP_MAX_STAGES] = { 0 }, busy[DTP_MAX_STAGES] = { 0 };
	struct walk w = { .sch = scheds, .K = K, .fwd = fwd, .bin = bwd_in, .bw = bwd_w, .xfer = xfer,
			  .t = t, .busy = busy, .pc = pc, .ops = ops };
	struct dtp_sim_result res;
	double total = 0, least;
	int r = check_set(scheds, K, err);

	if (r)
		return r;
	for (int s = 0; s < K; s++) {
		if (!(fwd[s] >= 0) || !(bwd_in[s] >= 0) || !(bwd_w[s] >= 0))
			return dtp_errf_input(err, -EINVAL, "simulate: stage %d has a negative or NaN time", s);
	}
	if (!(xfer >= 0))
		return dtp_errf_input(err, -EINVAL, "simulate: negative or NaN transfer time");
	r = walk_all(&w, err);
	if (r)
		return r;
	memset(&res, 0, sizeof(res));
	least = busy[0];
	for (int s = 0; s < K; s++) {
		if (t[s] > res.step_time)
			res.step_time = t[s];
		res.busy[s] = busy[s];
		total += busy[s];
		if (busy[s] < least)
			least = busy[s];
	}
	if (res.step_time > 0) {
		res.bubble = 1.0 - total / ((double)K * res.step_time);
		res.stage_bubble_max = 1.0 - least / res.step_time;
	}
	*out = res;
	return 0;
}

int dtp_schedule_simulate(const struct dtp_schedule *scheds, int K, const double *fwd,
			  const double *bwd, double xfer, struct dtp_sim_result *out,
			  struct dtp_err *err)
{
	double half[DTP_MAX_STAGES];

	if (K < 1 || K > DTP_MAX_STAGES)
		return check_set(scheds, K, err);
	for (int s = 0; s < K; s++)
		half[s] = bwd[s] * 0.5;
	return dtp_schedule_simulate_split(scheds, K, fwd, half, half, xfer, out, err);
}

int dtp_schedule_predict(enum dtp_schedule_kind kind, int stages, int micro, const double *fwd,
			 const double *bwd, double xfer, struct dtp_sim_result *out,
			 struct dtp_err *err)
{
	double half[DTP_MAX_STAGES];

	if (stages < 1 || stages > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "simulate: %d stages; use 1..%d", stages,
				      DTP_MAX_STAGES);
	for (int s = 0; s < stages; s++)
		half[s] = bwd[s] * 0.5;
	return dtp_schedule_predict_split(kind, stages, micro, fwd, half, half, xfer, out, err);
}

int dtp_schedule_predict_split(enum dtp_schedule_kind kind, int stages, int micro,
			       const double *fwd, const double *bwd_in, const double *bwd_w,
			       double xfer, struct dtp_sim_result *out, struct dtp_err *err)
{
	/* one chunk per stage: schedule_interleaved.c builds and simulates */
	return dtp_schedule_predict_v(kind, stages, micro, 1, fwd, bwd_in, bwd_w, xfer, out, err);
}
