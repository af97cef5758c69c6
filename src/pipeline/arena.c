/* A stage's buffer arena: its plan (every per-step buffer's size, before
 * anything is allocated), the memory prediction built on that plan for
 * every chunk of a stage (the start-up cap, schedule = auto, the partition
 * report), and, at start-up, mapping the arena from a link and cutting the
 * buffers out of it. One home for the layout: what the prediction counts
 * is what start-up takes. */
#include "config.h"
#include "pipeline/ckpt_run.h"
#include "pipeline/ctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* a buffer's bytes in the arena: whole cache lines, never empty */
static size_t up8(size_t x)
{
	return dtp_align_up(x ? x : 8, DTP_CACHELINE);
}

/* first, last: the chunk starts or ends the pipeline (stage 0, stage K-1;
 * interleaved: chunk 0 of stage 0, chunk v-1 of stage K-1); K: the stages
 * of the chain its control vectors run along (K x v interleaved) */
void dtp_arena_plan_of(const struct dtp_plan *p, int K, int first, int last, int n_slots,
		       int n_wslots, size_t in_b, size_t out_b, size_t save_b, size_t wsave_b,
		       size_t tgt_elems, int total_units, struct dtp_arena_plan *a)
{
	size_t per_slot, t = 0;

	a->in_b = in_b, a->out_b = out_b, a->save_b = save_b, a->wsave_b = wsave_b;
	a->tgt_b = tgt_elems * sizeof(int32_t) * (size_t)p->micro_batch;
	a->n_slots = n_slots;
	a->n_wslots = n_wslots;
	per_slot = up8(in_b) + (p->recompute ? 0 : up8(save_b));
	a->stash = per_slot * (size_t)n_slots + up8(wsave_b) * (size_t)n_wslots;
	if (last)
		per_slot += up8(a->tgt_b) + (p->recompute ? 0 : up8(out_b));
	t += per_slot * (size_t)n_slots + up8(wsave_b) * (size_t)n_wslots;
	if (p->recompute)
		t += up8(save_b) + up8(out_b);
	if (!last)
		t += 2 * up8(out_b) + 2 * up8(out_b);   /* act_out, grad_in */
	if (!first)
		t += 2 * up8(in_b);                     /* grad_out */
	a->ctrl_up_n = dtp_ctrl_up_len(total_units, K);
	a->ctrl_down_n = dtp_ctrl_down_len(K);
	t += up8(a->ctrl_up_n * sizeof(double)) + up8(a->ctrl_down_n * sizeof(double));
	a->total = dtp_align_up(t, DTP_PAGE);
}

/* Which link a stage's buffer arena comes from (dtp_stage_alloc_arena maps
 * it, the memory prediction sizes it): the next stage's when there is one,
 * else the previous one's; +1, -1, or 0 for a 1-stage run (a private
 * arena). */
static int arena_link_side(int is_first, int is_last)
{
	return !is_last ? 1 : !is_first ? -1 : 0;
}

/* what a chunk's buffer arena of `bytes` maps (dtp_stage_alloc_arena): the
 * file a shm link shares with its peer is on small pages; a private arena
 * (one stage) or a tcp or verbs link's is rounded as dtp_mapped_bytes */
static size_t buffer_arena_bytes(const struct dtp_plan *p, int s, int is_first, int is_last,
				 size_t bytes)
{
	int K = p->num_stages, side = arena_link_side(is_first, is_last);

	if (side && dtp_plan_link_is_shm(p, s, (s + side + K) % K))
		return bytes;
	return dtp_mapped_bytes(bytes);
}

/* one chunk's share (units first..last-1, n_slots and n_wslots stash slots):
 * parameters, gradients, optimizer state, stash and buffers, model scratch */
static int chunk_mem(const struct dtp_plan *p, int s, int first, int last, int is_first,
		     int is_last, int n_slots, int n_wslots, struct dtp_stage_mem *m,
		     struct dtp_err *err)
{
	struct dtp_unit_info ui;
	struct dtp_arena_plan a;
	size_t np = 0, in_e = 0, out_e = 0, save_e = 0, save_pad = 0, tgt_e, prec = 0, scratch;
	int B = p->micro_batch, r;

