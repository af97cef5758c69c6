/* The transformer block's backward: B (dtp_block_backward_input), the
 * input gradient and the output gradients W reads, and W
 * (dtp_block_backward_weight), the parameter gradients; the whole backward
 * is B then W. */
#include "config.h"
#include "model/kernels.h"
#include "model/pool.h"
#include "model/dnnl_matmul.h"
#include "model/dnnl_attention.h"
#include "model/bf16.h"
#include "model/block_shared.h"

static void par_attn_bwd(void *v, int w, int nw)
{
	const struct dtp_attn_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->B * j->H, 1, w, nw, &lo, &hi);
	dtp_attention_backward_pairs(j->out, j->scratch + (size_t)w * j->T * j->T, j->dout,
				     j->qkv, j->att, j->B, j->T, j->C, j->H, (int)lo, (int)hi);
}

/* ---- bf16's B: each output gradient a matmul reads is converted where it
 * is produced (GELU backward, ln2's backward, the attention), a chunk at a
 * time while it is in cache, into the engine's gradient copy the input
 * gradient's matmul reads (dtp_bf16_mm_produce_grad); the fp32 values stay
 * in wg for W's bias sums. The same values: the same bits. */
struct gelu_bwd_fill {
	const uint16_t *gp;     /* gelu'(fch) in bf16, left by the forward */
	float *part;            /* wg->sums: fc's bias sums' block partials, or NULL */
	size_t ldp;             /* part's rows apart (sc->part's: 4C) */
	int W;
	uint16_t *d16;          /* gelu_bwd_post: dfch's bf16 */
};

/* with part, each chunk's column sums as it is produced (colsum.c: folded
 * after the region, W's bits on any split) */
static void gelu_bwd_fill(void *v, float *tile, int r0, int r1)
{
	const struct gelu_bwd_fill *f = v;

	dtp_bf16_mul(tile, tile, f->gp + (size_t)r0 * f->W, (size_t)(r1 - r0) * f->W);
	if (f->part)
		dtp_colsum_part_rows(f->part, f->ldp, tile, f->W, r0, r1, f->W);
}

/* the same on a tile of the matmul's rows (dtp_bf16_linear_dgrad_produce),
 * their bf16 written in the same pass as the product */
static void gelu_bwd_post(void *v, float *tile, int r0, int r1)
{
	const struct gelu_bwd_fill *f = v;
	size_t o = (size_t)r0 * f->W;

	dtp_bf16_mul_keep(tile, f->d16 + o, tile, f->gp + o, (size_t)(r1 - r0) * f->W);
	if (f->part)
		dtp_colsum_part_rows(f->part, f->ldp, tile, f->W, r0, r1, f->W);
}

/* a layer norm's backward: din (N,C) rows = dres + the backward of dout
 * through the norm of in (w), as dtp_par_layernorm_backward's; with part
 * (wg->sums), the norm's gradients' block partials at part + C (w) and
 * + 2C (b), and with db also din's column sums' at part (proj's bias) */
struct ln_bwd_fill {
	float *din;
	const float *dres, *dout, *in, *mean, *rstd, *w;
	float *part;
	size_t ldp;
	int db, C;
};

static void ln_bwd_rows(void *v, int r0, int r1)
{
	const struct ln_bwd_fill *f = v;
	size_t o = (size_t)r0 * f->C, ld = f->ldp;

	dtp_layernorm_backward_rows(f->din, f->dres, f->dout, f->in, f->mean, f->rstd, f->w, r0,
				    r1, f->C);
	if (!f->part)
		return;
	if (f->db)
		dtp_colsum_part_rows(f->part, ld, f->din + o, f->C, r0, r1, f->C);
	dtp_layernorm_part_rows(f->part + f->C, f->part + 2 * f->C, ld, f->dout + o, f->in + o,
				f->mean + r0, f->rstd + r0, r0, r1, f->C);
}

static void ln_bwd_fill(void *v, float *tile, int r0, int r1)
{
	(void)tile;     /* din's rows [r0, r1) */
	ln_bwd_rows(v, r0, r1);
}

