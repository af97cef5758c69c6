/* Causal multi-head self-attention core (the QKV and output projections are
 * linear layers in block.c). Every matmul is one cblas_sgemm per (batch, head)
 * using leading dimensions to address a head's columns in place. The full T x T
 * score matrix is computed; the causal mask zeroes the upper triangle. */
#include "config.h"
#include "model/kernels.h"
#include "model/vecmath.h"
#include "model/bf16.h"

#include <cblas.h>
#include <math.h>

/* a (T,T) raw scores -> in place, row i: softmax of scale * a[i][0..i],
 * zeros above the diagonal (scale 1: no multiply, the scores came scaled);
 * a16 (T,T) (or NULL): each row's bf16, converted while the row is in L1
 * (the same bits as a conversion pass over a afterwards) */
DTP_VEC_CLONES
void dtp_attention_softmax(float *a, uint16_t *a16, int T, float scale)
{
	for (int i = 0; i < T; i++) {
		float *r = a + (size_t)i * T;

		if (scale != 1.0f)
			for (int j = 0; j <= i; j++)
				r[j] *= scale;
		float mx = dtp_vmax(r, i + 1);

		for (int j = 0; j <= i; j++)
			r[j] = dtp_vexpf(r[j] - mx);
		float inv = 1.0f / dtp_vsum(r, i + 1);

		for (int j = 0; j <= i; j++)
			r[j] *= inv;
		for (int j = i + 1; j < T; j++)
			r[j] = 0.0f;
		if (a16)
			dtp_bf16_from_f32(a16 + (size_t)i * T, r, (size_t)T);
	}
}

/* d (T,T) output gradient of the softmax a (T,T) -> in place, the scores'
 * gradient times scale: scale * a * (d - sum_j(a * d)) per row, zero above
 * the diagonal (scale 1: no multiply); d16 (T,T) (or NULL): each row's
 * bf16, as dtp_attention_softmax's a16 */
DTP_VEC_CLONES
void dtp_attention_softmax_backward(float *d, uint16_t *d16, const float *a, int T, float scale)
{
	for (int i = 0; i < T; i++) {
		const float *ar = a + (size_t)i * T;
		float *dr = d + (size_t)i * T;
		float s = dtp_vdot(ar, dr, i + 1);

		for (int j = 0; j <= i; j++)
			dr[j] = ar[j] * (dr[j] - s);
		if (scale != 1.0f)
			for (int j = 0; j <= i; j++)
				dr[j] *= scale;
		for (int j = i + 1; j < T; j++)
			dr[j] = 0.0f;
		if (d16)
			dtp_bf16_from_f32(d16 + (size_t)i * T, dr, (size_t)T);
	}
}

/* qkv (B,T,3C) -> att (B,H,T,T), y (B,T,C), for the pairs (b, h) with
 * p0 <= b*H + h < p1 (each pair is independent of the others) */
DTP_VEC_CLONES
void dtp_attention_forward_pairs(float *y, float *att, const float *qkv, int B, int T,
				 int C, int H, int p0, int p1)
{
	int hs = C / H, ld = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

	(void)B;
	for (int pr = p0; pr < p1; pr++) {
		int b = pr / H, h = pr % H;
		const float *q = qkv + (size_t)b * T * ld + (size_t)h * hs;
		const float *k = q + C, *v = q + 2 * C;
		float *a = att + ((size_t)b * H + h) * T * T;

		/* scores (T,T) = scale * q k^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs,
			    scale, q, ld, k, ld, 0.0f, a, T);
		dtp_attention_softmax(a, NULL, T, 1.0f);
		/* y_h (T,hs) = att v */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T,
			    1.0f, a, T, v, ld, 0.0f, y + (size_t)b * T * C + (size_t)h * hs, C);
	}
}

/* qkv (B,T,3C) -> att (B,H,T,T), y (B,T,C) */
void dtp_attention_forward(float *y, float *att, const float *qkv, int B, int T, int C, int H)
{
	dtp_attention_forward_pairs(y, att, qkv, B, T, C, H, 0, B * H);
}

/* dy (B,T,C), qkv (B,T,3C), att (B,H,T,T) -> dqkv (B,T,3C) for the pairs
 * p0 <= b*H + h < p1; scratch (T,T) */
DTP_VEC_CLONES
void dtp_attention_backward_pairs(float *dqkv, float *scratch, const float *dy,
				  const float *qkv, const float *att, int B, int T, int C,
				  int H, int p0, int p1)
{
	int hs = C / H, ld = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

	(void)B;
	for (int pr = p0; pr < p1; pr++) {
		int b = pr / H, h = pr % H;
		size_t off = (size_t)b * T * ld + (size_t)h * hs;
		const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
		float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
		const float *a = att + ((size_t)b * H + h) * T * T;
		const float *g = dy + (size_t)b * T * C + (size_t)h * hs;
		float *d = scratch;

		/* datt (T,T) = dy_h v^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs,
			    1.0f, g, C, v, ld, 0.0f, d, T);
		/* dv (T,hs) = att^T dy_h */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T,
			    1.0f, a, T, g, C, 0.0f, dv, ld);
		/* softmax backward, in place: dpre = att * (datt - sum(att * datt)) */
		dtp_attention_softmax_backward(d, NULL, a, T, 1.0f);
		/* dq = scale dpre k; dk = scale dpre^T q */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T,
			    scale, d, T, k, ld, 0.0f, dq, ld);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T,
			    scale, d, T, q, ld, 0.0f, dk, ld);
	}
}

/* dy (B,T,C), qkv (B,T,3C), att (B,H,T,T) -> dqkv (B,T,3C); scratch (T,T) */
void dtp_attention_backward(float *dqkv, float *scratch, const float *dy, const float *qkv,
			    const float *att, int B, int T, int C, int H)
{
	dtp_attention_backward_pairs(dqkv, scratch, dy, qkv, att, B, T, C, H, 0, B * H);
}
