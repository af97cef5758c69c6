/* Optimizers (SGD with momentum, AdamW with decoupled weight decay), the
 * warmup + cosine learning-rate schedule and global gradient-norm clipping.
 * Weight decay applies to matrices only (embeddings included), never to
 * biases or layernorm parameters. */
#include "config.h"
#include "model/stage.h"
#include "model/pool.h"
#include "model/vecmath.h"
#include "model/bf16.h"
#include "model/dnnl_matmul.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dtp_optim {
	struct dtp_optim_config c;
	struct dtp_stage_model *m;
	struct dtp_param_range *all;     /* every range of the stage */
	int n_all;
	struct dtp_param_range *ranges;  /* the ones a step updates: `all`, or
					  * their parts inside the shard */
	int n_ranges;
	float *state;          /* SGD: momentum (n); AdamW: m (n) then v (n) */
	size_t n_state;
	/* gradient blocks (model.h): [n_blocks] start and length, owned (1);
	 * unit i's are [blk0[i], blk0[i + 1]) */
	size_t *blk_off, *blk_n, n_blocks;
	unsigned char *blk_own;
	size_t *blk0;
	/* sharded: the stretches outside the shard (their bf16 copy is
	 * refreshed after the gather), and whether it is due */
	struct dtp_param_span *others;
	int n_others, sharded, w16_due;
};

void dtp_optim_config_default(struct dtp_optim_config *c, enum dtp_optim_kind kind)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->lr = kind == DTP_OPTIM_ADAMW ? 3e-4f : 0.05f;
	c->momentum = kind == DTP_OPTIM_SGD ? 0.9f : 0.0f;
	c->beta1 = 0.9f;
	c->beta2 = 0.999f;
	c->eps = 1e-8f;
	c->min_lr_ratio = 0.0f;
}

int dtp_optim_config_validate(const struct dtp_optim_config *c, struct dtp_err *err)
{
	if (c->kind != DTP_OPTIM_SGD && c->kind != DTP_OPTIM_ADAMW)
		return dtp_errf_input(err, -EINVAL, "optimizer kind %d unknown: use sgd or adamw",
				      (int)c->kind);
	if (!(c->lr > 0.0f) || !isfinite(c->lr))
		return dtp_errf_input(err, -EINVAL, "learning rate %g: it must be a positive number",
				      (double)c->lr);
	if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
		return dtp_errf_input(err, -EINVAL, "momentum %g: it must be in [0, 1)",
				      (double)c->momentum);
	if (c->kind == DTP_OPTIM_ADAMW &&
	    (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f)))
		return dtp_errf_input(err, -EINVAL, "adamw betas %g, %g: each must be in [0, 1)",
				      (double)c->beta1, (double)c->beta2);
	if (c->kind == DTP_OPTIM_ADAMW && !(c->eps > 0.0f))
		return dtp_errf_input(err, -EINVAL, "adamw eps %g: it must be positive", (double)c->eps);
	if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
		return dtp_errf_input(err, -EINVAL, "weight decay %g: it must be >= 0",
				      (double)c->weight_decay);
	if (!(c->clip_norm >= 0.0f) || !isfinite(c->clip_norm))
		return dtp_errf_input(err, -EINVAL, "clip norm %g: it must be >= 0 (0 turns it off)",
				      (double)c->clip_norm);
	if (c->warmup_steps < 0 || c->total_steps < 0)
		return dtp_errf_input(err, -EINVAL, "warmup %ld / total %ld steps: they must be >= 0",
				      c->warmup_steps, c->total_steps);
	if (c->total_steps > 0 && c->warmup_steps > c->total_steps)
		return dtp_errf_input(err, -EINVAL, "warmup %ld steps is longer than the %ld total steps",
				      c->warmup_steps, c->total_steps);
	if (!(c->min_lr_ratio >= 0.0f && c->min_lr_ratio <= 1.0f))
		return dtp_errf_input(err, -EINVAL, "min lr ratio %g: it must be in [0, 1]",
				      (double)c->min_lr_ratio);
	return 0;
}

