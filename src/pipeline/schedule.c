/* Schedules as data: the per-stage op lists of GPipe, 1F1B and ZB-H1
 * (ZB-H2's: schedule_zb.c). */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *dtp_op_name(int kind)
{
	switch (kind) {
	case DTP_OP_RECV_ACT: return "recv_act";
	case DTP_OP_FWD: return "fwd";
	case DTP_OP_SEND_ACT: return "send_act";
	case DTP_OP_RECV_GRAD: return "recv_grad";
	case DTP_OP_BWD: return "bwd";
	case DTP_OP_SEND_GRAD: return "send_grad";
	case DTP_OP_BWD_IN: return "bwd_b";
	case DTP_OP_BWD_W: return "bwd_w";
	}
	return "?";
}

struct op_builder {
	struct dtp_op *ops;
	int n;
	int first;   /* stage s == 0 */
	int last;    /* stage s == K-1 */
};

static void push(struct op_builder *b, int kind, int m)
{
	b->ops[b->n].kind = kind;
	b->ops[b->n].micro = m;
	b->n++;
}

/* one pass of micro-batch m: receive its input unless this stage is where
 * the pass starts, compute, send the result unless the pass ends here */
static void push_pass(struct op_builder *b, int m, int starts_here, int recv, int compute,
		      int ends_here, int send)
{
	if (!starts_here)
		push(b, recv, m);
	push(b, compute, m);
	if (!ends_here)
		push(b, send, m);
}

static void push_fwd(struct op_builder *b, int m)
{
	push_pass(b, m, b->first, DTP_OP_RECV_ACT, DTP_OP_FWD, b->last, DTP_OP_SEND_ACT);
}

static void push_bwd(struct op_builder *b, int m)
{
	push_pass(b, m, b->last, DTP_OP_RECV_GRAD, DTP_OP_BWD, b->first, DTP_OP_SEND_GRAD);
}

/* B: the input gradient goes down at once; W comes later (push_w) */
static void push_bwd_in(struct op_builder *b, int m)
{
	push_pass(b, m, b->last, DTP_OP_RECV_GRAD, DTP_OP_BWD_IN, b->first, DTP_OP_SEND_GRAD);
}

static void push_w(struct op_builder *b, int m)
{
	push(b, DTP_OP_BWD_W, m);
}

int dtp_schedule_splits(enum dtp_schedule_kind kind)
{
	return kind == DTP_SCHEDULE_ZBH1 || kind == DTP_SCHEDULE_ZBH2;
}

/* the most micro-batches between an op of kind `open` and one of a kind in
 * `close` (two kinds, the same twice for one) */
static int most_live(const struct dtp_op *ops, int n_ops, int open, int close1, int close2)
{
	int live = 0, most = 0;

	for (int i = 0; i < n_ops; i++) {
		if (ops[i].kind == open && ++live > most)
			most = live;
		else if (ops[i].kind == close1 || ops[i].kind == close2)
			live--;
	}
	return most;
}

int dtp_schedule_stash_needed(const struct dtp_op *ops, int n_ops)
{
	return most_live(ops, n_ops, DTP_OP_FWD, DTP_OP_BWD, DTP_OP_BWD_W);
}

int dtp_schedule_wstash_needed(const struct dtp_op *ops, int n_ops)
{
	return most_live(ops, n_ops, DTP_OP_BWD_IN, DTP_OP_BWD_W, DTP_OP_BWD_W);
}

/* On the first stage no one waits for B's input gradient, so where W m
 * follows B m at once the two run as one whole backward (BWD m): B then W
 * unit by unit, with each unit's output gradients still in cache and in the
 * model's scratch rather than a W stash (the same calls, the same bits). */
static void fuse_first_stage(struct op_builder *b)
{
	int n = 0;

	for (int i = 0; i < b->n; i++) {
		if (b->ops[i].kind == DTP_OP_BWD_IN && i + 1 < b->n &&
		    b->ops[i + 1].kind == DTP_OP_BWD_W && b->ops[i + 1].micro == b->ops[i].micro) {
			b->ops[n].kind = DTP_OP_BWD;
			b->ops[n++].micro = b->ops[i++].micro;
			continue;
		}
		b->ops[n++] = b->ops[i];
	}
	b->n = n;
}

/* ZB-H1 (see pipeline.h): 1F1B's warm-up and steady state with B for the
 * backward; W of the oldest micro-batch whenever more than `lag` have had
 * their B and not their W; in the drain, one W after each B (while the
 * next gradient is on its way), then the rest. */
static void build_zbh1(struct op_builder *b, int stage, int stages, int micro)
{
	int warmup = stages - stage - 1, lag = stage, f, nb = 0, nw = 0;

	if (warmup > micro)
		warmup = micro;
	for (f = 0; f < warmup; f++)
		push_fwd(b, f);
	for (; f < micro; f++) {
		push_fwd(b, f);
		push_bwd_in(b, nb++);
		if (nb - nw > lag)
			push_w(b, nw++);
	}
	while (nb < micro) {
		push_bwd_in(b, nb++);
		if (nb - nw > lag)
			push_w(b, nw++);
	}
	while (nw < micro)
		push_w(b, nw++);
}