/* ln_bwd_rows' partials folded onto the norm's gradients gw, gb (and db) */
static void ln_fold(const struct ln_bwd_fill *f, float *gw, float *gb, float *db, int N)
{
	size_t ld = f->ldp;

	if (db)
		dtp_colsum_fold(db, f->part, ld, N, f->C);
	dtp_colsum_fold(gw, f->part + f->C, ld, N, f->C);
	dtp_colsum_fold(gb, f->part + 2 * f->C, ld, N, f->C);
}

/* wg->sums' layer-norm pass on its own: the rows on the pool, 32 at a time
 * while in cache, then the partials folded */
static void ln_backward_sums(struct dtp_pool *pool, float *part, float *din, const float *dres,
			     const float *dout, const float *in, const float *mean,
			     const float *rstd, const float *w, float *gw, float *gb, float *db,
			     int N, int C)
{
	struct ln_bwd_fill f = { din, dres, dout, in, mean, rstd, w, part, 4 * (size_t)C,
				 db != NULL, C };

	dtp_par_rows(pool, N, 32, ln_bwd_rows, &f);
	ln_fold(&f, gw, gb, db, N);
}

struct gelu32_bwd {
	const float *gp;        /* gelu'(fch), left by the forward */
	float *d;               /* dfch: its matmul's rows, made gelu'(fch) * them */
	float *part;            /* wg->sums: fc's bias sums' block partials, or NULL */
	int W;                  /* 4C: part's rows are W apart */
};

/* fp32: rows [r0, r1) of d (d at row r0) = gelu'(fch) * themselves, in
 * place, with part their column sums' block partials, 8 rows (32 KiB of a
 * 4C-wide layer of C = 256) at a time */
static void gelu32_chunks(const struct gelu32_bwd *f, float *d, int r0, int r1)
{
	for (int a = r0; a < r1; a += 8) {
		int b = r1 - a < 8 ? r1 : a + 8;
		size_t o = (size_t)(a - r0) * f->W;

		dtp_gelu_backward_kept(d + o, d + o, f->gp + (size_t)a * f->W,
				       (size_t)(b - a) * f->W);
		if (f->part)
			dtp_colsum_part_rows(f->part, (size_t)f->W, d + o, f->W, a, b, f->W);
	}
}

static void gelu32_bwd_rows(void *v, int r0, int r1)
{
	const struct gelu32_bwd *f = v;

	gelu32_chunks(f, f->d + (size_t)r0 * f->W, r0, r1);
}

/* fp32 on oneDNN (dtp_f32_linear_dgrad_post): dfch's rows = gelu'(fch) *
 * their matmul's, in place on the tile */
static void gelu32_bwd_post(void *v, float *rows, int r0, int r1)
{
	gelu32_chunks(v, rows, r0, r1);
}

/* where B leaves the bf16 copies of dfch and dqkv: the engine's gradient
 * copy, overwritten by the next; or, when W follows at once (wg->kept16)
 * and N is the planned row count, kept for W: dfch's in the engine's input
 * copy (unused by the block's B: its matmul inputs are the save slot's),
 * dqkv's in the gradient copy after dres1's (N*C + N*3C <= its rows x 4C) */
struct kept16 {
	uint16_t *dres1, *dfch, *dqkv;
	int keep;
	const struct dtp_block_params *sums;    /* wg->sums when kept, else NULL */
	int qkvb;       /* sums, and B adds qkv's bias sums in the attention (a
			 * sequence is whole blocks of colsum.c's); else W does */
};

static void kept16_of(struct dtp_bf16_mm *mx, const struct dtp_block_wgrad *wg, int N, int T,
		      int C, struct kept16 *k)
{
	uint16_t *g16 = dtp_bf16_mm_grad16(mx);

	k->keep = wg->kept16 && dtp_bf16_mm_full(mx, N);
	k->sums = k->keep ? wg->sums : NULL;
	k->qkvb = k->sums && T % DTP_SUM_ROWS == 0;
	k->dres1 = g16;
	k->dfch = k->keep ? dtp_bf16_mm_input16(mx) : g16;
	k->dqkv = k->keep ? g16 + (size_t)N * C : g16;
}

