/* Layer normalisation over the last dimension (eps 1e-5), llm.c style. The
 * row reductions keep DTP_VLANES partial sums (vecmath.h) so they vectorize;
 * the mean and the variance stay two passes over the row (the row is in L1;
 * the one-pass E[x^2] - m^2 form loses digits when |mean| >> std). */
#include "config.h"
#include "model/kernels.h"
#include "model/dnnl_matmul.h"
#include "model/vecmath.h"

#include <math.h>

#define LN_EPS 1e-5f

/* x (C), m -> sum of (x - m)^2 */
static inline float sumsq_dev(const float *x, float m, int C)
{
	float a[DTP_VLANES] = { 0 };
	int i = 0;

	for (; i + DTP_VLANES <= C; i += DTP_VLANES)
		for (int k = 0; k < DTP_VLANES; k++) {
			float d = x[i + k] - m;

			a[k] += d * d;
		}
	for (int k = 0; i < C; i++, k++) {
		float d = x[i] - m;

		a[k] += d * d;
	}
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* in (N,C), w (C), b (C) -> out (N,C), mean (N), rstd (N) */
DTP_VEC_CLONES
void dtp_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
			   const float *w, const float *b, int N, int C)
{
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * C;
		float *o = out + (size_t)n * C;
		float m = dtp_vsum(x, C) / (float)C;
		float v = sumsq_dev(x, m, C) / (float)C;
		float s = 1.0f / sqrtf(v + LN_EPS);

		for (int i = 0; i < C; i++)
			o[i] = (x[i] - m) * s * w[i] + b[i];
		mean[n] = m;
		rstd[n] = s;
	}
}

/* o (n) = x + b, elementwise (dtp_par_add_rows's sums) */
DTP_VEC_CLONES
static void add_vec(float *o, const float *x, const float *b, int n)
{
	for (int i = 0; i < n; i++)
		o[i] = x[i] + b[i];
}

/* rows of a layer norm's input at a time: 16 rows of C = 256 are 16 KiB,
 * still in L1 when the residual pass reads them again */
#define LN_RES_ROWS 16

void dtp_layernorm_forward_res(float *out, float *mean, float *rstd, const float *in,
			       const float *w, const float *b, float *res, const float *rb, int N,
			       int C)
{
	for (int r0 = 0; r0 < N; r0 += LN_RES_ROWS) {
		int nr = N - r0 < LN_RES_ROWS ? N - r0 : LN_RES_ROWS;
		size_t o = (size_t)r0 * C;

		dtp_layernorm_forward(out + o, mean + r0, rstd + r0, in + o, w, b, nr, C);
		for (int r = 0; res && r < nr; r++)
			add_vec(res + o + (size_t)r * C, in + o + (size_t)r * C, rb, C);
	}
}

/* dout (N,C), in (N,C), mean, rstd (N), w (C), dres (N,C) or NULL (zeros)
 * -> din rows [n0, n1) = dres + d(loss)/d(in) (din may alias dres) */
DTP_VEC_CLONES
void dtp_layernorm_backward_rows(float *din, const float *dres, const float *dout,
				 const float *in, const float *mean, const float *rstd,
				 const float *w, int n0, int n1, int C)
{
	for (int n = n0; n < n1; n++) {
		const float *x = in + (size_t)n * C;
		const float *g = dout + (size_t)n * C;
		float *dx = din + (size_t)n * C;
		float m = mean[n], s = rstd[n];
		float am[DTP_VLANES] = { 0 }, an[DTP_VLANES] = { 0 };
		int i = 0;

		for (; i + DTP_VLANES <= C; i += DTP_VLANES)
			for (int k = 0; k < DTP_VLANES; k++) {
				float xh = (x[i + k] - m) * s;
				float dxh = g[i + k] * w[i + k];

				am[k] += dxh;
				an[k] += dxh * xh;
			}
		for (int k = 0; i < C; i++, k++) {
			float xh = (x[i] - m) * s;
			float dxh = g[i] * w[i];

			am[k] += dxh;
			an[k] += dxh * xh;
		}
		float dmean = (((am[0] + am[4]) + (am[2] + am[6])) +
			       ((am[1] + am[5]) + (am[3] + am[7]))) / (float)C;
		float dnorm = (((an[0] + an[4]) + (an[2] + an[6])) +
			       ((an[1] + an[5]) + (an[3] + an[7]))) / (float)C;

		if (dres) {
			const float *r = dres + (size_t)n * C;

			for (i = 0; i < C; i++) {
				float xh = (x[i] - m) * s;

				dx[i] = r[i] + (g[i] * w[i] - dmean - xh * dnorm) * s;
			}
		} else {
			for (i = 0; i < C; i++) {
				float xh = (x[i] - m) * s;

				dx[i] = (g[i] * w[i] - dmean - xh * dnorm) * s;
			}
		}
	}
}

