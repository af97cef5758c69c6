/* Causal attention's per-head matmuls in bf16 on oneDNN (dnnl_attention.c):
 * batched matmul primitives over a sequence's heads, bf16 operands, fp32
 * accumulation and output; softmax and its backward stay fp32
 * (attention.c). Made at stage set-up by the linear layers' engine
 * (dtp_bf16_mm_prepare_attention), which owns it; an fp32 engine's
 * (fp32_matmul = onednn) makes the same on fp32 operands
 * (dtp_f32_attn_forward, _backward). Internal to src/model. */
#ifndef DTP_MODEL_DNNL_ATTENTION_H
#define DTP_MODEL_DNNL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct dtp_pool;
struct dtp_bf16_attn;

/* An engine for sequences of T positions, width C, H heads, for nw
 * participants: the pool's (pool may be NULL with nw 1). dry: plan the
 * primitives for their scratchpads and allocate nothing (the memory
 * prediction). f32: fp32 operands (the dtp_f32_attn_ calls only), else
 * bf16 (the dtp_bf16_attn_ calls). 0 or -errno with a message. */
int dtp_bf16_attn_create(struct dtp_pool *pool, int nw, int T, int C, int H, int dry, int f32,
			 struct dtp_bf16_attn **out, struct dtp_err *err);
void dtp_bf16_attn_destroy(struct dtp_bf16_attn *a);
/* 1 when a was made for (T, C, H) */
int dtp_bf16_attn_fits(const struct dtp_bf16_attn *a, int T, int C, int H);
/* bytes it holds (dry: would hold): per participant, the bf16 copies of one
 * sequence's q, k, v, output gradient and probabilities (fp32: the fp32
 * copies of the first four), an fp32 score gradient and output tile, and
 * oneDNN's scratchpad */
size_t dtp_bf16_attn_bytes(const struct dtp_bf16_attn *a);
/* qkv (B,T,3C) -> att (B,H,T,T) softmax probabilities, y16 (B,T,C) in
 * bf16 (what the projection's matmuls read); any B (one sequence at a time) */
void dtp_bf16_attn_forward(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
			   const float *qkv, int B);
/* dy (B,T,C), qkv (B,T,3C), att (B,H,T,T) -> dqkv (B,T,3C) (=) */
void dtp_bf16_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			    const float *qkv, const float *att, int B);
/* the same two keeping the bf16 copy of q, k and v the forward makes:
 * _keep leaves it in qkv16 (B,3,H,T,hs) (sequence b's q heads, then its k
 * heads, then its v heads, each (T,hs)) for _backward16 to read in place of
 * qkv (the same values: the same bits as the pair above); _backward16 also
 * writes dqkv's bf16 into dqkv16 (B,T,3C) as it scatters each head's
 * gradients (NULL: not) */
void dtp_bf16_attn_forward_keep(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
				uint16_t *qkv16, const float *qkv, int B);
/* rows [r0, r1) of qkv (B*T,3C) (global rows b*T + t, at qkv: r1 - r0
 * rows of 3C) converted into their places in qkv16 (B,3,H,T,hs), as
 * _forward_keep lays it out: the qkv linear's output tiles, converted while
 * in cache. Once every row is there, _forward_keep with qkv NULL reads
 * qkv16 as it is (the same values: the same bits). */
void dtp_bf16_attn_keep_rows(const struct dtp_bf16_attn *a, uint16_t *qkv16, const float *qkv,
			     int r0, int r1);
void dtp_bf16_attn_backward16(struct dtp_bf16_attn *a, float *dqkv, uint16_t *dqkv16,
			      const float *dy, const uint16_t *qkv16, const float *att, int B);
/* _backward16 when dqkv in fp32 was wanted only for its column sums (the
 * qkv bias gradient): their block partials into part (ldp apart; columns
 * 0..3C), as dtp_colsum_part_rows leaves them for dtp_colsum_fold, dqkv16
 * written, no fp32 dqkv; T a multiple of DTP_SUM_ROWS (a sequence's rows
 * are whole blocks) */
void dtp_bf16_attn_backward16_sums(struct dtp_bf16_attn *a, float *part, size_t ldp,
				   uint16_t *dqkv16, const float *dy, const uint16_t *qkv16,
				   const float *att, int B);
/* fp32 (an engine made with f32): qkv (B,T,3C) -> att (B,H,T,T) softmax
 * probabilities, y (B,T,C); and dy (B,T,C), qkv, att -> dqkv (B,T,3C) (=);
 * any B (one sequence at a time). dtp_attention_forward's and _backward's
 * values in another summation order (oneDNN's), the scale applied in the
 * softmax and its backward. */
void dtp_f32_attn_forward(struct dtp_bf16_attn *a, float *y, float *att, const float *qkv,
			  int B);
void dtp_f32_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			   const float *qkv, const float *att, int B);
/* the same, and part (ceil(N/DTP_SUM_ROWS) rows at ldp; NULL: not) = dqkv's
 * column sums as colsum.c's block partials, made from each head's gradient
 * while it is in cache (dtp_colsum_fold adds them up: the bits of a column
 * sum over dqkv); T must be whole blocks of DTP_SUM_ROWS */
void dtp_f32_attn_backward_sums(struct dtp_bf16_attn *a, float *dqkv, float *part, size_t ldp,
				const float *dy, const float *qkv, const float *att, int B);

#endif
