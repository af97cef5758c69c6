/* Stage model: units [first, last) of a model with parameters, gradients and
 * backward scratch carved once from one arena; forward/backward over the
 * range. A micro-batch's save slot holds, per unit, what its backward needs
 * plus its output when a later unit of the stage reads it (the last unit's
 * output goes to the caller's `out`). */
#include "config.h"
#include "model/stage.h"
#include "model/pool.h"
#include "model/bf16.h"
#include "model/dnnl_matmul.h"

#include <cblas.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX(a, b) ((a) > (b) ? (a) : (b))

int dtp_stage_model_first(const struct dtp_stage_model *m) { return m->first; }
int dtp_stage_model_last(const struct dtp_stage_model *m) { return m->last; }
const struct dtp_model_spec *dtp_stage_model_spec(const struct dtp_stage_model *m)
{
	return &m->spec;
}
float *dtp_stage_model_params(struct dtp_stage_model *m)
{
	m->w16_stale = 1;
	return m->params;
}
void dtp_stage_params_changed(struct dtp_stage_model *m) { m->w16_stale = 1; }
float *dtp_stage_model_grads(struct dtp_stage_model *m)
{
	dtp_stage_grads_settle(m);
	return m->grads;
}
size_t dtp_stage_model_num_params(const struct dtp_stage_model *m) { return m->n_params; }

size_t dtp_stage_model_unit_offset(const struct dtp_stage_model *m, int unit)
{
	if (unit < m->first || unit >= m->last)
		return m->n_params;
	return m->units[unit - m->first].poff;
}

void dtp_unit_rt_of(const struct dtp_model_spec *spec, int g, struct dtp_unit_rt *u)
{
	memset(u, 0, sizeof(*u));
	u->global = g;
	if (spec->kind == DTP_MODEL_MLP) {
		u->kind = DTP_UNIT_LINEAR;
		u->in_dim = spec->widths[g];
		u->out_dim = spec->widths[g + 1];
		u->relu = g < spec->n_widths - 2;
	} else {
		u->kind = g == 0 ? DTP_UNIT_EMBED : g <= spec->layers ? DTP_UNIT_BLOCK : DTP_UNIT_HEAD;
		u->in_dim = spec->dim;
		u->out_dim = u->kind == DTP_UNIT_HEAD ? spec->vocab : spec->dim;
	}
}

int dtp_stage_seq(const struct dtp_stage_model *m)
{
	return m->spec.kind == DTP_MODEL_GPT ? m->spec.seq_len : 1;
}

size_t dtp_stage_model_in_bytes(const struct dtp_stage_model *m, int B)
{
	const struct dtp_unit_rt *u = &m->units[0];

	if (u->kind == DTP_UNIT_EMBED)
		return (size_t)B * (size_t)dtp_stage_seq(m) * sizeof(int32_t);
	return (size_t)B * (size_t)dtp_stage_seq(m) * (size_t)u->in_dim * sizeof(float);
}

size_t dtp_stage_model_out_bytes(const struct dtp_stage_model *m, int B)
{
	return (size_t)B * (size_t)dtp_stage_seq(m) * (size_t)m->units[m->n_units - 1].out_dim *
	       sizeof(float);
}

/* Lay out one save slot for B samples at base (NULL: only count); fills bufs
 * (unless NULL) with the pointers; `out` is the stage output. Returns floats. */
size_t dtp_stage_layout(const struct dtp_stage_model *m, int B, float *base, float *out,
			struct dtp_unit_buf *bufs)
{
	size_t cur = 0, rows = (size_t)B * (size_t)dtp_stage_seq(m);
	int T = dtp_stage_seq(m), C = m->spec.dim;

