/* The bf16 engine's calls (dnnl_matmul.h): the conversions to bf16, the
 * linear layers' matmuls shared over the pool (whole row shares, or 64-row
 * tiles for a micro-batch below the planned size), and producers fused with
 * their conversion. Every primitive was made at set-up (dnnl_matmul.c). */
#include "config.h"
#include "model/dnnl_matmul.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_engine.h"
#include "model/bf16.h"
#include "model/pool.h"
#include "model/kernels.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

uint16_t *dtp_bf16_mm_input16(struct dtp_bf16_mm *e)
{
	return e->a16;
}

static const uint16_t *w16_of(const struct dtp_bf16_mm *e, const float *w)
{
	return e->w16 + (w - e->params);
}

/* -------------------------------------------------------------- execution */
void dtp_mm_exec(struct dtp_bf16_mm *e, int w, struct dtp_mm_part *p, const void *a,
		 const void *b, float *c)
{
	dtp_mm_exec_bias(e, w, p, a, b, NULL, c);
}

void dtp_mm_exec_bias(struct dtp_bf16_mm *e, int w, struct dtp_mm_part *p, const void *a,
		      const void *b, const float *bias, float *c)
{
	dnnl_exec_arg_t args[5] = {
		{ DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c },
		{ DNNL_ARG_SCRATCHPAD, p->sp }, { DNNL_ARG_BIAS, p->bias },
	};
	int n = p->sp ? 4 : 3;
	dnnl_status_t st;

	omp_set_num_threads(e->pool ? 1 : e->nthr);
	st = dnnl_memory_set_data_handle(p->a, (void *)(uintptr_t)a);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->b, (void *)(uintptr_t)b);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->c, c);
	if (st == dnnl_success && p->sp)
		st = dnnl_memory_set_data_handle(p->sp, e->sp_buf[w]);
	if (st == dnnl_success && p->bias) {
		st = dnnl_memory_set_data_handle(p->bias, (void *)(uintptr_t)bias);
		args[n++] = args[4];
	}
	if (st == dnnl_success)
		st = dnnl_primitive_execute(p->prim, e->stream[w], n, args);
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
	struct dtp_mm_shape *x, *t;       /* full-size and tile primitives */
	struct dtp_mm_geom g;
	const uint16_t *a, *b;
	float *c;
	int rows;               /* rows of C to compute (tiles: < g.M) */
};

static void run_share(void *v, int w, int nw)
{
	const struct run_job *j = v;
	struct dtp_mm_part *p = &j->x->part[w];

	if (p->m1 > p->m0)
		dtp_mm_exec(j->e, w, p, j->a + (size_t)p->m0 * j->g.arow, j->b,
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
			dtp_mm_exec(j->e, w, &j->t->part[w], a, j->b, c);
			continue;
		}
		float *ct = j->e->c32[w];

		if (j->t->sum)
			for (size_t r = 0; r < nr; r++)
				memcpy(ct + r * ncol, c + r * j->g.ldc, (size_t)ncol * sizeof(float));
		dtp_mm_exec(j->e, w, &j->t->part[w], a, j->b, ct);
		for (size_t r = 0; r < nr; r++)
			memcpy(c + r * j->g.ldc, ct + r * ncol, (size_t)ncol * sizeof(float));
	}
}

static struct run_job run_job(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum,
			      const uint16_t *a, const uint16_t *b, float *c, int rows)
{
	struct run_job j = { .e = e, .x = dtp_mm_find(e, kind, ic, oc, sum, 0),
			     .t = dtp_mm_find(e, kind, ic, oc, sum, 1), .a = a, .b = b, .c = c,
			     .rows = rows };

	if (!j.x) {
		fprintf(stderr, "dtpipe: no bf16 matmul prepared for %d -> %d\n", ic, oc);
		abort();
	}
	j.g = dtp_mm_geom_of(kind, ic, oc, e->max_rows);
	return j;
}

static void run(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, const uint16_t *a,
		const uint16_t *b, float *c, int rows)
{
	struct run_job j = run_job(e, kind, ic, oc, sum, a, b, c, rows);

	dtp_pool_run(e->pool, kind != K_BWDW && rows < e->max_rows ? tile_share : run_share, &j);
}

/* a linear's gradients with a full batch: the weight gradient's matmul
 * and the input gradient's (the same operands read, different outputs
 * written) in one region, each participant its part of the first, then of
 * the second: no wait between them, and the participants' times even out
 * over the two. db (or NULL): each participant first adds the column sums
 * of d16 for the columns its part of the weight gradient covers (its rows
 * of dw), from d16 it is about to read anyway. */
