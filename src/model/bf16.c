/* fp32 <-> bf16 conversions (bf16.h). Runtime dispatch: the CPU's
 * AVX512_BF16 vcvtne2ps2bf16 (32 floats per instruction) where it has one,
 * otherwise the portable loop, which gcc vectorizes (DTP_VEC_CLONES: AVX2 on
 * x86-64-v3) and which gives the same bits (bf16.h). */
#include "config.h"
#include "model/bf16.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 10
#include <immintrin.h>
#define DTP_BF16_X86 1
#endif

int dtp_bf16_native(void)
{
#ifdef DTP_BF16_X86
	return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
#else
	return 0;
#endif
}

DTP_VEC_CLONES
void dtp_bf16_from_f32_portable(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &src[i], sizeof(u));
		dst[i] = (uint16_t)dtp_bf16_bits(u);
	}
}

DTP_VEC_CLONES
void dtp_bf16_round_portable(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &x[i], sizeof(u));
		u = dtp_bf16_bits(u) << 16;
		memcpy(&x[i], &u, sizeof(u));
	}
}

DTP_VEC_CLONES
void dtp_bf16_to_f32(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)src[i] << 16;

		memcpy(&dst[i], &u, sizeof(u));
	}
}

DTP_VEC_CLONES
void dtp_bf16_mul(float *d, const float *x, const uint16_t *y16, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)y16[i] << 16;
		float y;

		memcpy(&y, &u, sizeof(y));
		d[i] = x[i] * y;
	}
}

DTP_VEC_CLONES
static void mul_keep_portable(float *d, uint16_t *d16, const float *x, const uint16_t *y16,
			      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)y16[i] << 16;
		float y, p;

		memcpy(&y, &u, sizeof(y));
		p = x[i] * y;
		d[i] = p;
		memcpy(&u, &p, sizeof(u));
		d16[i] = (uint16_t)dtp_bf16_bits(u);
	}
}

#ifdef DTP_BF16_X86
/* 32 floats per vcvtne2ps2bf16 (the second operand fills the low half) */
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static size_t from_f32_avx512(uint16_t *dst, const float *src, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
		__m512bh h = _mm512_cvtne2ps_pbh(hi, lo);

		_mm512_storeu_si512((void *)(dst + i), (__m512i)h);
	}
	return i;
}

/* one row: cols floats -> cols bf16: 32 a vcvtne2ps2bf16, the tail 16 a
 * masked vcvtneps2bf16 (the same rounding) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline void from_f32_row_avx512(uint16_t *d, const float *s, size_t cols)
{
	size_t i = 0;

	for (; i + 32 <= cols; i += 32) {
		__m512 lo = _mm512_loadu_ps(s + i), hi = _mm512_loadu_ps(s + i + 16);

		_mm512_storeu_si512((void *)(d + i), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
	}
	for (; i < cols; i += 16) {
		size_t k = cols - i < 16 ? cols - i : 16;
		__mmask16 m = (__mmask16)((1u << k) - 1u);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + i));

		_mm256_mask_storeu_epi16((void *)(d + i), m, (__m256i)h);
	}
}

/* the groups' rows, a row of every group in turn (see bf16.h) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void from_f32_groups_avx512(uint16_t *dst, const float *src, const struct dtp_groups *g)
{
	for (size_t r = 0; r < g->rows; r++)
		for (size_t k = 0; k < g->n; k++)
			from_f32_row_avx512(dst + k * g->dg + r * g->dld,
					    src + k * g->sg + r * g->sld, g->cols);
}

/* one row: cols floats copied to d, and their bf16 into h when it is not
 * NULL: 16 at a time, only the tail through a mask (a masked store is slow
 * on AMD's cores: the attention's scatter ran at half speed with every store
 * masked) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline void copy_row_avx512(float *d, uint16_t *h, const float *s, size_t cols)
{
	size_t i = 0;

	for (; i + 16 <= cols; i += 16) {
		__m512 x = _mm512_loadu_ps(s + i);

		_mm512_storeu_ps(d + i, x);
		if (h)
			_mm256_storeu_si256((void *)(h + i), (__m256i)_mm512_cvtneps_pbh(x));
	}
	for (; i < cols; i += 16) {
		size_t k = cols - i < 16 ? cols - i : 16;
		__mmask16 m = (__mmask16)((1u << k) - 1u);
		__m512 x = _mm512_maskz_loadu_ps(m, s + i);

		_mm512_mask_storeu_ps(d + i, m, x);
		if (h)
			_mm256_mask_storeu_epi16((void *)(h + i), m, (__m256i)_mm512_cvtneps_pbh(x));
	}
}

/* the groups' rows, a row of every group in turn (see bf16.h) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void copy_groups_avx512(float *dst, uint16_t *dst16, const float *src,
			       const struct dtp_groups *g)
{
	for (size_t r = 0; r < g->rows; r++)
		for (size_t k = 0; k < g->n; k++) {
			size_t d = k * g->dg + r * g->dld;

			copy_row_avx512(dst + d, dst16 ? dst16 + d : NULL,
					src + k * g->sg + r * g->sld, g->cols);
		}
}

/* x (n) = bf16(max(0, x)) widened back, x16 (n) its bf16 bits, in one pass:
 * max(x, 0) gives 0 for a NaN or -0 (its second operand), as x > 0 ? x : 0 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static size_t relu_keep_avx512(float *x, uint16_t *x16, size_t n)
{
	const __m512 zero = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_max_ps(_mm512_loadu_ps(x + i), zero);
		__m256i h = (__m256i)_mm512_cvtneps_pbh(v);

		_mm256_storeu_si256((void *)(x16 + i), h);
		_mm512_storeu_si512((void *)(x + i),
				    _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	}
	return i;
}

/* the same, widened back to fp32 in place: bf16 bits in the top halves */
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static size_t round_avx512(float *x, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512 lo = _mm512_loadu_ps(x + i), hi = _mm512_loadu_ps(x + i + 16);
		__m512i h = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
		__m512i z = _mm512_setzero_si512();
		/* interleave zeros below each bf16: unpack works per 128-bit lane,
		 * so permute the words into lane order first */
		__m512i idx = _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0);
		__m512i hp = _mm512_permutexvar_epi64(idx, h);

		_mm512_storeu_si512((void *)(x + i), _mm512_unpacklo_epi16(z, hp));
		_mm512_storeu_si512((void *)(x + i + 16), _mm512_unpackhi_epi16(z, hp));
	}
	return i;
}
#endif

