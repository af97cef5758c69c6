/* bf16 linear-layer matmuls on oneDNN's matmul primitive (dnnl_matmul.h).
 *
 * Every matmul is C (M,Nc) = A (M,K) B (K,Nc), with A and B bf16 and C fp32
 * (oneDNN accumulates in fp32); a "sum" post-op adds the product onto C
 * (a bias or residual put there first, or a gradient accumulating over
 * micro-batches). A linear layer with input width IC, output width OC over
 * R rows makes three of them, transposes given as strides (no copies):
 *   forward      out (R,OC)  = in16 (R,IC)   w16^T (IC,OC: strides 1, IC)
 *   weight grad  dw  (OC,IC) += dout16^T (OC,R: strides 1, OC) in16 (R,IC)
 *   input grad   din (R,IC)  = dout16 (R,OC) w16 (OC,IC)
 * where in16 / dout16 are the engine's bf16 copies (converted here) and w16
 * its bf16 copy of the stage's parameters (dtp_bf16_mm_load_weights).
 *
 * Threads (one owner of the count, the stage): oneDNN's CPU runtime here is
 * OpenMP. With the stage's worker pool, C's rows are shared over the pool's
 * participants and each runs its own primitive, created for its share of
 * rows and planned for one thread, on omp_set_num_threads(1): no OpenMP team
 * is ever started, so nothing spins beside the pool's threads. Without a
 * pool, the caller runs one primitive for all rows on nthr OpenMP threads
 * (planned for nthr at creation). omp_set_num_threads only sets the calling
 * thread's own value. Each participant has its own stream, memory objects
 * and scratchpad (user mode), so no two threads share oneDNN state; a
 * participant's primitives run one at a time, so they share one scratchpad
 * buffer, as large as the largest of them needs.
 *
 * Every primitive exists from dtp_bf16_mm_prepare (stage set-up). A call with
 * fewer rows than the stage's maximum (an evaluation's last batch) runs the
 * forward and input-gradient matmuls in TILE-row tiles (the last tile padded
 * with zero rows, its output through a scratch tile) and the weight gradient
 * over zero-padded rows, so it needs no primitive of another shape.
 *
 * A dry engine (dtp_bf16_mm_create_dry) runs the same set-up without
 * allocating: it plans every primitive far enough to learn its scratchpad
 * and sizes every buffer, so dtp_bf16_mm_bytes predicts, before a stage
 * exists, what the real engine will hold (the memory cap).
 *
 * An fp32 engine (dtp_f32_mm_create, fp32_matmul = onednn) is the same
 * set-up with fp32 primitives of the full row count only and no bf16
 * buffers, plus forward primitives with oneDNN's bias (and a ReLU post-op);
 * dnnl_matmul_f32.c runs it.
 *
 * This file is the set-up (the engine, its buffers, the primitive of every
 * shape); dnnl_matmul_run.c and dnnl_matmul_run16.c run them, dnnl_reference.c times oneDNN alone
 * for the benchmarks, dnnl_none.c stands in without oneDNN; dnnl_engine.h
 * is what they share. */
#include "config.h"
#include "model/dnnl_matmul.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_engine.h"
#include "model/dnnl_attention.h"
#include "model/pool.h"

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dtp_mm_geom dtp_mm_geom_of(int kind, int ic, int oc, int rows)
{
	struct dtp_mm_geom g;

	switch (kind) {
	case K_FWD:
	case K_FWDB:
	case K_FWDBR:
		g = (struct dtp_mm_geom){ rows, ic, oc, ic, 1, 1, ic, oc, ic };
		break;
	case K_BWDW:
		g = (struct dtp_mm_geom){ oc, rows, ic, 1, oc, ic, 1, ic, 1 };
		break;
	default:
		g = (struct dtp_mm_geom){ rows, oc, ic, oc, 1, ic, 1, ic, oc };
		break;
	}
	return g;
}

