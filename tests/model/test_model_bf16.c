/* bf16 mixed precision (model.h, precision = bf16):
 *  - the fp32 -> bf16 conversion: known bits (ties to even, denormals, inf,
 *    NaN, overflow), and the dispatched path (AVX512_BF16 where the CPU has
 *    it) against the portable one and the scalar reference on random bits;
 *  - gradient checks adapted to bf16: a finite-difference check is
 *    meaningless at h below bf16's resolution (a weight of 0.05 moves in
 *    steps of 2e-4), so the bf16 stage's analytic gradients are compared
 *    with the fp32 stage's (themselves checked by finite differences in
 *    test_model_grad) per unit, with a tolerance from bf16's unit roundoff
 *    u = 2^-9: operands rounded to bf16 give products off by ~2u relative,
 *    and a gradient vector's relative error |g16 - g32| / |g32| stays near
 *    sqrt(layers) * few u ~ 1e-2. We accept 5e-2 (gpt, its attention in bf16
 *    too: measured 4e-3).
 *    Units behind a ReLU get 1e-1 (measured 4.3e-2): a pre-activation within
 *    bf16's error of zero flips its mask, an O(1) change to that sample's
 *    term. A wrong transpose or missing term is off by O(1). A directional
 *    finite difference with a step large against bf16's resolution checks
 *    the bf16 gradient against the bf16 loss itself;
 *  - the group copies (the attention's gathers and scatters): every element
 *    where the definition puts it, in both directions, with vector tails;
 *  - the unit-boundary semantics: a K-stage split is bit-identical to the
 *    whole model in bf16, and a unit's output and input gradient are exact
 *    bf16 values;
 *  - the bf16 copy of the weights follows the parameters (optimizer steps
 *    and writes through dtp_stage_model_params);
 *  - a micro-batch smaller than the stage's maximum (the tiled path). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/model.h"
#include "model/bf16.h"
#include "model/stage.h"

#include "model_fixture.h"

static uint32_t bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

static float of_bits(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

static void test_convert_known(void **state)
{
	static const uint32_t in[] = {
		0x3f800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f80ffff, 0x00000001,
		0x807fffff, 0x00800000, 0x7f800000, 0xff800000, 0x7f800001, 0xffc00000,
		0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x00000000, 0x80000000, 0x3fc00000,
	};
	static const uint16_t want[] = {
		0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x3f81, 0x0000,
		0x8000, 0x0080, 0x7f80, 0xff80, 0x7fc0, 0xffc0,
		0x7f80, 0xff80, 0x7f7f, 0x0000, 0x8000, 0x3fc0,
	};
	size_t n = sizeof(in) / sizeof(in[0]);
	float x[sizeof(in) / sizeof(in[0])];
	uint16_t h[sizeof(in) / sizeof(in[0])];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		x[i] = of_bits(in[i]);
		assert_int_equal(dtp_bf16_of(x[i]), want[i]);
	}
	dtp_bf16_from_f32(h, x, n);
	assert_memory_equal(h, want, sizeof(want));
	dtp_bf16_from_f32_portable(h, x, n);
	assert_memory_equal(h, want, sizeof(want));
	dtp_bf16_round(x, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bits(x[i]), (uint32_t)want[i] << 16);
	assert_true(dtp_f32_of_bf16(0x3f80) == 1.0f);
}

/* random bit patterns, every length up to 100 (the vector loops' tails) */
static void test_convert_paths_agree(void **state)
{
	size_t n = 1 << 16;
	float *x = malloc(n * sizeof(float)), *r1 = malloc(n * sizeof(float));
	float *r2 = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
	uint16_t *h1 = malloc(n * sizeof(uint16_t)), *h2 = malloc(n * sizeof(uint16_t));
	struct dtp_rng r;

	(void)state;
	assert_true(x && r1 && r2 && back && h1 && h2);
	dtp_rng_init(&r, 5, 6);
	for (size_t i = 0; i < n; i++)
		x[i] = of_bits(dtp_rng_u32(&r));
	for (size_t len = 0; len <= 100; len++) {
		dtp_bf16_from_f32(h1, x + len, len);
		dtp_bf16_from_f32_portable(h2, x + len, len);
		assert_memory_equal(h1, h2, len * sizeof(uint16_t));
	}
	dtp_bf16_from_f32(h1, x, n);
	dtp_bf16_from_f32_portable(h2, x, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(h1[i], dtp_bf16_of(x[i]));
	assert_memory_equal(h1, h2, n * sizeof(uint16_t));
	memcpy(r1, x, n * sizeof(float));
	memcpy(r2, x, n * sizeof(float));
	dtp_bf16_round(r1 + 3, n - 3);
	dtp_bf16_round_portable(r2 + 3, n - 3);
	assert_memory_equal(r1, r2, n * sizeof(float));
	dtp_bf16_to_f32(back, h1, n);
	for (size_t i = 3; i < n; i++)
		assert_int_equal(bits(back[i]), bits(r1[i]));
	printf("bf16 conversions: %s path\n", dtp_bf16_native() ? "AVX512_BF16" : "portable");
	free(x); free(r1); free(r2); free(back); free(h1); free(h2);
}

/* the fused ReLU + conversion (a linear's output kept as the next input):
 * x > 0 ? x : 0, then bf16, on random bits (NaN, -0, denormals, inf) and
 * the whole array and every length to 100 (the vector tail) */
static void test_relu_keep(void **state)
{
	size_t n = 1 << 14;
	float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
	uint16_t *h = malloc(n * sizeof(uint16_t));
	struct dtp_rng r;

	(void)state;
	assert_true(x && y && h);
	dtp_rng_init(&r, 9, 3);
	for (size_t i = 0; i < n; i++)
		x[i] = of_bits(dtp_rng_u32(&r));
	x[0] = -0.0f;
	x[1] = of_bits(0x7fc00001u);    /* NaN */
	x[2] = of_bits(0x00000001u);    /* denormal */
	for (size_t len = 0; len <= 100; len++) {
		size_t m = len ? len : n;       /* 0: the whole array */

		memcpy(y, x, m * sizeof(float));
		dtp_bf16_relu_keep(y, h, m);
		for (size_t i = 0; i < m; i++) {
			uint16_t want = dtp_bf16_of(x[i] > 0.0f ? x[i] : 0.0f);

			assert_int_equal(h[i], want);
			assert_int_equal(bits(y[i]), (uint32_t)want << 16);
		}
	}
	free(x); free(y); free(h);
}

/* the attention's gathers and scatters (bf16.h's dtp_groups): n groups of
 * (rows, cols), both directions (a few columns of every row <-> dense
 * blocks), widths with and without a vector tail; every destination
 * element checked against the definition, and nothing outside the groups
 * written (the pad stays its marker) */
static void test_groups(void **state)
{
	const size_t widths[] = { 1, 15, 16, 17, 33, 64 };
	const size_t n = 5, rows = 7, pad = 3;
	struct dtp_rng r;

	(void)state;
	dtp_rng_init(&r, 4, 2);
	for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
		size_t cols = widths[w], ld = n * cols + pad, dense = rows * cols;
		size_t wide = rows * ld, sz = wide > n * dense ? wide : n * dense;
		float *src = malloc(sz * sizeof(float)), *dst = malloc(sz * sizeof(float));
		uint16_t *d16 = malloc(sz * sizeof(uint16_t)), *h = malloc(sz * sizeof(uint16_t));

		assert_true(src && dst && d16 && h);
		for (size_t i = 0; i < sz; i++)
			src[i] = dtp_rng_normal(&r);
		for (int to_dense = 0; to_dense < 2; to_dense++) {
			struct dtp_groups g = { .n = n, .rows = rows, .cols = cols };

			if (to_dense) {
				g.sld = ld, g.sg = cols, g.dld = cols, g.dg = dense;
			} else {
				g.sld = cols, g.sg = dense, g.dld = ld, g.dg = cols;
			}
			for (size_t i = 0; i < sz; i++) {
				dst[i] = -7.0f;
				d16[i] = h[i] = 0xdeadu;
			}
			dtp_f32_copy_groups(dst, d16, src, &g);
			dtp_bf16_from_f32_groups(h, src, &g);
			for (size_t k = 0; k < n; k++)
				for (size_t i = 0; i < rows; i++)
					for (size_t c = 0; c < cols; c++) {
						size_t d = k * g.dg + i * g.dld + c;
						float x = src[k * g.sg + i * g.sld + c];

						assert_int_equal(bits(dst[d]), bits(x));
						assert_int_equal(d16[d], dtp_bf16_of(x));
						assert_int_equal(h[d], dtp_bf16_of(x));
						dst[d] = -7.0f;         /* seen */
						d16[d] = h[d] = 0xdeadu;
					}
			for (size_t i = 0; i < sz; i++) {
				assert_int_equal(bits(dst[i]), bits(-7.0f));
				assert_int_equal(d16[i], 0xdeadu);
				assert_int_equal(h[i], 0xdeadu);
			}
			dtp_f32_copy_groups(dst, NULL, src, &g);        /* no bf16 wanted */
			for (size_t k = 0; k < n; k++)
				for (size_t i = 0; i < rows; i++)
					assert_memory_equal(dst + k * g.dg + i * g.dld,
							    src + k * g.sg + i * g.sld,
							    cols * sizeof(float));
		}
		free(src); free(dst); free(d16); free(h);
	}
}

