/* Pre-norm transformer block as one unit:
 *   r = x + proj(attn(ln1(x)));  y = r + fcproj(gelu(fc(ln2(r))))
 * x, r, y (B,T,C); N = B*T rows. */
#include "config.h"
#include "model/kernels.h"
#include "model/pool.h"

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

size_t dtp_block_scratch_map(struct dtp_block_scratch *s, float *base, int B, int T, int C,
			     int nw)
{
	size_t n = (size_t)B * T, c = (size_t)C, cur = 0;

	s->dres1 = dtp_carve(base, &cur, n * c);
	s->dln = dtp_carve(base, &cur, n * c);
	s->datty = dtp_carve(base, &cur, n * c);
	s->dqkv = dtp_carve(base, &cur, 3 * n * c);
	s->dfch = dtp_carve(base, &cur, 4 * n * c);
	s->datt = dtp_carve(base, &cur, (size_t)nw * T * T);
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

/* ---- the pool's shares: each participant takes whole (b, h) pairs, whole
 * layernorm rows, or 64-float runs of GELU elements (so every share starts
 * with the base pointer's alignment and vectorizes the same way) */
struct par_job {
	float *out, *mean, *rstd, *scratch, *attw;
	const float *in, *dout, *w, *b, *qkv, *att;
	size_t n;
	int B, T, C, H;
};

static void par_attn_fwd(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->B * j->H, 1, w, nw, &lo, &hi);
	dtp_attention_forward_pairs(j->out, j->attw, j->qkv, j->B, j->T, j->C, j->H,
				    (int)lo, (int)hi);
}

static void par_attn_bwd(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->B * j->H, 1, w, nw, &lo, &hi);
	dtp_attention_backward_pairs(j->out, j->scratch + (size_t)w * j->T * j->T, j->dout,
				     j->qkv, j->att, j->B, j->T, j->C, j->H, (int)lo, (int)hi);
}

static void par_ln_fwd(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi, c = (size_t)j->C;

	dtp_pool_share(j->n, 1, w, nw, &lo, &hi);
	if (hi > lo)
		dtp_layernorm_forward(j->out + lo * c, j->mean + lo, j->rstd + lo,
				      j->in + lo * c, j->w, j->b, (int)(hi - lo), j->C);
}

static void par_gelu_fwd(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_forward(j->out + lo, j->in + lo, hi - lo);
}

static void par_gelu_bwd(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_backward(j->out + lo, j->dout + lo, j->in + lo, hi - lo);
}

/* The attention's per-pair sgemms (128x128x64 for the small gpt) are over
 * OpenBLAS's threading threshold: with OPENBLAS_NUM_THREADS=2 each call
 * would split across OpenBLAS's own threads, which gains nothing at this
 * size and, called from every pool participant at once, oversubscribes the
 * cores (measured slower than serial). So OpenBLAS runs one thread per call
 * while the pool shares the pairs, and gets its count back afterwards. This
 * is OpenBLAS's process-wide setting: another thread's sgemm in that window
 * runs on one thread (slower, never different: OpenBLAS's split of a gemm
 * does not change its sums). */
static void run_blas_region(struct dtp_pool *pool, dtp_pool_fn *fn, void *arg)
{
	int nb;

	if (!pool) {
		fn(arg, 0, 1);
		return;
	}
	nb = openblas_get_num_threads();
	if (nb > 1)
		openblas_set_num_threads(1);
	dtp_pool_run(pool, fn, arg);
	if (nb > 1)
		openblas_set_num_threads(nb);
}

static void layernorm_fwd(struct dtp_pool *pool, float *out, float *mean, float *rstd,
			  const float *in, const float *w, const float *b, int N, int C)
{
	struct par_job j = { .out = out, .mean = mean, .rstd = rstd, .in = in, .w = w, .b = b,
			     .n = (size_t)N, .C = C };

	dtp_pool_run(pool, par_ln_fwd, &j);
}