int dtp_mm_fail(struct dtp_err *err, dnnl_status_t st, const char *what)
{
	return dtp_errf_runtime(err, st == dnnl_out_of_memory ? -ENOMEM : -ENOTSUP,
				"oneDNN: %s failed (status %d): precision = bf16 and fp32_matmul = "
				"onednn need a working oneDNN (libdnnl); run with precision = fp32 "
				"and fp32_matmul = openblas", what, (int)st);
}

/* a primitive for m rows of g, planned for nthr threads */
int dtp_mm_make_part(struct dtp_bf16_mm *e, struct dtp_mm_shape *x, struct dtp_mm_part *p,
		     int w, const struct dtp_mm_geom *g, int m, int nthr, dnnl_data_type_t dt,
		     struct dtp_err *err)
{
	dnnl_memory_desc_t amd, bmd, cmd, zmd;
	int has_bias = x->kind == K_FWDB || x->kind == K_FWDBR;
	const dnnl_memory_desc_t *smd;
	dnnl_matmul_desc_t d;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_status_t st;
	const char *impl = NULL;
	int saved = omp_get_max_threads(), rc = 0;
	size_t sp;

	memset(&zmd, 0, sizeof(zmd));
	st = dnnl_memory_desc_init_by_strides(&amd, 2, (dnnl_dims_t){ m, g->K }, dt,
					      (dnnl_dims_t){ g->sa0, g->sa1 });
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_strides(&bmd, 2, (dnnl_dims_t){ g->K, g->Nc },
						      dt, (dnnl_dims_t){ g->sb0, g->sb1 });
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_strides(&cmd, 2, (dnnl_dims_t){ m, g->Nc }, dnnl_f32,
						      (dnnl_dims_t){ g->ldc, 1 });
	if (st == dnnl_success && has_bias)
		st = dnnl_memory_desc_init_by_strides(&zmd, 2, (dnnl_dims_t){ 1, g->Nc }, dnnl_f32,
						      (dnnl_dims_t){ g->Nc, 1 });
	if (st == dnnl_success)
		st = dnnl_matmul_desc_init(&d, &amd, &bmd, &zmd, &cmd);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_create(&attr);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (st == dnnl_success && (x->sum || x->kind == K_FWDBR)) {
		st = dnnl_post_ops_create(&po);
		if (st == dnnl_success && x->sum)
			st = dnnl_post_ops_append_sum(po, 1.0f);
		if (st == dnnl_success && x->kind == K_FWDBR)
			st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
		if (st == dnnl_success)
			st = dnnl_primitive_attr_set_post_ops(attr, po);
	}
	if (st != dnnl_success) {
		rc = dtp_mm_fail(err, st, "a matmul descriptor");
		goto out_attr;
	}
	/* oneDNN plans its split for the calling thread's OpenMP count, in the
	 * descriptor and again in the primitive (kernels): both see nthr */
	omp_set_num_threads(nthr);
	st = dnnl_primitive_desc_create(&pd, &d, attr, e->eng, NULL);
	if (st != dnnl_success) {
		rc = dtp_errf_input(err, -ENOTSUP,
				    "oneDNN has no %s matmul for %d x %d x %d on this CPU (status %d): "
				    "run with precision = fp32, fp32_matmul = openblas",
				    dt == dnnl_bf16 ? "bf16" : "fp32", m,
				    g->Nc, g->K, (int)st);
		goto out_attr;
	}
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
	    impl)
		snprintf(x->impl, sizeof(x->impl), "%s", impl);
	smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	sp = smd ? dnnl_memory_desc_get_size(smd) : 0;
	if (e->dry) {                   /* sizes only */
		e->sp_cap[w] = sp > e->sp_cap[w] ? sp : e->sp_cap[w];
		goto out_pd;
	}
	if (sp > e->sp_cap[w]) {
		free(e->sp_buf[w]);
		e->sp_cap[w] = 0;
		e->sp_buf[w] = aligned_alloc(64, dtp_align_up(sp, 64));
		if (!e->sp_buf[w]) {
			rc = dtp_errf_runtime(err, -ENOMEM, "out of memory for a oneDNN scratchpad (%zu bytes)",
					      sp);
			goto out_pd;
		}
		e->sp_cap[w] = sp;
	}
	st = dnnl_primitive_create(&p->prim, pd);
	omp_set_num_threads(saved);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->a, &amd, e->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->b, &bmd, e->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->c, &cmd, e->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success && sp)
		st = dnnl_memory_create(&p->sp, smd, e->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success && has_bias)
		st = dnnl_memory_create(&p->bias, &zmd, e->eng, DNNL_MEMORY_NONE);
	if (st != dnnl_success)
		rc = dtp_mm_fail(err, st, "creating a matmul primitive");
