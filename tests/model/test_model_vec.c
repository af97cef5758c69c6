/* The vectorizable math under the model kernels (src/model/vecmath.h) and the
 * one sgemm property the kernels rely on:
 * - dtp_vexpf against exp() in double over its whole clamped range, plus the
 *   clamp and NaN behaviour;
 * - the lane-split reductions against double sums, and exact for max;
 * - GELU forward/backward against the formula in double;
 * - the AVX-512 GELU kernels (vec_avx512.c, where the CPU has AVX-512F)
 *   against the portable loops, their reference: within 4 + 2 |2u| ulp of
 *   the portable value (forward; e^(-2u) turns an ulp of its argument into
 *   |2u| ulp) / 2e-7 * max(x^2, 1) absolute (backward, whose s + x s (1 - s)
 *   terms cancel near x = -1.5); they agree bit for bit on this gcc and an
 *   FMA machine, which the test prints but does not require; the same NaN/inf/zero
 *   behaviour, and the same bits for an element whatever its position in
 *   the call (masked tail or full vector);
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

#include "model/bf16.h"
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

/* the inputs of the portable-vs-AVX-512 check: a dense sweep and the specials */
static float vec_input(int i, int n)
{
	static const float special[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f,
					 1e-40f, -1e-40f, 87.5f, -87.5f, 3e38f, -3e38f };
	int ns = (int)(sizeof(special) / sizeof(special[0]));

	return i < ns ? special[i] : -25.0f + 50.0f * (float)(i - ns) / (float)(n - ns);
}

static int same_or_both_nan(float a, float b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_gelu_avx512(void **state)
{
	enum { N = 20011 };
	float *in = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));
	float *p = malloc(N * sizeof(float)), *v = malloc(N * sizeof(float));
	float *v2 = malloc(N * sizeof(float));
	double worst_f = 0, worst_b = 0;
	int same_f = 0, same_b = 0;

	(void)state;
	assert_true(in && g && p && v && v2);
	if (!dtp_vec_avx512()) {
		print_message("no AVX-512F on this CPU: the portable GELU runs, nothing to compare\n");
		free(in); free(g); free(p); free(v); free(v2);
		skip();
	}
	for (int i = 0; i < N; i++) {
		in[i] = vec_input(i, N);
		g[i] = 0.5f + (float)(i % 7) * 0.25f;
	}
	/* forward */
	dtp_gelu_forward_portable(p, in, N);
	dtp_gelu_forward_avx512(v, in, N);
	for (int i = 0; i < N; i++) {
		if (!isfinite(p[i]) || p[i] == 0.0f) {
			assert_true(same_or_both_nan(p[i], v[i]) || (p[i] == 0.0f && v[i] == 0.0f));
			continue;
		}
		double x = in[i], u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
		double e = ulps(v[i], p[i]), tol = 4.0 + 2.0 * fmin(fabs(2.0 * u), 88.0);

		worst_f = e > worst_f ? e : worst_f;
		same_f += v[i] == p[i];
		if (e > tol)
			print_message("x %g: portable %.9g, AVX-512 %.9g: %.1f ulp\n", x,
				      (double)p[i], (double)v[i], e);
		assert_true(e <= tol);
	}
	/* backward, in place too (d aliases dout) */
	dtp_gelu_backward_portable(p, g, in, N);
	memcpy(v, g, N * sizeof(float));
	dtp_gelu_backward_avx512(v, v, in, N);
	for (int i = 0; i < N; i++) {
		double x = in[i], tol = 2e-7 * fmax(x * x, 1.0);

		if (!isfinite(p[i])) {
			assert_true(same_or_both_nan(p[i], v[i]));
			continue;
		}
		double e = fabs((double)v[i] - p[i]);

		worst_b = e / tol > worst_b ? e / tol : worst_b;
		same_b += v[i] == p[i];
		assert_true(e <= tol);
	}
	print_message("AVX-512 GELU vs portable: forward worst %.2f ulp (%d of %d equal), "
		      "backward worst %.2f of the tolerance (%d equal)\n",
		      worst_f, same_f, N, worst_b, same_b);
	/* position: every split of the array gives the bits of the whole call */
	dtp_gelu_forward_avx512(v, in, N);
	dtp_gelu_backward_avx512(p, g, in, N);
	for (int cut = 1; cut < 40; cut += 3) {
		dtp_gelu_forward_avx512(v2, in, (size_t)cut);
		dtp_gelu_forward_avx512(v2 + cut, in + cut, (size_t)(N - cut));
		assert_memory_equal(v, v2, N * sizeof(float));
		dtp_gelu_backward_avx512(v2, g, in, (size_t)cut);
		dtp_gelu_backward_avx512(v2 + cut, g + cut, in + cut, (size_t)(N - cut));
		assert_memory_equal(p, v2, N * sizeof(float));
	}
	/* and the dispatched call is this kernel */
	dtp_gelu_forward(v2, in, N);
	assert_memory_equal(v, v2, N * sizeof(float));
	free(in); free(g); free(p); free(v); free(v2);
}

