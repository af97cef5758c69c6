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
 * exists, what the real engine will hold (the memory cap). */
#include "config.h"
#include "model/dnnl_matmul.h"
#include "model/dnnl_attention.h"
#include "model/bf16.h"
#include "model/pool.h"
#include "model/model.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DTP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#define TILE 64
#define MAX_PARTS 64
#define MAX_MM 64

enum { K_FWD, K_BWDW, K_BWDD };

struct part {                   /* one participant's primitive */
	dnnl_primitive_t prim;
	dnnl_memory_t a, b, c, sp;
	int m0, m1;             /* its rows of C */
};

struct mm {                     /* one matmul shape */
	int kind, ic, oc, sum, tile;
	char impl[64];
	struct part part[MAX_PARTS];
};

/* C (M,Nc) = A (M,K) B (K,Nc); element strides; a row of C moves A by arow */
struct geom {
	int M, K, Nc;
	long sa0, sa1, sb0, sb1, ldc, arow;
};

struct dtp_bf16_mm {
	dnnl_engine_t eng;
	dnnl_stream_t stream[MAX_PARTS];
	struct dtp_pool *pool;
	int nw, nthr, max_rows, cap_rows, maxdim, dry;
	const float *params;
	size_t np;
	uint16_t *w16, *a16, *d16;      /* params; rows x maxdim each */
	float *c32[MAX_PARTS];          /* a TILE x maxdim output tile each */
	void *sp_buf[MAX_PARTS];        /* each participant's scratchpad */
	size_t sp_cap[MAX_PARTS];
	struct mm mm[MAX_MM];
	int n_mm;
	struct dtp_bf16_attn *attn;     /* the blocks' attention, if any */
};

static struct geom geom_of(int kind, int ic, int oc, int rows)
{
	struct geom g;

	switch (kind) {
	case K_FWD:
		g = (struct geom){ rows, ic, oc, ic, 1, 1, ic, oc, ic };
		break;
	case K_BWDW:
		g = (struct geom){ oc, rows, ic, 1, oc, ic, 1, ic, 1 };
		break;
	default:
		g = (struct geom){ rows, oc, ic, oc, 1, ic, 1, ic, oc };
		break;
	}
	return g;
}

static int dnnl_fail(struct dtp_err *err, dnnl_status_t st, const char *what)
{
	return dtp_errf_runtime(err, st == dnnl_out_of_memory ? -ENOMEM : -ENOTSUP,
				"oneDNN: %s failed (status %d): the bf16 path needs a working oneDNN "
				"(libdnnl); run with precision = fp32", what, (int)st);
}

