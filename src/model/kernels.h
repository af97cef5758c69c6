/* Internal kernels of the model core: one function per layer operation, every
 * matmul through cblas_sgemm (row-major). Shapes are given as (rows, cols);
 * N = B*T rows for the gpt, N = B for the mlp. Backward kernels ADD parameter
 * gradients (+=) so micro-batches accumulate; input gradients are written
 * (=) unless a kernel says it accumulates. Those taking `acc` write their
 * weight matrices (=) when it is 0: the step's first micro-batch, instead of
 * adding onto zeroed gradients (backward.c; the same bits). No kernel allocates.
 * Not part of the public API: only src/model and its tests include this. */
#ifndef DTP_MODEL_KERNELS_H
#define DTP_MODEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- linear.c */
struct dtp_pool;
/* pool: NULL runs on the caller; otherwise the sgemms and the bias rows are
 * shared over it (par.c), with the same results. */
/* in (N,IC), w (OC,IC), b (OC) or NULL -> out (N,OC) = in w^T + b.
 * relu != 0 applies max(0, .) in the same pass as the bias. */
void dtp_linear_forward(struct dtp_pool *pool, float *out, const float *in, const float *w,
			const float *b, int N, int IC, int OC, int relu);
/* dout (N,OC), in (N,IC), w (OC,IC) -> dw (OC,IC) += (acc 0: =), db (OC) += (if not NULL),
 * din (N,IC) = dout w (skipped when din is NULL). dw NULL skips dw and db: a
 * zero-bubble schedule issues the input-gradient sgemm (B, dw NULL) and the
 * weight-gradient sgemm (W, din NULL) as two calls, with the same bits. */
void dtp_linear_backward(struct dtp_pool *pool, float *din, float *dw, float *db,
			 const float *dout, const float *in, const float *w, int N, int IC,
			 int OC, int acc);
/* The same with a bf16 matmul engine (dnnl_matmul.h): mx NULL is the fp32
 * call above; otherwise the matmuls take bf16 operands on oneDNN (w must lie
 * in the stage's parameter array, whose bf16 copy the engine holds), and a
 * forward with relu rounds its output to bf16 in the ReLU's pass (the unit
 * boundary's rounding, dtp_stage_round_bf16, already done). */
struct dtp_bf16_mm;
void dtp_linear_forward_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
			   const float *in, const float *w, const float *b, int N, int IC,
			   int OC, int relu);
/* dtp_linear_forward_mx for a chain of linears (the mlp) in bf16: in_kept,
 * the input's bf16 copy is already in the engine (the linear before left it
 * there: in is not read); keep (with relu), the ReLU's pass leaves the
 * output's bf16 copy there for the next linear. The same values as the
 * conversions they replace (bf16 of a bf16-rounded value is its bits). */
void dtp_linear_forward_chain(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
			      const float *in, int in_kept, const float *w, const float *b,
			      int N, int IC, int OC, int relu, int keep);
void dtp_linear_backward_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *din,
			    float *dw, float *db, const float *dout, const float *in,
			    const float *w, int N, int IC, int OC, int acc);
/* B and W of a linear (ReLU) unit in one call: dout (N,OC), relu_out (N,OC:
 * the unit's output, for the ReLU backward; NULL: no ReLU), in (N,IC),
 * w (OC,IC) -> din (N,IC) = (NULL: skipped), dw (OC,IC) += (acc 0: =),
 * db (OC) +=. Without mx, d (N,OC) takes the ReLU backward of dout; with
 * mx (bf16) the ReLU backward, the column sums and the conversion to bf16
 * are one pass over dout (dtp_bf16_linear_backward_fused) and d is unused;
 * round (bf16 only): dout is taken as rounded to bf16 first (the unit
 * above left its input gradient unrounded for this pass to round) */
void dtp_linear_backward_whole_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *din,
				  float *d, float *dw, float *db, const float *dout,
				  const float *relu_out, const float *in, const float *w, int N,
				  int IC, int OC, int acc, int round);
/* the fused pass split the other way (dtp_bf16_linear_backward_fused, round):
 * rows [r0, r1) of d16 without the sums, then the sums of columns [c0, c1)
 * from d16 (exact: d16 holds the rounded values the sums add) */
void dtp_relu_bf16_rows(uint16_t *d16, const float *dout, const float *out, int OC, int r0,
			int r1);
