/* The fp32 engine's calls (dnnl_matmul.h, fp32_matmul = onednn): a linear
 * layer's three matmuls on oneDNN's fp32 matmul primitives, made at stage
 * set-up (dnnl_matmul.c) for the planned row count, operands read and
 * written in place (no copies, no conversions), C's rows shared over the
 * pool as the bf16 engine shares them. A call with fewer rows than planned
 * (an evaluation's last batch) returns 0 and the caller runs OpenBLAS. */
#include "config.h"
#include "model/dnnl_matmul.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_engine.h"
#include "model/kernels.h"
#include "model/pool.h"

#include <stdio.h>
#include <stdlib.h>

struct f32_job {
	struct dtp_bf16_mm *e;
	struct dtp_mm_shape *x;
	struct dtp_mm_geom g;
	const float *a, *b, *bias;
	float *c;
	float *db;              /* weight gradient: += dout's column sums too */
	int n;                  /* dout's rows */
};

static void f32_share(void *v, int w, int nw)
{
	const struct f32_job *j = v;
	struct dtp_mm_part *p = &j->x->part[w];

	(void)nw;
	if (p->m1 > p->m0)
		dtp_mm_exec_bias(j->e, w, p, j->a + (size_t)p->m0 * j->g.arow, j->b, j->bias,
				 j->c + (size_t)p->m0 * j->g.ldc);
	/* the weight gradient's rows [m0, m1) are output columns: their bias
	 * sums in the same region (colsum.c's blocks: the split's bits) */
	if (j->db && p->m1 > p->m0)
		dtp_colsum_add_cols(j->db, j->a, j->n, j->g.M, p->m0, p->m1);
}

/* C = A B (+ C: sum) of kind over rows rows of a layer ic -> oc; 0 when rows
 * is not the planned count */
static int f32_run(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, const float *a,
		   const float *b, float *c, int rows)
{
	struct f32_job j = { .e = e, .x = dtp_mm_find(e, kind, ic, oc, sum, 0), .a = a, .b = b,
			     .c = c };

	if (rows != e->max_rows)
		return 0;
	if (!j.x) {
		fprintf(stderr, "dtpipe: no fp32 oneDNN matmul prepared for %d -> %d\n", ic, oc);
		abort();
	}
	j.g = dtp_mm_geom_of(kind, ic, oc, rows);
	dtp_pool_run(e->pool, f32_share, &j);
	return 1;
}

int dtp_f32_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in, const float *w,
			   int N, int IC, int OC, int sum)
{
	return f32_run(e, K_FWD, IC, OC, sum, in, w, out, N);
}

int dtp_f32_linear_forward_bias(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC, int relu)
{
	struct f32_job j = { .e = e, .x = dtp_mm_find(e, relu ? K_FWDBR : K_FWDB, IC, OC, 0, 0),
			     .a = in, .b = w, .bias = b, .c = out };

	if (N != e->max_rows || !j.x)
		return 0;
	j.g = dtp_mm_geom_of(K_FWD, IC, OC, N);
	dtp_pool_run(e->pool, f32_share, &j);
	return 1;
}

/* the matmul into C by tiles, post on each (dtp_mm_run_tiles); 0 when
 * not run (the caller runs OpenBLAS) */
static int post_run(struct dtp_bf16_mm *e, int kind, int ic, int oc, const float *a,
		    const float *b, const float *bias, float *c, int N, dtp_mm_tile_fn *post,
		    void *ctx)
{
	struct dtp_mm_tiles t = { .e = e, .a = a, .b = b, .bias = bias, .c = c, .N = N,
				  .post = post, .ctx = ctx };

	return e && e->f32 && dtp_mm_run_tiles(&t, kind, ic, oc);
}

int dtp_f32_linear_forward_post(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC,
				dtp_mm_tile_fn *post, void *ctx)
{
	return post_run(e, K_FWDB, IC, OC, in, w, b, out, N, post, ctx);
}

int dtp_f32_linear_dgrad_post(struct dtp_bf16_mm *e, float *din, const float *dout,
			      const float *w, int N, int IC, int OC, dtp_mm_tile_fn *post,
			      void *ctx)
{
	return post_run(e, K_BWDD, IC, OC, dout, w, NULL, din, N, post, ctx);
}

int dtp_f32_linear_wgrad(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
			 const float *in, int N, int IC, int OC, int acc)
{
	struct f32_job j = { .e = e, .x = dtp_mm_find(e, K_BWDW, IC, OC, acc, 0), .a = dout,
			     .b = in, .c = dw, .db = db, .n = N };

	if (N != e->max_rows)
		return 0;
	if (!j.x) {
		fprintf(stderr, "dtpipe: no fp32 oneDNN matmul prepared for %d -> %d\n", IC, OC);
		abort();
	}
	j.g = dtp_mm_geom_of(K_BWDW, IC, OC, N);
	dtp_pool_run(e->pool, f32_share, &j);
	return 1;
}

int dtp_f32_linear_dgrad(struct dtp_bf16_mm *e, float *din, const float *dout, const float *w,
			 int N, int IC, int OC)
{
	return f32_run(e, K_BWDD, IC, OC, 0, dout, w, din, N);
}
#endif