/* a primitive for m rows of g, planned for nthr threads */
static int make_part(struct dtp_bf16_mm *e, struct mm *x, struct part *p, int w,
		     const struct geom *g, int m, int nthr, dnnl_data_type_t dt,
		     struct dtp_err *err)
{
	dnnl_memory_desc_t amd, bmd, cmd, zmd;
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
	if (st == dnnl_success)
		st = dnnl_matmul_desc_init(&d, &amd, &bmd, &zmd, &cmd);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_create(&attr);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (st == dnnl_success && x->sum) {
		st = dnnl_post_ops_create(&po);
		if (st == dnnl_success)
			st = dnnl_post_ops_append_sum(po, 1.0f);
		if (st == dnnl_success)
			st = dnnl_primitive_attr_set_post_ops(attr, po);
	}
	if (st != dnnl_success) {
		rc = dnnl_fail(err, st, "a bf16 matmul descriptor");
		goto out_attr;
	}
	/* oneDNN plans its split for the calling thread's OpenMP count, in the
	 * descriptor and again in the primitive (kernels): both see nthr */
	omp_set_num_threads(nthr);
	st = dnnl_primitive_desc_create(&pd, &d, attr, e->eng, NULL);
	if (st != dnnl_success) {
		rc = dtp_errf_input(err, -ENOTSUP,
				    "oneDNN has no %s matmul for %d x %d x %d on this CPU (status %d): "
				    "run with precision = fp32", dt == dnnl_bf16 ? "bf16" : "fp32", m,
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
	if (st != dnnl_success)
		rc = dnnl_fail(err, st, "creating a bf16 matmul primitive");
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

static void free_part(struct part *p)
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
}

static struct mm *find(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, int tile)
{
	for (int i = 0; i < e->n_mm; i++) {
		struct mm *x = &e->mm[i];

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
	struct geom g = geom_of(kind, ic, oc, tile ? TILE : e->max_rows);
	struct mm *x;
	int rc;

	if (find(e, kind, ic, oc, sum, tile))
		return 0;
	if (e->n_mm == MAX_MM)
		return dtp_errf_input(err, -E2BIG, "more than %d bf16 matmul shapes in one stage: "
				      "split the model over more stages", MAX_MM);
	x = &e->mm[e->n_mm++];
	*x = (struct mm){ .kind = kind, .ic = ic, .oc = oc, .sum = sum, .tile = tile };
	for (int w = 0; w < e->nw; w++) {
		struct part *p = &x->part[w];
		size_t lo = 0, hi = (size_t)g.M;

		if (!tile)
			dtp_pool_share((size_t)g.M, 16, w, e->nw, &lo, &hi);
		p->m0 = (int)lo;
		p->m1 = (int)hi;
		if (hi <= lo)
			continue;
		rc = make_part(e, x, p, w, &g, (int)(hi - lo), e->nw > 1 ? 1 : e->nthr, dnnl_bf16,
			       err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void *zalloc(size_t bytes)
{
	void *p = aligned_alloc(64, dtp_align_up(bytes ? bytes : 64, 64));

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* an engine for nw participants (pool: NULL for a dry one) */
static int create(struct dtp_pool *pool, int nw, int nthr, const float *params, size_t n_params,
		  int max_rows, int dry, struct dtp_bf16_mm **out, struct dtp_err *err)
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
	if (e->nw > MAX_PARTS) {
		rc = dtp_errf_input(err, -EINVAL, "%d threads: the bf16 path takes at most %d", e->nw,
				    MAX_PARTS);
		free(e);
		return rc;
	}
	st = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
	if (st != dnnl_success) {
		free(e);
		return dnnl_fail(err, st, "creating the CPU engine");
	}
	for (int w = 0; w < e->nw && !dry; w++) {
		st = dnnl_stream_create(&e->stream[w], e->eng, dnnl_stream_default_flags);
		if (st != dnnl_success) {
			rc = dnnl_fail(err, st, "creating a stream");
			goto out_destroy;
		}
	}
	e->w16 = dry ? NULL : zalloc(n_params * sizeof(uint16_t));
	if (!dry && !e->w16) {
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
	return create(pool, dtp_pool_size(pool), nthr, params, n_params, max_rows, 0, out, err);
}

int dtp_bf16_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			   struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return create(NULL, nw < 1 ? 1 : nw, nthr, NULL, n_params, max_rows, 1, out, err);
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
	size_t b = dtp_align_up(e->np * sizeof(uint16_t), 64) +
		   2 * dtp_align_up(copy_bytes(e, e->maxdim), 64);

	for (int w = 0; w < e->nw; w++)
		b += dtp_align_up(tile_bytes(e->maxdim), 64) + dtp_align_up(e->sp_cap[w], 64);
	return b + dtp_bf16_attn_bytes(e->attn);
}

/* grow the activation and gradient copies (and output tiles) to dim columns */
static int reserve(struct dtp_bf16_mm *e, int dim, struct dtp_err *err)
{
	size_t rows = (size_t)e->cap_rows;

	if (dim <= e->maxdim)
		return 0;
	if (e->dry) {
		e->maxdim = dim;
		return 0;
	}
	free(e->a16);
	free(e->d16);
	e->a16 = zalloc(copy_bytes(e, dim));
	e->d16 = zalloc(copy_bytes(e, dim));
	for (int w = 0; w < e->nw; w++) {
		free(e->c32[w]);
		e->c32[w] = zalloc(tile_bytes(dim));
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
	if (!rc)
		rc = add_mm(e, K_FWD, IC, OC, fwd_sum, 1, err);
	if (!rc)        /* the weight gradient: added, and the step's first written */
		rc = add_mm(e, K_BWDW, IC, OC, 1, 0, err);
	if (!rc)
		rc = add_mm(e, K_BWDW, IC, OC, 0, 0, err);
	if (!rc)
		rc = add_mm(e, K_BWDD, IC, OC, 0, 0, err);
	if (!rc)
		rc = add_mm(e, K_BWDD, IC, OC, 0, 1, err);
	return rc;
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
	return dtp_bf16_attn_create(e->pool, e->nw, T, C, H, e->dry, &e->attn, err);
}

struct dtp_bf16_attn *dtp_bf16_mm_attention(const struct dtp_bf16_mm *e)
{
	return e ? e->attn : NULL;
}

void dtp_bf16_mm_destroy(struct dtp_bf16_mm *e)
{
	if (!e)
		return;
	dtp_bf16_attn_destroy(e->attn);
	for (int i = 0; i < e->n_mm; i++)
		for (int w = 0; w < e->nw; w++)
			free_part(&e->mm[i].part[w]);
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

/* ------------------------------------------------------------ conversions */
struct cvt_job {
	uint16_t *dst;
	const float *src;
	size_t n, pad;          /* convert n, then zero pad more */
};

static void cvt_share(void *v, int w, int nw)
{
	const struct cvt_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n + j->pad, 64, w, nw, &lo, &hi);
	if (lo < j->n)
		dtp_bf16_from_f32(j->dst + lo, j->src + lo, (hi < j->n ? hi : j->n) - lo);
	if (hi > j->n) {
		size_t z0 = lo > j->n ? lo : j->n;

		memset(j->dst + z0, 0, (hi - z0) * sizeof(uint16_t));
	}
}

static void convert(struct dtp_bf16_mm *e, uint16_t *dst, const float *src, size_t n, size_t pad)
{
	struct cvt_job j = { dst, src, n, pad };

	dtp_pool_run(e->pool, cvt_share, &j);
}

void dtp_bf16_mm_load_weights(struct dtp_bf16_mm *e)
{
	convert(e, e->w16, e->params, e->np, 0);
}

uint16_t *dtp_bf16_mm_weights(struct dtp_bf16_mm *e)
{
	return e->w16;
}

/* -------------------------------------------------------------- execution */
static void exec(struct dtp_bf16_mm *e, int w, struct part *p, const uint16_t *a,
		 const uint16_t *b, float *c)
{
	dnnl_exec_arg_t args[4] = {
		{ DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c },
		{ DNNL_ARG_SCRATCHPAD, p->sp },
	};
	dnnl_status_t st;

	omp_set_num_threads(e->pool ? 1 : e->nthr);
	st = dnnl_memory_set_data_handle(p->a, (void *)(uintptr_t)a);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->b, (void *)(uintptr_t)b);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->c, c);
	if (st == dnnl_success && p->sp)
		st = dnnl_memory_set_data_handle(p->sp, e->sp_buf[w]);
	if (st == dnnl_success)
		st = dnnl_primitive_execute(p->prim, e->stream[w], p->sp ? 4 : 3, args);
	if (st == dnnl_success)
		st = dnnl_stream_wait(e->stream[w]);
	if (st != dnnl_success) {
		/* every shape and buffer was checked at set-up: a broken invariant */
		fprintf(stderr, "dtpipe: oneDNN bf16 matmul failed (status %d)\n", (int)st);
		abort();
	}
}

struct run_job {
	struct dtp_bf16_mm *e;
	struct mm *x, *t;       /* full-size and tile primitives */
	struct geom g;
	const uint16_t *a, *b;
	float *c;
	int rows;               /* rows of C to compute (tiles: < g.M) */
};

static void run_share(void *v, int w, int nw)
{
	const struct run_job *j = v;
	struct part *p = &j->x->part[w];

	if (p->m1 > p->m0)
		exec(j->e, w, p, j->a + (size_t)p->m0 * j->g.arow, j->b,
		     j->c + (size_t)p->m0 * j->g.ldc);
}

/* ragged rows: whole tiles in place; the last, partial one through c32 */
static void tile_share(void *v, int w, int nw)
{
	const struct run_job *j = v;
	size_t nt = ((size_t)j->rows + TILE - 1) / TILE, lo, hi;
	int ncol = j->g.Nc;

	dtp_pool_share(nt, 1, w, nw, &lo, &hi);
	for (size_t t = lo; t < hi; t++) {
		size_t r0 = t * TILE, nr = (size_t)j->rows - r0 < TILE ? (size_t)j->rows - r0 : TILE;
		const uint16_t *a = j->a + r0 * j->g.arow;
		float *c = j->c + r0 * (size_t)j->g.ldc;

		if (nr == TILE) {
			exec(j->e, w, &j->t->part[w], a, j->b, c);
			continue;
		}
		float *ct = j->e->c32[w];

		if (j->t->sum)
			for (size_t r = 0; r < nr; r++)
				memcpy(ct + r * ncol, c + r * j->g.ldc, (size_t)ncol * sizeof(float));
		exec(j->e, w, &j->t->part[w], a, j->b, ct);
		for (size_t r = 0; r < nr; r++)
			memcpy(c + r * j->g.ldc, ct + r * ncol, (size_t)ncol * sizeof(float));
	}
}

static void run(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, const uint16_t *a,
		const uint16_t *b, float *c, int rows)
{
	struct run_job j = { .e = e, .x = find(e, kind, ic, oc, sum, 0),
			     .t = find(e, kind, ic, oc, sum, 1), .a = a, .b = b, .c = c,
			     .rows = rows };

	if (!j.x) {
		fprintf(stderr, "dtpipe: no bf16 matmul prepared for %d -> %d\n", ic, oc);
		abort();
	}
	j.g = geom_of(kind, ic, oc, e->max_rows);
	dtp_pool_run(e->pool, kind != K_BWDW && rows < e->max_rows ? tile_share : run_share, &j);
}

static const uint16_t *w16_of(const struct dtp_bf16_mm *e, const float *w)
{
	return e->w16 + (w - e->params);
}

void dtp_bf16_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in,
			     const float *w, int N, int IC, int OC, int sum)
{
	/* ragged: zero the last tile's missing rows */
	size_t pad = N < e->max_rows ? (dtp_align_up((size_t)N, TILE) - (size_t)N) * IC : 0;

	convert(e, e->a16, in, (size_t)N * IC, pad);
	run(e, K_FWD, IC, OC, sum, e->a16, w16_of(e, w), out, N);
}

void dtp_bf16_linear_backward(struct dtp_bf16_mm *e, float *din, float *dw,
			      const float *dout, const float *in, const float *w, int N,
			      int IC, int OC, int acc)
{
	/* ragged: zero rows up to max_rows (the weight gradient's K) */
	size_t miss = (size_t)(e->max_rows - N);

	convert(e, e->d16, dout, (size_t)N * OC, miss * OC);
	if (dw) {
		convert(e, e->a16, in, (size_t)N * IC, miss * IC);
		run(e, K_BWDW, IC, OC, acc, e->d16, e->a16, dw, e->max_rows);
	}
	if (din)
		run(e, K_BWDD, IC, OC, 0, e->d16, w16_of(e, w), din, N);
}

/* in16 (N,IC) as the matmuls' A: in place when N is the planned row count;
 * a ragged call copies it into a16, zero rows after it (see the top) */
static const uint16_t *rows16(struct dtp_bf16_mm *e, const uint16_t *in16, int N, int IC)
{
	size_t n = (size_t)N * IC, cap = (size_t)e->cap_rows * IC;

	if (N == e->max_rows)
		return in16;
	memcpy(e->a16, in16, n * sizeof(uint16_t));
	memset(e->a16 + n, 0, (cap - n) * sizeof(uint16_t));
	return e->a16;
}

void dtp_bf16_linear_forward16(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
			       const float *w, int N, int IC, int OC, int sum)
{
	run(e, K_FWD, IC, OC, sum, rows16(e, in16, N, IC), w16_of(e, w), out, N);
}

void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc)
{
	size_t miss = (size_t)(e->max_rows - N);

	convert(e, e->d16, dout, (size_t)N * OC, miss * OC);
	run(e, K_BWDW, IC, OC, acc, e->d16, rows16(e, in16, N, IC), dw, e->max_rows);
}

struct produce_job {
	struct dtp_bf16_mm *e;
	uint16_t *dst;
	int N, W;
	dtp_bf16_fill_fn *fill;
	void *ctx;
};

/* a participant's rows, TILE at a time through its own output tile */
static void produce_share(void *v, int w, int nw)
{
	const struct produce_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->N, TILE, w, nw, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += TILE) {
		size_t r1 = hi - r0 < TILE ? hi : r0 + TILE;

		j->fill(j->ctx, j->e->c32[w], (int)r0, (int)r1);
		dtp_bf16_from_f32(j->dst + r0 * j->W, j->e->c32[w], (r1 - r0) * j->W);
	}
}

void dtp_bf16_mm_produce(struct dtp_bf16_mm *e, uint16_t *dst16, int N, int W,
			 dtp_bf16_fill_fn *fill, void *ctx)
{
	struct produce_job j = { e, dst16, N, W, fill, ctx };

	if (W > e->maxdim) {
		fprintf(stderr, "dtpipe: bf16 tile of width %d, engine prepared for %d\n", W,
			e->maxdim);
		abort();
	}
	dtp_pool_run(e->pool, produce_share, &j);
}

/* --------------------------------------------- the benchmarks' reference */
double dtp_dnnl_matmul_time(const struct dtp_matmul *mm, enum dtp_precision p, int nthr,
			    int reps, char *impl, size_t impl_len, struct dtp_err *err)
{
	int ta = mm->trans_a, tb = mm->trans_b;
	struct geom g = { mm->m, mm->k, mm->n, ta ? 1 : mm->lda, ta ? mm->lda : 1,
			  tb ? 1 : mm->ldb, tb ? mm->ldb : 1, mm->ldc, 0 };
	dnnl_data_type_t dt = p == DTP_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
	size_t es = p == DTP_PRECISION_BF16 ? 2 : 4;
	size_t an = (size_t)(ta ? mm->k : mm->m) * mm->lda, bn = (size_t)(tb ? mm->n : mm->k) * mm->ldb;
	size_t cn = (size_t)mm->m * mm->ldc;
	struct dtp_bf16_mm *e = calloc(1, sizeof(*e));
	struct mm *x = calloc(1, sizeof(*x));
	char *a = zalloc(an * es), *b = zalloc(bn * es);
	float *c = zalloc(cn * sizeof(float));
	double best = -1.0;
	int rc = -ENOMEM;

	if (!e || !x || !a || !b || !c) {
		dtp_errf_runtime(err, rc, "out of memory for a oneDNN reference matmul");
		goto out_free;
	}
	for (size_t i = 0; i < an * es; i++)
		a[i] = (char)(p == DTP_PRECISION_BF16 ? (i & 1 ? 0x3c : 0) : (i % 4 == 3 ? 0x3c : 0));
	for (size_t i = 0; i < bn * es; i++)
		b[i] = (char)(p == DTP_PRECISION_BF16 ? (i & 1 ? 0x3c : 0) : (i % 4 == 3 ? 0x3c : 0));
	e->nw = 1;
	e->nthr = nthr < 1 ? 1 : nthr;
	x->sum = mm->beta != 0.0f;
	if (dnnl_engine_create(&e->eng, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&e->stream[0], e->eng, dnnl_stream_default_flags) != dnnl_success) {
		rc = dnnl_fail(err, dnnl_runtime_error, "creating the CPU engine");
		goto out_free;
	}
	rc = make_part(e, x, &x->part[0], 0, &g, mm->m, e->nthr, dt, err);
	if (rc < 0)
		goto out_part;
	if (impl)
		snprintf(impl, impl_len, "%s", x->impl);
	for (int r = 0; r <= reps; r++) {   /* pass 0 warms up */
		double t0 = dtp_now();

		for (long k = 0; k < mm->count; k++)
			exec(e, 0, &x->part[0], (const uint16_t *)a, (const uint16_t *)b, c);
		double t = dtp_now() - t0;

		if (r > 0 && (best < 0 || t < best))
			best = t;
	}
out_part:
	free_part(&x->part[0]);
out_free:
	if (e && e->stream[0])
		dnnl_stream_destroy(e->stream[0]);
	if (e)
		free(e->sp_buf[0]);
	if (e && e->eng)
		dnnl_engine_destroy(e->eng);
	free(a);
	free(b);
	free(c);
	free(x);
	free(e);
	return rc < 0 ? (double)rc : best;
}

#else /* !DTP_HAVE_ONEDNN: the bf16 path is refused at set-up */

int dtp_bf16_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		       int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}

int dtp_bf16_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			   struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}
size_t dtp_bf16_mm_bytes(const struct dtp_bf16_mm *e) { return 0; }
void dtp_bf16_mm_destroy(struct dtp_bf16_mm *e) { (void)e; }
int dtp_bf16_mm_prepare(struct dtp_bf16_mm *e, int IC, int OC, int fwd_sum,
			struct dtp_err *err)
{
	return -ENOTSUP;
}
int dtp_bf16_mm_prepare_attention(struct dtp_bf16_mm *e, int T, int C, int H,
				  struct dtp_err *err)
{
	return -ENOTSUP;
}
struct dtp_bf16_attn *dtp_bf16_mm_attention(const struct dtp_bf16_mm *e) { return NULL; }
void dtp_bf16_mm_load_weights(struct dtp_bf16_mm *e) { (void)e; }
uint16_t *dtp_bf16_mm_weights(struct dtp_bf16_mm *e) { return NULL; }
void dtp_bf16_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in,
			     const float *w, int N, int IC, int OC, int sum) { (void)e; }
void dtp_bf16_linear_backward(struct dtp_bf16_mm *e, float *din, float *dw,
			      const float *dout, const float *in, const float *w, int N,
			      int IC, int OC, int acc) { (void)e; }
const char *dtp_bf16_mm_impl(const struct dtp_bf16_mm *e, int IC, int OC) { return "none"; }
void dtp_bf16_mm_produce(struct dtp_bf16_mm *e, uint16_t *dst16, int N, int W,
			 dtp_bf16_fill_fn *fill, void *ctx) { (void)e; }
void dtp_bf16_linear_forward16(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
			       const float *w, int N, int IC, int OC, int sum) { (void)e; }
void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc) { (void)e; }
double dtp_dnnl_matmul_time(const struct dtp_matmul *mm, enum dtp_precision p, int nthr,
			    int reps, char *impl, size_t impl_len, struct dtp_err *err)
{
	return (double)dtp_errf_input(err, -ENOTSUP, "built without oneDNN: no oneDNN reference");
}

#endif
