/* Batch conversions for the loader (see decode.h). */
#include "config.h"
#include "io/decode.h"

#include <string.h>

/* x86-64: an AVX2 clone beside the baseline (SSE2) one, picked at load time
 * (gcc's target_clones, an ifunc): the AVX2 loop converts 8 lanes at a time,
 * twice the baseline's rate on the u8 division. Same results either way
 * (IEEE division and integer widening are exact per lane). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__)
#define DTP_DECODE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DTP_DECODE_CLONES
#endif

/* in (n) u8 -> out (n) float32 x / 255 */
DTP_DECODE_CLONES void dtp_decode_u8_f32(float *restrict out, const uint8_t *restrict in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (float)in[i] / 255.0f;
}

/* in (n) little-endian u16 -> out (n) int32 */
DTP_DECODE_CLONES void dtp_decode_u16_i32(int32_t *restrict out, const uint8_t *restrict in, size_t n)
{
	size_t i;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (i = 0; i < n; i++) {
		uint16_t t;

		memcpy(&t, in + 2 * i, 2);   /* unaligned load gcc turns into a vector load */
		out[i] = t;
	}
#else
	for (i = 0; i < n; i++)
		out[i] = (int32_t)in[2 * i] | (int32_t)in[2 * i + 1] << 8;
#endif
}

/* in (n) little-endian 32-bit -> out (n) host 32-bit */
void dtp_decode_le32(void *restrict out, const uint8_t *restrict in, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(out, in, 4 * n);
#else
	uint8_t *o = out;
	size_t i;

	for (i = 0; i < 4 * n; i += 4) {
		o[i] = in[i + 3];
		o[i + 1] = in[i + 2];
		o[i + 2] = in[i + 1];
		o[i + 3] = in[i];
	}
#endif
}
