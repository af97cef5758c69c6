/* bf16 matmuls of a stage's linear layers on oneDNN (dnnl_matmul.c): bf16
 * operands, fp32 accumulation and fp32 output; or, as an fp32 engine
 * (fp32_matmul = onednn, dnnl_matmul_f32.c), fp32 matmuls on the same
 * machinery. One engine per stage model, created at stage set-up with every
 * primitive the stage's shapes need (none is created on the hot path).
 * Internal to src/model. */
#ifndef DTP_MODEL_DNNL_MATMUL_H
#define DTP_MODEL_DNNL_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct dtp_pool;
struct dtp_bf16_mm;
/* work on rows [r0, r1) of an (N, W) fp32 tensor whose rows are at tile
 * ((r1 - r0) x W, at most TILE = 64 rows): a producer fills them, a
 * consumer reads or rewrites them while they are in cache */
typedef void dtp_mm_tile_fn(void *ctx, float *tile, int r0, int r1);

/* An engine for a stage whose parameters are params (n_params floats), whose
 * linear layers see at most max_rows rows. Threads: with a pool (size >= 2)
 * each matmul's output rows are shared over the pool's participants and
 * every participant runs its own primitive on one oneDNN (OpenMP) thread;
 * without one, the caller runs it on nthr OpenMP threads. 0 or -errno (with
 * a message; -ENOTSUP when built without oneDNN). */
int dtp_bf16_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		       int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err);
/* The same for fp32_matmul = onednn (fp32 precision): an engine of oneDNN
 * fp32 matmul primitives with the same threads and row shares, operands
 * read in place (no bf16 copies, tiles or conversions); only the full-size
 * primitives (a call of fewer rows runs on OpenBLAS). The bf16-only calls
 * below are never made on it. dtp_f32_mm_create_dry: its dry engine. */
int dtp_f32_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		      int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err);
int dtp_f32_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			  struct dtp_bf16_mm **out, struct dtp_err *err);
/* Set-up, fp32 engine: the forward of a layer IC -> OC with its bias added
 * by oneDNN (and a ReLU after it when relu), C not read; a no-op on a bf16
 * engine. After dtp_bf16_mm_prepare of the same shape. */
int dtp_f32_mm_prepare_bias(struct dtp_bf16_mm *e, int IC, int OC, int relu,
			    struct dtp_err *err);
/* Set-up, fp32 engine: the TILE-row forms of a layer's forward with its
 * bias (fwd: dtp_f32_linear_forward_post) and of its input gradient
 * (dgrad: dtp_f32_linear_dgrad_post); a no-op on a bf16 engine. */
int dtp_f32_mm_prepare_tiles(struct dtp_bf16_mm *e, int IC, int OC, int fwd, int dgrad,
			     struct dtp_err *err);
/* 1 for an fp32 engine, 0 for a bf16 one or NULL */
int dtp_mm_is_f32(const struct dtp_bf16_mm *e);
/* fp32 engine (dnnl_matmul_f32.c), each 1 when done and 0 when N is not the
 * planned row count (the caller runs OpenBLAS):
 *   forward  in (N,IC), w (OC,IC) -> out (N,OC) = in w^T (+ out if sum)
 *   wgrad    dout (N,OC), in (N,IC) -> dw (OC,IC) = dout^T in (+ dw if acc),
 *            db (OC) += column sums of dout (unless NULL), in the same pool region
 *   dgrad    dout (N,OC), w (OC,IC) -> din (N,IC) = dout w */
int dtp_f32_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in, const float *w,
			   int N, int IC, int OC, int sum);
/* fp32 engine: out (N,OC) = in w^T + b (relu: max(0, that)), 1 when done, 0
 * when N is not the planned row count or that primitive was not prepared */