/* the links' in-place form: bf16 values of rounded floats pack to half the
 * bytes and widen back to the same floats, any length */
static void test_pack_unpack(void **state)
{
	size_t lens[] = { 0, 1, 31, 256, 257, 1000, 4099 };
	float *x = malloc(4099 * sizeof(float)), *y = malloc(4099 * sizeof(float));
	uint16_t h[4099];
	struct dtp_rng r;

	(void)state;
	assert_true(x && y);
	dtp_rng_init(&r, 8, 8);
	for (size_t i = 0; i < 4099; i++)
		x[i] = dtp_rng_normal(&r);
	dtp_bf16_round(x, 4099);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];

		memcpy(y, x, n * sizeof(float));
		dtp_bf16_pack(y, n);
		dtp_bf16_from_f32(h, x, n);
		assert_memory_equal(y, h, n * sizeof(uint16_t));
		dtp_bf16_unpack(y, n);
		assert_memory_equal(y, x, n * sizeof(float));
	}
	free(x);
	free(y);
}

static void test_precision_names(void **state)
{
	enum dtp_precision p;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_precision_parse("bf16", &p, &err), 0);
	assert_int_equal(p, DTP_PRECISION_BF16);
	assert_string_equal(dtp_precision_name(p), "bf16");
	assert_int_equal(dtp_precision_parse("fp32", &p, &err), 0);
	assert_int_equal(p, DTP_PRECISION_FP32);
	assert_int_equal(dtp_precision_parse("fp16", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "fp32 or bf16"));
}