/* the blocks' pair (dtp_gelu_forward_keep, dtp_gelu_backward_kept) gives
 * the bits of dtp_gelu_forward and dtp_gelu_backward on each path (the
 * portable loop, the AVX-512 kernel, the dispatched call), over the whole
 * input range (NaN and the clamp included) and every tail length */
static void check_keep(void (*fwd)(float *, const float *, size_t),
		       void (*bwd)(float *, const float *, const float *, size_t),
		       void (*keep)(float *, float *, const float *, size_t), const float *in, const float *g,
		       int n)
{
	float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
	float *gp = malloc((size_t)n * sizeof(float)), *gp2 = malloc((size_t)n * sizeof(float));

	assert_true(a && b && gp && gp2);
	fwd(a, in, (size_t)n);
	memcpy(gp, in, (size_t)n * sizeof(float));
	keep(b, gp, gp, (size_t)n);     /* gelu'(x) in place of x */
	assert_memory_equal(a, b, (size_t)n * sizeof(float));
	memcpy(b, in, (size_t)n * sizeof(float));
	keep(b, gp2, b, (size_t)n);     /* gelu(x) in place of x, gelu'(x) apart */
	assert_memory_equal(a, b, (size_t)n * sizeof(float));
	assert_memory_equal(gp, gp2, (size_t)n * sizeof(float));
	bwd(a, g, in, (size_t)n);
	dtp_gelu_backward_kept(b, g, gp, (size_t)n);
	assert_memory_equal(a, b, (size_t)n * sizeof(float));
	free(a); free(b); free(gp); free(gp2);
}

static void test_gelu_keep(void **state)
{
	enum { N = 20011 };
	float *in = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));

	(void)state;
	assert_true(in && g);
	for (int i = 0; i < N; i++) {
		in[i] = vec_input(i, N);
		g[i] = 0.5f + (float)(i % 7) * 0.25f;
	}
	for (int n = 1; n <= 40; n++)
		check_keep(dtp_gelu_forward_portable, dtp_gelu_backward_portable,
			   dtp_gelu_forward_keep_portable, in + 1000, g, n);
	check_keep(dtp_gelu_forward_portable, dtp_gelu_backward_portable,
		   dtp_gelu_forward_keep_portable, in, g, N);
	check_keep(dtp_gelu_forward, dtp_gelu_backward, dtp_gelu_forward_keep, in, g, N);
	if (dtp_vec_avx512()) {
		for (int n = 1; n <= 40; n++)
			check_keep(dtp_gelu_forward_avx512, dtp_gelu_backward_avx512,
				   dtp_gelu_forward_keep_avx512, in + 1000, g, n);
		check_keep(dtp_gelu_forward_avx512, dtp_gelu_backward_avx512,
			   dtp_gelu_forward_keep_avx512, in, g, N);
	}
	free(in); free(g);
}

/* bf16's GELU forward (dtp_gelu_forward_keep16) gives the bits of the fp32
 * pair rounded by dtp_bf16_from_f32, vectors and every tail length */
static void test_gelu_keep16(void **state)
{
	enum { N = 20011 };
	float *in = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	float *g = malloc(N * sizeof(float));
	uint16_t *y16 = malloc(N * 2), *g16 = malloc(N * 2), *r16 = malloc(N * 2);
	uint16_t *q16 = malloc(N * 2);

	(void)state;
	assert_true(in && y && g && y16 && g16 && r16 && q16);
	for (int i = 0; i < N; i++)
		in[i] = vec_input(i, N);
	for (int n = 1; n <= N; n = n < 80 ? n + 1 : n * 3 + 7) {
		int m = n > N ? N : n;

		dtp_gelu_forward_keep(y, g, in, (size_t)m);
		dtp_bf16_from_f32(r16, y, (size_t)m);
		dtp_bf16_from_f32(q16, g, (size_t)m);
		dtp_gelu_forward_keep16(y16, g16, in, (size_t)m);
		assert_memory_equal(y16, r16, (size_t)m * 2);
		assert_memory_equal(g16, q16, (size_t)m * 2);
	}
	free(in); free(y); free(g); free(y16); free(g16); free(r16); free(q16);
}