int dtp_f32_linear_forward_bias(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC, int relu);
/* fp32 engine, a layer's output consumed as it is made: out (N,OC) = in
 * w^T + b (dtp_f32_linear_forward_bias's values), TILE rows at a time,
 * each tile's rows then passed to post(ctx, out + r0 OC, r0, r1) while they
 * are in cache (post may rewrite them); and the same for din (N,IC) = dout
 * w. 1 when done; 0, doing nothing, when e is NULL or a bf16 engine, N is
 * not the planned row count or not whole tiles, or the tiles were not
 * prepared (dtp_f32_mm_prepare_tiles). */
int dtp_f32_linear_forward_post(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC,
				dtp_mm_tile_fn *post, void *ctx);
int dtp_f32_linear_dgrad_post(struct dtp_bf16_mm *e, float *din, const float *dout,
			      const float *w, int N, int IC, int OC, dtp_mm_tile_fn *post,
			      void *ctx);
int dtp_f32_linear_wgrad(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
			 const float *in, int N, int IC, int OC, int acc);
int dtp_f32_linear_dgrad(struct dtp_bf16_mm *e, float *din, const float *dout, const float *w,
			 int N, int IC, int OC);
/* A dry engine for nw participants planned for nthr threads each (as
 * dtp_bf16_mm_create would make it for a pool of nw, or for no pool and nthr
 * threads when nw is 1): prepare() on it plans every primitive far enough to
 * learn its scratchpad and allocates nothing, so that dtp_bf16_mm_bytes
 * gives what the real engine would hold. It runs no matmul. */
int dtp_bf16_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			   struct dtp_bf16_mm **out, struct dtp_err *err);
void dtp_bf16_mm_destroy(struct dtp_bf16_mm *e);
/* Bytes the engine holds (or, dry, would hold) for the shapes prepared so
 * far: the bf16 weights, the activation and gradient copies, each
 * participant's output tile and oneDNN scratchpad (not oneDNN's own code
 * and descriptors, a few hundred KiB the peak-RSS check sees) */
size_t dtp_bf16_mm_bytes(const struct dtp_bf16_mm *e);
/* Set-up: the primitives of one linear layer with input width IC and output
 * width OC (forward, weight gradient, input gradient); fwd_sum: its forward
 * accumulates onto C (a bias or residual put there first). Repeated shapes
 * share them. */
int dtp_bf16_mm_prepare(struct dtp_bf16_mm *e, int IC, int OC, int fwd_sum,
			struct dtp_err *err);
/* Set-up, bf16 engine: the forward of a layer IC -> OC with its bias added
 * by oneDNN, C not read (dtp_bf16_linear_forward16_bias), and with tiles
 * its TILE-row form too (dtp_bf16_linear_forward16_produce); a no-op on an
 * fp32 engine. After dtp_bf16_mm_prepare of the same shape. */
int dtp_bf16_mm_prepare_bias16(struct dtp_bf16_mm *e, int IC, int OC, int tiles,
			       struct dtp_err *err);
/* Set-up: the causal attention of sequences of T positions, width C, H heads
 * in bf16 too (dnnl_attention.h; an fp32 engine's in fp32), on this engine's
 * threads; one shape per stage. Its bytes count in dtp_bf16_mm_bytes. */
int dtp_bf16_mm_prepare_attention(struct dtp_bf16_mm *e, int T, int C, int H,
				  struct dtp_err *err);
/* that attention engine of a bf16 engine, and of an fp32 one; NULL when
 * none was prepared or the engine is of the other kind */
struct dtp_bf16_attn *dtp_bf16_mm_attention(const struct dtp_bf16_mm *e);
struct dtp_bf16_attn *dtp_f32_mm_attention(const struct dtp_bf16_mm *e);
/* The bf16 copy of every parameter, from params (after they changed) */
void dtp_bf16_mm_load_weights(struct dtp_bf16_mm *e);
/* that copy (n_params values), for an optimizer refreshing it as it updates */
uint16_t *dtp_bf16_mm_weights(struct dtp_bf16_mm *e);
/* in (N,IC), w (OC,IC) inside params -> out (N,OC) = in w^T (+ out if sum) */
void dtp_bf16_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in,
			     const float *w, int N, int IC, int OC, int sum);
