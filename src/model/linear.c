/* Fully connected layer (optionally fused with ReLU) on cblas_sgemm, shared
 * over the worker pool when there is one (par.c). */
#include "config.h"
#include "model/kernels.h"
#include "model/vecmath.h"
#include "model/dnnl_matmul.h"
#include "model/bf16.h"
#include "model/pool.h"

/* b (OC) -> out (N,OC): b in every row */
void dtp_bias_rows(float *out, const float *b, int N, int OC)
{
	dtp_par_add_rows(NULL, out, NULL, b, N, OC);
}

/* in (N,IC), w (OC,IC), b (OC) -> out (N,OC). The bias goes in first and the
 * sgemm accumulates onto it (beta = 1): OpenBLAS with beta = 0 makes its own
 * pass over C to zero it, so filling C with the bias costs that same pass and
 * saves a read-modify-write pass over the output afterwards. */
void dtp_linear_forward(struct dtp_pool *pool, float *out, const float *in, const float *w,
			const float *b, int N, int IC, int OC, int relu)
{
	if (b)
		dtp_par_add_rows(pool, out, NULL, b, N, OC);
	dtp_par_sgemm(pool, 0, 1, N, OC, IC, 1.0f, in, IC, w, IC, b ? 1.0f : 0.0f, out, OC);
	if (relu)
		dtp_par_each(pool, out, (size_t)N * OC, dtp_relu_forward);
}

/* dout (N,OC), out (N,OC) or NULL -> over columns [c0, c1): d = the ReLU
 * backward of dout (out > 0 ? dout : 0; out NULL: d = dout), db += d's
 * column sums (colsum.c's blocks: dtp_colsum_add_cols's bits), d16 (N,OC)
 * = bf16(d): the ReLU backward, the bias gradient and the output gradient's
 * conversion in one read of dout, d never stored in fp32. round: dout is
 * rounded to bf16 first, here, a chunk at a time (the ReLU's mask and the
 * rounding commute: bf16(0) is 0), instead of a pass of its own over it:
 * the same values, so the same bits. */
#define RELU_COLSUM_CHUNK 256
DTP_VEC_CLONES
static void relu_mask_row(float *t, const float *g, const float *o, int k)
{
	if (o)
		for (int j = 0; j < k; j++)
			t[j] = o[j] > 0.0f ? g[j] : 0.0f;
	else
		for (int j = 0; j < k; j++)
			t[j] = g[j];
}

void dtp_relu_colsum_bf16_cols(uint16_t *d16, float *db, const float *dout, const float *out,
			       int N, int OC, int c0, int c1, int round)
{
	float t[RELU_COLSUM_CHUNK], s[RELU_COLSUM_CHUNK];

	for (int a = c0; a < c1; a += RELU_COLSUM_CHUNK) {
		int k = c1 - a < RELU_COLSUM_CHUNK ? c1 - a : RELU_COLSUM_CHUNK;

		for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
			int b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

			memset(s, 0, (size_t)k * sizeof(float));
			for (int n = b0; n < b1; n++) {
				size_t r = (size_t)n * OC + (size_t)a;

				relu_mask_row(t, dout + r, out ? out + r : NULL, k);
				if (round)
					dtp_bf16_round(t, (size_t)k);
				dtp_row_add(s, t, k);
				dtp_bf16_from_f32(d16 + r, t, (size_t)k);
			}
			dtp_row_add(db + a, s, k);      /* colsum.c's block order */
		}
	}
}

/* dout (N,OC), out (N,OC) or NULL -> d16 rows [r0, r1) = bf16(the ReLU
 * backward of dout): dtp_relu_colsum_bf16_cols's d16 by rows, without the
 * column sums (dtp_colsum16_add_cols adds them from d16 when that holds d
 * exactly: dout rounded to bf16, the `round` case) */
void dtp_relu_bf16_rows(uint16_t *d16, const float *dout, const float *out, int OC, int r0,
			int r1)
{
	float t[RELU_COLSUM_CHUNK];

	for (int n = r0; n < r1; n++)
		for (int a = 0; a < OC; a += RELU_COLSUM_CHUNK) {
			int k = OC - a < RELU_COLSUM_CHUNK ? OC - a : RELU_COLSUM_CHUNK;
			size_t r = (size_t)n * OC + (size_t)a;

			relu_mask_row(t, dout + r, out ? out + r : NULL, k);
			dtp_bf16_from_f32(d16 + r, t, (size_t)k);
		}
}

