/* Stage backward, whole or split in two halves for zero-bubble schedules:
 *   B (dtp_stage_backward_input): the input gradients, unit by unit from the
 *     last, which the previous stage waits for; it keeps every gradient the
 *     weight half needs (each parameterised operation's output gradient) in
 *     the micro-batch's W stash;
 *   W (dtp_stage_backward_weight): the parameter gradients (+=) from the save
 *     slot and the W stash; it can wait. A unit's first W of a step writes
 *     its gradients (=) rather than adding onto zeros (dtp_stage_zero_grads;
 *     W runs in micro-batch order, so that is micro-batch 0's).
 * Each sgemm and reduction is the same call with the same operands in both
 * forms, so the split gives the fused backward's bits. dtp_stage_backward
 * runs B then W per unit with the W buffers in the model's scratch (in
 * bf16 a linear unit's two in one call: one conversion of its output
 * gradient). */
#include "config.h"
#include "model/stage.h"
#include "model/pool.h"

#include <errno.h>
#include <string.h>

/* One unit's output gradients as the weight half reads them. */
struct unit_wg {
	const float *dy;              /* (rows, out_dim): the unit's output gradient */
	float *d;                     /* linear: dy after ReLU backward (may be dy) */
	float *dln;                   /* head: its layernorm's output gradient */
	struct dtp_block_wgrad bw;    /* block (bw.dy = dy) */
};

/* Lay out the W stash of one micro-batch of B samples of units [first, last)
 * of spec at base (NULL: count): per unit, its output gradient and what its
 * kind adds. Fills *wg with unit first + `want`'s buffers (want < 0: none).
 * Returns floats. A walk over the units per call: pointer arithmetic only,
 * no allocation on the hot path. */
static size_t wlayout(const struct dtp_model_spec *spec, int first, int last, int B, float *base,
		      int want, struct unit_wg *wg)
{
	int T = spec->kind == DTP_MODEL_GPT ? spec->seq_len : 1, C = spec->dim;
	size_t cur = 0, rows = (size_t)B * (size_t)T;

	for (int i = 0; i < last - first; i++) {
		struct dtp_unit_rt u;
		struct unit_wg w;
		float *dy;

		dtp_unit_rt_of(spec, first + i, &u);
		dy = dtp_carve(base, &cur, rows * (size_t)u.out_dim);
		memset(&w, 0, sizeof(w));
		w.dy = dy;
		w.d = dy;   /* ReLU backward in place */
		if (u.kind == DTP_UNIT_BLOCK)
			cur += dtp_block_wgrad_map(&w.bw, base ? base + cur : NULL, B, T, C);
		else if (u.kind == DTP_UNIT_HEAD)
			w.dln = dtp_carve(base, &cur, rows * (size_t)C);
		w.bw.dy = dy;
		if (i == want)
			*wg = w;
	}
	return cur;
}

size_t dtp_model_wsave_bytes(const struct dtp_model_spec *spec, int first, int last, int B)
{
	int n = dtp_model_num_units(spec);

	if (first < 0 || last > n || first >= last || B < 1)
		return 0;
	return wlayout(spec, first, last, B, NULL, -1, NULL) * sizeof(float);
}

size_t dtp_stage_model_wsave_bytes(const struct dtp_stage_model *m, int B)
{
	return dtp_model_wsave_bytes(&m->spec, m->first, m->last, B);
}

/* B of unit i: w->dy -> dx (NULL: the unit's input gradient is not wanted);
 * fills the rest of *w */