/* the GELU backward's product with its bf16 (dtp_bf16_mul_keep) gives the
 * bits of dtp_bf16_mul then dtp_bf16_from_f32, in place too, every tail */
static void test_mul_keep(void **state)
{
	enum { N = 5003 };
	float *x = malloc(N * sizeof(float)), *d = malloc(N * sizeof(float));
	float *r = malloc(N * sizeof(float));
	uint16_t *y16 = malloc(N * 2), *d16 = malloc(N * 2), *r16 = malloc(N * 2);

	(void)state;
	assert_true(x && d && r && y16 && d16 && r16);
	for (int i = 0; i < N; i++)
		x[i] = vec_input(i, N);
	dtp_bf16_from_f32(y16, x + 1, N - 1);   /* a bf16 factor per element */
	y16[N - 1] = 0x3f80;                    /* 1.0 */
	for (int n = 1; n <= N; n = n < 70 ? n + 1 : n * 4 + 3) {
		int m = n > N ? N : n;

		dtp_bf16_mul(r, x, y16, (size_t)m);
		dtp_bf16_from_f32(r16, r, (size_t)m);
		dtp_bf16_mul_keep(d, d16, x, y16, (size_t)m);
		assert_memory_equal(d, r, (size_t)m * sizeof(float));
		assert_memory_equal(d16, r16, (size_t)m * 2);
		memcpy(d, x, (size_t)m * sizeof(float));
		dtp_bf16_mul_keep(d, d16, d, y16, (size_t)m);   /* in place */
		assert_memory_equal(d, r, (size_t)m * sizeof(float));
	}
	free(x); free(d); free(r); free(y16); free(d16); free(r16);
}

/* colsum.c's column sum: the rows in blocks of DTP_SUM_ROWS, each summed
 * from zero, the blocks added in order. dtp_colsum_add_cols against that
 * definition written out; any column split of it, block partials produced
 * in chunks that do not line up with the blocks on any split at block
 * boundaries then folded, the bf16 form and the ReLU pass all give its bits;
 * the layer norm's two sums likewise (and against the formula in double) */
/* finite values of a few magnitudes, both signs */
static float colsum_input(size_t i)
{
	return (float)((int)((i * 7919) % 2001) - 1000) / 37.0f * (float)(1 + i % 7);
}

static void colsum_def(float *db, const float *d, int N, int OC)
{
	float *t = malloc((size_t)OC * sizeof(float));

	assert_non_null(t);
	for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
		for (int j = 0; j < OC; j++)
			t[j] = 0.0f;
		for (int n = b0; n < N && n < b0 + DTP_SUM_ROWS; n++)
			for (int j = 0; j < OC; j++)
				t[j] += d[(size_t)n * OC + j];
		for (int j = 0; j < OC; j++)
			db[j] += t[j];
	}
	free(t);
}

/* the rows [0, N) as shares split at block boundaries (share rows apart,
 * a multiple of DTP_SUM_ROWS), each share's rows in chunks of ch */
static void part_shares(float *part, size_t ldp, const float *d, int N, int OC, int share,
			int ch)
{
	for (int s0 = 0; s0 < N; s0 += share)
		for (int r0 = s0; r0 < N && r0 < s0 + share; r0 += ch) {
			int r1 = r0 + ch;

			r1 = r1 > s0 + share ? s0 + share : r1;
			r1 = r1 > N ? N : r1;
			dtp_colsum_part_rows(part, ldp, d + (size_t)r0 * OC, (size_t)OC, r0, r1, OC);
		}
}