/* dout (N,OC), in (N,IC), w (OC,IC) -> dw (OC,IC) += (acc 0: =), db (OC) +=,
 * din (N,IC) = (dw NULL: the input gradient only, B; din NULL: the weight
 * gradient only, W) */
void dtp_linear_backward(struct dtp_pool *pool, float *din, float *dw, float *db,
			 const float *dout, const float *in, const float *w, int N, int IC,
			 int OC, int acc)
{
	/* dw (+)= dout^T in: beta = 1 accumulates across micro-batches, beta = 0
	 * writes the step's first (OpenBLAS zeroes C and adds: the same bits) */
	if (dw)
		dtp_par_sgemm(pool, 1, 0, OC, IC, N, 1.0f, dout, OC, in, IC, acc ? 1.0f : 0.0f, dw,
			      IC);
	if (dw && db)
		dtp_par_colsum_add(pool, db, dout, N, OC);
	if (din)
		dtp_par_sgemm(pool, 0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, din, IC);
}

/* ------------------------------------------- with a oneDNN engine (or not)
 * mx: NULL (fp32 on OpenBLAS), an fp32 engine (fp32_matmul = onednn: the
 * same passes as above with oneDNN's fp32 matmuls in place of the sgemms,
 * OpenBLAS for a call of fewer rows than planned), or a bf16 engine. */
static void forward32(struct dtp_pool *pool, struct dtp_bf16_mm *fx, float *out, const float *in,
		      const float *w, const float *b, int N, int IC, int OC, int relu)
{
	if (!fx) {
		dtp_linear_forward(pool, out, in, w, b, N, IC, OC, relu);
		return;
	}
	/* the bias (and the ReLU) in the matmul: no pass to put it in C first */
	if (b && dtp_f32_linear_forward_bias(fx, out, in, w, b, N, IC, OC, relu))
		return;
	if (b)
		dtp_par_add_rows(pool, out, NULL, b, N, OC);
	if (!dtp_f32_linear_forward(fx, out, in, w, N, IC, OC, b != NULL))
		dtp_par_sgemm(pool, 0, 1, N, OC, IC, 1.0f, in, IC, w, IC, b ? 1.0f : 0.0f, out, OC);
	if (relu)
		dtp_par_each(pool, out, (size_t)N * OC, dtp_relu_forward);
}

static void backward32(struct dtp_pool *pool, struct dtp_bf16_mm *fx, float *din, float *dw,
		       float *db, const float *dout, const float *in, const float *w, int N,
		       int IC, int OC, int acc)
{
	if (!fx) {
		dtp_linear_backward(pool, din, dw, db, dout, in, w, N, IC, OC, acc);
		return;
	}
	if (dw && dtp_f32_linear_wgrad(fx, dw, db, dout, in, N, IC, OC, acc)) {
		db = NULL;      /* summed beside the matmul */
	} else if (dw) {
		dtp_par_sgemm(pool, 1, 0, OC, IC, N, 1.0f, dout, OC, in, IC, acc ? 1.0f : 0.0f, dw,
			      IC);
	}
	if (dw && db)
		dtp_par_colsum_add(pool, db, dout, N, OC);
	if (din && !dtp_f32_linear_dgrad(fx, din, dout, w, N, IC, OC))
		dtp_par_sgemm(pool, 0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, din, IC);
}

/* x (n) = bf16(max(0, x)): the ReLU and the rounding of a unit's output to
 * bf16 (its boundary, dtp_stage_round_bf16) in one pass over memory, a chunk
 * at a time while it is in L1: the same two operations in the same order as
 * the two passes they replace, so the same bits. */
#define RELU_ROUND_CHUNK 1024
static void relu_round(float *x, size_t n)
{
	for (size_t i = 0; i < n; i += RELU_ROUND_CHUNK) {
		size_t k = n - i < RELU_ROUND_CHUNK ? n - i : RELU_ROUND_CHUNK;

		dtp_relu_forward(x + i, k);
		dtp_bf16_round(x + i, k);
	}
}