static void backward_input16(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx,
			     const struct dtp_block_wgrad *wg, const float *x,
			     const struct dtp_block_params *p, const struct dtp_block_save *s,
			     const struct dtp_block_scratch *sc, int B, int T, int C)
{
	int N = B * T;
	struct kept16 k;

	kept16_of(mx, wg, N, T, C, &k);

	float *part = k.sums ? sc->part : NULL;
	size_t ldp = 4 * (size_t)C;
	struct gelu_bwd_fill gf = { dtp_half16(s->fch), part, ldp, 4 * C, k.dfch };
	struct ln_bwd_fill lf = { wg->dres1, wg->dy, wg->dln2, s->res1, s->mean2, s->rstd2,
				  p->ln2w, part, ldp, 1, C };

	/* MLP branch: dfch = gelu'(fch) * (dy fcprojw), then dln2 = dfch fcw
	 * (gelu'(fch) in fch's slot) */
	if (!dtp_bf16_linear_dgrad_produce(mx, k.sums ? NULL : wg->dfch, k.dfch, wg->dy,
					   p->fcprojw, N, 4 * C, C, gelu_bwd_post, &gf)) {
		dtp_linear_backward_mx(pool, mx, wg->dfch, NULL, NULL, wg->dy, NULL, p->fcprojw, N,
				       4 * C, C, 1);
		dtp_bf16_mm_produce_grad(mx, wg->dfch, k.dfch, N, 4 * C, gelu_bwd_fill, &gf);
	}
	if (k.sums)
		dtp_colsum_fold(k.sums->fcb, part, ldp, N, 4 * C);
	dtp_bf16_linear_dgrad16(mx, wg->dln2, k.dfch, p->fcw, N, C, 4 * C);
	/* dres1 = dy + d(ln2 input); the attention branch */
	dtp_bf16_mm_produce_grad(mx, wg->dres1, k.dres1, N, C, ln_bwd_fill, &lf);
	if (k.sums)
		ln_fold(&lf, k.sums->ln2w, k.sums->ln2b, k.sums->projb, N);
	dtp_bf16_linear_dgrad16(mx, sc->datty, k.dres1, p->projw, N, C, C);
	if (k.qkvb) {   /* qkv's bias sums in the scatter; no fp32 dqkv */
		dtp_bf16_attn_backward16_sums(dtp_bf16_mm_attention(mx), part, ldp, k.dqkv,
					      sc->datty, dtp_half16(s->qkv), s->att, B);
		dtp_colsum_fold(k.sums->qkvb, part, ldp, N, 3 * C);
	} else {
		dtp_bf16_attn_backward16(dtp_bf16_mm_attention(mx), wg->dqkv, k.dqkv, sc->datty,
					 dtp_half16(s->qkv), s->att, B);
	}
	dtp_bf16_linear_dgrad16(mx, wg->dln1, k.dqkv, p->qkvw, N, C, 3 * C);
	/* dx = dres1 + d(ln1 input) */
	if (k.sums)
		ln_backward_sums(pool, part, dx, wg->dres1, wg->dln1, x, s->mean1, s->rstd1,
				 p->ln1w, k.sums->ln1w, k.sums->ln1b, NULL, N, C);
	else
		dtp_par_layernorm_backward(pool, dx, wg->dres1, NULL, NULL, wg->dln1, x, s->mean1,
					   s->rstd1, p->ln1w, N, C);
}

/* fp32 with the attention on oneDNN and wg->sums: B adds qkv's bias sums
 * as the attention makes dqkv (a sequence is whole blocks of colsum.c's),
 * and W leaves them out */
static int f32_qkvb_in_b(struct dtp_bf16_mm *mx, const struct dtp_block_wgrad *wg, int T)
{
	return wg->sums && dtp_f32_mm_attention(mx) && T % DTP_SUM_ROWS == 0;
}