/* step 0-based. Warmup: lr * (step+1) / warmup for step < warmup (the first
 * step already moves). Then cosine from lr at step = warmup to
 * min_lr_ratio * lr at step = total_steps, constant after; total 0: constant. */
float dtp_lr_at(const struct dtp_optim_config *c, long step)
{
	if (step < 0)
		step = 0;
	if (step < c->warmup_steps)
		return c->lr * (float)(step + 1) / (float)c->warmup_steps;
	if (c->total_steps <= 0 || c->total_steps <= c->warmup_steps)
		return c->lr;
	double ratio = (double)(step - c->warmup_steps) /
		       (double)(c->total_steps - c->warmup_steps);

	if (ratio > 1.0)
		ratio = 1.0;
	double coeff = 0.5 * (1.0 + cos(M_PI * ratio));

	return (float)((double)c->lr * (c->min_lr_ratio + (1.0 - c->min_lr_ratio) * coeff));
}

float dtp_clip_factor(const struct dtp_optim_config *c, double total_sumsq)
{
	if (c->clip_norm <= 0.0f)
		return 1.0f;
	double f = (double)c->clip_norm / (sqrt(total_sumsq) + 1e-6);

	return f < 1.0 ? (float)f : 1.0f;
}

static void free_blocks(struct dtp_optim *o)
{
	free(o->blk_off);
	free(o->blk_n);
	free(o->blk_own);
	free(o->blk0);
}

/* the stage's gradient blocks: DTP_GRAD_BLOCK floats from each unit's first */
static int make_blocks(struct dtp_optim *o, struct dtp_err *err)
{
	const struct dtp_stage_model *m = o->m;
	size_t nb = 0, b = 0;

	for (int i = 0; i < m->n_units; i++)
		nb += (m->units[i].np + DTP_GRAD_BLOCK - 1) / DTP_GRAD_BLOCK;
	o->blk_off = calloc(nb + 1, sizeof(*o->blk_off));
	o->blk_n = calloc(nb + 1, sizeof(*o->blk_n));
	o->blk_own = calloc(nb + 1, 1);
	o->blk0 = calloc((size_t)m->n_units + 1, sizeof(*o->blk0));
	if (!o->blk_off || !o->blk_n || !o->blk_own || !o->blk0)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for %zu gradient blocks", nb);
	for (int i = 0; i < m->n_units; i++) {
		const struct dtp_unit_rt *u = &m->units[i];

		o->blk0[i] = b;
		for (size_t j = 0; j < u->np; j += DTP_GRAD_BLOCK, b++) {
			o->blk_off[b] = u->poff + j;
			o->blk_n[b] = u->np - j < DTP_GRAD_BLOCK ? u->np - j : DTP_GRAD_BLOCK;
			o->blk_own[b] = 1;
		}
	}
	o->blk0[m->n_units] = b;
	o->n_blocks = nb;
	return 0;
}

int dtp_optim_create(const struct dtp_optim_config *c, struct dtp_stage_model *m,
		     struct dtp_optim **out, struct dtp_err *err)
{
	struct dtp_optim *o;
	int rc = dtp_optim_config_validate(c, err);

	if (rc < 0)
		return rc;
	o = calloc(1, sizeof(*o));
	if (!o)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory creating the optimizer");
	o->c = *c;
	o->m = m;
	o->all = calloc((size_t)m->n_units * 12, sizeof(*o->all));
	o->ranges = calloc((size_t)m->n_units * 12, sizeof(*o->ranges));
	if (!o->all || !o->ranges) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory creating the optimizer");
		goto out_free_ranges;
	}
	for (int i = 0; i < m->n_units; i++)
		o->n_all += dtp_unit_param_ranges(&m->spec, m->units[i].global,
						  m->units[i].poff, o->all + o->n_all);
	memcpy(o->ranges, o->all, (size_t)o->n_all * sizeof(*o->all));
	o->n_ranges = o->n_all;
	if ((rc = make_blocks(o, err)))
		goto out_free_ranges;
	o->n_state = (c->kind == DTP_OPTIM_ADAMW ? 2 : 1) * m->n_params;
	o->state = dtp_alloc_aligned(o->n_state * sizeof(float), DTP_CACHELINE);
	if (!o->state) {
		rc = dtp_errf_runtime(err, -ENOMEM, "cannot allocate %zu bytes of optimizer state",
				      o->n_state * sizeof(float));
		goto out_free_ranges;
	}
	*out = o;
	return 0;

