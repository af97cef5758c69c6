/* Final layernorm + LM head (no bias, not tied: the embedding may sit on
 * another stage). x (N,C) -> logits (N,V). */
#include "config.h"
#include "model/kernels.h"

/* x (N,C), lnw, lnb (C), w (V,C) -> lnf (N,C), mean, rstd (N), logits (N,V) */
void dtp_head_forward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *logits, float *lnf, float *mean,
		      float *rstd, const float *x, const float *lnw, const float *lnb, const float *w, int N, int C, int V)
{
	dtp_par_layernorm_forward(pool, lnf, mean, rstd, x, lnw, lnb, N, C);
	dtp_linear_forward_mx(pool, mx, logits, lnf, w, NULL, N, C, V, 0);
}

/* dlogits (N,V) -> dx (N,C), dlnw, dlnb (C) +=, dw (V,C) +=; dln (N,C) scratch */
void dtp_head_backward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx, float *dlnw, float *dlnb,
		       float *dw, float *dln, const float *dlogits, const float *x, const float *lnf,
		       const float *mean, const float *rstd, const float *lnw,
		       const float *w, int N, int C, int V)
{
	dtp_linear_backward_mx(pool, mx, dln, dw, NULL, dlogits, lnf, w, N, C, V);
	dtp_par_layernorm_backward(pool, dx, NULL, dlnw, dlnb, dln, x, mean, rstd, lnw, N, C);
}
