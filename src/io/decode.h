/* Internal to src/io: the batch conversions from shard bytes to the arrays
 * dtp_loader_next delivers. Each is one flat loop over n elements with
 * restrict pointers and no calls, so gcc vectorizes it (src/io/local.mk
 * turns on the dynamic vector cost model for this library). */
#ifndef DTP_IO_DECODE_H
#define DTP_IO_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* in (n) u8 -> out (n) float32, each x / 255.0f (bit-identical to the scalar
 * single-precision division: the vector loop divides too) */
void dtp_decode_u8_f32(float *restrict out, const uint8_t *restrict in, size_t n);
/* in (n) little-endian u16 -> out (n) int32, zero-extended */
void dtp_decode_u16_i32(int32_t *restrict out, const uint8_t *restrict in, size_t n);
/* in (n) little-endian 32-bit words -> out (n) host 32-bit words */
void dtp_decode_le32(void *restrict out, const uint8_t *restrict in, size_t n);

#endif