	for (int u = first; u < last; u++) {
		r = dtp_unit_describe(&p->model, u, &ui);
		if (r)
			return dtp_errf_input(err, r, "stage %d: cannot describe unit %d", s, u);
		np += ui.n_params;
		if (u == first)
			in_e = ui.in_elems;
		out_e = ui.out_elems;
		/* what forward keeps: save_floats counts a unit's own output where its
		 * backward needs it (ReLU, blocks); a unit that keeps nothing else still
		 * keeps its output for the next unit of the stage; plus the 64-byte
		 * rounding of each buffer */
		save_e += ui.save_floats;
		if (ui.save_floats == 0 && u + 1 < last)
			save_e += ui.out_elems;
		save_pad += 16 * 64;
	}
	tgt_e = p->model.kind == DTP_MODEL_GPT ? (size_t)p->model.seq_len : 1;
	dtp_arena_plan_of(p, p->num_stages * dtp_plan_chunks(p), is_first, is_last, n_slots, n_wslots,
		   in_e * 4 * (size_t)B,
		   out_e * 4 * (size_t)B, save_e * 4 * (size_t)B + save_pad,
		   n_wslots ? dtp_model_wsave_bytes(&p->model, first, last, B) : 0, tgt_e,
		   dtp_model_num_units(&p->model), &a);
	m->params += np * sizeof(float);
	m->grads += np * sizeof(float);
	m->optim += dtp_mapped_bytes((p->optim.kind == DTP_OPTIM_ADAMW ? 2 : 1) * np * sizeof(float));
	/* the background writer's snapshot of these units (ckpt_bg.c) */
	m->ckpt_snapshot += dtp_ckpt_bg_bytes(p, np);
	m->stash += a.stash;
	m->buffers += buffer_arena_bytes(p, s, is_first, is_last, a.total) - a.stash;
	/* the model's own backward scratch, as the model will map it: in its
	 * arena beside the arrays, or alone when replicas on one node share
	 * them (rdma/dp.h; whether they do is known only at start-up, so the
	 * larger of the two) */
	scratch = dtp_stage_model_scratch_bytes(&p->model, first, last, B, 0);
	if (p->replicas > 1 && p->shm_reduce) {
		size_t alone = dtp_stage_model_scratch_bytes(&p->model, first, last, B, 1);

		scratch = alone > scratch ? alone : scratch;
	}
	m->model_scratch += scratch;
	/* and what its precision adds (bf16 copies, oneDNN scratchpads) */
	r = dtp_stage_model_precision_bytes(&p->model, first, last, B, p->precision, &prec, err);
	m->precision += prec;
	if (r == 0)     /* fp32_matmul = onednn: its scratchpads */
		r = dtp_stage_model_fp32_matmul_bytes(&p->model, first, last, B, p->precision,
						      p->fp32_matmul, &prec, err);
	if (r == 0)
		m->precision += prec;
	return r;
}

/* stage s's own arenas, without what its links map; arena[c] (when not
 * NULL): chunk c's buffer arena, stash and buffers */
static int own_mem(const struct dtp_plan *p, int s, struct dtp_stage_mem *out, size_t *arena,
		   struct dtp_err *err)
{
	struct dtp_stage_mem m = { 0 };
	int K = p->num_stages, v = p->virtual_stages > 1 ? p->virtual_stages : 1, r;
	int slots[DTP_MAX_STAGES * DTP_MAX_VIRTUAL_STAGES], wslots[DTP_MAX_STAGES] = { 0 };

	/* the stash slots of each chunk, from the built lists */
	if (v > 1)
		r = dtp_schedule_chunk_stash_slots(p->schedule, K, p->micro_batches, v, slots, err);
	else
		r = dtp_schedule_stash_slots(p->schedule, K, p->micro_batches, slots, err);
	if (r == 0 && v == 1)
		r = dtp_schedule_wstash_slots(p->schedule, K, p->micro_batches, wslots, err);
	if (r)
		return r;
	for (int c = 0; c < v && r == 0; c++) {
		size_t before = m.stash + m.buffers;
		int first, last;

		dtp_plan_chunk_units(p, s, c, &first, &last);
		r = chunk_mem(p, s, first, last, s == 0 && c == 0, s == K - 1 && c == v - 1,
			      slots[s * v + c], wslots[s], &m, err);
		if (arena)
			arena[c] = m.stash + m.buffers - before;
	}
	if (r)
		return r;
	m.loader = (s == 0 || s == K - 1) ?
		   p->loader_budget_bytes * (p->test_path[0] ? 2 : 1) : 0;
	*out = m;
	return 0;
}

int dtp_stage_chunk_arenas(const struct dtp_plan *p, int s, size_t *arena, struct dtp_err *err)
{
	struct dtp_stage_mem m;

	return own_mem(p, s, &m, arena, err);
}

int dtp_stage_mem_predict(const struct dtp_plan *p, int s, struct dtp_stage_mem *out,
			  struct dtp_err *err)
{
	struct dtp_stage_mem m;
	int r = own_mem(p, s, &m, NULL, err);

	if (r == 0)
		r = dtp_stage_link_mem(p, s, &m.links, err);
	if (r)
		return r;
	m.total = m.params + m.grads + m.optim + m.stash + m.buffers + m.loader +
		  m.model_scratch + m.precision + m.ckpt_snapshot + m.links;
	*out = m;
	return 0;
}

