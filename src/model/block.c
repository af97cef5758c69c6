/* Pre-norm transformer block as one unit:
 *   r = x + proj(attn(ln1(x)));  y = r + fcproj(gelu(fc(ln2(r))))
 * x, r, y (B,T,C); N = B*T rows. */
#include "config.h"
#include "model/kernels.h"
#include "model/pool.h"
#include "model/dnnl_matmul.h"
#include "model/dnnl_attention.h"
#include "model/bf16.h"
#include "model/block_shared.h"

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

size_t dtp_block_scratch_map(struct dtp_block_scratch *s, float *base, int B, int T, int C,
			     int nw)
{
	size_t n = (size_t)B * T, c = (size_t)C, cur = 0;

	s->dres1 = dtp_carve(base, &cur, n * c);
	s->dln = dtp_carve(base, &cur, n * c);
	s->datty = dtp_carve(base, &cur, n * c);
	s->dqkv = dtp_carve(base, &cur, 3 * n * c);
	s->dfch = dtp_carve(base, &cur, 4 * n * c);
	s->dln1 = dtp_carve(base, &cur, n * c);
	s->datt = dtp_carve(base, &cur, (size_t)nw * T * T);
	s->part = dtp_carve(base, &cur, (n + DTP_SUM_ROWS - 1) / DTP_SUM_ROWS * 4 * c);
	return cur;
}

size_t dtp_block_wgrad_map(struct dtp_block_wgrad *w, float *base, int B, int T, int C)
{
	size_t n = (size_t)B * T, c = (size_t)C, cur = 0;

	w->dfch = dtp_carve(base, &cur, 4 * n * c);
	w->dln2 = dtp_carve(base, &cur, n * c);
	w->dres1 = dtp_carve(base, &cur, n * c);
	w->dqkv = dtp_carve(base, &cur, 3 * n * c);
	w->dln1 = dtp_carve(base, &cur, n * c);
	return cur;
}

static void par_attn_fwd(void *v, int w, int nw)
{
	const struct dtp_attn_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->B * j->H, 1, w, nw, &lo, &hi);
	dtp_attention_forward_pairs(j->out, j->attw, j->qkv, j->B, j->T, j->C, j->H,
				    (int)lo, (int)hi);
}


struct gelu_fill {
	float *in;      /* fch: gelu'(fch) once the fill has run */
	int W;
	uint16_t *out16;        /* gelu_post: fchg's bf16 */
};

static void gelu_fill(void *v, float *tile, int r0, int r1)
{
	const struct gelu_fill *f = v;
	float *in = f->in + (size_t)r0 * f->W;

	dtp_gelu_forward_keep(tile, in, in, (size_t)(r1 - r0) * f->W);
}

/* the same on a tile of fc's output (dtp_bf16_linear_forward16_produce):
 * gelu(fch) and gelu'(fch) straight to bf16, into fchg's slot and fch's */
static void gelu_post(void *v, float *tile, int r0, int r1)
{
	const struct gelu_fill *f = v;
	size_t o = (size_t)r0 * f->W;

	dtp_gelu_forward_keep16(f->out16 + o, dtp_half16(f->in) + o, tile,
				(size_t)(r1 - r0) * f->W);
}

/* fp32 on oneDNN (dtp_f32_linear_forward_post): fch's rows, made in
 * fchg's, become gelu(fch) there; fch's slot gets gelu'(fch) */
static void gelu32_post(void *v, float *rows, int r0, int r1)
{
	const struct gelu_fill *f = v;

	dtp_gelu_forward_keep(rows, f->in + (size_t)r0 * f->W, rows, (size_t)(r1 - r0) * f->W);
}

struct qkv_post {
	const struct dtp_bf16_attn *a;
	uint16_t *qkv16;
};

/* a tile of qkv's output into the attention's bf16 copy, by head */
static void qkv_post(void *v, float *tile, int r0, int r1)
{
	const struct qkv_post *q = v;

	dtp_bf16_attn_keep_rows(q->a, q->qkv16, tile, r0, r1);
}

/* out (N,OC) = b + in16 w^T (b NULL: += in16 w^T) */
static void fwd16(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
		  const uint16_t *in16, const float *w, const float *b, int N, int IC, int OC)
{
	if (b && dtp_bf16_linear_forward16_bias(mx, out, in16, w, b, N, IC, OC))
		return;         /* the bias in the matmul: no pass to put it in C */
	if (b)
		dtp_par_add_rows(pool, out, NULL, b, N, OC);
	dtp_bf16_linear_forward16(mx, out, in16, w, N, IC, OC, 1);
}