#ifdef DTP_BF16_X86
/* 16 products a vector: y16 widened by a shift, the product stored and
 * its bf16 (vcvtneps2bf16) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static size_t mul_keep_avx512(float *d, uint16_t *d16, const float *x, const uint16_t *y16,
			      size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)(y16 + i)));
		__m512 p = _mm512_mul_ps(_mm512_loadu_ps(x + i),
					 _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));

		_mm512_storeu_ps(d + i, p);
		_mm256_storeu_si256((void *)(d16 + i), (__m256i)_mm512_cvtneps_pbh(p));
	}
	return i;
}
#endif

void dtp_bf16_mul_keep(float *d, uint16_t *d16, const float *x, const uint16_t *y16, size_t n)
{
	size_t i = 0;

#ifdef DTP_BF16_X86
	if (dtp_bf16_native())
		i = mul_keep_avx512(d, d16, x, y16, n);
#endif
	mul_keep_portable(d + i, d16 + i, x + i, y16 + i, n - i);
}

void dtp_bf16_from_f32(uint16_t *dst, const float *src, size_t n)
{
	size_t i = 0;

#ifdef DTP_BF16_X86
	if (dtp_bf16_native())
		i = from_f32_avx512(dst, src, n);
#endif
	dtp_bf16_from_f32_portable(dst + i, src + i, n - i);
}

void dtp_bf16_from_f32_2d(uint16_t *dst, size_t dld, const float *src, size_t sld,
			  size_t rows, size_t cols)
{
	struct dtp_groups g = { .n = 1, .rows = rows, .cols = cols, .sld = sld, .dld = dld };

	dtp_bf16_from_f32_groups(dst, src, &g);
}

void dtp_bf16_from_f32_groups(uint16_t *dst, const float *src, const struct dtp_groups *g)
{
#ifdef DTP_BF16_X86
	if (dtp_bf16_native()) {
		from_f32_groups_avx512(dst, src, g);
		return;
	}
#endif
	for (size_t r = 0; r < g->rows; r++)
		for (size_t k = 0; k < g->n; k++)
			dtp_bf16_from_f32_portable(dst + k * g->dg + r * g->dld,
						   src + k * g->sg + r * g->sld, g->cols);
}

void dtp_f32_copy_groups(float *dst, uint16_t *dst16, const float *src,
			 const struct dtp_groups *g)
{
#ifdef DTP_BF16_X86
	if (dtp_bf16_native()) {
		copy_groups_avx512(dst, dst16, src, g);
		return;
	}
#endif
	for (size_t r = 0; r < g->rows; r++)
		for (size_t k = 0; k < g->n; k++) {
			size_t d = k * g->dg + r * g->dld;
			const float *s = src + k * g->sg + r * g->sld;

			memcpy(dst + d, s, g->cols * sizeof(float));
			if (dst16)
				dtp_bf16_from_f32_portable(dst16 + d, s, g->cols);
		}
}

void dtp_bf16_relu_keep(float *x, uint16_t *x16, size_t n)
{
	size_t i = 0;

#ifdef DTP_BF16_X86
	if (dtp_bf16_native())
		i = relu_keep_avx512(x, x16, n);
#endif
	if (i < n) {
		dtp_relu_forward(x + i, n - i);
		dtp_bf16_from_f32(x16 + i, x + i, n - i);
		dtp_bf16_to_f32(x + i, x16 + i, n - i);
	}
}

void dtp_bf16_round(float *x, size_t n)
{
	size_t i = 0;

#ifdef DTP_BF16_X86
	if (dtp_bf16_native())
		i = round_avx512(x, n);
#endif
	dtp_bf16_round_portable(x + i, n - i);
}

/* in place, through a small buffer per chunk: chunk i's bf16 (bytes 2i..)
 * never reaches the floats still to read (bytes 4i + 4 CHUNK..) */
#define CHUNK 256

void dtp_bf16_pack(void *buf, size_t n)
{
	uint16_t tmp[CHUNK];
	char *b = buf;

	for (size_t i = 0; i < n; i += CHUNK) {
		size_t k = n - i < CHUNK ? n - i : CHUNK;
		float f[CHUNK];

		memcpy(f, b + i * sizeof(float), k * sizeof(float));
		dtp_bf16_from_f32(tmp, f, k);
		memcpy(b + i * sizeof(uint16_t), tmp, k * sizeof(uint16_t));
	}
}

/* from the top down: chunk i's floats (bytes 4i..) never reach the bf16
 * values still to read (below byte 2i) */
void dtp_bf16_unpack(void *buf, size_t n)
{
	uint16_t tmp[CHUNK];
	char *b = buf;

	for (size_t end = n; end > 0;) {
		size_t k = end < CHUNK ? end : CHUNK, i = end - k;
		float f[CHUNK];

		memcpy(tmp, b + i * sizeof(uint16_t), k * sizeof(uint16_t));
		dtp_bf16_to_f32(f, tmp, k);
		memcpy(b + i * sizeof(float), f, k * sizeof(float));
		end = i;
	}
}