int dtp_schedule_build(enum dtp_schedule_kind kind, int stage, int stages, int micro,
		       struct dtp_schedule *out, struct dtp_err *err)
{
	struct op_builder b = { 0 };
	int warmup, next_fwd, next_bwd;

	if (stages < 1 || stages > DTP_MAX_STAGES || stage < 0 || stage >= stages)
		return dtp_errf_input(err, -EINVAL, "schedule: stage %d of %d is out of range (1..%d stages)",
				      stage, stages, DTP_MAX_STAGES);
	if (micro < 1 || micro > 65535)
		return dtp_errf_input(err, -EINVAL, "schedule: %d micro-batches; use 1..65535", micro);
	if (kind == DTP_SCHEDULE_INTERLEAVED)   /* needs its chunks: schedule_interleaved.c */
		return dtp_errf_input(err, -EINVAL, "schedule = interleaved needs the plan's chunks "
				      "(virtual_stages), which this step does not take: plan it again with "
				      "dtpipe-partition plan --schedule interleaved --virtual-stages V");
	if (kind != DTP_SCHEDULE_GPIPE && kind != DTP_SCHEDULE_1F1B && kind != DTP_SCHEDULE_ZBH1 &&
	    kind != DTP_SCHEDULE_ZBH2)
		return dtp_errf_input(err, -EINVAL, "schedule: unknown kind %d; use gpipe, 1f1b, zb-h1 or zb-h2",
				      (int)kind);
	b.ops = calloc((size_t)micro * 7, sizeof(*b.ops));
	if (!b.ops)
		return dtp_errf_runtime(err, -ENOMEM, "schedule: out of memory for %d ops", micro * 7);
	b.first = stage == 0;
	b.last = stage == stages - 1;

	if (kind == DTP_SCHEDULE_ZBH2) {
		int r = dtp_schedule_build_zbh2(stage, stages, micro, b.ops, &b.n, err);

		if (r) {
			free(b.ops);
			return r;
		}
	} else if (kind == DTP_SCHEDULE_ZBH1) {
		build_zbh1(&b, stage, stages, micro);
	} else if (kind == DTP_SCHEDULE_GPIPE) {
		for (int m = 0; m < micro; m++)
			push_fwd(&b, m);
		for (int m = 0; m < micro; m++)
			push_bwd(&b, m);
	} else {
		/* PipeDream-flush: stage s runs K-s-1 forwards ahead, then
		 * alternates one forward and one backward, then drains. */
		warmup = stages - stage - 1;
		if (warmup > micro)
			warmup = micro;
		for (next_fwd = 0; next_fwd < warmup; next_fwd++)
			push_fwd(&b, next_fwd);
		for (next_bwd = 0; next_fwd < micro; next_fwd++, next_bwd++) {
			push_fwd(&b, next_fwd);
			push_bwd(&b, next_bwd);
		}
		for (; next_bwd < micro; next_bwd++)
			push_bwd(&b, next_bwd);
	}

	if (dtp_schedule_splits(kind) && b.first)
		fuse_first_stage(&b);
	out->kind = kind;
	out->stage = stage;
	out->stages = stages;
	out->micro = micro;
	out->n_ops = b.n;
	out->ops = b.ops;
	out->max_stash = dtp_schedule_stash_needed(b.ops, b.n);
	out->max_wstash = dtp_schedule_wstash_needed(b.ops, b.n);
	out->chunks = 1;
	out->chunk_stash[0] = out->max_stash;
	return 0;
}

/* slots[s] (w: wslots[s]) of every stage's built list */
static int slots_of(enum dtp_schedule_kind kind, int stages, int micro, int w, int *slots,
		    struct dtp_err *err)
{
	struct dtp_schedule sc;
	int r;

	for (int s = 0; s < stages; s++) {
		r = dtp_schedule_build(kind, s, stages, micro, &sc, err);
		if (r)
			return r;
		slots[s] = w ? sc.max_wstash : sc.max_stash;
		dtp_schedule_free(&sc);
	}
	return stages < 1 ? dtp_errf_input(err, -EINVAL, "schedule: %d stages; use 1..%d", stages,
					   DTP_MAX_STAGES) : 0;
}

int dtp_schedule_stash_slots(enum dtp_schedule_kind kind, int stages, int micro, int *slots,
			     struct dtp_err *err)
{
	return slots_of(kind, stages, micro, 0, slots, err);
}

int dtp_schedule_wstash_slots(enum dtp_schedule_kind kind, int stages, int micro, int *wslots,
			      struct dtp_err *err)
{
	return slots_of(kind, stages, micro, 1, wslots, err);
}

void dtp_schedule_free(struct dtp_schedule *s)
{
	if (!s)
		return;
	free(s->ops);
	s->ops = NULL;
	s->n_ops = 0;
}