/* dout (N,OC), in (N,IC), w (OC,IC) -> dw (OC,IC) += dout^T in (acc 0: =;
 * skipped when dw is NULL), din (N,IC) = dout w (skipped when din is NULL) */
void dtp_bf16_linear_backward(struct dtp_bf16_mm *e, float *din, float *dw,
			      const float *dout, const float *in, const float *w, int N,
			      int IC, int OC, int acc);
/* in (N,IC) (NULL: its bf16 copy is the engine's already,
 * dtp_bf16_mm_input16), w (OC,IC) inside params, b (OC) or NULL -> out
 * (N,OC) = in w^T (+ b), then post(rows, n) on out (NULL: none), in one pool
 * region: each participant converts its rows of the input, puts the bias in
 * its rows of out, runs its part of the full-size matmul and post-processes
 * those rows (every step row-local: the same bits as the separate passes).
 * keep (or NULL): keep(rows, rows16, n) post-processes out's rows and writes
 * their bf16 into the engine's other copy buffer, which then becomes
 * dtp_bf16_mm_input16 (the next linear's input, its ReLU and its conversion
 * in the same region: the input's buffer is not written while another
 * participant may still read its rows of it, whatever IC and OC are).
 * Returns 0, doing nothing, unless N is the planned row count (the caller
 * then takes the separate calls). */
typedef void dtp_bf16_rows_fn(float *x, size_t n);
typedef void dtp_bf16_keep_fn(float *x, uint16_t *x16, size_t n);
int dtp_bf16_linear_forward_rows(struct dtp_bf16_mm *e, float *out, const float *in,
				 const float *w, const float *b, int N, int IC, int OC,
				 dtp_bf16_rows_fn *post, dtp_bf16_keep_fn *keep);
/* B and W of a linear unit, the output gradient prepared in one pass:
 * dout (N,OC), relu_out (N,OC) or NULL -> d = the ReLU backward of dout,
 * db (OC) += d's column sums, d in bf16 for both matmuls, in (N,IC)
 * converted in the same pool region; then dw (OC,IC) += d^T in (acc 0: =),
 * din (N,IC) = d w (skipped when din is NULL). The same values as the
 * separate ReLU backward, column sums and conversions (the same bits).
 * round: dout rounded to bf16 in the same pass (dtp_relu_colsum_bf16_cols). */
void dtp_bf16_linear_backward_fused(struct dtp_bf16_mm *e, float *din, float *dw, float *db,
				    const float *dout, const float *relu_out, const float *in,
				    const float *w, int N, int IC, int OC, int acc, int round);
/* A producer fused with its conversion to bf16: fill(ctx, tile, r0, r1)
 * writes rows [r0, r1) of an fp32 (N, W) tensor into tile ((r1 - r0) x W,
 * at most 64 rows), and each tile is converted into dst16 (N, W) while it
 * is in cache; rows are shared over the engine's pool. W is at most the
 * widest layer prepared. For a tensor only matmuls read (a layer norm's or
 * GELU's output): the fp32 values never reach memory. */
void dtp_bf16_mm_produce(struct dtp_bf16_mm *e, uint16_t *dst16, int N, int W,
			 dtp_mm_tile_fn *fill, void *ctx);
/* A linear's forward fused with its output's consumer: in16 (N,IC) bf16, w
 * (OC,IC) inside params, b (OC) -> for each TILE rows [r0, r1), in16 w^T +
 * b (oneDNN's bias, dtp_bf16_linear_forward16_bias's bits) into the
 * participant's output tile, post(ctx, tile, r0, r1) on it (it may rewrite
 * the tile in place), then the tile's bf16 into dst16 (N,OC) (NULL: none):
 * for an output only post and matmuls read, whose fp32 never reaches
 * memory. 1 when done; 0, doing nothing, when N is not the planned row
 * count or not whole tiles, or the shape was not prepared
 * (dtp_bf16_mm_prepare_bias16). */
