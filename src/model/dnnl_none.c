/* Built without oneDNN: the bf16 engine (dnnl_matmul.h) and the oneDNN
 * reference are refused at set-up with what to do, and nothing else of them
 * is ever called. */
#include "config.h"
#include "model/dnnl_matmul.h"
#include "model/dnnl_attention.h"
#include "model/model.h"

#include <errno.h>

#ifndef DTP_HAVE_ONEDNN

int dtp_bf16_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		       int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}

int dtp_bf16_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			   struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}
int dtp_f32_mm_create(struct dtp_pool *pool, int nthr, const float *params, size_t n_params,
		      int max_rows, struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_fp32_matmul_check(DTP_FP32_MATMUL_ONEDNN, err);
}
int dtp_f32_mm_create_dry(int nw, int nthr, size_t n_params, int max_rows,
			  struct dtp_bf16_mm **out, struct dtp_err *err)
{
	return dtp_fp32_matmul_check(DTP_FP32_MATMUL_ONEDNN, err);
}
int dtp_mm_is_f32(const struct dtp_bf16_mm *e) { return 0; }
int dtp_f32_mm_prepare_bias(struct dtp_bf16_mm *e, int IC, int OC, int relu,
			    struct dtp_err *err) { return -ENOTSUP; }
uint16_t *dtp_bf16_mm_grad16(struct dtp_bf16_mm *e) { return NULL; }
int dtp_bf16_mm_full(const struct dtp_bf16_mm *e, int N) { return 0; }
void dtp_bf16_mm_produce_grad(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16, int N, int W,
			      dtp_mm_tile_fn *fill, void *ctx) { (void)e; }
void dtp_bf16_linear_dgrad16(struct dtp_bf16_mm *e, float *din, uint16_t *d16, const float *w,
			     int N, int IC, int OC) { (void)e; }
void dtp_bf16_linear_wgrad16_db(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
				const uint16_t *dout16, const uint16_t *in16, int N, int IC,
				int OC, int acc) { (void)e; }
int dtp_bf16_mm_prepare_bias16(struct dtp_bf16_mm *e, int IC, int OC, int tiles,
			       struct dtp_err *err)
{ return -ENOTSUP; }
int dtp_bf16_linear_forward16_bias(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
				   const float *w, const float *b, int N, int IC, int OC)
{ return 0; }
int dtp_bf16_linear_forward16_produce(struct dtp_bf16_mm *e, uint16_t *dst16,
				      const uint16_t *in16, const float *w, const float *b,
				      int N, int IC, int OC, dtp_mm_tile_fn *post, void *ctx)
{ return 0; }
int dtp_bf16_linear_dgrad_produce(struct dtp_bf16_mm *e, float *dst, uint16_t *dst16,
				  const float *dout, const float *w, int N, int IC, int OC,
				  dtp_mm_tile_fn *post, void *ctx)
{ return 0; }
int dtp_f32_mm_prepare_tiles(struct dtp_bf16_mm *e, int IC, int OC, int fwd, int dgrad,
			     struct dtp_err *err)
{ return -ENOTSUP; }
int dtp_f32_linear_forward_post(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC,
				dtp_mm_tile_fn *post, void *ctx) { return 0; }
int dtp_f32_linear_dgrad_post(struct dtp_bf16_mm *e, float *din, const float *dout,
			      const float *w, int N, int IC, int OC, dtp_mm_tile_fn *post,
			      void *ctx) { return 0; }
int dtp_f32_linear_forward_bias(struct dtp_bf16_mm *e, float *out, const float *in,
				const float *w, const float *b, int N, int IC, int OC,
				int relu) { return 0; }
int dtp_f32_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in, const float *w,
			   int N, int IC, int OC, int sum) { return 0; }
int dtp_f32_linear_wgrad(struct dtp_bf16_mm *e, float *dw, float *db, const float *dout,
			 const float *in, int N, int IC, int OC, int acc) { return 0; }
int dtp_f32_linear_dgrad(struct dtp_bf16_mm *e, float *din, const float *dout, const float *w,
			 int N, int IC, int OC) { return 0; }
size_t dtp_bf16_mm_bytes(const struct dtp_bf16_mm *e) { return 0; }
void dtp_bf16_mm_destroy(struct dtp_bf16_mm *e) { (void)e; }
int dtp_bf16_mm_prepare(struct dtp_bf16_mm *e, int IC, int OC, int fwd_sum,
			struct dtp_err *err)
{
	return -ENOTSUP;
}
int dtp_bf16_mm_prepare_attention(struct dtp_bf16_mm *e, int T, int C, int H,
				  struct dtp_err *err)
{
	return -ENOTSUP;
}
struct dtp_bf16_attn *dtp_bf16_mm_attention(const struct dtp_bf16_mm *e) { return NULL; }
struct dtp_bf16_attn *dtp_f32_mm_attention(const struct dtp_bf16_mm *e) { return NULL; }
void dtp_bf16_mm_load_weights(struct dtp_bf16_mm *e) { (void)e; }
uint16_t *dtp_bf16_mm_weights(struct dtp_bf16_mm *e) { return NULL; }
uint16_t *dtp_bf16_mm_input16(struct dtp_bf16_mm *e) { return NULL; }
void dtp_bf16_linear_forward(struct dtp_bf16_mm *e, float *out, const float *in,
			     const float *w, int N, int IC, int OC, int sum) { (void)e; }