static void test_colsum_blocks(void **state)
{
	static const int Ns[] = { 1, 63, 64, 65, 200, 256 }, OCs[] = { 5, 300, 600 };
	enum { MAXN = 256, MAXOC = 600 };
	float *d = malloc((size_t)MAXN * MAXOC * sizeof(float)), *in = malloc(sizeof(float) * MAXN * MAXOC);
	float *part = malloc((size_t)(MAXN / DTP_SUM_ROWS + 1) * 2 * MAXOC * sizeof(float));
	float *want = malloc(MAXOC * sizeof(float)), *got = malloc(MAXOC * sizeof(float));
	float *w2 = malloc(MAXOC * sizeof(float)), *g2 = malloc(MAXOC * sizeof(float));
	float mean[MAXN], rstd[MAXN];
	uint16_t *d16 = malloc((size_t)MAXN * MAXOC * 2);

	(void)state;
	assert_true(d && in && part && want && got && w2 && g2 && d16);
	for (size_t i = 0; i < (size_t)MAXN * MAXOC; i++) {
		d[i] = colsum_input(i);
		in[i] = colsum_input(i * 13 + 5);
	}
	for (int n = 0; n < MAXN; n++) {
		mean[n] = 0.01f * (float)(n % 11);
		rstd[n] = 1.0f + 0.03f * (float)(n % 5);
	}
	for (size_t a = 0; a < sizeof(Ns) / sizeof(Ns[0]); a++)
		for (size_t b = 0; b < sizeof(OCs) / sizeof(OCs[0]); b++) {
			int N = Ns[a], OC = OCs[b];
			size_t ldp = 2 * (size_t)OC;    /* partial rows wider than OC */

			for (int j = 0; j < OC; j++)
				want[j] = got[j] = 0.25f * (float)j;
			colsum_def(want, d, N, OC);
			dtp_colsum_add_cols(got, d, N, OC, 0, OC);
			assert_memory_equal(got, want, (size_t)OC * sizeof(float));
			/* a column split */
			for (int j = 0; j < OC; j++)
				got[j] = 0.25f * (float)j;
			dtp_colsum_add_cols(got, d, N, OC, 0, OC / 3);
			dtp_colsum_add_cols(got, d, N, OC, OC / 3, OC);
			assert_memory_equal(got, want, (size_t)OC * sizeof(float));
			/* partials on shares of 64 and 128 rows in chunks of 7 and 64 */
			for (int share = DTP_SUM_ROWS; share <= 2 * DTP_SUM_ROWS; share *= 2)
				for (int ch = 7; ch <= 64; ch += 57) {
					for (int j = 0; j < OC; j++)
						got[j] = 0.25f * (float)j;
					part_shares(part, ldp, d, N, OC, share, ch);
					dtp_colsum_fold(got, part, ldp, N, OC);
					assert_memory_equal(got, want, (size_t)OC * sizeof(float));
				}
			/* bf16 values: from the bf16 copy, and the ReLU pass */
			dtp_bf16_from_f32(d16, d, (size_t)N * OC);
			dtp_bf16_to_f32(in, d16, (size_t)N * OC);
			for (int j = 0; j < OC; j++)
				want[j] = got[j] = w2[j] = 0.25f * (float)j;
			colsum_def(want, in, N, OC);
			dtp_colsum16_add_cols(got, d16, N, OC, 0, OC);
			assert_memory_equal(got, want, (size_t)OC * sizeof(float));
			dtp_relu_colsum_bf16_cols(d16, w2, d, NULL, N, OC, 0, OC, 1);
			assert_memory_equal(w2, want, (size_t)OC * sizeof(float));
			/* the layer norm's gradients (in back to its own values) */
			for (size_t i = 0; i < (size_t)N * OC; i++)
				in[i] = colsum_input(i * 13 + 5);
			for (int j = 0; j < OC; j++)
				want[j] = w2[j] = got[j] = g2[j] = 0.5f;
			dtp_layernorm_backward_cols(want, w2, d, in, mean, rstd, N, OC, 0, OC);
			/* chunks of 24 rows, cut at each share of 64 */
			for (int r0 = 0, r1; r0 < N; r0 = r1) {
				int edge = (r0 / DTP_SUM_ROWS + 1) * DTP_SUM_ROWS;

				r1 = r0 + 24 < edge ? r0 + 24 : edge;
				r1 = r1 < N ? r1 : N;
				dtp_layernorm_part_rows(part, part + OC, ldp, d + (size_t)r0 * OC,
							in + (size_t)r0 * OC, mean + r0, rstd + r0, r0, r1,
							OC);
			}
			dtp_colsum_fold(got, part, ldp, N, OC);
			dtp_colsum_fold(g2, part + OC, ldp, N, OC);
			assert_memory_equal(got, want, (size_t)OC * sizeof(float));
			assert_memory_equal(g2, w2, (size_t)OC * sizeof(float));
			for (int j = 0; j < OC; j++) {
				double sw = 0.5, sb = 0.5;

				for (int n = 0; n < N; n++) {
					double g = d[(size_t)n * OC + j];

					sw += g * ((in[(size_t)n * OC + j] - mean[n]) * rstd[n]);
					sb += g;
				}
				assert_true(fabs(want[j] - sw) <= 1e-4 * (1.0 + fabs(sw)) * N);
				assert_true(fabs(w2[j] - sb) <= 1e-4 * (1.0 + fabs(sb)) * N);
			}
		}
	free(d); free(in); free(part); free(want); free(got); free(w2); free(g2); free(d16);
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
		cmocka_unit_test(test_gelu_avx512),
		cmocka_unit_test(test_gelu_keep),
		cmocka_unit_test(test_gelu_keep16),
		cmocka_unit_test(test_mul_keep),
		cmocka_unit_test(test_colsum_blocks),
		cmocka_unit_test(test_sgemm_beta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