static void unit_input(struct dtp_stage_model *m, int i, const void *in, const struct unit_wg *w,
		       float *dx, int B)
{
	int T = dtp_stage_seq(m), C = m->spec.dim, V = m->spec.vocab, H = m->spec.heads;
	const struct dtp_unit_rt *u = &m->units[i];
	const struct dtp_unit_buf *b = &m->bufs[i];
	const float *x = i == 0 ? in : m->bufs[i - 1].out;
	const float *p = m->params + u->poff;

	switch (u->kind) {
	case DTP_UNIT_LINEAR:
		if (u->relu)
			dtp_par_relu_backward(m->pool, w->d, w->dy, b->out, (size_t)B * u->out_dim);
		if (dx)
			dtp_linear_backward_mx(m->pool, dtp_stage_mm(m), dx, NULL, NULL, u->relu ? w->d : w->dy,
					       NULL, p, B, u->in_dim, u->out_dim, 1);
		dtp_stage_round_bf16(m, dx, (size_t)B * u->in_dim);
		break;
	case DTP_UNIT_EMBED:
		break;   /* tokens have no gradient */
	case DTP_UNIT_BLOCK: {
		struct dtp_block_params bp;

		dtp_block_params_map(&bp, (float *)(uintptr_t)p, C);
		dtp_block_backward_input(m->pool, dtp_stage_mm(m), dx, &w->bw, x, &bp, &b->bs, &m->bsc, B, T,
					 C, H);
		dtp_stage_round_bf16(m, dx, (size_t)B * T * C);
		break;
	}
	case DTP_UNIT_HEAD:
		dtp_head_backward_input(m->pool, dtp_stage_mm(m), dx, w->dln, w->dy, x, b->mean, b->rstd, p,
					p + 2 * C, B * T, C, V);
		dtp_stage_round_bf16(m, dx, (size_t)B * T * C);
		break;
	}
}

/* The step's first W of unit u (u->fresh): its vectors (biases, layer norm
 * parameters: the ranges without weight decay) set to zero, a pass over a few
 * thousand floats; the weight-gradient matmuls then write its matrices
 * (acc 0) instead of adding onto zeros (dtp_stage_zero_grads). Returns acc. */
static int unit_acc(struct dtp_stage_model *m, struct dtp_unit_rt *u)
{
	struct dtp_param_range r[12];
	int n;

	if (!u->fresh)
		return 1;
	n = dtp_unit_param_ranges(&m->spec, u->global, u->poff, r);
	for (int k = 0; k < n; k++)
		if (!r[k].decay)
			memset(m->grads + r[k].off, 0, r[k].n * sizeof(float));
	u->fresh = 0;
	return 0;
}

/* W of unit i: parameter gradients += (the step's first: =) from *w and the
 * save slot; acc: unit_acc's answer when the caller took it before B (< 0:
 * take it here) */
static void unit_weight(struct dtp_stage_model *m, int i, const void *in, const struct unit_wg *w,
			int B, int acc)
{
	int T = dtp_stage_seq(m), C = m->spec.dim, V = m->spec.vocab;
	struct dtp_unit_rt *u = &m->units[i];
	const struct dtp_unit_buf *b = &m->bufs[i];
	const float *x = i == 0 ? in : m->bufs[i - 1].out;
	float *gp = m->grads + u->poff;

	if (acc < 0)
		acc = u->kind == DTP_UNIT_EMBED ? 1 : unit_acc(m, u);

	switch (u->kind) {
	case DTP_UNIT_LINEAR: {
		size_t nw = (size_t)u->out_dim * u->in_dim;

		dtp_linear_backward_mx(m->pool, dtp_stage_mm(m), NULL, gp, gp + nw, u->relu ? w->d : w->dy, x,
				       NULL, B, u->in_dim, u->out_dim, acc);
		break;
	}
	case DTP_UNIT_EMBED:
		dtp_par_embedding_backward(m->pool, gp, gp + (size_t)V * C, w->dy, in, B, T, C);
		break;
	case DTP_UNIT_BLOCK: {
		struct dtp_block_params bg;

		dtp_block_params_map(&bg, gp, C);
		dtp_block_backward_weight(m->pool, dtp_stage_mm(m), &bg, &w->bw, x, &b->bs, B, T, C, acc);
		break;
	}
	case DTP_UNIT_HEAD:
		dtp_head_backward_weight(m->pool, dtp_stage_mm(m), gp, gp + C, gp + 2 * C, w->dln, w->dy, x,
					 b->lnf, b->mean, b->rstd, B * T, C, V, acc);
		break;
	}
}