struct grads_job {
	struct run_job mm[2];   /* K_BWDW, then K_BWDD (n_mm 2) */
	int n_mm, N, OC;
	float *db;
	const uint16_t *d16;
};

static void grads_share(void *v, int w, int nw)
{
	const struct grads_job *g = v;
	const struct dtp_mm_part *p = &g->mm[0].x->part[w];

	if (g->db && p->m1 > p->m0)
		dtp_colsum16_add_cols(g->db, g->d16, g->N, g->OC, p->m0, p->m1);
	for (int i = 0; i < g->n_mm; i++)
		run_share((void *)&g->mm[i], w, nw);
}

/* dw (OC,IC) (+)= d16^T a16 and din (N,IC) = d16 w16 (run's K_BWDW then
 * K_BWDD; din NULL: only the first); db (N == max_rows only, or NULL):
 * += d16's column sums */
static void run_grads(struct dtp_bf16_mm *e, int IC, int OC, int acc, float *dw, float *din,
		      float *db, const uint16_t *w16, int N)
{
	struct grads_job g = { .n_mm = din ? 2 : 1, .N = N, .OC = OC, .db = db, .d16 = e->d16 };

	if (N < e->max_rows) {
		run(e, K_BWDW, IC, OC, acc, e->d16, e->a16, dw, e->max_rows);
		if (din)
			run(e, K_BWDD, IC, OC, 0, e->d16, w16, din, N);
		return;
	}
	g.mm[0] = run_job(e, K_BWDW, IC, OC, acc, e->d16, e->a16, dw, e->max_rows);
	if (din)
		g.mm[1] = run_job(e, K_BWDD, IC, OC, 0, e->d16, w16, din, N);
	dtp_pool_run(e->pool, grads_share, &g);
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

struct fwd_job {
	struct dtp_bf16_mm *e;
	struct dtp_mm_shape *x;
	const float *in, *b;
	const uint16_t *w16;
	float *out;
	int IC, OC;
	dtp_bf16_rows_fn *post;
	dtp_bf16_keep_fn *keep;
	uint16_t *out16;        /* keep's bf16 rows: d16, a16 after the region */
};

/* participant w's rows of the full-size primitive's split, start to end */
static void fwd_share(void *v, int w, int nw)
{
	const struct fwd_job *j = v;
	struct dtp_mm_part *p = &j->x->part[w];
	size_t r0 = (size_t)p->m0, nr = p->m1 > p->m0 ? (size_t)(p->m1 - p->m0) : 0;
	uint16_t *a = j->e->a16 + r0 * (size_t)j->IC;
	float *c = j->out + r0 * (size_t)j->OC;

	(void)nw;
	if (!nr)
		return;
	if (j->in)
		dtp_bf16_from_f32(a, j->in + r0 * (size_t)j->IC, nr * (size_t)j->IC);
	if (j->b && j->x->kind == K_FWDB) {     /* the bias added by oneDNN */
		dtp_mm_exec_bias(j->e, w, p, a, j->w16, j->b, c);
	} else {
		if (j->b)
			for (size_t r = 0; r < nr; r++)
				memcpy(c + r * (size_t)j->OC, j->b, (size_t)j->OC * sizeof(float));
		dtp_mm_exec(j->e, w, p, a, j->w16, c);
	}
	if (j->post)
		j->post(c, nr * (size_t)j->OC);
	if (j->keep)
		j->keep(c, j->out16 + r0 * (size_t)j->OC, nr * (size_t)j->OC);
}

int dtp_bf16_linear_forward_rows(struct dtp_bf16_mm *e, float *out, const float *in,
				 const float *w, const float *b, int N, int IC, int OC,
				 dtp_bf16_rows_fn *post, dtp_bf16_keep_fn *keep)
{
	struct fwd_job j = { .e = e, .x = dtp_mm_find(e, K_FWD, IC, OC, b != NULL, 0), .in = in,
			     .b = b, .w16 = w16_of(e, w), .out = out, .IC = IC, .OC = OC,
			     .post = post, .keep = keep, .out16 = e->d16 };
	/* with a bias, its primitive where one was prepared (the bits of the
	 * bias put in C and a sum post-op, without that pass over C) */
	struct dtp_mm_shape *xb = b && !e->f32 ? dtp_mm_find(e, K_FWDB, IC, OC, 0, 0) : NULL;

	if (xb)
		j.x = xb;
	if (N != e->max_rows || !j.x)
		return 0;
	dtp_pool_run(e->pool, fwd_share, &j);
	if (keep) {     /* the output's bf16 is the next input: a16 (input16) */
		e->d16 = e->a16;
		e->a16 = j.out16;
	}
	return 1;
}

struct prep_job {
	struct dtp_bf16_mm *e;
	float *db;
	const float *dout, *relu_out;
	struct cvt_job in;      /* in -> a16, zero rows to max_rows */
	int N, OC, round;
};

/* a participant's columns of the output gradient (ReLU backward, column
 * sums, bf16, zero rows to max_rows), then its share of the input's
 * conversion: one region where there were four */
static void prep_share(void *v, int w, int nw)
{
	const struct prep_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->OC, 16, w, nw, &lo, &hi);
	if (hi > lo) {
		dtp_relu_colsum_bf16_cols(j->e->d16, j->db, j->dout, j->relu_out, j->N, j->OC,
					  (int)lo, (int)hi, j->round);
		for (int n = j->N; n < j->e->max_rows; n++)
			memset(j->e->d16 + (size_t)n * j->OC + lo, 0, (hi - lo) * sizeof(uint16_t));
	}
	cvt_share((void *)&j->in, w, nw);
}