out_free_ranges:
	free_blocks(o);
	free(o->ranges);
	free(o->all);
	free(o);
	return rc;
}

void dtp_optim_destroy(struct dtp_optim *o)
{
	if (!o)
		return;
	dtp_free(o->state);
	free_blocks(o);
	free(o->others);
	free(o->ranges);
	free(o->all);
	free(o);
}

/* o's configuration becomes c when c is valid; o is unchanged otherwise */
static int reconfigure(struct dtp_optim *o, const struct dtp_optim_config *c,
		       struct dtp_err *err)
{
	int rc = dtp_optim_config_validate(c, err);

	if (rc < 0)
		return rc;
	o->c = *c;
	return 0;
}

int dtp_optim_set_total_steps(struct dtp_optim *o, long total_steps, struct dtp_err *err)
{
	struct dtp_optim_config c = o->c;

	c.total_steps = total_steps;
	return reconfigure(o, &c, err);
}

int dtp_optim_set_warmup(struct dtp_optim *o, long warmup_steps, struct dtp_err *err)
{
	struct dtp_optim_config c = o->c;

	c.warmup_steps = warmup_steps;
	return reconfigure(o, &c, err);
}

float dtp_optim_lr_at(const struct dtp_optim *o, long step)
{
	return dtp_lr_at(&o->c, step);
}

float *dtp_optim_state(struct dtp_optim *o, size_t *n_floats)
{
	if (n_floats)
		*n_floats = o->n_state;
	return o->state;
}

/* The two updates are inlined into optim_share, so that they run in its
 * vector clones (DTP_VEC_CLONES); a separate adamw_range stayed at SSE2. */
#define OPTIM_INLINE static inline __attribute__((always_inline))

/* p's new value's bf16 into w16[i] (bf16: the weights' copy refreshed in
 * the update's own pass, dtp_bf16_from_f32's bits) */
OPTIM_INLINE void put16(uint16_t *w16, size_t i, float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	w16[i] = (uint16_t)dtp_bf16_bits(u);
}

/* one element of SGD: buf = mom*buf + (g*mult + wd*p); p -= lr*buf */
OPTIM_INLINE void sgd_one(float *p, const float *g, float *buf, size_t i, float lr, float mom,
			  float wd, float mult)
{
	float d = g[i] * mult + wd * p[i];

	buf[i] = mom * buf[i] + d;
	p[i] -= lr * buf[i];
}

/* p, g, buf (n): sgd_one on each; w16 (n, or NULL): bf16(p). The loop is
 * written out twice (with and without w16) so that both stay branch-free
 * and vectorize. */