static void carve_xbufs(struct dtp_xbuf *x, struct dtp_arena *a, size_t bytes)
{
	for (int i = 0; i < 2; i++)
		x[i].buf = dtp_arena_take(a, up8(bytes), DTP_CACHELINE);
}

/* Cut every per-step buffer (stash slots, transfer buffers, control vectors)
 * out of the one arena. */
int dtp_stage_carve_arena(struct dtp_stage *st, const struct dtp_arena_plan *ap,
			  struct dtp_err *err)
{
	const struct dtp_arena_plan a = *ap;

	for (int i = 0; i < st->n_slots; i++) {
		struct dtp_slot *sl = &st->slots[i];

		sl->in = dtp_arena_take(&st->arena, up8(a.in_b), DTP_CACHELINE);
		if (!st->recompute)
			sl->save = dtp_arena_take(&st->arena, up8(a.save_b), DTP_CACHELINE);
		if (st->is_last) {
			sl->tgt = dtp_arena_take(&st->arena, up8(a.tgt_b), DTP_CACHELINE);
			if (!st->recompute)
				sl->logits = dtp_arena_take(&st->arena, up8(a.out_b), DTP_CACHELINE);
		}
	}
	for (int i = 0; i < st->n_wslots; i++)
		st->wslots[i] = dtp_arena_take(&st->arena, up8(a.wsave_b), DTP_CACHELINE);
	if (st->recompute) {
		st->scratch_save = dtp_arena_take(&st->arena, up8(a.save_b), DTP_CACHELINE);
		st->scratch_out = dtp_arena_take(&st->arena, up8(a.out_b), DTP_CACHELINE);
	}
	if (!st->is_last) {
		carve_xbufs(st->act_out, &st->arena, a.out_b);
		carve_xbufs(st->grad_in, &st->arena, a.out_b);
	}
	if (!st->is_first)
		carve_xbufs(st->grad_out, &st->arena, a.in_b);
	st->ctrl_up_n = a.ctrl_up_n;
	st->ctrl_down_n = a.ctrl_down_n;
	st->ctrl_up = dtp_arena_take(&st->arena, up8(a.ctrl_up_n * 8), DTP_CACHELINE);
	st->ctrl_down = dtp_arena_take(&st->arena, up8(a.ctrl_down_n * 8), DTP_CACHELINE);
	st->sumsq = calloc((size_t)st->n_units, sizeof(double));
	st->sumsq_blocks = calloc(dtp_optim_n_blocks(st->optim) + 1, sizeof(double));
	if (!st->ctrl_down || !st->sumsq || !st->sumsq_blocks)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: buffer arena too small (internal error)", st->s);
	return 0;
}


/* The arena comes from a link when the stage has one (dtp_link_alloc: on shm
 * the peer maps it and writes received tensors straight into it, one copy
 * instead of two through a ring), and is registered once on the other link;
 * a 1-stage run maps it privately. */
int dtp_stage_alloc_arena(struct dtp_stage *st, size_t bytes, struct dtp_err *err)
{
	int side = arena_link_side(!st->prev, !st->next);
	struct dtp_link *owner = side > 0 ? st->next : side < 0 ? st->prev : NULL;
	struct dtp_link *other = side > 0 ? st->prev : NULL;
	void *buf;
	int r;

	if (!owner) {
		r = dtp_arena_init(&st->arena, bytes);
		if (r)
			return dtp_errf_runtime(err, r, "stage %d: cannot map %zu bytes of pipeline buffers",
						st->s, bytes);
		return 0;
	}
	bytes = dtp_align_up(bytes ? bytes : 1, DTP_PAGE);
	r = dtp_link_alloc(owner, bytes, &buf, &st->arena_mr, err);
	if (r)
		return r;
	memset(buf, 0, bytes);
	st->arena.base = buf;
	st->arena.size = bytes;
	st->arena.used = 0;
	st->arena_link = owner;
	if (owner == st->next)
		st->next_mr = st->arena_mr;
	else
		st->prev_mr = st->arena_mr;
	if (other) {
		r = dtp_link_reg(other, buf, bytes, &st->prev_mr, err);
		if (r) {
			dtp_link_free(owner, buf, st->arena_mr);
			st->arena_link = NULL;
			st->arena.base = NULL;
			return r;
		}
	}
	return 0;
}

/* undo dtp_stage_alloc_arena */
void dtp_stage_free_arena(struct dtp_stage *st)
{
	if (!st->arena_link) {
		dtp_arena_release(&st->arena);
		return;
	}
	if (st->prev && st->arena_link != st->prev && st->prev_mr)
		dtp_link_dereg(st->prev, st->prev_mr);
	dtp_link_free(st->arena_link, st->arena.base, st->arena_mr);
	st->arena_link = NULL;
	st->arena.base = NULL;
	st->prev_mr = st->next_mr = NULL;
}