/* the same by rows (round, full batch): a participant's rows of d16 from
 * its rows of dout and relu_out (the rows it computed as the layer above's
 * input gradient, and as this layer's output in the forward: in its own
 * cache), no column sums (run_grads adds them from d16), then its share of
 * the input's conversion */
static void prep_rows_share(void *v, int w, int nw)
{
	const struct prep_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->N, 1, w, nw, &lo, &hi);
	if (hi > lo)
		dtp_relu_bf16_rows(j->e->d16, j->dout, j->relu_out, j->OC, (int)lo, (int)hi);
	cvt_share((void *)&j->in, w, nw);
}

void dtp_bf16_linear_backward_fused(struct dtp_bf16_mm *e, float *din, float *dw, float *db,
				    const float *dout, const float *relu_out, const float *in,
				    const float *w, int N, int IC, int OC, int acc, int round)
{
	size_t miss = (size_t)(e->max_rows - N);
	struct prep_job j = { .e = e, .db = db, .dout = dout, .relu_out = relu_out,
			      .in = { e->a16, in, (size_t)N * IC, miss * IC }, .N = N, .OC = OC,
			      .round = round };

	/* rounded dout (so d16 holds d exactly) and a full batch: d16 by rows,
	 * the column sums beside the weight gradient's matmul */
	if (round && N == e->max_rows) {
		dtp_pool_run(e->pool, prep_rows_share, &j);
		run_grads(e, IC, OC, acc, dw, din, db, w16_of(e, w), N);
		return;
	}
	dtp_pool_run(e->pool, prep_share, &j);
	run_grads(e, IC, OC, acc, dw, din, NULL, w16_of(e, w), N);
}

/* in16 (N,IC) as the matmuls' A: in place when N is the planned row count;
 * a ragged call copies it into a16 (unless it is there:
 * dtp_bf16_mm_input16), zero rows after it (see the top) */
static const uint16_t *rows16(struct dtp_bf16_mm *e, const uint16_t *in16, int N, int IC)
{
	size_t n = (size_t)N * IC, cap = (size_t)e->cap_rows * IC;

	if (N == e->max_rows)
		return in16;
	if (in16 != e->a16)
		memcpy(e->a16, in16, n * sizeof(uint16_t));
	memset(e->a16 + n, 0, (cap - n) * sizeof(uint16_t));
	return e->a16;
}

void dtp_bf16_linear_forward16(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
			       const float *w, int N, int IC, int OC, int sum)
{
	run(e, K_FWD, IC, OC, sum, rows16(e, in16, N, IC), w16_of(e, w), out, N);
}

struct bias_job {
	struct dtp_bf16_mm *e;
	struct dtp_mm_shape *x;
	const uint16_t *a, *b;
	const float *bias;
	float *c;
	int IC, OC;
};

static void bias_share(void *v, int w, int nw)
{
	const struct bias_job *j = v;
	struct dtp_mm_part *p = &j->x->part[w];

	(void)nw;
	if (p->m1 > p->m0)
		dtp_mm_exec_bias(j->e, w, p, j->a + (size_t)p->m0 * j->IC, j->b, j->bias,
				 j->c + (size_t)p->m0 * j->OC);
}