#ifndef DTP_HAVE_ONEDNN
/* built without oneDNN: bf16 is refused at set-up with what to do */
static void test_refused_without_onednn(void **state)
{
	struct dtp_err err;

	(void)state;
	dtp_test_refused(DTP_TEST_BF16);
	assert_int_equal(dtp_precision_check(DTP_PRECISION_BF16, &err), -ENOTSUP);
}
#else

/* bf16 gradients against fp32 ones, unit by unit, and a directional
 * finite difference of the bf16 loss */
static void check_grads(const char *text, int B, double tol)
{
	struct dtp_model_spec s;
	struct dtp_test_data d;
	int n = dtp_test_spec(text, &s);
	struct dtp_stage_model *m32 = dtp_test_stage(&s, 0, n, B, DTP_TEST_FP32);
	struct dtp_stage_model *m16 = dtp_test_stage(&s, 0, n, B, DTP_TEST_BF16);

	dtp_test_data_make(&s, m16, B, 1, &d);
	double l32 = dtp_test_step(m32, &d, B, 1, NULL), l16 = dtp_test_step(m16, &d, B, 1, NULL);
	const float *g16 = dtp_stage_model_grads(m16);

	assert_true(fabs(l16 - l32) <= 2e-2 * fabs(l32));
	double worst = dtp_test_worst_unit(&s, m16, m32, tol, text, "bf16");

	/* directional derivative along v = g + noise (a random direction alone
	 * is nearly orthogonal to g, and g . v drowns in bf16's noise), |v| =
	 * |p| / 1024: steps far above bf16's resolution, the loss's curvature over
	 * them small. (L(p + v) - L(p - v)) / 2 against g . v within 5%
	 * (measured 0.5% mlp, 1.1% gpt). */
	size_t np = dtp_stage_model_num_params(m16);
	float *p = dtp_stage_model_params(m16), *keep = malloc(np * sizeof(float));
	float *v = malloc(np * sizeof(float));
	double gv = 0.0, pn = 0.0, vn = 0.0;
	struct dtp_rng r;

	assert_true(keep && v);
	memcpy(keep, p, np * sizeof(float));
	dtp_rng_init(&r, 9, 9);
	double gn = 0.0;

	for (size_t j = 0; j < np; j++)
		gn += (double)g16[j] * g16[j];
	gn = sqrt(gn / (double)np);
	for (size_t j = 0; j < np; j++) {
		v[j] = g16[j] + 0.5f * (float)gn * dtp_rng_normal(&r);
		pn += (double)p[j] * p[j];
		vn += (double)v[j] * v[j];
	}
	double scale = sqrt(pn / vn) / 1024.0;

	for (size_t j = 0; j < np; j++) {
		v[j] = (float)(v[j] * scale);
		gv += (double)g16[j] * v[j];
	}
	for (size_t j = 0; j < np; j++)
		p[j] = keep[j] + v[j];
	p = dtp_stage_model_params(m16);
	double lp = dtp_test_step(m16, &d, B, 0, NULL);

	for (size_t j = 0; j < np; j++)
		p[j] = keep[j] - v[j];
	dtp_stage_params_changed(m16);
	double lm = dtp_test_step(m16, &d, B, 0, NULL), fd = (lp - lm) / 2.0;

	printf("%s: loss fp32 %.6f bf16 %.6f, worst unit gradient error %.4f, "
	       "directional %.5g vs fd %.5g\n", text, l32, l16, worst, gv, fd);
	assert_true(fabs(fd - gv) <= 0.05 * fabs(gv));
	memcpy(p, keep, np * sizeof(float));
	free(keep); free(v);
	dtp_test_data_free(&d);
	dtp_stage_model_destroy(m16);
	dtp_stage_model_destroy(m32);
}