void dtp_colsum16_add_cols(float *db, const uint16_t *d16, int N, int OC, int c0, int c1);
/* the fused pass's columns [c0, c1) (dtp_bf16_linear_backward_fused) */
void dtp_relu_colsum_bf16_cols(uint16_t *d16, float *db, const float *dout, const float *out,
			       int N, int OC, int c0, int c1, int round);
/* bf16: dout (N,OC), in16 (N,IC) (the forward's bf16 copy) -> dw += (acc 0: =),
 * db += */
void dtp_linear_wgrad16(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dw, float *db,
			const float *dout, const uint16_t *in16, int N, int IC, int OC, int acc);
/* bf16: the layer norm of in (N,C) -> out16 (N,C) in bf16 (converted as it
 * is produced, dtp_bf16_mm_produce), mean, rstd (N) */
void dtp_layernorm_forward16(struct dtp_bf16_mm *mx, uint16_t *out16, float *mean, float *rstd,
			     const float *in, const float *w, const float *b, int N, int C);
/* the same, and with res non-NULL also res (N,C) = in + rb (rb (C)) for
 * each tile of rows just normalized: a residual add folded into the layer
 * norm's pass over in */
void dtp_layernorm_forward16_res(struct dtp_bf16_mm *mx, uint16_t *out16, float *mean,
				 float *rstd, const float *in, const float *w, const float *b,
				 float *res, const float *rb, int N, int C);
/* out (N,OC) += in (N,IC) w^T (w (OC,IC)): a linear layer onto a residual */
void dtp_linear_acc_mx(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *out,
		       const float *in, const float *w, int N, int IC, int OC);
/* b (OC) -> out (N,OC): b copied into every row (a bias before a beta = 1 sgemm) */
void dtp_bias_rows(float *out, const float *b, int N, int OC);

/* ------------------------------------------------------------- colsum.c */
/* A column sum (bias and layer-norm gradients) takes the rows in blocks of
 * DTP_SUM_ROWS: each block summed from zero, rows in order, then the blocks
 * added onto the gradient in order. Any split of the rows at block
 * boundaries or of the columns gives the same bits (colsum.c). */
#define DTP_SUM_ROWS 64
/* columns a column pass holds in one block's sum, on the stack */
#define DTP_SUM_STRIP 256
/* y (n) += x (n) */
void dtp_row_add(float *y, const float *x, int n);
/* db (OC) += sum of rows of d (N,OC) (columns [c0, c1) only: _cols) */
void dtp_colsum_add(float *db, const float *d, int N, int OC);
void dtp_colsum_add_cols(float *db, const float *d, int N, int OC, int c0, int c1);
/* block partials: rows [r0, r1) (global row numbers; d points at row r0,
 * rows ldd apart) of W columns into part, block b's sum at part + b*ldp
 * (a block's first row starts it from zero). The caller owns every block
 * it touches whole, its rows in order, as the pool's TILE-aligned shares do;
 * dtp_colsum_fold then adds blocks [0, ceil(N/DTP_SUM_ROWS)) onto db (W):
 * dtp_colsum_add_cols's bits */
void dtp_colsum_part_rows(float *part, size_t ldp, const float *d, size_t ldd, int r0, int r1,
			  int W);
void dtp_colsum_fold(float *db, const float *part, size_t ldp, int N, int W);

/* --------------------------------------------------------- activation.c */
/* x (n) = max(0, x) in place */
void dtp_relu_forward(float *x, size_t n);
/* out (n) relu: d (n) = dout * (out > 0); d may alias dout */
void dtp_relu_backward(float *d, const float *dout, const float *out, size_t n);
/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void dtp_gelu_forward(float *out, const float *in, size_t n);
/* in (n), dout (n) -> d (n) = dout * gelu'(in); d may alias dout */
void dtp_gelu_backward(float *d, const float *dout, const float *in, size_t n);
/* The pair the blocks run: the forward leaves gelu'(x) for the backward
 * (the one exp serving both), and the backward multiplies by it (d may
 * alias dout): the bits of the pair above, without the backward's exp and
 * divide. x (n) -> out (n) = gelu(x), gp (n) = gelu'(x); x may alias out
 * or gp (each vector is read before either is written). */
