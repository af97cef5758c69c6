/* bf16 <-> fp32 conversions for the mixed-precision path (bf16.c).
 *
 * bf16 is the top half of an IEEE fp32: sign, the 8 exponent bits, 7
 * mantissa bits. fp32 -> bf16 rounds to nearest, ties to even, with the
 * semantics of AVX512_BF16's vcvtne2ps2bf16 (Intel SDM
 * convert_fp32_to_bfloat16): a zero or denormal input gives a zero of its
 * sign, infinities stay infinite, a NaN stays a NaN with its quiet bit set,
 * and a finite value that rounds past the largest bf16 becomes infinite.
 * The AVX-512 path and the portable one give the same bits (checked by
 * tests/model/test_model_bf16), so a run's results do not depend on which
 * the CPU takes. Internal to src/model. */
#ifndef DTP_MODEL_BF16_H
#define DTP_MODEL_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* one value, the reference every vector path matches */
static inline uint16_t dtp_bf16_of(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	if ((u & 0x7f800000u) == 0)              /* zero or denormal: signed zero */
		return (uint16_t)((u >> 16) & 0x8000u);
	if ((u & 0x7f800000u) == 0x7f800000u)    /* inf stays, NaN made quiet */
		return (uint16_t)((u >> 16) | ((u & 0x007fffffu) ? 0x40u : 0u));
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* the bf16 bits of the fp32 bits u: dtp_bf16_of in a branch-free form, so
 * that a loop calling it vectorizes (the same bits as the AVX512_BF16
 * conversion, whatever the CPU takes) */
static inline uint32_t dtp_bf16_bits(uint32_t u)
{
	uint32_t e = u & 0x7f800000u, r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
	uint32_t special = (u >> 16) | ((u & 0x007fffffu) ? 0x40u : 0u);

	r = e == 0x7f800000u ? special : r;
	return e == 0 ? (u >> 16) & 0x8000u : r;
}

static inline float dtp_f32_of_bf16(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* src (n) fp32 -> dst (n) bf16; AVX512_BF16 where the CPU has it */
void dtp_bf16_from_f32(uint16_t *dst, const float *src, size_t n);
/* src (rows, cols at a row stride of sld) fp32 -> dst (rows, cols at a row
 * stride of dld) bf16: dtp_bf16_from_f32 row by row, in one call */
void dtp_bf16_from_f32_2d(uint16_t *dst, size_t dld, const float *src, size_t sld,
			  size_t rows, size_t cols);
/* n groups of (rows, cols) floats: group k's row r at src + k sg + r sld,
 * and at dst + k dg + r dld (the attention's heads: a few columns of every
 * row of qkv, and a dense (T, hs) block each). The forms below go a row of
 * every group in turn, so the side whose rows hold every group is read (or
 * written) in order: a head at a time, its rows 3C floats apart, ran about
 * 1.3x slower with the rows coming from memory. */
struct dtp_groups {
	size_t n, rows, cols;
	size_t sld, sg;         /* source: row stride, group stride (floats) */
	size_t dld, dg;         /* destination: the same (elements) */
};

/* the groups of src fp32 -> dst bf16 (dtp_bf16_from_f32's bits) */
void dtp_bf16_from_f32_groups(uint16_t *dst, const float *src, const struct dtp_groups *g);
/* the groups of src copied to dst, and dst16 (NULL: none; dst's strides) =
 * their bf16 (dtp_bf16_from_f32's bits) */
void dtp_f32_copy_groups(float *dst, uint16_t *dst16, const float *src,
			 const struct dtp_groups *g);
/* src (n) bf16 -> dst (n) fp32 (exact) */
void dtp_bf16_to_f32(float *dst, const uint16_t *src, size_t n);
/* d (n) = x (n) * the fp32 value of y16 (n) (exact widening, one fp32
 * multiply); d may alias x */
void dtp_bf16_mul(float *d, const float *x, const uint16_t *y16, size_t n);
/* the same with the product's bf16 (dtp_bf16_from_f32's bits) into d16 (n)
 * in the same pass */
void dtp_bf16_mul_keep(float *d, uint16_t *d16, const float *x, const uint16_t *y16, size_t n);
/* x (n) = the fp32 value of bf16(x): x rounded to bf16's precision in place
 * (what crosses a unit boundary in bf16 mode) */
void dtp_bf16_round(float *x, size_t n);
/* x (n) = bf16(max(0, x)) in fp32 and x16 (n) its bf16 bits: the ReLU,
 * dtp_bf16_from_f32 and dtp_bf16_to_f32 in one pass (the same bits) */
void dtp_bf16_relu_keep(float *x, uint16_t *x16, size_t n);
/* the portable paths alone (the tests compare them with the dispatched ones) */
void dtp_bf16_from_f32_portable(uint16_t *dst, const float *src, size_t n);
void dtp_bf16_round_portable(float *x, size_t n);
/* 1 when the conversions above take the AVX512_BF16 instructions */
int dtp_bf16_native(void);

#endif