/* x (B,T,C) -> y (B,T,C) */
void dtp_block_forward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *y, const float *x, const struct dtp_block_params *p,
		       const struct dtp_block_save *s, int B, int T, int C, int H)
{
	int N = B * T;
	struct dtp_attn_job j = { .out = s->atty, .attw = s->att, .qkv = s->qkv,
			      .B = B, .T = T, .C = C, .H = H };

	if (dtp_bf16_mm_attention(mx)) {    /* bf16 (see above) */
		struct gelu_fill gf = { s->fch, 4 * C, dtp_half16(s->fchg) };
		struct qkv_post qp = { dtp_bf16_mm_attention(mx), dtp_half16(s->qkv) };

		/* ln1, and res1 = x + projb in the same pass over x */
		dtp_layernorm_forward16_res(mx, dtp_half16(s->ln1), s->mean1, s->rstd1, x, p->ln1w,
					    p->ln1b, s->res1, p->projb, N, C);
		/* qkv and fc: their fp32 outputs only in the engine's tiles, where
		 * the shapes allow (a full micro-batch) */
		if (dtp_bf16_linear_forward16_produce(mx, NULL, dtp_half16(s->ln1), p->qkvw, p->qkvb,
						      N, C, 3 * C, qkv_post, &qp)) {
			dtp_bf16_attn_forward_keep(dtp_bf16_mm_attention(mx), dtp_half16(s->atty),
						   s->att, dtp_half16(s->qkv), NULL, B);
		} else {
			fwd16(pool, mx, s->fch, dtp_half16(s->ln1), p->qkvw, p->qkvb, N, C, 3 * C);
			dtp_bf16_attn_forward_keep(dtp_bf16_mm_attention(mx), dtp_half16(s->atty),
						   s->att, dtp_half16(s->qkv), s->fch, B);
		}
		fwd16(pool, mx, s->res1, dtp_half16(s->atty), p->projw, NULL, N, C, C);
		/* ln2, and y = res1 + fcprojb in the same pass over res1 */
		dtp_layernorm_forward16_res(mx, dtp_half16(s->ln2), s->mean2, s->rstd2, s->res1,
					    p->ln2w, p->ln2b, y, p->fcprojb, N, C);
		if (!dtp_bf16_linear_forward16_produce(mx, NULL, dtp_half16(s->ln2), p->fcw, p->fcb,
						       N, C, 4 * C, gelu_post, &gf)) {
			fwd16(pool, mx, s->fch, dtp_half16(s->ln2), p->fcw, p->fcb, N, C, 4 * C);
			dtp_bf16_mm_produce(mx, dtp_half16(s->fchg), N, 4 * C, gelu_fill, &gf);
			/* gelu'(fch) to bf16 in place: one pass, in order (each
			 * value is read before its bf16 lands at or before it) */
			dtp_bf16_from_f32(dtp_half16(s->fch), s->fch, (size_t)N * 4 * C);
		}
		fwd16(pool, mx, y, dtp_half16(s->fchg), p->fcprojw, NULL, N, 4 * C, C);
		return;
	}
	struct gelu_fill gf32 = { s->fch, 4 * C, NULL };

	/* ln1, and res1 = x + projb in the same pass over x */
	dtp_par_layernorm_forward_res(pool, s->ln1, s->mean1, s->rstd1, x, p->ln1w, p->ln1b,
				      s->res1, p->projb, N, C);
	dtp_linear_forward_mx(pool, mx, s->qkv, s->ln1, p->qkvw, p->qkvb, N, C, 3 * C, 0);
	if (dtp_f32_mm_attention(mx))   /* fp32_matmul = onednn */
		dtp_f32_attn_forward(dtp_f32_mm_attention(mx), s->atty, s->att, s->qkv, B);
	else
		dtp_pool_run(pool, par_attn_fwd, &j);   /* block_shared.h */
	/* res1 = x + projb + atty projw^T (the residual and the bias in C first,
	 * then a beta = 1 sgemm, see dtp_linear_forward); ln2, and y = res1 +
	 * fcprojb in the same pass over res1 (nothing reads x or y until the
	 * end) */
	dtp_linear_acc_mx(pool, mx, s->res1, s->atty, p->projw, N, C, C);
	dtp_par_layernorm_forward_res(pool, s->ln2, s->mean2, s->rstd2, s->res1, p->ln2w,
				      p->ln2b, y, p->fcprojb, N, C);
	/* fch = ln2 fcw^T + fcb; fchg = gelu(fch), fch's slot = gelu'(fch):
	 * on oneDNN by tiles, fch's rows made in fchg's and the GELU run on
	 * them in cache (fch itself never stored) */
	if (!dtp_f32_linear_forward_post(mx, s->fchg, s->ln2, p->fcw, p->fcb, N, C, 4 * C,
					 gelu32_post, &gf32)) {
		dtp_linear_forward_mx(pool, mx, s->fch, s->ln2, p->fcw, p->fcb, N, C, 4 * C, 0);
		dtp_par_gelu_forward_keep(pool, s->fchg, s->fch, (size_t)N * 4 * C);
	}
	/* y = res1 + fcprojb + fchg fcprojw^T */
	dtp_linear_acc_mx(pool, mx, y, s->fchg, p->fcprojw, N, 4 * C, C);
}