static void test_grads_mlp(void **state)
{
	(void)state;
	check_grads("mlp:48-64-40-10", 16, 1e-1);
}

static void test_grads_gpt(void **state)
{
	(void)state;
	check_grads("gpt:L=2,C=32,H=4,T=8,V=19", 3, 5e-2);
	/* whole 64-row tiles (N = 128): qkv and fc forward and the GELU's input
	 * gradient through the engine's tiles, gelu' kept in bf16 */
	check_grads("gpt:L=2,C=32,H=4,T=32,V=19", 4, 5e-2);
}

/* every element of x is an exact bf16 value */
static void assert_bf16_exact(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bits(x[i]) & 0xffffu)
			fail_msg("element %zu (%g) is not a bf16 value", i, (double)x[i]);
}

/* [0,n) against [0,k) + [k,n) in bf16, two micro-batches accumulating, the
 * boundary tensors through separate buffers as over a link, each an exact
 * bf16 value */
static void check_split(const char *text, int k, int B)
{
	static const struct dtp_test_split bf16 = {
		.setting = DTP_TEST_BF16, .boundary = assert_bf16_exact,
	};

	dtp_test_check_split(text, k, B, &bf16);
}

static void test_split_bit_identical(void **state)
{
	(void)state;
	check_split("mlp:48-64-40-33-10", 1, 5);
	check_split("mlp:48-64-40-33-10", 2, 5);
	check_split("gpt:L=3,C=32,H=4,T=8,V=19", 1, 2);
	check_split("gpt:L=3,C=32,H=4,T=8,V=19", 2, 2);
	check_split("gpt:L=3,C=32,H=4,T=8,V=19", 4, 2);
	/* two threads: the gpt's pool shares every matmul's rows, the mlp runs
	 * oneDNN on two OpenMP threads; a split stays bit-identical */
	dtp_test_threads = 2;
	check_split("mlp:48-64-40-33-10", 2, 5);
	check_split("gpt:L=3,C=32,H=4,T=8,V=19", 2, 2);
	check_split("gpt:L=2,C=64,H=4,T=64,V=19", 1, 4);
	dtp_test_threads = 1;
}

/* an optimizer step, and a write through dtp_stage_model_params, reach the
 * next forward: it equals a fresh model's with the same parameters */
