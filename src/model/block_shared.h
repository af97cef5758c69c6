/* What the block's forward (block.c) and backward (block_backward.c)
 * share: the attention's pool job and the bf16 view of a save slot. */
#ifndef DTP_MODEL_BLOCK_SHARED_H
#define DTP_MODEL_BLOCK_SHARED_H

#include <stdint.h>

/* ---- the attention's pool shares: whole (b, h) pairs per participant,
 * run by dtp_pool_run alone. The per-pair sgemms (128x128x64 for the small
 * gpt) are over OpenBLAS's threading threshold: with OPENBLAS_NUM_THREADS=2
 * each call would split across OpenBLAS's own threads, which gains nothing
 * at this size and, called from every pool participant at once,
 * oversubscribes the cores (measured slower than serial). A stage model
 * with a pool keeps OpenBLAS on one thread for its lifetime (par.c). */
struct dtp_attn_job {
	float *out, *scratch, *attw;
	const float *dout, *qkv, *att;
	int B, T, C, H;
};

/* ---- bf16 (an engine with the attention): ln1, atty, ln2 and fchg are read
 * by matmuls only (the forward's and the backward's weight gradients), so
 * their save slots hold them in bf16 (the first half of each fp32 slot),
 * converted once, as they are produced, and read twice. So is qkv, read by
 * the attention's matmuls only: its slot holds the attention's bf16 copy,
 * (B,3,H,T,hs) head by head (dtp_bf16_attn_forward_keep), which the
 * backward reads in place of a second conversion; the fp32 qkv passes
 * through fch's slot, not written until fc's forward.
 * In both precisions fch's slot ends the forward holding gelu'(fch), not
 * fch: the GELU's forward leaves there the factor its backward multiplies
 * by (dtp_gelu_forward_keep), computed from the exp the forward takes
 * anyway (the backward's own exp and divide were its largest cost). In
 * bf16 that factor is kept in bf16 (the slot's first half): the product
 * it makes is rounded to bf16 for both of fc's gradient matmuls, and
 * reading half the bytes saves 4 MiB a layer each way at the gpt bench's
 * shape (its bias gradient sees the factor's rounding too). */
static inline uint16_t *dtp_half16(float *p)
{
	return (uint16_t *)(void *)p;
}

#endif