/* B and W of a linear unit i in one call (the whole backward, bf16): the
 * same matmuls, column sums and ReLU backward as unit_input then
 * unit_weight, on one conversion of the output gradient to bf16 where the
 * two halves made one each, and that conversion, the ReLU backward and the
 * column sums in one pass over dy (the same values rounded the same way:
 * the same bits). fp32 has no conversion to save and keeps the two calls.
 * In bf16, dy_raw: the unit above left dy unrounded (its input gradient,
 * the boundary dtp_stage_round_bf16 rounds), and this unit's pass over dy
 * rounds it on the way; this unit does the same for its own dx when the unit
 * below is a linear one that takes this path (whole_raw_dx), which saves a
 * pass over dx and a pool region per unit: the same values, so the same
 * bits. Returns whether dx was left unrounded. */
static int whole_raw_dx(const struct dtp_stage_model *m, int i)
{
	return m->mx && i > 0 && m->units[i - 1].kind == DTP_UNIT_LINEAR;
}

static int unit_linear_whole(struct dtp_stage_model *m, int i, const void *in,
			     const struct unit_wg *w, float *dx, int B, int dy_raw)
{
	struct dtp_unit_rt *u = &m->units[i];
	const float *x = i == 0 ? in : m->bufs[i - 1].out;
	const float *p = m->params + u->poff;
	float *gp = m->grads + u->poff;
	size_t nw = (size_t)u->out_dim * u->in_dim;
	int acc = unit_acc(m, u);

	if (m->mx) {   /* bf16: ReLU, bias sums and dy's rounding in one pass */
		dtp_linear_backward_whole_mx(m->pool, m->mx, dx, w->d, gp, gp + nw, w->dy,
					     u->relu ? m->bufs[i].out : NULL, x, p, B, u->in_dim,
					     u->out_dim, acc, dy_raw);
		if (whole_raw_dx(m, i))
			return 1;
	} else {       /* fp32, OpenBLAS or oneDNN (m->fx) */
		if (u->relu)
			dtp_par_relu_backward(m->pool, w->d, w->dy, m->bufs[i].out,
					      (size_t)B * u->out_dim);
		dtp_linear_backward_mx(m->pool, dtp_stage_mm(m), dx, gp, gp + nw,
				       u->relu ? w->d : w->dy, x, p, B, u->in_dim, u->out_dim, acc);
	}
	dtp_stage_round_bf16(m, dx, (size_t)B * u->in_dim);
	return 0;
}

/* where unit i's input gradient goes in the whole backward: the next unit
 * down reads it from ping; unit 0 writes din (a linear skips it when din is
 * NULL, the others compute it into ping and drop it) */
static float *fused_dx(struct dtp_stage_model *m, int i, float *din)
{
	if (i > 0)
		return m->ping[i & 1];
	if (din)
		return din;
	return m->units[0].kind == DTP_UNIT_LINEAR ? NULL : m->ping[0];
}

int dtp_stage_backward(struct dtp_stage_model *m, const void *in, const void *save,
		       const float *dout, float *din, int B)
{
	return dtp_stage_backward_each(m, in, save, dout, din, B, NULL, NULL);
}