/* B: wg->dy (B,T,C) -> dx (B,T,C), and the output gradients W reads into wg */
void dtp_block_backward_input(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx,
			      const struct dtp_block_wgrad *wg, const float *x,
			      const struct dtp_block_params *p, const struct dtp_block_save *s,
			      const struct dtp_block_scratch *sc, int B, int T, int C, int H)
{
	int N = B * T;
	struct dtp_attn_job j = { .out = wg->dqkv, .scratch = sc->datt, .dout = sc->datty,
			      .qkv = s->qkv, .att = s->att, .B = B, .T = T, .C = C, .H = H };

	if (dtp_bf16_mm_attention(mx)) {
		backward_input16(pool, mx, dx, wg, x, p, s, sc, B, T, C);
		return;
	}
	/* MLP branch (wg->sums: fc's bias sums as dfch is made); on oneDNN the
	 * GELU's backward on each tile of dfch as its matmul makes it */
	float *part = wg->sums ? sc->part : NULL;
	struct gelu32_bwd gb = { s->fch, wg->dfch, part, 4 * C };

	if (!dtp_f32_linear_dgrad_post(mx, wg->dfch, wg->dy, p->fcprojw, N, 4 * C, C,
				       gelu32_bwd_post, &gb)) {
		dtp_linear_backward_mx(pool, mx, wg->dfch, NULL, NULL, wg->dy, NULL, p->fcprojw, N,
				       4 * C, C, 1);
		if (part)
			dtp_par_rows(pool, N, 64, gelu32_bwd_rows, &gb);
		else
			dtp_par_gelu_backward_kept(pool, wg->dfch, wg->dfch, s->fch,
						   (size_t)N * 4 * C);
	}
	if (part)
		dtp_colsum_fold(wg->sums->fcb, part, 4 * (size_t)C, N, 4 * C);
	dtp_linear_backward_mx(pool, mx, wg->dln2, NULL, NULL, wg->dfch, NULL, p->fcw, N, C,
			       4 * C, 1);
	/* dres1 = dy + d(ln2 input) (wg->sums: proj's bias sums, ln2's gradients) */
	if (wg->sums)
		ln_backward_sums(pool, part, wg->dres1, wg->dy, wg->dln2, s->res1, s->mean2,
				 s->rstd2, p->ln2w, wg->sums->ln2w, wg->sums->ln2b,
				 wg->sums->projb, N, C);
	else
		dtp_par_layernorm_backward(pool, wg->dres1, wg->dy, NULL, NULL, wg->dln2, s->res1,
					   s->mean2, s->rstd2, p->ln2w, N, C);
	/* attention branch */
	dtp_linear_backward_mx(pool, mx, sc->datty, NULL, NULL, wg->dres1, NULL, p->projw, N, C, C,
			       1);
	if (f32_qkvb_in_b(mx, wg, T)) {
		dtp_f32_attn_backward_sums(dtp_f32_mm_attention(mx), wg->dqkv, part, 4 * (size_t)C,
					   sc->datty, s->qkv, s->att, B);
		dtp_colsum_fold(wg->sums->qkvb, part, 4 * (size_t)C, N, 3 * C);
	} else if (dtp_f32_mm_attention(mx)) {  /* fp32_matmul = onednn */
		dtp_f32_attn_backward(dtp_f32_mm_attention(mx), wg->dqkv, sc->datty, s->qkv, s->att,
				      B);
	} else {
		dtp_pool_run(pool, par_attn_bwd, &j);   /* block_shared.h */
	}
	dtp_linear_backward_mx(pool, mx, wg->dln1, NULL, NULL, wg->dqkv, NULL, p->qkvw, N, C,
			       3 * C, 1);
	/* dx = dres1 + d(ln1 input) (wg->sums: ln1's gradients) */
	if (wg->sums)
		ln_backward_sums(pool, part, dx, wg->dres1, wg->dln1, x, s->mean1, s->rstd1,
				 p->ln1w, wg->sums->ln1w, wg->sums->ln1b, NULL, N, C);
	else
		dtp_par_layernorm_backward(pool, dx, wg->dres1, NULL, NULL, wg->dln1, x, s->mean1,
					   s->rstd1, p->ln1w, N, C);
}

/* W: parameter gradients into g (+=; acc 0: the matrices =) from the output
 * gradients B kept in wg */
