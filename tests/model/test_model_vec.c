/* The vectorizable math under the model kernels (src/model/vecmath.h) and the
 * one sgemm property the kernels rely on:
 * - dtp_vexpf against exp() in double over its whole clamped range, plus the
 *   clamp and NaN behaviour;
 * - the lane-split reductions against double sums, and exact for max;
 * - GELU forward/backward against the formula in double;
 * - cblas_sgemm with beta = 1 onto a C that holds the bias gives the same bits
 *   as the same sgemm with beta = 1 onto the bias copied row by row (i.e. the
 *   fused bias path equals "copy bias, then accumulate"), and beta = 0 equals
 *   beta = 1 onto zeros (OpenBLAS scales C by beta first, then accumulates). */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/kernels.h"
#include "model/model.h"
#include "model/vecmath.h"

/* |got - want| in units of float spacing at want */
static double ulps(float got, double want)
{
	double u = nextafterf((float)want, INFINITY) - (float)want;

	return fabs((double)got - want) / u;
}

static void test_vexpf_accuracy(void **state)
{
	double worst = 0, at = 0;

	(void)state;
	/* every 2^-12 over the range: ~712k points, covering every reduction interval */
	for (double x = -87.3; x <= 87.0; x += 1.0 / 4096) {
		float xf = (float)x;
		double e = ulps(dtp_vexpf(xf), exp((double)xf));

		if (e > worst) {
			worst = e;
			at = xf;
		}
	}
	print_message("dtp_vexpf: worst %.2f ulp at x = %.6f\n", worst, at);
	assert_true(worst <= 2.0);
	assert_true(dtp_vexpf(0.0f) == 1.0f);
	/* clamp: finite, normal, monotone at the ends */
	assert_true(dtp_vexpf(-1000.0f) == dtp_vexpf(-87.3f));
	assert_true(dtp_vexpf(-87.3f) >= 1.17549435e-38f);
	assert_true(dtp_vexpf(1000.0f) == dtp_vexpf(87.0f));
	assert_true(isfinite(dtp_vexpf(1e30f)) && isfinite(1.0f / (1.0f + dtp_vexpf(1e30f))));
	assert_true(1.0f / (1.0f + dtp_vexpf(1e30f)) >= 1.17549435e-38f);
	assert_true(isnan(dtp_vexpf(NAN)));
}

static void test_reductions(void **state)
{
	float x[203], y[203];

	(void)state;
	for (int i = 0; i < 203; i++) {
		x[i] = (float)sin(i * 1.7) * 3.0f;
		y[i] = (float)cos(i * 0.3) + 0.25f;
	}
	for (int n = 1; n <= 203; n++) {
		double s = 0, d = 0, a = 0, ad = 0;
		float m = x[0];

		for (int i = 0; i < n; i++) {
			s += x[i];
			a += fabs(x[i]);
			d += (double)x[i] * y[i];
			ad += fabs((double)x[i] * y[i]);
			m = x[i] > m ? x[i] : m;
		}
		/* float sum error bound ~ n * eps * sum|x| */
		assert_true(fabs(dtp_vsum(x, n) - s) <= n * 6e-8 * a + 1e-30);
		assert_true(fabs(dtp_vdot(x, y, n) - d) <= n * 6e-8 * ad + 1e-30);
		assert_true(dtp_vmax(x, n) == m);
		/* deterministic: the same call gives the same bits */
		float s1 = dtp_vsum(x, n), s2 = dtp_vsum(x, n);

		assert_memory_equal(&s1, &s2, sizeof(s1));
	}
}

static void test_gelu(void **state)
{
	enum { N = 4001 };
	float *in = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float));
	float *g = malloc(N * sizeof(float)), *d = malloc(N * sizeof(float));
	const double k = sqrt(2.0 / M_PI), a = 0.044715;

	(void)state;
	assert_true(in && out && g && d);
	for (int i = 0; i < N; i++) {
		in[i] = -20.0f + 40.0f * (float)i / (N - 1);
		g[i] = 1.0f;
	}
	dtp_gelu_forward(out, in, N);
	dtp_gelu_backward(d, g, in, N);
	for (int i = 0; i < N; i++) {
		double x = in[i], u = k * (x + a * x * x * x), t = tanh(u);
		double f = 0.5 * x * (1.0 + t);
		double df = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * a * x * x);

		/* a few float roundings of O(|x|) terms */
		assert_true(fabs(out[i] - f) <= 4e-7 * fmax(fabs(x), 1.0));
		assert_true(fabs(d[i] - df) <= 1e-6 * fmax(x * x, 1.0));
	}
	free(in); free(out); free(g); free(d);
}

/* C (M,N) from an sgemm A (M,K) B^T, B (N,K), with C prefilled by fill() */
static void run_sgemm(float *c, const float *A, const float *Bm, const float *bias, float beta,
		      int M, int N, int K)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
			c[(size_t)i * N + j] = bias ? bias[j] : 0.0f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, Bm, K, beta,
		    c, N);
}

static void test_sgemm_beta(void **state)
{
	/* shapes on both sides of OpenBLAS's blocking (K > 256 splits K) */
	static const int shapes[][3] = { { 7, 5, 3 }, { 64, 96, 130 }, { 300, 70, 700 } };

	(void)state;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *A = malloc((size_t)M * K * sizeof(float));
		float *Bm = malloc((size_t)N * K * sizeof(float));
		float *b = malloc((size_t)N * sizeof(float));
		float *c0 = malloc((size_t)M * N * sizeof(float));
		float *c1 = malloc((size_t)M * N * sizeof(float));
		struct dtp_rng r;

		assert_true(A && Bm && b && c0 && c1);
		dtp_rng_init(&r, 5, (uint64_t)s);
		for (size_t i = 0; i < (size_t)M * K; i++)
			A[i] = dtp_rng_normal(&r);
		for (size_t i = 0; i < (size_t)N * K; i++)
			Bm[i] = dtp_rng_normal(&r);
		for (int i = 0; i < N; i++)
			b[i] = dtp_rng_normal(&r);
		/* beta = 0 (C garbage: NaN must not leak through) vs beta = 1 on zeros */
		for (size_t i = 0; i < (size_t)M * N; i++)
			c0[i] = NAN;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, Bm, K,
			    0.0f, c0, N);
		run_sgemm(c1, A, Bm, NULL, 1.0f, M, N, K);
		assert_memory_equal(c0, c1, (size_t)M * N * sizeof(float));
		/* the fused bias path of dtp_linear_forward is that same sgemm onto the bias */
		dtp_linear_forward(NULL, c0, A, Bm, b, M, K, N, 0);
		run_sgemm(c1, A, Bm, b, 1.0f, M, N, K);
		assert_memory_equal(c0, c1, (size_t)M * N * sizeof(float));
		free(A); free(Bm); free(b); free(c0); free(c1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vexpf_accuracy),
		cmocka_unit_test(test_reductions),
		cmocka_unit_test(test_gelu),
		cmocka_unit_test(test_sgemm_beta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