int dtp_stage_backward_each(struct dtp_stage_model *m, const void *in, const void *save,
			    const float *dout, float *din, int B, dtp_unit_done_fn *done,
			    void *arg)
{
	const float *g = dout;
	int g_raw = 0;          /* g left unrounded for unit_linear_whole */

	if (B < 1 || B > m->max_batch)
		return -EINVAL;
	/* the save slot is only read; the layout needs a writable base type */
	dtp_stage_layout(m, B, (float *)(uintptr_t)save, NULL, m->bufs);
	for (int i = m->n_units - 1; i >= 0; i--) {
		const struct dtp_unit_rt *u = &m->units[i];
		float *dx = fused_dx(m, i, din);
		struct unit_wg w = { .dy = g, .d = u->relu ? m->dpre : (float *)(uintptr_t)g,
				     .dln = m->head_dln };

		w.bw = (struct dtp_block_wgrad){ .dy = g, .dfch = m->bsc.dfch, .dln2 = m->bsc.dln,
						 .dres1 = m->bsc.dres1, .dqkv = m->bsc.dqkv,
						 .dln1 = m->bsc.dln1, .kept16 = 1 };
		if (u->kind == DTP_UNIT_LINEAR && m->mx) {
			g_raw = unit_linear_whole(m, i, in, &w, dx, B, g_raw);
		} else {
			struct dtp_block_params bg;
			int acc = -1;

			/* B adds the block's vector gradients as it goes
			 * (kernels.h, dtp_block_wgrad), onto vectors zeroed
			 * first when this is the step's first W */
			if (u->kind == DTP_UNIT_BLOCK) {
				acc = unit_acc(m, &m->units[i]);
				dtp_block_params_map(&bg, m->grads + u->poff, m->spec.dim);
				w.bw.sums = &bg;
			}
			unit_input(m, i, in, &w, dx, B);
			unit_weight(m, i, in, &w, B, acc);
			g_raw = 0;
		}
		if (done)
			done(arg, u->global, m->grads + u->poff, u->np);
		g = dx;
	}
	return 0;
}

int dtp_stage_backward_input(struct dtp_stage_model *m, const void *in, const void *save,
			     const float *dout, float *din, void *wsave, int B)
{
	struct unit_wg w, below = { 0 };
	int last = m->n_units - 1;

	if (B < 1 || B > m->max_batch)
		return -EINVAL;
	dtp_stage_layout(m, B, (float *)(uintptr_t)save, NULL, m->bufs);
	wlayout(&m->spec, m->first, m->last, B, wsave, last, &w);
	/* the last unit's output gradient is the caller's buffer, which is
	 * reused before W runs: W reads the copy */
	memcpy(w.d, dout, (size_t)B * (size_t)dtp_stage_seq(m) * (size_t)m->units[last].out_dim *
				  sizeof(float));
	for (int i = last; i >= 0; i--) {
		float *dx = din;

		if (i > 0) {
			wlayout(&m->spec, m->first, m->last, B, wsave, i - 1, &below);
			dx = below.d;   /* unit i-1's output gradient, in its W stash */
		} else if (!din && m->units[0].kind != DTP_UNIT_LINEAR) {
			dx = m->ping[0];   /* computed and dropped, as in the whole backward */
		}
		unit_input(m, i, in, &w, dx, B);
		w = below;
	}
	return 0;
}

int dtp_stage_backward_weight(struct dtp_stage_model *m, const void *in, const void *save,
			      const void *wsave, int B)
{
	return dtp_stage_backward_weight_each(m, in, save, wsave, B, NULL, NULL);
}

int dtp_stage_backward_weight_each(struct dtp_stage_model *m, const void *in, const void *save,
				   const void *wsave, int B, dtp_unit_done_fn *done, void *arg)
{
	struct unit_wg w;

	if (B < 1 || B > m->max_batch)
		return -EINVAL;
	dtp_stage_layout(m, B, (float *)(uintptr_t)save, NULL, m->bufs);
	for (int i = m->n_units - 1; i >= 0; i--) {
		const struct dtp_unit_rt *u = &m->units[i];

		wlayout(&m->spec, m->first, m->last, B, (float *)(uintptr_t)wsave, i, &w);
		unit_weight(m, i, in, &w, B, -1);
		if (done)
			done(arg, u->global, m->grads + u->poff, u->np);
	}
	return 0;
}