int dtp_bf16_linear_forward16_bias(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
				   const float *w, const float *b, int N, int IC, int OC)
{
	struct bias_job j = { .e = e, .x = dtp_mm_find(e, K_FWDB, IC, OC, 0, 0), .a = in16,
			      .b = w16_of(e, w), .bias = b, .c = out, .IC = IC, .OC = OC };

	if (N != e->max_rows || !j.x || e->f32)
		return 0;
	dtp_pool_run(e->pool, bias_share, &j);
	return 1;
}

void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc)
{
	size_t miss = (size_t)(e->max_rows - N);

	convert(e, e->d16, dout, (size_t)N * OC, miss * OC);
	run(e, K_BWDW, IC, OC, acc, e->d16, rows16(e, in16, N, IC), dw, e->max_rows);
}

/* the row shares below are whole blocks of colsum.c's sums, which B's
 * producers add as block partials (block.c) */
_Static_assert(TILE % DTP_SUM_ROWS == 0, "a tile is whole blocks of a column sum");

struct produce_job {
	struct dtp_bf16_mm *e;
	uint16_t *dst;
	int N, W;
	dtp_mm_tile_fn *fill;
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
			 dtp_mm_tile_fn *fill, void *ctx)
{
	struct produce_job j = { e, dst16, N, W, fill, ctx };

	if (W > e->maxdim) {
		fprintf(stderr, "dtpipe: bf16 tile of width %d, engine prepared for %d\n", W,
			e->maxdim);
		abort();
	}
	dtp_pool_run(e->pool, produce_share, &j);
}

/* -------------------------------------- a matmul by tiles (dnnl_engine.h) */
static void tiles_share(void *v, int w, int nw)
{
	const struct dtp_mm_tiles *t = v;
	size_t lo, hi, W = (size_t)t->g.ldc;
	size_t arow = (size_t)t->g.arow * (t->e->f32 ? sizeof(float) : sizeof(uint16_t));

	dtp_pool_share((size_t)t->N, TILE, w, nw, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += TILE) {
		float *c = t->c ? t->c + r0 * W : t->e->c32[w];

		dtp_mm_exec_bias(t->e, w, &t->x->part[w], (const char *)t->a + r0 * arow, t->b,
				 t->bias, c);
		t->post(t->ctx, c, (int)r0, (int)r0 + TILE);
		if (t->keep32)
			memcpy(t->keep32 + r0 * W, c, TILE * W * sizeof(float));
		if (t->keep16)
			dtp_bf16_from_f32(t->keep16 + r0 * W, c, TILE * W);
	}
}

int dtp_mm_tiles_fit(struct dtp_mm_tiles *t, int kind, int ic, int oc)
{
	struct dtp_bf16_mm *e = t->e;

	t->x = dtp_mm_find(e, kind, ic, oc, 0, 1);
	if (!t->x || t->N != e->max_rows || t->N % TILE)
		return 0;
	t->g = dtp_mm_geom_of(kind, ic, oc, t->N);
	return t->c || t->g.ldc <= e->maxdim;
}

void dtp_mm_tiles_run(struct dtp_mm_tiles *t)
{
	dtp_pool_run(t->e->pool, tiles_share, t);
}

int dtp_mm_run_tiles(struct dtp_mm_tiles *t, int kind, int ic, int oc)
{
	if (!dtp_mm_tiles_fit(t, kind, ic, oc))
		return 0;
	dtp_mm_tiles_run(t);
	return 1;
}

int dtp_bf16_linear_forward16_produce(struct dtp_bf16_mm *e, uint16_t *dst16,
				      const uint16_t *in16, const float *w, const float *b,
				      int N, int IC, int OC, dtp_mm_tile_fn *post, void *ctx)
{
	struct dtp_mm_tiles t = { .e = e, .a = in16, .b = w16_of(e, w), .bias = b,
				  .keep16 = dst16, .N = N, .post = post, .ctx = ctx };

	return !e->f32 && dtp_mm_run_tiles(&t, K_FWDB, IC, OC);
}

/* ------------------------------- output gradients converted where produced
 * (the backward's halves: B's input-gradient matmul reads the bf16 copy a
 * producer left in d16; W converts while it sums the bias gradient) */
uint16_t *dtp_bf16_mm_grad16(struct dtp_bf16_mm *e)
{
	return e->d16;
}

/* rows of a W-wide chunk: about 32 KiB of fp32, in L1 when converted */
static size_t chunk_rows(size_t W)
{
	return W >= 8192 ? 1 : 8192 / W;
}

struct grad_job {
	struct dtp_bf16_mm *e;
	float *dst;
	uint16_t *dst16;
	int N, W;
	dtp_mm_tile_fn *fill;
	void *ctx;
};

