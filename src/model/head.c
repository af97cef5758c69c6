/* Final layernorm + LM head (no bias, not tied: the embedding may sit on
 * another stage). x (N,C) -> logits (N,V). */
#include "config.h"
#include "model/kernels.h"

/* x (N,C), lnw, lnb (C), w (V,C) -> lnf (N,C), mean, rstd (N), logits (N,V) */
void dtp_head_forward(struct dtp_pool *pool, float *logits, float *lnf, float *mean,
		      float *rstd, const float *x, const float *lnw, const float *lnb, const float *w, int N, int C, int V)
{
	dtp_par_layernorm_forward(pool, lnf, mean, rstd, x, lnw, lnb, N, C);
	dtp_par_sgemm(pool, 0, 1, N, V, C, 1.0f, lnf, C, w, C, 0.0f, logits, V);
}

/* dlogits (N,V) -> dx (N,C), dlnw, dlnb (C) +=, dw (V,C) +=; dln (N,C) scratch */
void dtp_head_backward(struct dtp_pool *pool, float *dx, float *dlnw, float *dlnb,
		       float *dw, float *dln, const float *dlogits, const float *x, const float *lnf,
		       const float *mean, const float *rstd, const float *lnw,
		       const float *w, int N, int C, int V)
{
	dtp_linear_backward(pool, dln, dw, NULL, dlogits, lnf, w, N, C, V);
	dtp_par_layernorm_backward(pool, dx, NULL, dlnw, dlnb, dln, x, mean, rstd, lnw, N, C);
}