/* one row's terms of the norm's gradients: tw (k) += g * xh, tb (k) += g,
 * xh = (x - m) s */
DTP_VEC_CLONES
static void ln_cols_row(float *tw, float *tb, const float *g, const float *x, float m, float s,
			int k)
{
	for (int i = 0; i < k; i++) {
		float xh = (x[i] - m) * s;

		tb[i] += g[i];
		tw[i] += g[i] * xh;
	}
}

/* dout (N,C), in (N,C), mean, rstd (N) -> dw, db columns [c0, c1) +=, by
 * colsum.c's blocks (a column's sum never depends on the split) */
void dtp_layernorm_backward_cols(float *dw, float *db, const float *dout, const float *in,
				 const float *mean, const float *rstd, int N, int C, int c0,
				 int c1)
{
	float tw[DTP_SUM_STRIP], tb[DTP_SUM_STRIP];

	for (int a = c0; a < c1; a += DTP_SUM_STRIP) {
		int k = c1 - a < DTP_SUM_STRIP ? c1 - a : DTP_SUM_STRIP;

		for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
			int b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

			memset(tw, 0, (size_t)k * sizeof(float));
			memset(tb, 0, (size_t)k * sizeof(float));
			for (int n = b0; n < b1; n++) {
				size_t o = (size_t)n * C + (size_t)a;

				ln_cols_row(tw, tb, dout + o, in + o, mean[n], rstd[n], k);
			}
			dtp_row_add(dw + a, tw, k);
			dtp_row_add(db + a, tb, k);
		}
	}
}

void dtp_layernorm_part_rows(float *pw, float *pb, size_t ldp, const float *dout,
			     const float *in, const float *mean, const float *rstd, int r0, int r1,
			     int C)
{
	for (int r = r0; r < r1; r++) {
		size_t b = (size_t)(r / DTP_SUM_ROWS) * ldp, o = (size_t)(r - r0) * C;

		if (r % DTP_SUM_ROWS == 0) {
			memset(pw + b, 0, (size_t)C * sizeof(float));
			memset(pb + b, 0, (size_t)C * sizeof(float));
		}
		ln_cols_row(pw + b, pb + b, dout + o, in + o, mean[r - r0], rstd[r - r0], C);
	}
}

/* the two passes over the whole layer */
void dtp_layernorm_backward(float *din, const float *dres, float *dw, float *db,
			    const float *dout, const float *in, const float *mean,
			    const float *rstd, const float *w, int N, int C)
{
	dtp_layernorm_backward_rows(din, dres, dout, in, mean, rstd, w, 0, N, C);
	dtp_layernorm_backward_cols(dw, db, dout, in, mean, rstd, N, C, 0, C);
}

/* ---- bf16: the output converted as it is produced, a tile at a time */
struct ln_fill {
	float *mean, *rstd, *res;
	const float *in, *w, *b, *rb;
	int C;
};

static void ln_fill(void *v, float *tile, int r0, int r1)
{
	const struct ln_fill *f = v;
	size_t C = (size_t)f->C;

	dtp_layernorm_forward_res(tile, f->mean + r0, f->rstd + r0, f->in + r0 * C, f->w, f->b,
				  f->res ? f->res + r0 * C : NULL, f->rb, r1 - r0, f->C);
}

/* in (N,C), the layer norm's parameters -> out16 (N,C) bf16, mean, rstd (N) */
void dtp_layernorm_forward16(struct dtp_bf16_mm *mx, uint16_t *out16, float *mean, float *rstd,
			     const float *in, const float *w, const float *b, int N, int C)
{
	dtp_layernorm_forward16_res(mx, out16, mean, rstd, in, w, b, NULL, NULL, N, C);
}

void dtp_layernorm_forward16_res(struct dtp_bf16_mm *mx, uint16_t *out16, float *mean,
				 float *rstd, const float *in, const float *w, const float *b,
				 float *res, const float *rb, int N, int C)
{
	struct ln_fill f = { mean, rstd, res, in, w, b, rb, C };

	dtp_bf16_mm_produce(mx, out16, N, C, ln_fill, &f);
}