void dtp_gelu_forward_keep(float *out, float *gp, const float *x, size_t n);
void dtp_gelu_backward_kept(float *d, const float *dout, const float *gp, size_t n);
/* bf16's form of the forward: x (n) -> y16 (n) = bf16(gelu(x)), gp16 (n) =
 * bf16(gelu'(x)), the bits of dtp_gelu_forward_keep then dtp_bf16_from_f32,
 * in one pass (no fp32 output stored) */
void dtp_gelu_forward_keep16(uint16_t *y16, uint16_t *gp16, const float *x, size_t n);
/* The two forms the calls above dispatch to: the portable loops (AVX2 or
 * SSE2 clones, DTP_VEC_CLONES) and the AVX-512 kernels (vec_avx512.c; only
 * where dtp_vec_avx512() says so). They agree to a few ulp
 * (tests/model/test_model_vec). */
void dtp_gelu_forward_portable(float *out, const float *in, size_t n);
void dtp_gelu_backward_portable(float *d, const float *dout, const float *in, size_t n);
void dtp_gelu_forward_avx512(float *out, const float *in, size_t n);
void dtp_gelu_forward_keep_portable(float *out, float *gp, const float *x, size_t n);
void dtp_gelu_forward_keep_avx512(float *out, float *gp, const float *x, size_t n);
/* the whole vectors of dtp_gelu_forward_keep16 (AVX512_BF16 too: only where
 * dtp_bf16_native() says so); returns how many it did */
size_t dtp_gelu_forward_keep16_avx512(uint16_t *y16, uint16_t *gp16, const float *x, size_t n);
void dtp_gelu_backward_avx512(float *d, const float *dout, const float *in, size_t n);
/* 1 when the CPU runs the AVX-512 kernels above (AVX-512F) */
int dtp_vec_avx512(void);

/* ---------------------------------------------------------- layernorm.c */
/* in (N,C), w (C), b (C) -> out (N,C), mean (N), rstd (N); eps 1e-5 */
void dtp_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
			   const float *w, const float *b, int N, int C);
/* the same, and res (N,C) = in + rb (C) (the residual plus the next bias)
 * from the rows just normalised, a few at a time while they are in cache
 * (res NULL: not) */
void dtp_layernorm_forward_res(float *out, float *mean, float *rstd, const float *in,
			       const float *w, const float *b, float *res, const float *rb, int N,
			       int C);
/* dout (N,C), in (N,C), mean, rstd (N), w (C), dres (N,C) or NULL (zeros) ->
 * din (N,C) = dres + d(in) (din may alias dres), dw (C) +=, db (C) +=.
 * Two passes: rows (din) and columns (dw, db, rows summed in order), which a
 * pool shares (par.c) with the bits of the serial call. */
void dtp_layernorm_backward(float *din, const float *dres, float *dw, float *db,
			    const float *dout, const float *in, const float *mean,
			    const float *rstd, const float *w, int N, int C);
void dtp_layernorm_backward_rows(float *din, const float *dres, const float *dout,
				 const float *in, const float *mean, const float *rstd,
				 const float *w, int n0, int n1, int C);
void dtp_layernorm_backward_cols(float *dw, float *db, const float *dout, const float *in,
				 const float *mean, const float *rstd, int N, int C, int c0,
				 int c1);
/* the norm's gradients as block partials (dtp_colsum_part_rows' terms):
 * rows [r0, r1) (dout, in, mean, rstd point at row r0) into pw, pb, block
 * b's at + b*ldp; dtp_colsum_fold onto dw, db gives _cols' bits */
void dtp_layernorm_part_rows(float *pw, float *pb, size_t ldp, const float *dout,
			     const float *in, const float *mean, const float *rstd, int r0, int r1,
			     int C);

/* ---------------------------------------------------------- embedding.c */
/* tokens (B,T) in [0,V), wte (V,C), wpe (T,C) -> out (B,T,C) */
void dtp_embedding_forward(float *out, const int32_t *tokens, const float *wte,
			   const float *wpe, int B, int T, int C);
/* dout (B,T,C) -> dwte (V,C) +=, dwpe (T,C) += (rows in (b,t) order) */
void dtp_embedding_backward(float *dwte, float *dwpe, const float *dout,
			    const int32_t *tokens, int B, int T, int C);