static void produce_grad_share(void *v, int w, int nw)
{
	const struct grad_job *j = v;
	size_t lo, hi, W = (size_t)j->W, cr = chunk_rows(W);

	dtp_pool_share((size_t)j->N, TILE, w, nw, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += cr) {
		size_t r1 = hi - r0 < cr ? hi : r0 + cr;

		j->fill(j->ctx, j->dst + r0 * W, (int)r0, (int)r1);
		dtp_bf16_from_f32(j->dst16 + r0 * W, j->dst + r0 * W, (r1 - r0) * W);
	}
}

int dtp_bf16_linear_dgrad_produce(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16,
				  const float *dout, const float *w, int N, int IC, int OC,
				  dtp_mm_tile_fn *post, void *ctx)
{
	/* dout's bf16 in whichever copy buffer dst16 is not */
	uint16_t *d16 = dst16 == e->d16 ? e->a16 : e->d16;
	struct dtp_mm_tiles t = { .e = e, .a = d16, .b = w16_of(e, w), .keep32 = dst, .N = N,
				  .post = post, .ctx = ctx };

	if (e->f32 || !dtp_mm_tiles_fit(&t, K_BWDD, IC, OC))
		return 0;
	convert(e, d16, dout, (size_t)N * OC, 0);
	dtp_mm_tiles_run(&t);
	return 1;
}

int dtp_bf16_mm_full(const struct dtp_bf16_mm *e, int N)
{
	return N == e->max_rows;
}

void dtp_bf16_mm_produce_grad(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16, int N, int W,
			      dtp_mm_tile_fn *fill, void *ctx)
{
	struct grad_job j = { e, dst, dst16, N, W, fill, ctx };

	if (W > e->maxdim) {
		fprintf(stderr, "dtpipe: bf16 gradient of width %d, engine prepared for %d\n", W,
			e->maxdim);
		abort();
	}
	dtp_pool_run(e->pool, produce_grad_share, &j);
}

void dtp_bf16_linear_dgrad16(struct dtp_bf16_mm *e, float *din, uint16_t *d16, const float *w,
			     int N, int IC, int OC)
{
	size_t n = (size_t)N * OC, cap = (size_t)e->cap_rows * OC;

	if (N < e->max_rows)    /* ragged: zero rows after it, as convert() pads */
		memset(d16 + n, 0, (cap - n) * sizeof(uint16_t));
	run(e, K_BWDD, IC, OC, 0, d16, w16_of(e, w), din, N);
}

struct colsum16_job {
	struct dtp_bf16_mm *e;
	float *db;
	const float *dout;
	int N, OC;
};

/* a participant's columns of dout: db += their sums (colsum.c's blocks,
 * one block at a time) and their bf16 copy into d16, a chunk of a block's
 * rows at a time while it is in L1; rows to max_rows zeroed */
static void colsum16_share(void *v, int w, int nw)
{
	const struct colsum16_job *j = v;
	size_t lo, hi, OC = (size_t)j->OC, N = (size_t)j->N, cr;
	uint16_t *d16 = j->e->d16;

	dtp_pool_share(OC, 16, w, nw, &lo, &hi);
	if (hi <= lo)
		return;
	cr = chunk_rows(hi - lo);
	for (size_t b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
		size_t b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

		if (j->db)
			dtp_colsum_add_cols(j->db, j->dout + b0 * OC, (int)(b1 - b0), (int)OC,
					    (int)lo, (int)hi);
		for (size_t r0 = b0; r0 < b1; r0 += cr) {
			size_t nr = b1 - r0 < cr ? b1 - r0 : cr;

			dtp_bf16_from_f32_2d(d16 + r0 * OC + lo, OC, j->dout + r0 * OC + lo, OC,
					     nr, hi - lo);
		}
	}
	for (int n = j->N; n < j->e->max_rows; n++)
		memset(d16 + (size_t)n * OC + lo, 0, (hi - lo) * sizeof(uint16_t));
}

void dtp_bf16_linear_wgrad16_db(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
				const uint16_t *dout16, const uint16_t *in16, int N, int IC,
				int OC, int acc)
{
	struct colsum16_job j = { e, db, dout, N, OC };

	if (dout16 && N == e->max_rows) {       /* converted already: the sums alone */
		if (db)
			dtp_par_colsum_add(e->pool, db, dout, N, OC);
	} else {
		dtp_pool_run(e->pool, colsum16_share, &j);
		dout16 = e->d16;
	}
	run(e, K_BWDW, IC, OC, acc, dout16, rows16(e, in16, N, IC), dw, e->max_rows);
}
#endif
