/* Final layernorm + LM head (no bias, not tied: the embedding may sit on
 * another stage). x (N,C) -> logits (N,V). */
#include "config.h"
#include "model/kernels.h"
#include "model/dnnl_matmul.h"

/* x (N,C), lnw, lnb (C), w (V,C) -> lnf (N,C), mean, rstd (N), logits (N,V) */
void dtp_head_forward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *logits, float *lnf, float *mean,
		      float *rstd, const float *x, const float *lnw, const float *lnb, const float *w, int N, int C, int V)
{
	if (mx && !dtp_mm_is_f32(mx)) {       /* bf16: lnf kept in bf16, read by matmuls only (block.c) */
		dtp_layernorm_forward16(mx, (uint16_t *)(void *)lnf, mean, rstd, x, lnw, lnb, N, C);
		dtp_bf16_linear_forward16(mx, logits, (uint16_t *)(void *)lnf, w, N, C, V, 0);
		return;
	}
	dtp_par_layernorm_forward(pool, lnf, mean, rstd, x, lnw, lnb, N, C);
	dtp_linear_forward_mx(pool, mx, logits, lnf, w, NULL, N, C, V, 0);
}

/* dlogits (N,V) -> dln (N,C) = dlogits w, dx (N,C) = d(layernorm input) */
void dtp_head_backward_input(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx,
			     float *dln, const float *dlogits, const float *x, const float *mean,
			     const float *rstd, const float *lnw, const float *w, int N, int C,
			     int V)
{
	dtp_linear_backward_mx(pool, mx, dln, NULL, NULL, dlogits, NULL, w, N, C, V, 1);
	dtp_par_layernorm_backward(pool, dx, NULL, NULL, NULL, dln, x, mean, rstd, lnw, N, C);
}

/* dlogits (N,V), lnf (N,C), dln (N,C) -> dw (V,C) += (acc 0: =), dlnw, dlnb (C) += */
void dtp_head_backward_weight(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dlnw,
			      float *dlnb, float *dw, const float *dln, const float *dlogits,
			      const float *x, const float *lnf, const float *mean,
			      const float *rstd, int N, int C, int V, int acc)
{
	if (mx && !dtp_mm_is_f32(mx))
		dtp_linear_wgrad16(pool, mx, dw, NULL, dlogits, (const uint16_t *)(const void *)lnf,
				   N, C, V, acc);
	else
		dtp_linear_backward_mx(pool, mx, NULL, dw, NULL, dlogits, lnf, NULL, N, C, V, acc);
	dtp_par_layernorm_backward(pool, NULL, NULL, dlnw, dlnb, dln, x, mean, rstd, NULL, N, C);
}

/* dlogits (N,V) -> dx (N,C), dlnw, dlnb (C) +=, dw (V,C) +=; dln (N,C) scratch */
void dtp_head_backward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx, float *dlnw, float *dlnb,
		       float *dw, float *dln, const float *dlogits, const float *x, const float *lnf,
		       const float *mean, const float *rstd, const float *lnw,
		       const float *w, int N, int C, int V)
{
	dtp_head_backward_input(pool, mx, dx, dln, dlogits, x, mean, rstd, lnw, w, N, C, V);
	dtp_head_backward_weight(pool, mx, dlnw, dlnb, dw, dln, dlogits, x, lnf, mean, rstd, N,
				 C, V, 1);
}