out_pd:
	dnnl_primitive_desc_destroy(pd);
out_attr:
	omp_set_num_threads(saved);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return rc;
}

void dtp_mm_free_part(struct dtp_mm_part *p)
{
	if (p->prim)
		dnnl_primitive_destroy(p->prim);
	if (p->a)
		dnnl_memory_destroy(p->a);
	if (p->b)
		dnnl_memory_destroy(p->b);
	if (p->c)
		dnnl_memory_destroy(p->c);
	if (p->sp)
		dnnl_memory_destroy(p->sp);
	if (p->bias)
		dnnl_memory_destroy(p->bias);
}

struct dtp_mm_shape *dtp_mm_find(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum,
				 int tile)
{
	for (int i = 0; i < e->n_mm; i++) {
		struct dtp_mm_shape *x = &e->mm[i];

		if (x->kind == kind && x->ic == ic && x->oc == oc && x->sum == sum &&
		    x->tile == tile)
			return x;
	}
	return NULL;
}

/* the primitives of one matmul: per participant for its share of C's rows
 * (tile: TILE rows, the same for every participant) */
static int add_mm(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, int tile,
		  struct dtp_err *err)
{
	struct dtp_mm_geom g = dtp_mm_geom_of(kind, ic, oc, tile ? TILE : e->max_rows);
	struct dtp_mm_shape *x;
	int rc;

	if (dtp_mm_find(e, kind, ic, oc, sum, tile))
		return 0;
	if (e->n_mm == MAX_MM)
		return dtp_errf_input(err, -E2BIG, "more than %d bf16 matmul shapes in one stage: "
				      "split the model over more stages", MAX_MM);
	x = &e->mm[e->n_mm++];
	*x = (struct dtp_mm_shape){ .kind = kind, .ic = ic, .oc = oc, .sum = sum, .tile = tile };
	for (int w = 0; w < e->nw; w++) {
		struct dtp_mm_part *p = &x->part[w];
		size_t lo = 0, hi = (size_t)g.M;

		if (!tile)
			dtp_pool_share((size_t)g.M, 16, w, e->nw, &lo, &hi);
		p->m0 = (int)lo;
		p->m1 = (int)hi;
		if (hi <= lo)
			continue;
		rc = dtp_mm_make_part(e, x, p, w, &g, (int)(hi - lo), e->nw > 1 ? 1 : e->nthr,
				      e->f32 ? dnnl_f32 : dnnl_bf16, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void *dtp_mm_zalloc(size_t bytes)
{
	void *p = aligned_alloc(64, dtp_align_up(bytes ? bytes : 64, 64));

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* an engine for nw participants (pool: NULL for a dry one) */
static int create(struct dtp_pool *pool, int nw, int nthr, const float *params, size_t n_params,
		  int max_rows, int dry, int f32, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	struct dtp_bf16_mm *e = calloc(1, sizeof(*e));
	dnnl_status_t st;
	int rc;

	if (!e)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory creating the bf16 matmul engine");
	e->pool = pool;
	e->nw = nw;
	e->nthr = nthr < 1 ? 1 : nthr;
	e->params = params;
	e->np = n_params;
	e->max_rows = max_rows;
	e->cap_rows = (int)dtp_align_up((size_t)max_rows, TILE);
	e->dry = dry;
	e->f32 = f32;
	if (e->nw > MAX_PARTS) {
		rc = dtp_errf_input(err, -EINVAL, "%d threads: the bf16 path takes at most %d", e->nw,
				    MAX_PARTS);
		free(e);
		return rc;
	}
	st = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
	if (st != dnnl_success) {
		free(e);
		return dtp_mm_fail(err, st, "creating the CPU engine");
	}
	for (int w = 0; w < e->nw && !dry; w++) {
		st = dnnl_stream_create(&e->stream[w], e->eng, dnnl_stream_default_flags);
		if (st != dnnl_success) {
			rc = dtp_mm_fail(err, st, "creating a stream");
			goto out_destroy;
		}
	}
	e->w16 = dry || f32 ? NULL : dtp_mm_zalloc(n_params * sizeof(uint16_t));
	if (!dry && !f32 && !e->w16) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory for the bf16 weights (%zu bytes)",
				      n_params * sizeof(uint16_t));
		goto out_destroy;
	}
	*out = e;
	return 0;

out_destroy:
	dtp_bf16_mm_destroy(e);
	return rc;
}

int dtp_bf16_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		       int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return create(pool, dtp_pool_size(pool), nthr, params, n_params, max_rows, 0, 0, out, err);
}

int dtp_f32_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		      int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return create(pool, dtp_pool_size(pool), nthr, params, n_params, max_rows, 0, 1, out, err);
}