void dtp_linear_forward_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
			   const float *in, const float *w, const float *b, int N, int IC,
			   int OC, int relu)
{
	if (!mx || dtp_mm_is_f32(mx)) {
		forward32(pool, mx, out, in, w, b, N, IC, OC, relu);
		return;
	}
	if (dtp_bf16_linear_forward_rows(mx, out, in, w, b, N, IC, OC, relu ? relu_round : NULL,
					 NULL))
		return;
	if (b)
		dtp_par_add_rows(pool, out, NULL, b, N, OC);
	dtp_bf16_linear_forward(mx, out, in, w, N, IC, OC, b != NULL);
	if (relu)
		dtp_par_each(pool, out, (size_t)N * OC, relu_round);
}

struct relu_keep_job {
	float *x;
	uint16_t *x16;
	size_t n;
};

static void relu_keep_share(void *v, int w, int nw)
{
	const struct relu_keep_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_bf16_relu_keep(j->x + lo, j->x16 + lo, hi - lo);
}

void dtp_linear_forward_chain(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
			      const float *in, int in_kept, const float *w, const float *b,
			      int N, int IC, int OC, int relu, int keep)
{
	if (!mx || dtp_mm_is_f32(mx) || (!in_kept && !(keep && relu))) {
		dtp_linear_forward_mx(pool, mx, out, in, w, b, N, IC, OC, relu);
		return;
	}
	if (dtp_bf16_linear_forward_rows(mx, out, in_kept ? NULL : in, w, b, N, IC, OC,
					 relu && !keep ? relu_round : NULL,
					 relu && keep ? dtp_bf16_relu_keep : NULL))
		return;
	if (b)
		dtp_par_add_rows(pool, out, NULL, b, N, OC);
	if (in_kept)
		dtp_bf16_linear_forward16(mx, out, dtp_bf16_mm_input16(mx), w, N, IC, OC,
					  b != NULL);
	else
		dtp_bf16_linear_forward(mx, out, in, w, N, IC, OC, b != NULL);
	if (relu && keep) {
		struct relu_keep_job j = { out, dtp_bf16_mm_input16(mx), (size_t)N * OC };

		dtp_pool_run(pool, relu_keep_share, &j);
	} else if (relu) {
		dtp_par_each(pool, out, (size_t)N * OC, relu_round);
	}
}

void dtp_linear_backward_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *din,
			    float *dw, float *db, const float *dout, const float *in,
			    const float *w, int N, int IC, int OC, int acc)
{
	if (!mx || dtp_mm_is_f32(mx)) {
		backward32(pool, mx, din, dw, db, dout, in, w, N, IC, OC, acc);
		return;
	}
	if (dw && db)
		dtp_par_colsum_add(pool, db, dout, N, OC);
	dtp_bf16_linear_backward(mx, din, dw, dout, in, w, N, IC, OC, acc);
}

void dtp_linear_acc_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
		       const float *in, const float *w, int N, int IC, int OC)
{
	if (mx && !dtp_mm_is_f32(mx))
		dtp_bf16_linear_forward(mx, out, in, w, N, IC, OC, 1);
	else if (!mx || !dtp_f32_linear_forward(mx, out, in, w, N, IC, OC, 1))
		dtp_par_sgemm(pool, 0, 1, N, OC, IC, 1.0f, in, IC, w, IC, 1.0f, out, OC);
}

void dtp_linear_backward_whole_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *din,
				  float *d, float *dw, float *db, const float *dout,
				  const float *relu_out, const float *in, const float *w, int N,
				  int IC, int OC, int acc, int round)
{
	if (mx) {
		dtp_bf16_linear_backward_fused(mx, din, dw, db, dout, relu_out, in, w, N, IC, OC,
					       acc, round);
		return;
	}
	if (relu_out)
		dtp_par_relu_backward(pool, d, dout, relu_out, (size_t)N * OC);
	dtp_linear_backward(pool, din, dw, db, relu_out ? d : dout, in, w, N, IC, OC, acc);
}

/* dout (N,OC), in16 (N,IC) bf16 (a forward's copy) -> dw (OC,IC) += (acc 0: =),
 * db (OC) += */
void dtp_linear_wgrad16(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dw, float *db,
			const float *dout, const uint16_t *in16, int N, int IC, int OC, int acc)
{
	if (db)
		dtp_par_colsum_add(pool, db, dout, N, OC);
	dtp_bf16_linear_wgrad16(mx, dw, dout, in16, N, IC, OC, acc);
}