void dtp_block_backward_weight(struct dtp_pool *pool, struct dtp_bf16_mm *mx,
			       const struct dtp_block_params *g, const struct dtp_block_wgrad *wg,
			       const float *x, const struct dtp_block_save *s, int B, int T, int C,
			       int acc)
{
	int N = B * T;

	/* bf16: the forward's copies (see above); B's copies of the output
	 * gradients when it kept them (qkv's and proj's first: fcproj's
	 * conversion of dy overwrites them), else each one's bias sums and
	 * conversion in one pass */
	if (dtp_bf16_mm_attention(mx)) {
		struct kept16 k;

		kept16_of(mx, wg, N, T, C, &k);
		if (k.keep) {   /* with k.sums, B added proj's and fc's bias sums
				 * (and with k.qkvb, qkv's) */
			dtp_bf16_linear_wgrad16_db(mx, g->qkvw, k.qkvb ? NULL : g->qkvb, wg->dqkv,
						   k.dqkv, dtp_half16(s->ln1), N, C, 3 * C, acc);
			dtp_bf16_linear_wgrad16_db(mx, g->projw, k.sums ? NULL : g->projb,
						   wg->dres1, k.dres1, dtp_half16(s->atty), N, C, C,
						   acc);
			dtp_bf16_linear_wgrad16_db(mx, g->fcw, k.sums ? NULL : g->fcb, wg->dfch,
						   k.dfch, dtp_half16(s->ln2), N, C, 4 * C, acc);
		}
		dtp_bf16_linear_wgrad16_db(mx, g->fcprojw, g->fcprojb, wg->dy, NULL,
					   dtp_half16(s->fchg), N, 4 * C, C, acc);
		if (!k.keep) {
			dtp_bf16_linear_wgrad16_db(mx, g->fcw, g->fcb, wg->dfch, NULL,
						   dtp_half16(s->ln2), N, C, 4 * C, acc);
			dtp_bf16_linear_wgrad16_db(mx, g->projw, g->projb, wg->dres1, NULL,
						   dtp_half16(s->atty), N, C, C, acc);
			dtp_bf16_linear_wgrad16_db(mx, g->qkvw, g->qkvb, wg->dqkv, NULL,
						   dtp_half16(s->ln1), N, C, 3 * C, acc);
		}
		if (k.sums)     /* and both layer norms' */
			return;
		dtp_par_layernorm_backward(pool, NULL, NULL, g->ln2w, g->ln2b, wg->dln2, s->res1,
					   s->mean2, s->rstd2, NULL, N, C);
		dtp_par_layernorm_backward(pool, NULL, NULL, g->ln1w, g->ln1b, wg->dln1, x, s->mean1,
					   s->rstd1, NULL, N, C);
		return;
	}
	/* wg->sums: B added fc's and proj's bias sums and both layer norms' */
	dtp_linear_backward_mx(pool, mx, NULL, g->fcprojw, g->fcprojb, wg->dy, s->fchg, NULL, N,
			       4 * C, C, acc);
	dtp_linear_backward_mx(pool, mx, NULL, g->fcw, wg->sums ? NULL : g->fcb, wg->dfch, s->ln2,
			       NULL, N, C, 4 * C, acc);
	if (!wg->sums)
		dtp_par_layernorm_backward(pool, NULL, NULL, g->ln2w, g->ln2b, wg->dln2, s->res1,
					   s->mean2, s->rstd2, NULL, N, C);
	dtp_linear_backward_mx(pool, mx, NULL, g->projw, wg->sums ? NULL : g->projb, wg->dres1,
			       s->atty, NULL, N, C, C, acc);
	dtp_linear_backward_mx(pool, mx, NULL, g->qkvw, f32_qkvb_in_b(mx, wg, T) ? NULL : g->qkvb,
			       wg->dqkv, s->ln1, NULL, N, C, 3 * C, acc);
	if (!wg->sums)
		dtp_par_layernorm_backward(pool, NULL, NULL, g->ln1w, g->ln1b, wg->dln1, x,
					   s->mean1, s->rstd1, NULL, N, C);
}

/* dy (B,T,C) -> dx (B,T,C); parameter grads into g (+=): B then W, with the
 * output gradients in the scratch */
void dtp_block_backward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx, const struct dtp_block_params *g, const float *dy,
			const float *x, const struct dtp_block_params *p,
			const struct dtp_block_save *s, const struct dtp_block_scratch *sc,
			int B, int T, int C, int H)
{
	struct dtp_block_wgrad wg = { .dy = dy, .dfch = sc->dfch, .dln2 = sc->dln,
				      .dres1 = sc->dres1, .dqkv = sc->dqkv, .dln1 = sc->dln1,
				      .kept16 = 1 };

	dtp_block_backward_input(pool, mx, dx, &wg, x, p, s, sc, B, T, C, H);
	dtp_block_backward_weight(pool, mx, g, &wg, x, s, B, T, C, 1);
}