int dtp_f32_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			  struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return create(NULL, nw < 1 ? 1 : nw, nthr, NULL, n_params, max_rows, 1, 1, out, err);
}

int dtp_mm_is_f32(const struct dtp_bf16_mm *e)
{
	return e && e->f32;
}

int dtp_bf16_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			   struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return create(NULL, nw < 1 ? 1 : nw, nthr, NULL, n_params, max_rows, 1, 0, out, err);
}

/* one home for the buffer sizes: reserve() allocates them, bytes() adds them */
static size_t copy_bytes(const struct dtp_bf16_mm *e, int dim)
{
	return (size_t)e->cap_rows * (size_t)dim * sizeof(uint16_t);
}

static size_t tile_bytes(int dim)
{
	return (size_t)TILE * (size_t)dim * sizeof(float);
}

size_t dtp_bf16_mm_bytes(const struct dtp_bf16_mm *e)
{
	size_t b = e->f32 ? 0 : dtp_align_up(e->np * sizeof(uint16_t), 64) +
				2 * dtp_align_up(copy_bytes(e, e->maxdim), 64);

	for (int w = 0; w < e->nw; w++)   /* fp32: the scratchpads only */
		b += (e->f32 ? 0 : dtp_align_up(tile_bytes(e->maxdim), 64)) +
		     dtp_align_up(e->sp_cap[w], 64);
	return b + dtp_bf16_attn_bytes(e->attn);
}

/* grow the activation and gradient copies (and output tiles) to dim columns */
static int reserve(struct dtp_bf16_mm *e, int dim, struct dtp_err *err)
{
	size_t rows = (size_t)e->cap_rows;

	if (dim <= e->maxdim)
		return 0;
	if (e->dry || e->f32) {         /* fp32 reads and writes in place */
		e->maxdim = dim;
		return 0;
	}
	free(e->a16);
	free(e->d16);
	e->a16 = dtp_mm_zalloc(copy_bytes(e, dim));
	e->d16 = dtp_mm_zalloc(copy_bytes(e, dim));
	for (int w = 0; w < e->nw; w++) {
		free(e->c32[w]);
		e->c32[w] = dtp_mm_zalloc(tile_bytes(dim));
		if (!e->c32[w])
			goto out_nomem;
	}
	if (!e->a16 || !e->d16)
		goto out_nomem;
	e->maxdim = dim;
	return 0;
out_nomem:
	return dtp_errf_runtime(err, -ENOMEM, "out of memory for the bf16 activation copies "
				"(%zu rows x %d): lower the micro-batch size", rows, dim);
}