OPTIM_INLINE void sgd_range(float *p, const float *g, float *buf, uint16_t *w16, size_t n,
			    float lr, float mom, float wd, float mult)
{
	if (w16) {
		for (size_t i = 0; i < n; i++) {
			sgd_one(p, g, buf, i, lr, mom, wd, mult);
			put16(w16, i, p[i]);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		sgd_one(p, g, buf, i, lr, mom, wd, mult);
}

/* one element of AdamW with bias corrections c1 = 1/(1-b1^t), c2 = 1/(1-b2^t) */
OPTIM_INLINE void adamw_one(float *p, const float *g, float *mo, float *v, size_t i, float lr,
			    float b1, float b2, float eps, float wd, float mult, float c1, float c2)
{
	float gi = g[i] * mult;
	float mi = b1 * mo[i] + (1.0f - b1) * gi;
	float vi = b2 * v[i] + (1.0f - b2) * gi * gi;

	mo[i] = mi;
	v[i] = vi;
	p[i] -= lr * ((mi * c1) / (sqrtf(vi * c2) + eps) + wd * p[i]);
}

/* p, g, mo, v (n): adamw_one on each; w16 as sgd_range's */
OPTIM_INLINE void adamw_range(float *p, const float *g, float *mo, float *v, uint16_t *w16,
			      size_t n, float lr, float b1, float b2, float eps, float wd,
			      float mult, float c1, float c2)
{
	if (w16) {
		for (size_t i = 0; i < n; i++) {
			adamw_one(p, g, mo, v, i, lr, b1, b2, eps, wd, mult, c1, c2);
			put16(w16, i, p[i]);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		adamw_one(p, g, mo, v, i, lr, b1, b2, eps, wd, mult, c1, c2);
}

/* x[i] |= b: x[i] as it was when b is 0 */
OPTIM_INLINE void or_bits(float *x, size_t i, uint32_t b)
{
	uint32_t u;

	memcpy(&u, &x[i], sizeof(u));
	u |= b;
	memcpy(&x[i], &u, sizeof(u));
}

/* g[i]'s bits masked by zero (0 at run time) */
OPTIM_INLINE uint32_t masked(const float *g, size_t i, uint32_t zero)
{
	uint32_t u;

	memcpy(&u, &g[i], sizeof(u));
	return u & zero;
}

/* The benchmarks' memory reference (dtp_optim_stream): p, g and the state
 * (s0, and s1 for AdamW) of a range read, p and the state written, and w16
 * (when given) rewritten, as the update does, but every value left as it
 * was: each is or-ed with bits of g masked by `zero`, 0 at run time but
 * unknown to the compiler, so no load or store is elided. (w16 is read to
 * be rewritten: a store to a line the core does not hold reads it in
 * anyway.) One branch-free loop per case, as sgd_range's, so each
 * vectorizes. */
OPTIM_INLINE void stream_range(float *p, const float *g, float *s0, float *s1,
			       uint16_t *w16, size_t n, uint32_t zero)
{
	if (s1 && w16) {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = masked(g, i, zero);

			or_bits(p, i, b), or_bits(s0, i, b), or_bits(s1, i, b);
			w16[i] |= (uint16_t)b;
		}
	} else if (s1) {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = masked(g, i, zero);

			or_bits(p, i, b), or_bits(s0, i, b), or_bits(s1, i, b);
		}
	} else if (w16) {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = masked(g, i, zero);

			or_bits(p, i, b), or_bits(s0, i, b);
			w16[i] |= (uint16_t)b;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = masked(g, i, zero);

			or_bits(p, i, b), or_bits(s0, i, b);
		}
	}
}

struct optim_job {
	const struct dtp_optim *o;
	uint16_t *w16;          /* bf16: the weights' bf16 copy, refreshed in the same pass */
	float lr, mult, c1, c2;
	int stream;             /* dtp_optim_stream: the streams alone */
	uint32_t zero;          /* its mask: 0 */
};

/* participant w's share of every range, in 64-float runs (elementwise, so
 * the same bits whatever the split); in bf16, each updated weight is
 * converted to bf16 in the same loop (a second pass over each block, even
 * from L1, cost about half as much as the update itself) */
#define OPTIM_BLOCK 4096
DTP_VEC_CLONES
static void optim_share(void *v, int w, int nw)
{
	const struct optim_job *j = v;
	const struct dtp_optim *o = j->o;
	const struct dtp_optim_config *c = &o->c;
	float *p = o->m->params, *g = o->m->grads;
	size_t n = o->m->n_params;

	for (int r = 0; r < o->n_ranges; r++) {
		const struct dtp_param_range *q = &o->ranges[r];
		float wd = q->decay ? c->weight_decay : 0.0f;
		size_t lo, hi, off;

		dtp_pool_share(q->n, 64, w, nw, &lo, &hi);
		for (size_t b = lo; b < hi; b += OPTIM_BLOCK) {
			size_t k = hi - b < OPTIM_BLOCK ? hi - b : OPTIM_BLOCK;

			off = q->off + b;
			uint16_t *w16 = j->w16 ? j->w16 + off : NULL;

			if (j->stream)
				stream_range(p + off, g + off, o->state + off,
					     c->kind == DTP_OPTIM_ADAMW ? o->state + n + off : NULL,
					     w16, k, j->zero);
			else if (c->kind == DTP_OPTIM_SGD)
				sgd_range(p + off, g + off, o->state + off, w16, k, j->lr,
					  c->momentum, wd, j->mult);
			else
				adamw_range(p + off, g + off, o->state + off,
					    o->state + n + off, w16, k, j->lr, c->beta1,
					    c->beta2, c->eps, wd, j->mult, j->c1, j->c2);
		}
	}
}

/* bf16: the weights' bf16 copy when it is fresh, for the update to refresh
 * as it goes; NULL when there is none or it is stale (the next forward
 * converts it) */
static uint16_t *w16_fresh(const struct dtp_optim *o)
{
	return o->m->mx && !o->m->w16_stale ? dtp_bf16_mm_weights(o->m->mx) : NULL;
}

void dtp_optim_step(struct dtp_optim *o, long step, float grad_mult)
{
	const struct dtp_optim_config *c = &o->c;
	struct optim_job j = { .o = o, .lr = dtp_lr_at(c, step), .mult = grad_mult,
			       .c1 = 1.0f, .c2 = 1.0f };

	if (c->kind == DTP_OPTIM_ADAMW) {
		double t = (double)(step + 1);

		j.c1 = (float)(1.0 / (1.0 - pow((double)c->beta1, t)));
		j.c2 = (float)(1.0 / (1.0 - pow((double)c->beta2, t)));
	}
	/* the bf16 copy stays fresh if it was (every updated range is converted) */
	j.w16 = w16_fresh(o);
	int fresh = j.w16 != NULL;

	dtp_stage_grads_settle(o->m);   /* a unit with no backward this step: zeros */
	dtp_pool_run(o->m->pool, optim_share, &j);
	o->m->w16_stale = !fresh;
	/* sharded: the rest of the copy once the rest of the weights are here */
	o->w16_due = o->sharded && fresh;
}

void dtp_optim_stream(struct dtp_optim *o, uint32_t zero)
{
	struct optim_job j = { .o = o, .w16 = w16_fresh(o), .stream = 1, .zero = zero };

	dtp_pool_run(o->m->pool, optim_share, &j);
}

/* ------------------------------------------------------------ sharded step */

size_t dtp_optim_n_blocks(const struct dtp_optim *o)
{
	return o->n_blocks;
}

/* g (n <= DTP_GRAD_BLOCK): sum of g[j]^2 in double, element j into lane
 * j % 8, the lanes added in a fixed tree: the same bits wherever g lies */
#define SUMSQ_LANES 8
DTP_VEC_CLONES
static double block_sumsq(const float *g, size_t n)
{
	double acc[SUMSQ_LANES] = { 0 };
	size_t j = 0;

	for (; j + SUMSQ_LANES <= n; j += SUMSQ_LANES)
		for (int l = 0; l < SUMSQ_LANES; l++)
			acc[l] += (double)g[j + l] * (double)g[j + l];
	for (int l = 0; j < n; j++, l++)
		acc[l] += (double)g[j] * (double)g[j];
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

struct sumsq_job {
	const struct dtp_optim *o;
	double *blocks;
};

static void sumsq_share(void *v, int w, int nw)
{
	const struct sumsq_job *j = v;
	const struct dtp_optim *o = j->o;
	size_t lo, hi;

	dtp_pool_share(o->n_blocks, 1, w, nw, &lo, &hi);
	for (size_t b = lo; b < hi; b++)
		j->blocks[b] = o->blk_own[b] ? block_sumsq(o->m->grads + o->blk_off[b], o->blk_n[b])
					     : 0.0;
}

void dtp_optim_block_sumsq(struct dtp_optim *o, double *blocks)
{
	struct sumsq_job j = { .o = o, .blocks = blocks };

	dtp_pool_run(o->m->pool, sumsq_share, &j);
}

void dtp_optim_unit_sumsq(const struct dtp_optim *o, const double *blocks, double *unit_sumsq)
{
	for (int i = 0; i < o->m->n_units; i++) {
		double s = 0.0;

		for (size_t b = o->blk0[i]; b < o->blk0[i + 1]; b++)
			s += blocks[b];
		unit_sumsq[i] = s;
	}
}

/* the span of own[0..n) holding float x, or -1 */
static int span_of(const struct dtp_param_span *own, int n, size_t x)
{
	for (int k = 0; k < n; k++)
		if (x >= own[k].off && x < own[k].off + own[k].n)
			return k;
	return -1;
}

int dtp_optim_set_shard(struct dtp_optim *o, const struct dtp_param_span *own, int n,
			struct dtp_err *err)
{
	size_t np = o->m->n_params, at = 0;
	int nr = 0, no = 0;

	for (int k = 0; k < n; k++)
		if (own[k].off + own[k].n > np || (k && own[k].off < own[k - 1].off + own[k - 1].n))
			return dtp_errf_runtime(err, -EINVAL, "optimizer shard: span %d [%zu, +%zu) of a %zu-parameter stage is out of order or range",
						k, own[k].off, own[k].n, np);
	/* every block is wholly inside the shard or wholly outside */
	for (size_t b = 0; b < o->n_blocks; b++) {
		int k = n ? span_of(own, n, o->blk_off[b]) : 0;
		size_t end = o->blk_off[b] + o->blk_n[b];

		if (n && k >= 0 && end > own[k].off + own[k].n)
			return dtp_errf_runtime(err, -EINVAL, "optimizer shard: span %d ends inside gradient block %zu", k, b);
		for (int q = 0; n && k < 0 && q < n; q++)
			if (own[q].off > o->blk_off[b] && own[q].off < end)
				return dtp_errf_runtime(err, -EINVAL, "optimizer shard: span %d starts inside gradient block %zu", q, b);
		o->blk_own[b] = k >= 0;
	}
	free(o->others);
	o->others = calloc((size_t)n + 1, sizeof(*o->others));
	/* each span's ends cut at most one range in two */
	free(o->ranges);
	o->ranges = calloc((size_t)(o->n_all + 2 * n), sizeof(*o->ranges));
	if (!o->others || !o->ranges)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for the optimizer shard");
	/* the update list: each range's parts inside the shard */
	for (int r = 0; r < o->n_all; r++) {
		const struct dtp_param_range *q = &o->all[r];

		if (n == 0) {
			o->ranges[nr++] = *q;
			continue;
		}
		for (int k = 0; k < n; k++) {
			size_t lo = q->off > own[k].off ? q->off : own[k].off;
			size_t hi = q->off + q->n < own[k].off + own[k].n ? q->off + q->n :
									    own[k].off + own[k].n;

			if (lo < hi)
				o->ranges[nr++] = (struct dtp_param_range){ .off = lo, .n = hi - lo,
									    .decay = q->decay };
		}
	}
	o->n_ranges = nr;
	/* the complement of the shard */
	for (int k = 0; k < n; k++) {
		if (own[k].off > at)
			o->others[no++] = (struct dtp_param_span){ .off = at, .n = own[k].off - at };
		at = own[k].off + own[k].n;
	}
	if (n && at < np)
		o->others[no++] = (struct dtp_param_span){ .off = at, .n = np - at };
	o->n_others = no;
	o->sharded = n > 0;
	o->w16_due = 0;
	return 0;
}

struct w16_job {
	const struct dtp_optim *o;
	uint16_t *w16;
};

static void w16_share(void *v, int w, int nw)
{
	const struct w16_job *j = v;
	const struct dtp_optim *o = j->o;

	for (int k = 0; k < o->n_others; k++) {
		size_t lo, hi, off = o->others[k].off;

		dtp_pool_share(o->others[k].n, 64, w, nw, &lo, &hi);
		if (hi > lo)
			dtp_bf16_from_f32(j->w16 + off + lo, o->m->params + off + lo, hi - lo);
	}
}

void dtp_optim_shard_gathered(struct dtp_optim *o)
{
	struct w16_job j = { .o = o };

	if (!o->w16_due)
		return;
	o->w16_due = 0;
	/* a forward since the step would have refreshed all of it */
	if (!o->m->mx || o->m->w16_stale)
		return;
	j.w16 = dtp_bf16_mm_weights(o->m->mx);
	dtp_pool_run(o->m->pool, w16_share, &j);
}
