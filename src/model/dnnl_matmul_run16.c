/* The bf16 engine's calls on operands already in bf16 (dnnl_matmul.h): a
 * linear layer's matmuls reading a unit's bf16 input or output gradient in
 * place, and the producers that write a tensor's bf16 where they compute
 * it (a tile at a time while it is in cache), so no later pass converts
 * it. The calls that convert fp32 operands first, and the engine's
 * execution on the pool, are dnnl_matmul_run.c's. */
#include "config.h"
#include "model/dnnl_matmul.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_engine.h"
#include "model/bf16.h"
#include "model/pool.h"
#include "model/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	dtp_mm_run(e, K_FWD, IC, OC, sum, rows16(e, in16, N, IC), dtp_mm_w16_of(e, w), out, N);
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
			      .b = dtp_mm_w16_of(e, w), .bias = b, .c = out, .IC = IC, .OC = OC };

	if (N != e->max_rows || !j.x || e->f32)
		return 0;
	dtp_pool_run(e->pool, bias_share, &j);
	return 1;
}

void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc)
{
	size_t miss = (size_t)(e->max_rows - N);

	dtp_mm_convert(e, e->d16, dout, (size_t)N * OC, miss * OC);
	dtp_mm_run(e, K_BWDW, IC, OC, acc, e->d16, rows16(e, in16, N, IC), dw, e->max_rows);
}

/* the row shares below are whole blocks of colsum.c's sums, which B's
 * producers add as block partials (block.c) */
_Static_assert(TILE % DTP_SUM_ROWS == 0, "a tile is whole blocks of a column sum");

/* rows of a W-wide chunk: about 32 KiB of fp32, in L1 when converted */
static size_t chunk_rows(size_t W)
{
	return W >= 8192 ? 1 : 8192 / W;
}

struct produce_job {
	struct dtp_bf16_mm *e;
	float *dst;             /* the fp32 values (NULL: not kept) */
	uint16_t *dst16;        /* their bf16 */
	int N, W;
	dtp_mm_tile_fn *fill;
	void *ctx;
};

/* a participant's rows (whole TILEs), a chunk at a time: filled into dst, or
 * TILE rows at a time into the participant's own output tile when dst is
 * NULL, then converted into dst16 */
static void produce_share(void *v, int w, int nw)
{
	const struct produce_job *j = v;
	size_t lo, hi, W = (size_t)j->W, step = j->dst ? chunk_rows(W) : TILE;

	dtp_pool_share((size_t)j->N, TILE, w, nw, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += step) {
		size_t r1 = hi - r0 < step ? hi : r0 + step;
		float *f = j->dst ? j->dst + r0 * W : j->e->c32[w];

		j->fill(j->ctx, f, (int)r0, (int)r1);
		dtp_bf16_from_f32(j->dst16 + r0 * W, f, (r1 - r0) * W);
	}
}

/* what (for the message): the rows' name */
static void produce(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16, int N, int W,
		    dtp_mm_tile_fn *fill, void *ctx, const char *what)
{
	struct produce_job j = { e, dst, dst16, N, W, fill, ctx };

	if (W > e->maxdim) {
		fprintf(stderr, "dtpipe: bf16 %s of width %d, engine prepared for %d\n", what, W,
			e->maxdim);
		abort();
	}
	dtp_pool_run(e->pool, produce_share, &j);
}

void dtp_bf16_mm_produce(struct dtp_bf16_mm *e, uint16_t *dst16, int N, int W,
			 dtp_mm_tile_fn *fill, void *ctx)
{
	produce(e, NULL, dst16, N, W, fill, ctx, "tile");
}

int dtp_bf16_linear_forward16_produce(struct dtp_bf16_mm *e, uint16_t *dst16,
				      const uint16_t *in16, const float *w, const float *b,
				      int N, int IC, int OC, dtp_mm_tile_fn *post, void *ctx)
{
	struct dtp_mm_tiles t = { .e = e, .a = in16, .b = dtp_mm_w16_of(e, w), .bias = b,
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

int dtp_bf16_linear_dgrad_produce(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16,
				  const float *dout, const float *w, int N, int IC, int OC,
				  dtp_mm_tile_fn *post, void *ctx)
{
	/* dout's bf16 in whichever copy buffer dst16 is not */
	uint16_t *d16 = dst16 == e->d16 ? e->a16 : e->d16;
	struct dtp_mm_tiles t = { .e = e, .a = d16, .b = dtp_mm_w16_of(e, w), .keep32 = dst, .N = N,
				  .post = post, .ctx = ctx };

	if (e->f32 || !dtp_mm_tiles_fit(&t, K_BWDD, IC, OC))
		return 0;
	dtp_mm_convert(e, d16, dout, (size_t)N * OC, 0);
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
	produce(e, dst, dst16, N, W, fill, ctx, "gradient");
}

void dtp_bf16_linear_dgrad16(struct dtp_bf16_mm *e, float *din, uint16_t *d16, const float *w,
			     int N, int IC, int OC)
{
	size_t n = (size_t)N * OC, cap = (size_t)e->cap_rows * OC;

	if (N < e->max_rows)    /* ragged: zero rows after it, as dtp_mm_convert pads */
		memset(d16 + n, 0, (cap - n) * sizeof(uint16_t));
	dtp_mm_run(e, K_BWDD, IC, OC, 0, d16, dtp_mm_w16_of(e, w), din, N);
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
	dtp_mm_run(e, K_BWDW, IC, OC, acc, dout16, rows16(e, in16, N, IC), dw, e->max_rows);
}
#endif