void dtp_bf16_linear_backward(struct dtp_bf16_mm *e, float *din, float *dw,
			      const float *dout, const float *in, const float *w, int N,
			      int IC, int OC, int acc) { (void)e; }
int dtp_bf16_linear_forward_rows(struct dtp_bf16_mm *e, float *out, const float *in,
				 const float *w, const float *b, int N, int IC, int OC,
				 dtp_bf16_rows_fn *post, dtp_bf16_keep_fn *keep) { (void)e; return 0; }
void dtp_bf16_linear_backward_fused(struct dtp_bf16_mm *e, float *din, float *dw, float *db,
				    const float *dout, const float *relu_out, const float *in,
				    const float *w, int N, int IC, int OC, int acc,
				    int round) { (void)e; }
const char *dtp_bf16_mm_impl(const struct dtp_bf16_mm *e, int IC, int OC) { return "none"; }
void dtp_bf16_mm_produce(struct dtp_bf16_mm *e, uint16_t *dst16, int N, int W,
			 dtp_mm_tile_fn *fill, void *ctx) { (void)e; }
void dtp_bf16_linear_forward16(struct dtp_bf16_mm *e, float *out, const uint16_t *in16,
			       const float *w, int N, int IC, int OC, int sum) { (void)e; }
void dtp_bf16_linear_wgrad16(struct dtp_bf16_mm *e, float *dw, const float *dout,
			     const uint16_t *in16, int N, int IC, int OC, int acc) { (void)e; }
double dtp_dnnl_matmul_time(const struct dtp_matmul *mm, enum dtp_precision p, int nthr,
			    int reps, char *impl, size_t impl_len, struct dtp_err *err)
{
	return (double)dtp_errf_input(err, -ENOTSUP, "built without oneDNN: no oneDNN reference");
}


/* the attention (dnnl_attention.h): never created (dtp_bf16_mm_create
 * refuses first) */

int dtp_bf16_attn_create(struct dtp_pool *pool, int nw, int T, int C, int H, int dry, int f32,
			 struct dtp_bf16_attn **out, struct dtp_err *err)
{
	(void)pool; (void)nw; (void)T; (void)C; (void)H; (void)dry; (void)f32; (void)out;
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}
void dtp_bf16_attn_destroy(struct dtp_bf16_attn *a) { (void)a; }
int dtp_bf16_attn_fits(const struct dtp_bf16_attn *a, int T, int C, int H)
{
	(void)a; (void)T; (void)C; (void)H;
	return 0;
}
size_t dtp_bf16_attn_bytes(const struct dtp_bf16_attn *a) { (void)a; return 0; }
void dtp_bf16_attn_forward(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
			   const float *qkv, int B) { (void)a; (void)y16; (void)att; (void)qkv; (void)B; }
void dtp_bf16_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			    const float *qkv, const float *att, int B)
{
	(void)a; (void)dqkv; (void)dy; (void)qkv; (void)att; (void)B;
}
void dtp_bf16_attn_forward_keep(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
				uint16_t *qkv16, const float *qkv, int B)
{
	(void)a; (void)y16; (void)att; (void)qkv16; (void)qkv; (void)B;
}
void dtp_bf16_attn_keep_rows(const struct dtp_bf16_attn *a, uint16_t *qkv16, const float *qkv,
			     int r0, int r1)
{
	(void)a; (void)qkv16; (void)qkv; (void)r0; (void)r1;
}
void dtp_bf16_attn_backward16(struct dtp_bf16_attn *a, float *dqkv, uint16_t *dqkv16,
			      const float *dy, const uint16_t *qkv16, const float *att, int B)
{
	(void)a; (void)dqkv; (void)dqkv16; (void)dy; (void)qkv16; (void)att; (void)B;
}
void dtp_bf16_attn_backward16_sums(struct dtp_bf16_attn *a, float *part, size_t ldp,
				   uint16_t *dqkv16, const float *dy, const uint16_t *qkv16,
				   const float *att, int B)
{
	(void)a; (void)part; (void)ldp; (void)dqkv16; (void)dy; (void)qkv16; (void)att; (void)B;
}
void dtp_f32_attn_forward(struct dtp_bf16_attn *a, float *y, float *att, const float *qkv, int B)
{
	(void)a; (void)y; (void)att; (void)qkv; (void)B;
}
void dtp_f32_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			   const float *qkv, const float *att, int B)
{
	(void)a; (void)dqkv; (void)dy; (void)qkv; (void)att; (void)B;
}

void dtp_f32_attn_backward_sums(struct dtp_bf16_attn *a, float *dqkv, float *part, size_t ldp,
				const float *dy, const float *qkv, const float *att, int B)
{
	(void)a; (void)dqkv; (void)part; (void)ldp; (void)dy; (void)qkv; (void)att; (void)B;
}

#endif