/* the same for the columns [c0, c1) of dwte and dwpe only (a thread's share) */
void dtp_embedding_backward_cols(float *dwte, float *dwpe, const float *dout,
				 const int32_t *tokens, int B, int T, int C, int c0, int c1);

/* ---------------------------------------------------------- attention.c */
/* qkv (B,T,3C) [q | k | v, head h at columns h*hs..] -> att (B,H,T,T) softmax
 * probabilities (zero above the diagonal), y (B,T,C) per-head outputs. */
void dtp_attention_forward(float *y, float *att, const float *qkv, int B, int T, int C, int H);
/* dy (B,T,C), qkv, att -> dqkv (B,T,3C) (=). scratch: T*T floats. */
void dtp_attention_backward(float *dqkv, float *scratch, const float *dy, const float *qkv,
			    const float *att, int B, int T, int C, int H);
/* the causal softmax of one head, a (T,T) in place, of scale * the scores;
 * and its backward, d (T,T) in place = scale * d(scores) (scale 1: exact,
 * no multiply). One home for both precisions' attention. a16 / d16 (T,T),
 * or NULL: the result's bf16 too, a row at a time while it is in L1 (bf16's
 * attention: its matmuls read that copy). */
void dtp_attention_softmax(float *a, uint16_t *a16, int T, float scale);
void dtp_attention_softmax_backward(float *d, uint16_t *d16, const float *a, int T,
				    float scale);
/* the same for the (batch, head) pairs p0 <= b*H + h < p1 only (a thread's share) */
void dtp_attention_forward_pairs(float *y, float *att, const float *qkv, int B, int T,
				 int C, int H, int p0, int p1);
void dtp_attention_backward_pairs(float *dqkv, float *scratch, const float *dy,
				  const float *qkv, const float *att, int B, int T, int C,
				  int H, int p0, int p1);

/* -------------------------------------------------------------- block.c */
/* Pre-norm transformer block: x -> x + attn(ln1(x)) = r; r + mlp(ln2(r)) = y.
 * Parameters in this order (floats): */
struct dtp_block_params {
	float *ln1w, *ln1b;     /* (C), (C) */
	float *qkvw, *qkvb;     /* (3C,C), (3C) */
	float *projw, *projb;   /* (C,C), (C) */
	float *ln2w, *ln2b;     /* (C), (C) */
	float *fcw, *fcb;       /* (4C,C), (4C) */
	float *fcprojw, *fcprojb; /* (C,4C), (C) */
};
/* What forward keeps for backward, per micro-batch of B sequences. */
struct dtp_block_save {
	float *ln1, *mean1, *rstd1;  /* (N,C), (N), (N) */
	float *qkv;                  /* (N,3C); bf16: (B,3,H,T,hs) bf16 (block.c) */
	float *att;                  /* (B,H,T,T) */
	float *atty;                 /* (N,C) */
	float *res1;                 /* (N,C) */
	float *ln2, *mean2, *rstd2;  /* (N,C), (N), (N) */
	float *fch, *fchg;           /* (N,4C) pre- and post-GELU */
};
/* Backward scratch, sized for the largest micro-batch. */
struct dtp_block_scratch {
	float *dres1;   /* (N,C) */
	float *dln;     /* (N,C) */
	float *datty;   /* (N,C) */
	float *dqkv;    /* (N,3C) */
	float *dfch;    /* (N,4C) */
	float *dln1;    /* (N,C): ln1's output gradient, kept apart from dln for W */
	float *datt;    /* (nw,T,T): one (T,T) per pool participant */
	float *part;    /* (ceil(N/DTP_SUM_ROWS),4C): block partials of the
			 * column sums B adds (wg->sums; colsum.c) */
};
/* What the weight-gradient half (W) of a block's backward reads besides the
 * save slot: the gradients at the outputs of its parameterised operations,
 * written by the input-gradient half (B). dy is the block's output gradient. */