	for (int i = 0; i < m->n_units; i++) {
		const struct dtp_unit_rt *u = &m->units[i];
		struct dtp_unit_buf b;
		int last = i == m->n_units - 1;

		memset(&b, 0, sizeof(b));
		if (u->kind == DTP_UNIT_BLOCK) {
			cur += dtp_block_save_map(&b.bs, base ? base + cur : NULL, B, T, C,
						  m->spec.heads);
		} else if (u->kind == DTP_UNIT_HEAD) {
			b.lnf = dtp_carve(base, &cur, rows * (size_t)C);
			b.mean = dtp_carve(base, &cur, rows);
			b.rstd = dtp_carve(base, &cur, rows);
		}
		/* ReLU backward reads the unit's own output, so it is kept even when last */
		if (!last || u->relu)
			b.out = dtp_carve(base, &cur, rows * (size_t)u->out_dim);
		else
			b.out = out;
		if (bufs)
			bufs[i] = b;
	}
	return cur;
}

size_t dtp_stage_model_save_bytes(const struct dtp_stage_model *m, int B)
{
	return dtp_stage_layout(m, B, NULL, NULL, NULL) * sizeof(float);
}

/* A new step's gradients. In bf16 no pass over them: each unit is marked
 * fresh and its first weight-gradient half (W) of the step writes its
 * matrices (a oneDNN primitive without the sum post-op: no zeros written, and
 * C not read) instead of adding onto zeros (backward.c), with the same bits
 * (0 + x = x). The embedding's gradients are scatter-added row by row, so
 * they are zeroed here as before. So are fp32's: OpenBLAS with beta = 0 zeroes
 * C itself, row by row, before its kernel adds, and that pass in the backward
 * measured costlier than this one at the step's start (3.0% of the fp32 mlp
 * step against 2.1%: the optimizer has just left the gradients in cache).
 * fp32 on oneDNN (fp32_matmul = onednn) takes bf16's way: its primitive
 * without the sum post-op writes C without a zeroing pass of its own. */
void dtp_stage_zero_grads(struct dtp_stage_model *m)
{
	for (int i = 0; i < m->n_units; i++) {
		struct dtp_unit_rt *u = &m->units[i];

		if (!dtp_stage_mm(m) || u->kind == DTP_UNIT_EMBED)
			dtp_par_zero(m->pool, m->grads + u->poff, u->np);
		else
			u->fresh = 1;
	}
}

void dtp_stage_grads_settle(struct dtp_stage_model *m)
{
	for (int i = 0; i < m->n_units; i++) {
		struct dtp_unit_rt *u = &m->units[i];

		if (u->fresh) {
			dtp_par_zero(m->pool, m->grads + u->poff, u->np);
			u->fresh = 0;
		}
	}
}

void dtp_stage_grad_sumsq(const struct dtp_stage_model *m, double *out)
{
	for (int i = 0; i < m->n_units; i++) {
		const float *g = m->grads + m->units[i].poff;
		double s = 0.0;

		if (m->units[i].fresh) {        /* no W yet this step: zeros */
			out[i] = 0.0;
			continue;
		}

		for (size_t j = 0; j < m->units[i].np; j++)
			s += (double)g[j] * g[j];
		out[i] = s;
	}
}

int dtp_stage_model_create(const struct dtp_model_spec *spec, int first, int last,
			   int max_batch, uint64_t seed,
			   struct dtp_stage_model **out, struct dtp_err *err)
{
	return dtp_stage_model_create_nw(spec, first, last, max_batch, seed, 0, out, err);
}

int dtp_stage_pool_size(int nw)
{
	if (nw <= 0)
		nw = dtp_blas_threads();
	/* every model: the matmuls, conversions, activations and the optimizer
	 * (the mlp's too: without a pool its elementwise work ran on one of the
	 * stage's threads while oneDNN or OpenBLAS used all of them) */
	if (nw < 1)
		nw = 1;
	return nw > 64 ? 64 : nw;
}

/* The backward scratch of units [first, last) at max_batch with a pool of
 * nw (floats, each part a multiple of 16): two unit-input gradients (ping),
 * the ReLU buffer (dpre), the head's layernorm gradient (dln) and a block's
 * work area (scratch). One computation for the model's arena and for
 * dtp_stage_model_scratch_bytes. */
struct scratch_layout {
	size_t ping, dpre, dln, scratch;
};

