/* Elementwise math the compiler can vectorize, for the model kernels.
 *
 * dtp_vexpf: glibc's expf is an opaque call, so a loop calling it stays
 * scalar (one call per element: GELU and softmax spent most of their time
 * there). This is Cephes' expf: x = n ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for e^r, 2^n built in the exponent bits. Branch-free, no
 * calls, integer/float conversions through memcpy, so gcc vectorizes a loop
 * that calls it. Relative error <= 2 ulp over the clamped range (checked
 * against exp() in double by tests/model/test_model_vec). Inputs are clamped
 * to [-87.3, 87]: results stay finite and normal (e^-87.3 ~ 1.2e-38, e^87 ~
 * 6.1e37; n stays in [-126, 126]), and so does 1 / (1 + e^x), the sigmoid
 * GELU takes (a denormal there would cost a microcode assist per element).
 * Softmax and the sigmoid saturate long before the clamp. A NaN input gives
 * NaN, so a diverged run still shows a NaN loss.
 *
 * The reductions (sum, dot, max) keep DTP_VLANES partial results and combine
 * them in a fixed order at the end, so they are deterministic (the same
 * inputs give the same bits on every call, whatever the row's position or
 * the stage split) but vectorizable, unlike a strictly in-order float sum.
 * Internal to src/model. */
#ifndef DTP_MODEL_VECMATH_H
#define DTP_MODEL_VECMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DTP_VLANES 8

/* DTP_VEC_CLONES on an elementwise kernel: gcc builds it three times, for
 * the baseline x86-64 (SSE2, 4 floats a vector), x86-64-v3 (AVX2 + FMA, 8
 * floats) and x86-64-v4 (AVX-512, 16 floats), and picks one at load time
 * from the CPU (an ifunc). The build stays portable (no -march) and the
 * kernels run at the CPU's width. A given machine always runs the same
 * clone, so results stay bit-identical across stage splits; another CPU may
 * round differently (FMA), as OpenBLAS's own per-CPU kernels already do.
 * The v4 and v3 clones give the same bits (both contract to FMA; the
 * reductions keep their DTP_VLANES lanes at any width). Kernels whose
 * arithmetic gcc does not vectorize well enough have hand-written AVX-512
 * forms in vec_avx512.c instead. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	defined(__has_attribute)
#if __has_attribute(target_clones) && __GNUC__ >= 12
#define DTP_VEC_CLONES \
	__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef DTP_VEC_CLONES
#define DTP_VEC_CLONES
#endif

/* x clamped to [lo, hi] with bit masks, not branches: with `x < lo ? lo : x`
 * gcc threads the constant into a copy of the rest of the caller's loop
 * (e.g. x / (1 + e^88.3), a denormal result), and the vectorized loop then
 * computes that copy for every element too; a denormal divide is a slow
 * microcode assist (docs/benchmarks.md, "Model core"). */
static inline float dtp_vclampf(float x, float lo, float hi)
{
	uint32_t xb, lb, hb, below, above;

	memcpy(&xb, &x, sizeof(xb));
	memcpy(&lb, &lo, sizeof(lb));
	memcpy(&hb, &hi, sizeof(hb));
	below = -(uint32_t)(x < lo);
	above = -(uint32_t)(x > hi);
	xb = (xb & ~(below | above)) | (lb & below) | (hb & above);
	memcpy(&x, &xb, sizeof(x));
	return x;
}

static inline float dtp_vexpf(float x)
{
	const float magic = 12582912.0f;       /* 1.5 * 2^23: adding it rounds to an integer */
	float t, n, r, p;
	int32_t i;
	uint32_t u;

	x = dtp_vclampf(x, -87.3f, 87.0f);
	t = x * 1.44269504088896341f + magic;  /* n + magic, n = round(x / ln2) */
	n = t - magic;
	memcpy(&i, &t, sizeof(i));
	i -= 0x4b400000;                       /* the bits of magic: leaves n as an integer */
	r = x - n * 0.693359375f;              /* ln2 in two parts (Cephes C1, C2) */
	r = r - n * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	u = (uint32_t)(i + 127) << 23;         /* 2^n, n in [-126, 126] */
	memcpy(&t, &u, sizeof(t));
	return p * t;
}

/* x (n) -> sum, DTP_VLANES partial sums combined pairwise */
static inline float dtp_vsum(const float *x, int n)
{
	float a[DTP_VLANES] = { 0 };
	int i = 0;

	for (; i + DTP_VLANES <= n; i += DTP_VLANES)
		for (int k = 0; k < DTP_VLANES; k++)
			a[k] += x[i + k];
	for (int k = 0; i < n; i++, k++)
		a[k] += x[i];
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* x, y (n) -> sum of x*y */
static inline float dtp_vdot(const float *x, const float *y, int n)
{
	float a[DTP_VLANES] = { 0 };
	int i = 0;

	for (; i + DTP_VLANES <= n; i += DTP_VLANES)
		for (int k = 0; k < DTP_VLANES; k++)
			a[k] += x[i + k] * y[i + k];
	for (int k = 0; i < n; i++, k++)
		a[k] += x[i] * y[i];
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* x (n >= 1) -> max (exact: the order does not matter) */
static inline float dtp_vmax(const float *x, int n)
{
	float a[DTP_VLANES];
	int i = 0;

	for (int k = 0; k < DTP_VLANES; k++)
		a[k] = x[0];
	for (; i + DTP_VLANES <= n; i += DTP_VLANES)
		for (int k = 0; k < DTP_VLANES; k++)
			a[k] = x[i + k] > a[k] ? x[i + k] : a[k];
	for (int k = 0; i < n; i++, k++)
		a[k] = x[i] > a[k] ? x[i] : a[k];
	for (int k = 1; k < DTP_VLANES; k++)
		a[0] = a[k] > a[0] ? a[k] : a[0];
	return a[0];
}

#endif
