/* Layer normalisation over the last dimension (eps 1e-5), llm.c style. */
#include "config.h"
#include "model/kernels.h"

#include <math.h>

#define LN_EPS 1e-5f

/* in (N,C), w (C), b (C) -> out (N,C), mean (N), rstd (N) */
void dtp_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
			   const float *w, const float *b, int N, int C)
{
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * C;
		float *o = out + (size_t)n * C;
		float m = 0.0f, v = 0.0f;

		for (int i = 0; i < C; i++)
			m += x[i];
		m /= (float)C;
		for (int i = 0; i < C; i++) {
			float d = x[i] - m;

			v += d * d;
		}
		v /= (float)C;
		float s = 1.0f / sqrtf(v + LN_EPS);

		for (int i = 0; i < C; i++)
			o[i] = (x[i] - m) * s * w[i] + b[i];
		mean[n] = m;
		rstd[n] = s;
	}
}

/* dout (N,C), in (N,C), mean, rstd (N), w (C) -> din (N,C) +=, dw (C) +=, db (C) += */
void dtp_layernorm_backward(float *din, float *dw, float *db, const float *dout,
			    const float *in, const float *mean, const float *rstd,
			    const float *w, int N, int C)
{
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * C;
		const float *g = dout + (size_t)n * C;
		float *dx = din + (size_t)n * C;
		float m = mean[n], s = rstd[n];
		float dmean = 0.0f, dnorm = 0.0f;

		for (int i = 0; i < C; i++) {
			float xh = (x[i] - m) * s;
			float dxh = g[i] * w[i];

			dmean += dxh;
			dnorm += dxh * xh;
		}
		dmean /= (float)C;
		dnorm /= (float)C;
		for (int i = 0; i < C; i++) {
			float xh = (x[i] - m) * s;
			float dxh = g[i] * w[i];

			db[i] += g[i];
			dw[i] += g[i] * xh;
			dx[i] += (dxh - dmean - xh * dnorm) * s;
		}
	}
}