static void scratch_layout(const struct dtp_model_spec *spec, int first, int last,
			   int max_batch, int nw, struct scratch_layout *l)
{
	size_t T = spec->kind == DTP_MODEL_GPT ? (size_t)spec->seq_len : 1;
	size_t rows = (size_t)max_batch * T;

	memset(l, 0, sizeof(*l));
	for (int g = first; g < last; g++) {
		size_t in_dim;

		if (spec->kind == DTP_MODEL_MLP) {
			in_dim = (size_t)spec->widths[g];
			if (g < spec->n_widths - 2)   /* ReLU after it */
				l->dpre = MAX(l->dpre, rows * (size_t)spec->widths[g + 1]);
		} else {
			in_dim = g == 0 ? 0 : (size_t)spec->dim;
			if (g > 0 && g <= spec->layers && !l->scratch) {
				struct dtp_block_scratch bsc;

				l->scratch = dtp_block_scratch_map(&bsc, NULL, max_batch, (int)T,
								   spec->dim, nw);
			}
		}
		l->ping = MAX(l->ping, rows * in_dim);
	}
	l->ping = dtp_align_up(l->ping, 16);
	l->dpre = dtp_align_up(l->dpre, 16);
	l->dln = spec->kind == DTP_MODEL_GPT ? dtp_align_up(rows * (size_t)spec->dim, 16) : 0;
}

size_t dtp_stage_model_scratch_bytes(const struct dtp_model_spec *spec, int first, int last,
				     int max_batch, int arrays_given)
{
	struct scratch_layout l;
	size_t pg;

	if (first < 0 || last > dtp_model_num_units(spec) || first >= last || max_batch < 1)
		return 0;
	scratch_layout(spec, first, last, max_batch, dtp_stage_pool_size(0), &l);
	/* the arena holds the arrays unless they are given (create_at) */
	pg = arrays_given ? 0 : 2 * dtp_stage_model_array_floats(spec, first, last) * sizeof(float);
	return dtp_mapped_bytes(pg + (2 * l.ping + l.dpre + l.dln + l.scratch) * sizeof(float)) - pg;
}

size_t dtp_stage_model_array_floats(const struct dtp_model_spec *spec, int first, int last)
{
	struct dtp_unit_info info;
	size_t np = 0;

	if (first < 0 || last > dtp_model_num_units(spec) || first >= last)
		return 0;
	for (int u = first; u < last; u++) {
		if (dtp_unit_describe(spec, u, &info))
			return 0;
		np += info.n_params;
	}
	return dtp_align_up(np, 16);
}

/* params, grads: NULL (both in the model's arena) or the caller's, each
 * dtp_stage_model_array_floats floats, 64-byte aligned */
static int create_at(const struct dtp_model_spec *spec, int first, int last, int max_batch,
		     uint64_t seed, int nw, float *params, float *grads,
		     struct dtp_stage_model **out, struct dtp_err *err);

int dtp_stage_model_create_nw(const struct dtp_model_spec *spec, int first, int last,
			      int max_batch, uint64_t seed, int nw,
			      struct dtp_stage_model **out, struct dtp_err *err)
{
	return create_at(spec, first, last, max_batch, seed, nw, NULL, NULL, out, err);
}

int dtp_stage_model_create_in(const struct dtp_model_spec *spec, int first, int last,
			      int max_batch, uint64_t seed, float *params, float *grads,
			      struct dtp_stage_model **out, struct dtp_err *err)
{
	if (!params != !grads || ((uintptr_t)params % DTP_CACHELINE) ||
	    ((uintptr_t)grads % DTP_CACHELINE))
		return dtp_errf_runtime(err, -EINVAL,
					"a stage model's arrays at %p and %p: give both, %d-byte aligned",
					(void *)params, (void *)grads, DTP_CACHELINE);
	return create_at(spec, first, last, max_batch, seed, 0, params, grads, out, err);
}

static int create_at(const struct dtp_model_spec *spec, int first, int last, int max_batch,
		     uint64_t seed, int nw, float *params, float *grads,
		     struct dtp_stage_model **out, struct dtp_err *err)
{
	struct dtp_stage_model *m;
	struct scratch_layout sl;
	size_t np = 0, bytes;
	int n, rc;