int dtp_bf16_linear_forward16_produce(struct dtp_bf16_mm *e, uint16_t *dst16,
				      const uint16_t *in16, const float *w, const float *b,
				      int N, int IC, int OC, dtp_mm_tile_fn *post, void *ctx);
/* the same as the two above with the input already in bf16, in16 (N,IC)
 * (a forward's copy kept for the backward's weight gradient: converted
 * once); din is not computed (dw only) by the second */
void dtp_bf16_linear_forward16(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
			       const float *w, int N, int IC, int OC, int sum);
/* in16 (N,IC) bf16, w (OC,IC) inside params, b (OC) -> out (N,OC) = in16 w^T
 * + b, the bias added by oneDNN to each fp32 sum (the bits of the bias put
 * in C first and a sum post-op: one fp32 add of the same two values), C
 * not read; 1 when done, 0 when N is not the planned row count or the
 * shape was not prepared (dtp_bf16_mm_prepare_bias16) */
int dtp_bf16_linear_forward16_bias(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
				   const float *w, const float *b, int N, int IC, int OC);
void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc);
/* The backward's output gradients converted where they are produced:
 * _produce_grad runs fill(ctx, dst + r0 W, r0, r1) over rows of dst (N,W)
 * fp32 (kept: W's bias gradient reads it) and converts each chunk into
 * dst16 (N,W) bf16 while it is in cache (the engine's gradient copy,
 * dtp_bf16_mm_grad16, or another buffer of the engine's rows x its widest
 * layer: its input copy, or the gradient copy past another gradient);
 * _dgrad16 is dtp_bf16_linear_backward's din = dout w on such a copy d16
 * (ragged: rows after N zeroed there). _wgrad16_db is
 * dtp_bf16_linear_wgrad16 with db (OC) += dout's column sums (NULL: none),
 * reading dout16 (a copy made by B, when N is the planned row count) or
 * else converting dout in the pass that sums it. The same values as the
 * separate passes (the same bits). _full: 1 when N is the planned count. */
uint16_t *dtp_bf16_mm_grad16(struct dtp_bf16_mm *e);
int dtp_bf16_mm_full(const struct dtp_bf16_mm *e, int N);
void dtp_bf16_mm_produce_grad(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16, int N, int W,
			      dtp_mm_tile_fn *fill, void *ctx);
/* The same fused with the input gradient's matmul that produces it:
 * dout (N,OC) fp32, w (OC,IC) inside params -> for each TILE rows [r0, r1)
 * of din = dout w into the participant's output tile, post(ctx, tile, r0,
 * r1) on it (post writes the tile's bf16 where it belongs), then its fp32
 * into dst (N,IC) (NULL: not kept). dst16 is the engine copy buffer post
 * writes the bf16 into: dout's bf16 goes to the other. 1 when done; 0,
 * doing nothing, when N is not the planned row count or not whole tiles. */
int dtp_bf16_linear_dgrad_produce(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16,
				  const float *dout, const float *w, int N, int IC, int OC,
				  dtp_mm_tile_fn *post, void *ctx);
void dtp_bf16_linear_dgrad16(struct dtp_bf16_mm *e, float *din, uint16_t *d16, const float *w,
			     int N, int IC, int OC);
void dtp_bf16_linear_wgrad16_db(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
				const uint16_t *dout16, const uint16_t *in16, int N, int IC,
				int OC, int acc);
/* the engine's bf16 input copy (rows x the widest layer prepared): a
 * producer may leave the next linear's input there (N,IC) and pass it to
 * dtp_bf16_linear_forward16 as in16, which reads it in place */
uint16_t *dtp_bf16_mm_input16(struct dtp_bf16_mm *e);
/* the implementation oneDNN picked for the forward of (IC, OC), for benchmarks */
const char *dtp_bf16_mm_impl(const struct dtp_bf16_mm *e, int IC, int OC);

#endif