int dtp_bf16_mm_prepare(struct dtp_bf16_mm *e, int IC, int OC, int fwd_sum, struct dtp_err *err)
{
	int rc = reserve(e, IC > OC ? IC : OC, err);

	if (!rc)
		rc = add_mm(e, K_FWD, IC, OC, fwd_sum, 0, err);
	if (!rc && !e->f32)     /* fp32: a ragged call runs on OpenBLAS */
		rc = add_mm(e, K_FWD, IC, OC, fwd_sum, 1, err);
	if (!rc)        /* the weight gradient: added, and the step's first written */
		rc = add_mm(e, K_BWDW, IC, OC, 1, 0, err);
	if (!rc)
		rc = add_mm(e, K_BWDW, IC, OC, 0, 0, err);
	if (!rc)
		rc = add_mm(e, K_BWDD, IC, OC, 0, 0, err);
	if (!rc && !e->f32)
		rc = add_mm(e, K_BWDD, IC, OC, 0, 1, err);
	return rc;
}

int dtp_f32_mm_prepare_bias(struct dtp_bf16_mm *e, int IC, int OC, int relu,
			    struct dtp_err *err)
{
	if (!e->f32)
		return 0;
	return add_mm(e, relu ? K_FWDBR : K_FWDB, IC, OC, 0, 0, err);
}

int dtp_f32_mm_prepare_tiles(struct dtp_bf16_mm *e, int IC, int OC, int fwd, int dgrad,
			     struct dtp_err *err)
{
	int rc = 0;

	if (!e->f32)
		return 0;
	if (fwd)
		rc = add_mm(e, K_FWDB, IC, OC, 0, 1, err);
	if (!rc && dgrad)
		rc = add_mm(e, K_BWDD, IC, OC, 0, 1, err);
	return rc;
}

int dtp_bf16_mm_prepare_bias16(struct dtp_bf16_mm *e, int IC, int OC, int tiles,
			       struct dtp_err *err)
{
	int rc;

	if (e->f32)
		return 0;
	rc = add_mm(e, K_FWDB, IC, OC, 0, 0, err);
	return rc < 0 || !tiles ? rc : add_mm(e, K_FWDB, IC, OC, 0, 1, err);
}

int dtp_bf16_mm_prepare_attention(struct dtp_bf16_mm *e, int T, int C, int H,
				  struct dtp_err *err)
{
	if (dtp_bf16_attn_fits(e->attn, T, C, H))
		return 0;
	if (e->attn)
		return dtp_errf_input(err, -EINVAL, "a stage's blocks have one attention shape; "
				      "this one asks for a second (%d positions, width %d, %d heads)",
				      T, C, H);
	return dtp_bf16_attn_create(e->pool, e->nw, T, C, H, e->dry, e->f32, &e->attn, err);
}

struct dtp_bf16_attn *dtp_bf16_mm_attention(const struct dtp_bf16_mm *e)
{
	return e && !e->f32 ? e->attn : NULL;
}

struct dtp_bf16_attn *dtp_f32_mm_attention(const struct dtp_bf16_mm *e)
{
	return e && e->f32 ? e->attn : NULL;
}

void dtp_bf16_mm_destroy(struct dtp_bf16_mm *e)
{
	if (!e)
		return;
	dtp_bf16_attn_destroy(e->attn);
	for (int i = 0; i < e->n_mm; i++)
		for (int w = 0; w < e->nw; w++)
			dtp_mm_free_part(&e->mm[i].part[w]);
	for (int w = 0; w < e->nw; w++) {
		if (e->stream[w])
			dnnl_stream_destroy(e->stream[w]);
		free(e->c32[w]);
		free(e->sp_buf[w]);
	}
	if (e->eng)
		dnnl_engine_destroy(e->eng);
	free(e->w16);
	free(e->a16);
	free(e->d16);
	free(e);
}

const char *dtp_bf16_mm_impl(const struct dtp_bf16_mm *e, int IC, int OC)
{
	for (int i = 0; i < e->n_mm; i++)
		if (e->mm[i].kind == K_FWD && e->mm[i].ic == IC && e->mm[i].oc == OC &&
		    !e->mm[i].tile)
			return e->mm[i].impl;
	return "none";
}
#endif
