/* Token + position embedding. */
#include "config.h"
#include "model/kernels.h"
#include "model/vecmath.h"

/* tokens (B,T), wte (V,C), wpe (T,C) -> out (B,T,C) */
DTP_VEC_CLONES
void dtp_embedding_forward(float *out, const int32_t *tokens, const float *wte,
			   const float *wpe, int B, int T, int C)
{
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			float *o = out + ((size_t)b * T + t) * C;
			const float *e = wte + (size_t)tokens[(size_t)b * T + t] * C;
			const float *p = wpe + (size_t)t * C;

			for (int i = 0; i < C; i++)
				o[i] = e[i] + p[i];
		}
}

/* dout (B,T,C) -> columns [c0, c1) of dwte (V,C) +=, dwpe (T,C) +=, rows in
 * (b,t) order (a column's sums never depend on the split; each element's
 * additions are in that order at any vector width) */
DTP_VEC_CLONES
void dtp_embedding_backward_cols(float *dwte, float *dwpe, const float *dout,
				 const int32_t *tokens, int B, int T, int C, int c0, int c1)
{
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			const float *g = dout + ((size_t)b * T + t) * C;
			float *de = dwte + (size_t)tokens[(size_t)b * T + t] * C;
			float *dp = dwpe + (size_t)t * C;

			for (int i = c0; i < c1; i++) {
				de[i] += g[i];
				dp[i] += g[i];
			}
		}
}

/* dout (B,T,C) -> dwte (V,C) +=, dwpe (T,C) += */
void dtp_embedding_backward(float *dwte, float *dwpe, const float *dout,
			    const int32_t *tokens, int B, int T, int C)
{
	dtp_embedding_backward_cols(dwte, dwpe, dout, tokens, B, T, C, 0, C);
}