	rc = dtp_model_spec_validate(spec, err);
	if (rc < 0)
		return rc;
	n = dtp_model_num_units(spec);
	if (first < 0 || last > n || first >= last)
		return dtp_errf_input(err, -EINVAL,
				      "stage unit range [%d, %d) is not inside the model's %d units: "
				      "use 0 <= first < last <= %d", first, last, n, n);
	if (max_batch < 1)
		return dtp_errf_input(err, -EINVAL, "max_batch %d: it must be at least 1", max_batch);
	nw = dtp_stage_pool_size(nw);
	/* the stage's threads: its pool's, else OpenBLAS's (read before a pool
	 * takes OpenBLAS to one thread) */
	int nthr = nw > 1 ? nw : dtp_blas_threads();
	m = calloc(1, sizeof(*m));
	if (!m)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory creating a stage model");
	m->spec = *spec;
	m->first = first;
	m->last = last;
	m->n_units = last - first;
	m->max_batch = max_batch;
	m->nthr = nthr;
	m->units = calloc((size_t)m->n_units, sizeof(*m->units));
	m->bufs = calloc((size_t)m->n_units, sizeof(*m->bufs));
	if (!m->units || !m->bufs) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory creating a stage model");
		goto out_free;
	}

	size_t T = (size_t)dtp_stage_seq(m);

	for (int i = 0; i < m->n_units; i++) {
		struct dtp_unit_rt *u = &m->units[i];
		struct dtp_unit_info info;
		int g = first + i;

		dtp_unit_describe(spec, g, &info);
		dtp_unit_rt_of(spec, g, u);
		u->poff = np;
		u->np = info.n_params;
		np += info.n_params;
	}
	m->n_params = np;
	scratch_layout(spec, first, last, max_batch, nw, &sl);
	bytes = ((params ? 0 : 2 * dtp_align_up(np, 16)) + 2 * sl.ping + sl.dpre + sl.dln +
		 sl.scratch) * sizeof(float);
	rc = dtp_arena_init(&m->arena, bytes);
	if (rc < 0) {
		rc = dtp_errf_runtime(err, rc, "cannot map %zu bytes for units [%d, %d): lower the "
				      "micro-batch size or split the model over more stages", bytes,
				      first, last);
		goto out_free;
	}
	if (params) {   /* the caller's (data-parallel replicas: shared memory) */
		m->params = params;
		m->grads = grads;
		memset(m->grads, 0, np * sizeof(float));
	} else {
		m->params = dtp_arena_take(&m->arena, np * sizeof(float), DTP_CACHELINE);
		m->grads = dtp_arena_take(&m->arena, np * sizeof(float), DTP_CACHELINE);
	}
	m->ping[0] = dtp_arena_take(&m->arena, sl.ping * sizeof(float), DTP_CACHELINE);
	m->ping[1] = dtp_arena_take(&m->arena, sl.ping * sizeof(float), DTP_CACHELINE);
	m->dpre = dtp_arena_take(&m->arena, sl.dpre * sizeof(float), DTP_CACHELINE);
	m->head_dln = dtp_arena_take(&m->arena, sl.dln * sizeof(float), DTP_CACHELINE);
	if (sl.scratch) {
		float *s = dtp_arena_take(&m->arena, sl.scratch * sizeof(float), DTP_CACHELINE);

		dtp_block_scratch_map(&m->bsc, s, max_batch, (int)T, spec->dim, nw);
	}
	if (nw > 1) {
		rc = dtp_pool_create(nw, &m->pool);
		if (rc < 0) {
			rc = dtp_errf_runtime(err, rc, "cannot start %d model worker threads for units "
					      "[%d, %d): set OPENBLAS_NUM_THREADS=1 to run without them",
					      nw - 1, first, last);
			goto out_release;
		}
		m->blas_saved = dtp_blas_solo_begin(m->pool);
	}
	for (int i = 0; i < m->n_units; i++)
		dtp_unit_init(spec, m->units[i].global, seed, m->params + m->units[i].poff);
	*out = m;
	return 0;

out_release:
	dtp_arena_release(&m->arena);
out_free:
	free(m->bufs);
	free(m->units);
	free(m);
	return rc;
}