struct dtp_block_wgrad {
	const float *dy;   /* (N,C): fcproj's output gradient */
	float *dfch;       /* (N,4C): fc's output gradient (after GELU backward) */
	float *dln2;       /* (N,C): ln2's output gradient */
	float *dres1;      /* (N,C): proj's output gradient */
	float *dqkv;       /* (N,3C): qkv's output gradient */
	float *dln1;       /* (N,C): ln1's output gradient */
	int kept16;        /* bf16: W runs right after B (the whole backward), so
			    * B's bf16 copies of the gradients are still in the
			    * engine for W to read (block.c) */
	const struct dtp_block_params *sums;
			   /* W right after B (the whole backward) (or NULL):
			    * the parameter gradients into which B adds fc's and
			    * proj's bias sums (qkv's too when T is whole
			    * blocks of DTP_SUM_ROWS, in bf16 or with the fp32
			    * attention on oneDNN) and both layer norms'
			    * gradients while it produces their output gradients,
			    * by colsum.c's blocks on any split (W's bits,
			    * without W's passes over them); W then leaves those
			    * out. Their vectors are zeroed before B when the
			    * step's first W would have. bf16 takes it only with
			    * a full batch (kept16's copies) */
};
struct dtp_pool;
size_t dtp_block_num_params(int C);
/* carve the wgrad buffers but dy for B sequences (NULL: count); returns floats */
size_t dtp_block_wgrad_map(struct dtp_block_wgrad *w, float *base, int B, int T, int C);
/* carve params from p (NULL: just count); returns floats used */
size_t dtp_block_params_map(struct dtp_block_params *bp, float *p, int C);
/* carve the save area for B sequences from base (NULL: just count); returns floats */
size_t dtp_block_save_map(struct dtp_block_save *s, float *base, int B, int T, int C, int H);
size_t dtp_block_scratch_map(struct dtp_block_scratch *s, float *base, int B, int T, int C,
			     int nw);
/* x (B,T,C) -> y (B,T,C). pool (NULL: serial) runs the attention pairs, the
 * layernorm forward rows and the GELU elements in shares; the results are the
 * same bits whatever the pool size (sc->datt must hold one (T,T) per
 * participant). */
void dtp_block_forward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *y, const float *x, const struct dtp_block_params *p,
		       const struct dtp_block_save *s, int B, int T, int C, int H);
/* dy (B,T,C) -> dx (B,T,C) (=, may not alias dy); grads into g (+=).
 * mx (NULL: fp32 on OpenBLAS): the bf16 or fp32 engine for the qkv,
 * projection and MLP matmuls and, when it has one (dtp_bf16_mm_attention,
 * dtp_f32_mm_attention), the attention's per-head matmuls (batched over
 * heads, dnnl_attention.c). It is _input then
 * _weight with the wgrad buffers in sc. */
void dtp_block_backward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx, const struct dtp_block_params *g, const float *dy,
			const float *x, const struct dtp_block_params *p,
			const struct dtp_block_save *s, const struct dtp_block_scratch *sc,
			int B, int T, int C, int H);

/* B: dy (wg->dy, (B,T,C)) -> dx (B,T,C) (=), wg's buffers (=); no parameter
 * gradient. W: parameter gradients into g (+=) from wg, x and the save slot. */
void dtp_block_backward_input(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx,
			      const struct dtp_block_wgrad *wg, const float *x,
			      const struct dtp_block_params *p, const struct dtp_block_save *s,
			      const struct dtp_block_scratch *sc, int B, int T, int C, int H);
void dtp_block_backward_weight(struct dtp_pool *pool, struct dtp_bf16_mm *mx,
			       const struct dtp_block_params *g, const struct dtp_block_wgrad *wg,
			       const float *x, const struct dtp_block_save *s, int B, int T, int C,
			       int acc);

/* --------------------------------------------------------------- head.c */
/* x (N,C), lnw, lnb (C), w (V,C) -> lnf (N,C), mean, rstd (N), logits (N,V) */
void dtp_head_forward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *logits, float *lnf, float *mean,
		      float *rstd, const float *x, const float *lnw, const float *lnb, const float *w, int N, int C, int V);
/* dlogits (N,V) -> dx (N,C) (=, required); dlnw, dlnb, dw +=; dln: (N,C) scratch */
void dtp_head_backward(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx, float *dlnw, float *dlnb,
		       float *dw, float *dln, const float *dlogits, const float *x, const float *lnf,
		       const float *mean, const float *rstd, const float *lnw,
		       const float *w, int N, int C, int V);

/* B: dlogits (N,V) -> dln (N,C) =, dx (N,C) =. W: dlnw, dlnb, dw += from
 * dlogits and dln (what B wrote) */
