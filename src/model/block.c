/* Pre-norm transformer block as one unit:
 *   r = x + proj(attn(ln1(x)));  y = r + fcproj(gelu(fc(ln2(r))))
 * x, r, y (B,T,C); N = B*T rows. */
#include "config.h"
#include "model/kernels.h"

#include <cblas.h>
#include <string.h>

size_t dtp_block_num_params(int C)
{
	return 12 * (size_t)C * C + 13 * (size_t)C;
}

static float *take(float *p, size_t *cur, size_t n)
{
	float *r = p ? p + *cur : NULL;

	*cur += n;
	return r;
}

/* parameters are packed back to back (the stage's parameter array is contiguous) */
size_t dtp_block_params_map(struct dtp_block_params *bp, float *p, int C)
{
	size_t c = (size_t)C, cur = 0;

	bp->ln1w = take(p, &cur, c);
	bp->ln1b = take(p, &cur, c);
	bp->qkvw = take(p, &cur, 3 * c * c);
	bp->qkvb = take(p, &cur, 3 * c);
	bp->projw = take(p, &cur, c * c);
	bp->projb = take(p, &cur, c);
	bp->ln2w = take(p, &cur, c);
	bp->ln2b = take(p, &cur, c);
	bp->fcw = take(p, &cur, 4 * c * c);
	bp->fcb = take(p, &cur, 4 * c);
	bp->fcprojw = take(p, &cur, 4 * c * c);
	bp->fcprojb = take(p, &cur, c);
	return cur;
}

size_t dtp_block_save_map(struct dtp_block_save *s, float *base, int B, int T, int C, int H)
{
	size_t n = (size_t)B * T, c = (size_t)C, cur = 0;

	s->ln1 = dtp_carve(base, &cur, n * c);
	s->mean1 = dtp_carve(base, &cur, n);
	s->rstd1 = dtp_carve(base, &cur, n);
	s->qkv = dtp_carve(base, &cur, 3 * n * c);
	s->att = dtp_carve(base, &cur, (size_t)B * H * T * T);
	s->atty = dtp_carve(base, &cur, n * c);
	s->res1 = dtp_carve(base, &cur, n * c);
	s->ln2 = dtp_carve(base, &cur, n * c);
	s->mean2 = dtp_carve(base, &cur, n);
	s->rstd2 = dtp_carve(base, &cur, n);
	s->fch = dtp_carve(base, &cur, 4 * n * c);
	s->fchg = dtp_carve(base, &cur, 4 * n * c);
	return cur;
}

size_t dtp_block_scratch_map(struct dtp_block_scratch *s, float *base, int B, int T, int C)
{
	size_t n = (size_t)B * T, c = (size_t)C, cur = 0;

	s->dres1 = dtp_carve(base, &cur, n * c);
	s->dln = dtp_carve(base, &cur, n * c);
	s->datty = dtp_carve(base, &cur, n * c);
	s->dqkv = dtp_carve(base, &cur, 3 * n * c);
	s->dfch = dtp_carve(base, &cur, 4 * n * c);
	s->datt = dtp_carve(base, &cur, (size_t)T * T);
	return cur;
}

/* x (N,C), b (C) -> out (N,C) = x + b (the residual plus the projection bias;
 * the projection's sgemm then accumulates into out with beta = 1) */
static void residual_bias(float *out, const float *x, const float *b, size_t N, int C)
{
	for (size_t r = 0; r < N; r++) {
		const float *xr = x + r * C;
		float *o = out + r * C;

		for (int j = 0; j < C; j++)
			o[j] = xr[j] + b[j];
	}
}

/* x (B,T,C) -> y (B,T,C) */
void dtp_block_forward(float *y, const float *x, const struct dtp_block_params *p,
		       const struct dtp_block_save *s, int B, int T, int C, int H)
{
	int N = B * T;

	dtp_layernorm_forward(s->ln1, s->mean1, s->rstd1, x, p->ln1w, p->ln1b, N, C);
	dtp_linear_forward(s->qkv, s->ln1, p->qkvw, p->qkvb, N, C, 3 * C, 0);
	dtp_attention_forward(s->atty, s->att, s->qkv, B, T, C, H);
	/* res1 = x + projb + atty projw^T */
	residual_bias(s->res1, x, p->projb, (size_t)N, C);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, C,
		    1.0f, s->atty, C, p->projw, C, 1.0f, s->res1, C);
	dtp_layernorm_forward(s->ln2, s->mean2, s->rstd2, s->res1, p->ln2w, p->ln2b, N, C);
	/* fch = ln2 fcw^T + fcb (the bias first, see dtp_linear_forward); fchg = gelu(fch) */
	dtp_linear_forward(s->fch, s->ln2, p->fcw, p->fcb, N, C, 4 * C, 0);
	dtp_gelu_forward(s->fchg, s->fch, (size_t)N * 4 * C);
	/* y = res1 + fcprojb + fchg fcprojw^T */
	residual_bias(y, s->res1, p->fcprojb, (size_t)N, C);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, 4 * C,
		    1.0f, s->fchg, 4 * C, p->fcprojw, 4 * C, 1.0f, y, C);
}

/* dy (B,T,C) -> dx (B,T,C); parameter grads into g (+=) */
void dtp_block_backward(float *dx, const struct dtp_block_params *g, const float *dy,
			const float *x, const struct dtp_block_params *p,
			const struct dtp_block_save *s, const struct dtp_block_scratch *sc,
			int B, int T, int C, int H)
{
	int N = B * T;
	size_t nc = (size_t)N * C;

	/* MLP branch */
	dtp_linear_backward(sc->dfch, g->fcprojw, g->fcprojb, dy, s->fchg, p->fcprojw,
			    N, 4 * C, C);
	dtp_gelu_backward(sc->dfch, sc->dfch, s->fch, nc * 4);
	dtp_linear_backward(sc->dln, g->fcw, g->fcb, sc->dfch, s->ln2, p->fcw, N, C, 4 * C);
	memcpy(sc->dres1, dy, nc * sizeof(float));
	dtp_layernorm_backward(sc->dres1, g->ln2w, g->ln2b, sc->dln, s->res1,
			       s->mean2, s->rstd2, p->ln2w, N, C);
	/* attention branch */
	dtp_linear_backward(sc->datty, g->projw, g->projb, sc->dres1, s->atty, p->projw,
			    N, C, C);
	dtp_attention_backward(sc->dqkv, sc->datt, sc->datty, s->qkv, s->att, B, T, C, H);
	dtp_linear_backward(sc->dln, g->qkvw, g->qkvb, sc->dqkv, s->ln1, p->qkvw,
			    N, C, 3 * C);
	memcpy(dx, sc->dres1, nc * sizeof(float));
	dtp_layernorm_backward(dx, g->ln1w, g->ln1b, sc->dln, x, s->mean1, s->rstd1,
			       p->ln1w, N, C);
}