void dtp_stage_model_destroy(struct dtp_stage_model *m)
{
	if (!m)
		return;
	dtp_bf16_mm_destroy(m->mx);
	dtp_bf16_mm_destroy(m->fx);
	dtp_blas_solo_end(m->blas_saved);
	dtp_pool_destroy(m->pool);
	dtp_arena_release(&m->arena);
	free(m->bufs);
	free(m->units);
	free(m);
}


/* bf16: a tensor leaving a unit (its output, or its input gradient) is
 * rounded to bf16 (elementwise: the same bits whatever the pool's split) */
void dtp_stage_round_bf16(const struct dtp_stage_model *m, float *x, size_t n)
{
	if (m->mx && x)
		dtp_par_each(m->pool, x, n, dtp_bf16_round);
}

/* the output of unit i of the stage, unless it is the model's logits */
static void round_out(const struct dtp_stage_model *m, int i, float *x, size_t n)
{
	if (m->first + i != dtp_model_num_units(&m->spec) - 1)
		dtp_stage_round_bf16(m, x, n);
}

int dtp_stage_forward(struct dtp_stage_model *m, const void *in, void *out, void *save, int B)
{
	int T = dtp_stage_seq(m), C = m->spec.dim, V = m->spec.vocab, H = m->spec.heads;
	const float *x = in;

	if (B < 1 || B > m->max_batch)
		return -EINVAL;
	if (m->units[0].kind == DTP_UNIT_EMBED) {
		const int32_t *tok = in;

		for (size_t i = 0; i < (size_t)B * T; i++)
			if (tok[i] < 0 || tok[i] >= V)
				return -EINVAL;
	}
	dtp_stage_layout(m, B, save, out, m->bufs);
	if (m->mx && m->w16_stale) {
		dtp_bf16_mm_load_weights(m->mx);
		m->w16_stale = 0;
	}
	/* with a pool, its participants split the sgemms, OpenBLAS on one thread
	 * for the model's lifetime (par.c) */
	for (int i = 0; i < m->n_units; i++) {
		const struct dtp_unit_rt *u = &m->units[i];
		struct dtp_unit_buf *b = &m->bufs[i];
		float *p = m->params + u->poff;

		switch (u->kind) {
		case DTP_UNIT_LINEAR: {
			/* bf16: a ReLU linear before a linear leaves the next one's
			 * bf16 input in the engine (no second conversion) */
			int kept = m->mx && i > 0 && m->units[i - 1].kind == DTP_UNIT_LINEAR &&
				   m->units[i - 1].relu;
			int keep = m->mx && u->relu && i + 1 < m->n_units &&
				   m->units[i + 1].kind == DTP_UNIT_LINEAR;

			dtp_linear_forward_chain(m->pool, dtp_stage_mm(m), b->out, x, kept, p,
						 p + (size_t)u->out_dim * u->in_dim, B, u->in_dim,
						 u->out_dim, u->relu, keep);
			if (!u->relu)   /* bf16: a ReLU's pass rounded it already */
				round_out(m, i, b->out, (size_t)B * u->out_dim);
			if (b->out != out && i == m->n_units - 1)
				memcpy(out, b->out, (size_t)B * u->out_dim * sizeof(float));
			break;
		}
		case DTP_UNIT_EMBED:
			dtp_embedding_forward(b->out, in, p, p + (size_t)V * C, B, T, C);
			round_out(m, i, b->out, (size_t)B * T * C);
			break;
		case DTP_UNIT_BLOCK: {
			struct dtp_block_params bp;

			dtp_block_params_map(&bp, p, C);
			dtp_block_forward(m->pool, dtp_stage_mm(m), b->out, x, &bp, &b->bs, B, T, C, H);
			round_out(m, i, b->out, (size_t)B * T * C);
			break;
		}
		case DTP_UNIT_HEAD:
			dtp_head_forward(m->pool, dtp_stage_mm(m), b->out, b->lnf, b->mean, b->rstd, x, p, p + C, p + 2 * C,
					 B * T, C, V);
			break;
		}
		x = b->out;
	}
	return 0;
}
