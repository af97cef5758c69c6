/* The bf16 engine's execution (dnnl_matmul.h, dnnl_engine.h): the
 * conversions to bf16, a primitive's run, the matmuls shared over the pool
 * (whole row shares, or 64-row tiles for a micro-batch below the planned
 * size) and by tiles consumed in cache, and the linear layers' calls that
 * convert their fp32 operands first (the mlp's path). The calls on bf16
 * operands and the producers are dnnl_matmul_run16.c's. Every primitive was
 * made at set-up (dnnl_matmul.c). */
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

void dtp_mm_convert(struct dtp_bf16_mm *e, uint16_t *dst, const float *src, size_t n, size_t pad)
{
	struct cvt_job j = { dst, src, n, pad };

	dtp_pool_run(e->pool, cvt_share, &j);
}

void dtp_bf16_mm_load_weights(struct dtp_bf16_mm *e)
{
	dtp_mm_convert(e, e->w16, e->params, e->np, 0);
}

uint16_t *dtp_bf16_mm_weights(struct dtp_bf16_mm *e)
{
	return e->w16;
}

uint16_t *dtp_bf16_mm_input16(struct dtp_bf16_mm *e)
{
	return e->a16;
}

const uint16_t *dtp_mm_w16_of(const struct dtp_bf16_mm *e, const float *w)
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

void dtp_mm_run(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, const uint16_t *a,
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
		dtp_mm_run(e, K_BWDW, IC, OC, acc, e->d16, e->a16, dw, e->max_rows);
		if (din)
			dtp_mm_run(e, K_BWDD, IC, OC, 0, e->d16, w16, din, N);
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

	dtp_mm_convert(e, e->a16, in, (size_t)N * IC, pad);
	dtp_mm_run(e, K_FWD, IC, OC, sum, e->a16, dtp_mm_w16_of(e, w), out, N);
}

void dtp_bf16_linear_backward(struct dtp_bf16_mm *e, float *din, float *dw,
			      const float *dout, const float *in, const float *w, int N,
			      int IC, int OC, int acc)
{
	/* ragged: zero rows up to max_rows (the weight gradient's K) */
	size_t miss = (size_t)(e->max_rows - N);

	dtp_mm_convert(e, e->d16, dout, (size_t)N * OC, miss * OC);
	if (dw) {
		dtp_mm_convert(e, e->a16, in, (size_t)N * IC, miss * IC);
		dtp_mm_run(e, K_BWDW, IC, OC, acc, e->d16, e->a16, dw, e->max_rows);
	}
	if (din)
		dtp_mm_run(e, K_BWDD, IC, OC, 0, e->d16, dtp_mm_w16_of(e, w), din, N);
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
			     .b = b, .w16 = dtp_mm_w16_of(e, w), .out = out, .IC = IC, .OC = OC,
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
		run_grads(e, IC, OC, acc, dw, din, db, dtp_mm_w16_of(e, w), N);
		return;
	}
	dtp_pool_run(e->pool, prep_share, &j);
	run_grads(e, IC, OC, acc, dw, din, NULL, dtp_mm_w16_of(e, w), N);
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
#endif