static void test_weights_follow(void **state)
{
	struct dtp_model_spec s;
	struct dtp_optim_config c;
	struct dtp_optim *o;
	struct dtp_err err;
	struct dtp_test_data d;
	int B = 4;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("gpt:L=1,C=16,H=2,T=4,V=11", &s, &err), 0);
	struct dtp_stage_model *m = dtp_test_stage(&s, 0, 3, B, DTP_TEST_BF16);
	struct dtp_stage_model *f = dtp_test_stage(&s, 0, 3, B, DTP_TEST_BF16);
	size_t np = dtp_stage_model_num_params(m);

	dtp_test_data_make(&s, m, B, 4, &d);
	dtp_optim_config_default(&c, DTP_OPTIM_ADAMW);
	c.lr = 1e-2f;
	assert_int_equal(dtp_optim_create(&c, m, &o, &err), 0);
	double l0 = dtp_test_step(m, &d, B, 1, NULL);
	dtp_optim_step(o, 0, 1.0f);
	double l1 = dtp_test_step(m, &d, B, 0, NULL);

	memcpy(dtp_stage_model_params(f), dtp_stage_model_params(m), np * sizeof(float));
	double lf = dtp_test_step(f, &d, B, 0, NULL);

	assert_true(l1 < l0);
	assert_memory_equal(&l1, &lf, sizeof(l1));
	dtp_stage_model_params(m)[0] += 0.5f;
	assert_true(dtp_test_step(m, &d, B, 0, NULL) != l1);
	dtp_optim_destroy(o);
	dtp_test_data_free(&d);
	dtp_stage_model_destroy(f);
	dtp_stage_model_destroy(m);
}

/* fewer samples than the stage's maximum: the tiled path, close to fp32 */
static void test_small_batch(void **state)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct dtp_test_data d;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:70-130-10", &s, &err), 0);
	struct dtp_stage_model *m16 = dtp_test_stage(&s, 0, 2, 150, DTP_TEST_BF16);
	struct dtp_stage_model *m32 = dtp_test_stage(&s, 0, 2, 150, DTP_TEST_FP32);

	for (int B = 1; B <= 150; B += 37) {
		float *din16 = malloc(dtp_stage_model_in_bytes(m16, B));
		float *din32 = malloc(dtp_stage_model_in_bytes(m16, B));
		double e = 0.0, r = 0.0;

		dtp_test_data_make(&s, m16, B, (uint64_t)B, &d);
		double l16 = dtp_test_step(m16, &d, B, 1, din16);
		double l32 = dtp_test_step(m32, &d, B, 1, din32);

		assert_true(fabs(l16 - l32) <= 2e-2 * fabs(l32));
		for (size_t i = 0; i < d.inb / sizeof(float); i++) {
			e += ((double)din16[i] - din32[i]) * ((double)din16[i] - din32[i]);
			r += (double)din32[i] * din32[i];
		}
		assert_true(sqrt(e / r) < 5e-2);
		free(din16); free(din32);
		dtp_test_data_free(&d);
	}
	dtp_stage_model_destroy(m32);
	dtp_stage_model_destroy(m16);

	/* a gpt planned for 4 sequences of 32 (N = 128: whole 64-row tiles, the
	 * block's tiled producers) run on 1 to 4 (below 4: the ragged calls):
	 * every unit's gradients near fp32's at each size */
	int n = dtp_test_spec("gpt:L=2,C=32,H=4,T=32,V=19", &s);

	m16 = dtp_test_stage(&s, 0, n, 4, DTP_TEST_BF16);
	m32 = dtp_test_stage(&s, 0, n, 4, DTP_TEST_FP32);
	for (int B = 1; B <= 4; B++) {
		dtp_test_data_make(&s, m16, B, (uint64_t)B + 7, &d);
		double l16 = dtp_test_step(m16, &d, B, 1, NULL);
		double l32 = dtp_test_step(m32, &d, B, 1, NULL);

		assert_true(fabs(l16 - l32) <= 2e-2 * fabs(l32));
		dtp_test_worst_unit(&s, m16, m32, 5e-2, "gpt small batch", "bf16");
		dtp_test_data_free(&d);
	}
	dtp_stage_model_destroy(m32);
	dtp_stage_model_destroy(m16);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_convert_known),
		cmocka_unit_test(test_convert_paths_agree),
		cmocka_unit_test(test_pack_unpack),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_relu_keep),
		cmocka_unit_test(test_precision_names),
#ifndef DTP_HAVE_ONEDNN
		cmocka_unit_test(test_refused_without_onednn),
#else
		cmocka_unit_test(test_grads_mlp),
		cmocka_unit_test(test_grads_gpt),
		cmocka_unit_test(test_split_bit_identical),
		cmocka_unit_test(test_weights_follow),
		cmocka_unit_test(test_small_batch),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
