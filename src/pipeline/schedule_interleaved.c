/* Interleaved 1F1B as data (pipeline.h): the per-stage op lists over v model
 * chunks per stage, their stash counts per chunk, and the prediction of a
 * (kind, K, M, v) schedule. */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dtp_schedule_interleaved_check(int stages, int micro, int chunks, struct dtp_err *err)
{
	if (chunks < 2 || chunks > DTP_MAX_VIRTUAL_STAGES)
		return dtp_errf_input(err, -EINVAL,
				      "schedule: interleaved over %d chunks per stage; use 2..%d virtual stages",
				      chunks, DTP_MAX_VIRTUAL_STAGES);
	if (stages < 2 || stages > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL,
				      "schedule: interleaved over %d stages; use 2..%d (1f1b for one stage)",
				      stages, DTP_MAX_STAGES);
	if (micro < 1 || micro > 65535 || micro % stages)
		return dtp_errf_input(err, -EINVAL,
				      "schedule: interleaved with %d micro-batches over %d stages; M must be a "
				      "multiple of K (micro-batches run in groups of K), at most 65535",
				      micro, stages);
	return 0;
}

struct ibuild {
	struct dtp_op *ops;
	int n, s, K, v;
};

static void push(struct ibuild *b, int kind, int m, int c)
{
	b->ops[b->n].kind = kind;
	b->ops[b->n].micro = m;
	b->ops[b->n].chunk = c;
	b->n++;
}

/* the micro-batch and chunk of virtual index k; backward reverses the chunks */
static void virtual_of(const struct ibuild *b, int k, int fwd, int *m, int *c)
{
	int group = b->K * b->v, in = k % group;

	*c = in / b->K;
	if (!fwd)
		*c = b->v - 1 - *c;
	*m = k / group * b->K + in % b->K;
}

/* F of virtual index k: it starts at stage 0's chunk 0 and ends at stage
 * K-1's chunk v-1; any other (stage, chunk) receives and sends */
static void push_f(struct ibuild *b, int k)
{
	int m, c;

	virtual_of(b, k, 1, &m, &c);
	if (!(b->s == 0 && c == 0))
		push(b, DTP_OP_RECV_ACT, m, c);
	push(b, DTP_OP_FWD, m, c);
	if (!(b->s == b->K - 1 && c == b->v - 1))
		push(b, DTP_OP_SEND_ACT, m, c);
}

static void push_b(struct ibuild *b, int k)
{
	int m, c;

	virtual_of(b, k, 0, &m, &c);
	if (!(b->s == b->K - 1 && c == b->v - 1))
		push(b, DTP_OP_RECV_GRAD, m, c);
	push(b, DTP_OP_BWD, m, c);
	if (!(b->s == 0 && c == 0))
		push(b, DTP_OP_SEND_GRAD, m, c);
}

/* the most micro-batches of chunk c forwarded and not yet backwarded */
static int chunk_live(const struct dtp_op *ops, int n, int c)
{
	int live = 0, most = 0;

	for (int i = 0; i < n; i++) {
		if (ops[i].chunk != c)
			continue;
		if (ops[i].kind == DTP_OP_FWD && ++live > most)
			most = live;
		else if (ops[i].kind == DTP_OP_BWD || ops[i].kind == DTP_OP_BWD_W)
			live--;
	}
	return most;
}

static int build_interleaved(int stage, int stages, int micro, int chunks,
			     struct dtp_schedule *out, struct dtp_err *err)
{
	struct ibuild b = { .s = stage, .K = stages, .v = chunks };
	int total = micro * chunks, warmup, r;

	if (stage < 0 || stage >= stages)
		return dtp_errf_input(err, -EINVAL, "schedule: stage %d of %d is out of range", stage,
				      stages);
	r = dtp_schedule_interleaved_check(stages, micro, chunks, err);
	if (r)
		return r;
	b.ops = calloc((size_t)total * 6, sizeof(*b.ops));
	if (!b.ops)
		return dtp_errf_runtime(err, -ENOMEM, "schedule: out of memory for %d ops", total * 6);
	/* Megatron's warm-up: the forwards stage s runs before its first backward */
	warmup = micro == stages ? total : 2 * (stages - stage - 1) + (chunks - 1) * stages;
	if (warmup > total)
		warmup = total;
	for (int k = 0; k < warmup; k++)
		push_f(&b, k);
	for (int k = 0; k < total - warmup; k++) {
		push_f(&b, warmup + k);
		push_b(&b, k);
	}
	for (int k = total - warmup; k < total; k++)
		push_b(&b, k);

	memset(out, 0, sizeof(*out));
	out->kind = DTP_SCHEDULE_INTERLEAVED;
	out->stage = stage;
	out->stages = stages;
	out->micro = micro;
	out->chunks = chunks;
	out->n_ops = b.n;
	out->ops = b.ops;
	out->max_stash = dtp_schedule_stash_needed(b.ops, b.n);
	out->max_wstash = 0;
	for (int c = 0; c < chunks; c++)
		out->chunk_stash[c] = chunk_live(b.ops, b.n, c);
	return 0;
}

int dtp_schedule_build_v(enum dtp_schedule_kind kind, int stage, int stages, int micro,
			 int chunks, struct dtp_schedule *out, struct dtp_err *err)
{
	if (kind == DTP_SCHEDULE_INTERLEAVED)
		return build_interleaved(stage, stages, micro, chunks, out, err);
	if (chunks != 1)
		return dtp_errf_input(err, -EINVAL,
				      "schedule: %s runs one chunk per stage, not %d; use schedule = interleaved "
				      "for virtual stages", dtp_schedule_name(kind), chunks);
	return dtp_schedule_build(kind, stage, stages, micro, out, err);
}

int dtp_schedule_chunk_stash_slots(enum dtp_schedule_kind kind, int stages, int micro,
				   int chunks, int *slots, struct dtp_err *err)
{
	struct dtp_schedule sc;
	int r;

	if (stages < 1 || stages > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "schedule: %d stages; use 1..%d", stages,
				      DTP_MAX_STAGES);
	for (int s = 0; s < stages; s++) {
		r = dtp_schedule_build_v(kind, s, stages, micro, chunks, &sc, err);
		if (r)
			return r;
		for (int c = 0; c < chunks; c++)
			slots[s * chunks + c] = chunks > 1 ? sc.chunk_stash[c] : sc.max_stash;
		dtp_schedule_free(&sc);
	}
	return 0;
}

int dtp_schedule_predict_v(enum dtp_schedule_kind kind, int stages, int micro, int chunks,
			   const double *fwd, const double *bwd_in, const double *bwd_w,
			   double xfer, struct dtp_sim_result *out, struct dtp_err *err)
{
	struct dtp_schedule sc[DTP_MAX_STAGES];
	int built = 0, r = 0;

	if (stages < 1 || stages > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "simulate: %d stages; use 1..%d", stages,
				      DTP_MAX_STAGES);
	for (; built < stages && r == 0; built++)
		r = dtp_schedule_build_v(kind, built, stages, micro, chunks, &sc[built], err);
	if (r)
		built--;   /* the failed one holds nothing */
	else
		r = dtp_schedule_simulate_split(sc, stages, fwd, bwd_in, bwd_w, xfer, out, err);
	for (int s = 0; s < built; s++)
		dtp_schedule_free(&sc[s]);
	return r;
}