/* x (B,T,C) -> y (B,T,C) */
void dtp_block_forward(struct dtp_pool *pool, float *y, const float *x, const struct dtp_block_params *p,
		       const struct dtp_block_save *s, int B, int T, int C, int H)
{
	int N = B * T;

	struct par_job j = { .B = B, .T = T, .C = C, .H = H };

	layernorm_fwd(pool, s->ln1, s->mean1, s->rstd1, x, p->ln1w, p->ln1b, N, C);
	dtp_linear_forward(s->qkv, s->ln1, p->qkvw, p->qkvb, N, C, 3 * C, 0);
	j.out = s->atty;
	j.attw = s->att;
	j.qkv = s->qkv;
	run_blas_region(pool, par_attn_fwd, &j);
	/* res1 = x + projb + atty projw^T */
	residual_bias(s->res1, x, p->projb, (size_t)N, C);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, C,
		    1.0f, s->atty, C, p->projw, C, 1.0f, s->res1, C);
	layernorm_fwd(pool, s->ln2, s->mean2, s->rstd2, s->res1, p->ln2w, p->ln2b, N, C);
	/* fch = ln2 fcw^T + fcb (the bias first, see dtp_linear_forward); fchg = gelu(fch) */
	dtp_linear_forward(s->fch, s->ln2, p->fcw, p->fcb, N, C, 4 * C, 0);
	j.out = s->fchg;
	j.in = s->fch;
	j.n = (size_t)N * 4 * C;
	dtp_pool_run(pool, par_gelu_fwd, &j);
	/* y = res1 + fcprojb + fchg fcprojw^T */
	residual_bias(y, s->res1, p->fcprojb, (size_t)N, C);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, 4 * C,
		    1.0f, s->fchg, 4 * C, p->fcprojw, 4 * C, 1.0f, y, C);
}

/* dy (B,T,C) -> dx (B,T,C); parameter grads into g (+=) */
void dtp_block_backward(struct dtp_pool *pool, float *dx, const struct dtp_block_params *g, const float *dy,
			const float *x, const struct dtp_block_params *p,
			const struct dtp_block_save *s, const struct dtp_block_scratch *sc,
			int B, int T, int C, int H)
{
	int N = B * T;
	size_t nc = (size_t)N * C;
	struct par_job j = { .B = B, .T = T, .C = C, .H = H };

	/* MLP branch */
	dtp_linear_backward(sc->dfch, g->fcprojw, g->fcprojb, dy, s->fchg, p->fcprojw,
			    N, 4 * C, C);
	j.out = sc->dfch;
	j.dout = sc->dfch;
	j.in = s->fch;
	j.n = nc * 4;
	dtp_pool_run(pool, par_gelu_bwd, &j);
	dtp_linear_backward(sc->dln, g->fcw, g->fcb, sc->dfch, s->ln2, p->fcw, N, C, 4 * C);
	memcpy(sc->dres1, dy, nc * sizeof(float));
	dtp_layernorm_backward(sc->dres1, g->ln2w, g->ln2b, sc->dln, s->res1,
			       s->mean2, s->rstd2, p->ln2w, N, C);
	/* attention branch */
	dtp_linear_backward(sc->datty, g->projw, g->projb, sc->dres1, s->atty, p->projw,
			    N, C, C);
	j.out = sc->dqkv;
	j.scratch = sc->datt;
	j.dout = sc->datty;
	j.qkv = s->qkv;
	j.att = s->att;
	run_blas_region(pool, par_attn_bwd, &j);
	dtp_linear_backward(sc->dln, g->qkvw, g->qkvb, sc->dqkv, s->ln1, p->qkvw,
			    N, C, 3 * C);
	memcpy(dx, sc->dres1, nc * sizeof(float));
	dtp_layernorm_backward(dx, g->ln1w, g->ln1b, sc->dln, x, s->mean1, s->rstd1,
			       p->ln1w, N, C);
}
