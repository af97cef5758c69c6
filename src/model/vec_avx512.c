/* AVX-512 forms of the elementwise kernels whose time is in arithmetic, not
 * in memory traffic: GELU forward and backward (an exp and a divide per
 * element). 16 floats a vector, the tail through a mask, so every element of
 * a call takes the same instructions whatever its position (the pool's
 * shares and a stage split see the same bits). Only the tail is masked: a
 * masked store is slow on AMD's cores (the loop ran at half speed).
 *
 * The math is vecmath.h's, lane for lane: the same clamp (NaN kept), Cephes
 * expf polynomial and 2^n from the exponent bits, written with explicit FMAs
 * where gcc contracts the portable loop (activation.c) on an FMA machine.
 * The portable loop is the reference: tests/model/test_model_vec checks the
 * two against each other (a few ulp; the exp amplifies any difference in its
 * argument, by up to |2u| ~ 87 ulp where the sigmoid saturates) and against
 * the formula in double.
 * Internal to src/model: activation.c dispatches here when dtp_vec_avx512()
 * says the CPU has AVX-512F. */
#include "config.h"
#include "model/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 10
#include <immintrin.h>
#define DTP_VEC_X86 1
#endif

#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_A 0.044715f

int dtp_vec_avx512(void)
{
#ifdef DTP_VEC_X86
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

#ifdef DTP_VEC_X86
#define AVX512 __attribute__((target("avx512f")))

/* e^x = p 2^n, x (16): dtp_vexpf lane for lane, the last product left to
 * the caller (p * 2^n + 1 is one FMA, as gcc contracts the portable loop) */
AVX512 static inline __m512 vexp16_parts(__m512 x, __m512 *pow2n)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	__m512 t, n, r, p;
	__m512i i;

	/* max/min return their second operand when one is NaN: x stays NaN */
	x = _mm512_min_ps(_mm512_set1_ps(87.0f), _mm512_max_ps(_mm512_set1_ps(-87.3f), x));
	t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
	n = _mm512_sub_ps(t, magic);
	i = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4b400000));
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);
	p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
	i = _mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23);
	*pow2n = _mm512_castsi512_ps(i);
	return p;
}

/* 1 + e^(-2u), u = K (x + A x^3), x (16): the sigmoid's denominator, in the
 * portable loop's order of operations */
AVX512 static inline __m512 gelu_den16(__m512 x)
{
	__m512 ax2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_A), x), x);
	__m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_K), _mm512_fmadd_ps(ax2, x, x));
	__m512 s, p = vexp16_parts(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u), &s);

	return _mm512_fmadd_ps(p, s, _mm512_set1_ps(1.0f));
}

/* the mask of the n - i < 16 floats left at i */
static inline __mmask16 tail_mask(size_t n, size_t i)
{
	return (__mmask16)((1u << (n - i)) - 1);
}

AVX512 static inline __m512 gelu16(__m512 x)
{
	return _mm512_div_ps(x, gelu_den16(x));
}

/* in (n) -> out (n) = x / (1 + e^(-2u)) */
AVX512 void dtp_gelu_forward_avx512(float *out, const float *in, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, gelu16(_mm512_loadu_ps(in + i)));
	if (i < n) {
		__mmask16 k = tail_mask(n, i);

		_mm512_mask_storeu_ps(out + i, k, gelu16(_mm512_maskz_loadu_ps(k, in + i)));
	}
}

/* gelu'(x) = s + 2 x s (1 - s) K (1 + 3 A x^2), x (16), s = 1 / den */
AVX512 static inline __m512 gelu_grad16(__m512 x, __m512 s)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	__m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_add_ps(x, x), s), _mm512_sub_ps(one, s));
	__m512 q = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(3.0f * GELU_A), x), x, one);

	t = _mm512_mul_ps(t, _mm512_set1_ps(GELU_K));
	return _mm512_fmadd_ps(t, q, s);
}

/* dout gelu'(x), x, dout (16) */
AVX512 static inline __m512 dgelu16(__m512 g, __m512 x)
{
	__m512 s = _mm512_div_ps(_mm512_set1_ps(1.0f), gelu_den16(x));

	return _mm512_mul_ps(g, gelu_grad16(x, s));
}

/* x (n) -> out (n) = gelu(x) (gelu16's bits), gp (n) = gelu'(x)
 * (dgelu16's factor): one exp for both; x may alias out or gp */
AVX512 void dtp_gelu_forward_keep_avx512(float *out, float *gp, const float *x, size_t n)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(x + i), den = gelu_den16(v);

		_mm512_storeu_ps(out + i, _mm512_div_ps(v, den));
		_mm512_storeu_ps(gp + i, gelu_grad16(v, _mm512_div_ps(one, den)));
	}
	if (i < n) {
		__mmask16 k = tail_mask(n, i);
		__m512 v = _mm512_maskz_loadu_ps(k, x + i), den = gelu_den16(v);

		_mm512_mask_storeu_ps(out + i, k, _mm512_div_ps(v, den));
		_mm512_mask_storeu_ps(gp + i, k, gelu_grad16(v, _mm512_div_ps(one, den)));
	}
}

/* x (n) -> y16 (n), gp16 (n): the bf16 (round to nearest even, as
 * dtp_bf16_from_f32) of dtp_gelu_forward_keep_avx512's two values, whole
 * vectors of 16 only; returns how many it did (a multiple of 16) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
size_t dtp_gelu_forward_keep16_avx512(uint16_t *y16, uint16_t *gp16, const float *x, size_t n)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(x + i), den = gelu_den16(v);
		__m256bh y = _mm512_cvtneps_pbh(_mm512_div_ps(v, den));
		__m256bh g = _mm512_cvtneps_pbh(gelu_grad16(v, _mm512_div_ps(one, den)));

		_mm256_storeu_si256((__m256i *)(void *)(y16 + i), (__m256i)y);
		_mm256_storeu_si256((__m256i *)(void *)(gp16 + i), (__m256i)g);
	}
	return i;
}

/* in (n), dout (n) -> d (n) = dout gelu'(in); d may alias dout */
AVX512 void dtp_gelu_backward_avx512(float *d, const float *dout, const float *in, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(d + i, dgelu16(_mm512_loadu_ps(dout + i), _mm512_loadu_ps(in + i)));
	if (i < n) {
		__mmask16 k = tail_mask(n, i);
		__m512 g = _mm512_maskz_loadu_ps(k, dout + i), x = _mm512_maskz_loadu_ps(k, in + i);

		_mm512_mask_storeu_ps(d + i, k, dgelu16(g, x));
	}
}
#else
void dtp_gelu_forward_avx512(float *out, const float *in, size_t n)
{
	dtp_gelu_forward_portable(out, in, n);
}

void dtp_gelu_backward_avx512(float *d, const float *dout, const float *in, size_t n)
{
	dtp_gelu_backward_portable(d, dout, in, n);
}

void dtp_gelu_forward_keep_avx512(float *out, float *gp, const float *x, size_t n)
{
	dtp_gelu_forward_keep_portable(out, gp, x, n);
}

size_t dtp_gelu_forward_keep16_avx512(uint16_t *y16, uint16_t *gp16, const float *x, size_t n)
{
	(void)y16; (void)gp16; (void)x; (void)n;
	return 0;
}
#endif