void dtp_head_backward_input(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dx,
			     float *dln, const float *dlogits, const float *x, const float *mean,
			     const float *rstd, const float *lnw, const float *w, int N, int C,
			     int V);
void dtp_head_backward_weight(struct dtp_pool *pool, struct dtp_bf16_mm *mx, float *dlnw,
			      float *dlnb, float *dw, const float *dln, const float *dlogits,
			      const float *x, const float *lnf, const float *mean,
			      const float *rstd, int N, int C, int V, int acc);

/* ---------------------------------------------------------------- par.c */
/* The kernels above shared over a worker pool (NULL: run serially), each with
 * the bits of the serial call whatever the pool's size. */
/* C (M,N) = alpha op(A) op(B) + beta C (row-major; ta, tb: 1 = transposed) */
void dtp_par_sgemm(struct dtp_pool *pool, int ta, int tb, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb, float beta, float *C,
		   int ldc);
void dtp_par_layernorm_forward(struct dtp_pool *pool, float *out, float *mean, float *rstd,
			       const float *in, const float *w, const float *b, int N, int C);
/* with dtp_layernorm_forward_res's residual (res NULL: not) */
void dtp_par_layernorm_forward_res(struct dtp_pool *pool, float *out, float *mean, float *rstd,
				   const float *in, const float *w, const float *b, float *res,
				   const float *rb, int N, int C);
/* din NULL skips the row pass (B), dw NULL the column pass (W) */
void dtp_par_layernorm_backward(struct dtp_pool *pool, float *din, const float *dres,
				float *dw, float *db, const float *dout, const float *in,
				const float *mean, const float *rstd, const float *w, int N,
				int C);
void dtp_par_gelu_forward(struct dtp_pool *pool, float *out, const float *in, size_t n);
void dtp_par_gelu_forward_keep(struct dtp_pool *pool, float *out, float *x, size_t n);
void dtp_par_gelu_backward_kept(struct dtp_pool *pool, float *d, const float *dout,
				const float *gp, size_t n);
void dtp_par_gelu_backward(struct dtp_pool *pool, float *d, const float *dout,
			   const float *in, size_t n);
/* d (n) = dout * (out > 0) (ReLU backward); d may alias dout */
void dtp_par_relu_backward(struct dtp_pool *pool, float *d, const float *dout,
			   const float *out, size_t n);
/* out (N,C) = x + b in every row (x NULL: b); out may alias x */
void dtp_par_add_rows(struct dtp_pool *pool, float *out, const float *x, const float *b,
		      int N, int C);
/* fn (ctx, r0, r1) over rows [0, N), chunk rows at a time, each
 * participant's share whole blocks of colsum.c's (DTP_SUM_ROWS-aligned) and
 * its chunks in order: what dtp_colsum_part_rows needs */
typedef void dtp_rows_fn(void *ctx, int r0, int r1);
void dtp_par_rows(struct dtp_pool *pool, int N, int chunk, dtp_rows_fn *fn, void *ctx);
void dtp_par_colsum_add(struct dtp_pool *pool, float *db, const float *d, int N, int OC);
void dtp_par_embedding_backward(struct dtp_pool *pool, float *dwte, float *dwpe,
				const float *dout, const int32_t *tokens, int B, int T, int C);
/* fn over p (n), cut in shares of whole 64-float blocks, one a worker: for an
 * elementwise fn, so the result does not depend on the pool's split */
void dtp_par_each(struct dtp_pool *pool, float *p, size_t n, void (*fn)(float *p, size_t n));
/* p (n) = 0 */
void dtp_par_zero(struct dtp_pool *pool, float *p, size_t n);
/* OpenBLAS on one thread while a pool shares the work (the caller's setting
 * comes back at _end); returns what _end takes. No-op for a NULL pool. A
 * stage model holds it from create to destroy (par.c). */
int dtp_blas_solo_begin(const struct dtp_pool *pool);
void dtp_blas_solo_end(int saved);

/* helper: take n floats at *cursor (rounded up to 16 floats = 64 bytes so that
 * every buffer starts on a cache line); base NULL only counts */
static inline float *dtp_carve(float *base, size_t *cursor, size_t n)
{
	float *p = base ? base + *cursor : NULL;

	*cursor += (n + 15) & ~(size_t)15;
	return p;
}

#endif
