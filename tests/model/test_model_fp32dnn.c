/* fp32_matmul = onednn (model.h): an fp32 stage's matmuls on oneDNN's
 * fp32 matmul primitives.
 *  - the setting's names, and its refusal without oneDNN;
 *  - gradients: the same fp32 arithmetic in another summation order, so a
 *    onednn stage's loss, parameter gradients and input gradient agree with
 *    the openblas stage's (themselves checked by finite differences in
 *    test_model_grad) to fp32 rounding: relative 1e-5 per unit (a dot
 *    product of k terms reordered moves by ~sqrt(k) u ~ 1e-6 relative); a
 *    wrong transpose, stride or missing sum is off by O(1). 1 and 2 threads,
 *    the mlp and the gpt;
 *  - a K-stage split is bit-identical to the whole model on the same
 *    backend, two micro-batches accumulating, 1 and 2 threads;
 *  - any micro-batch size up to the stage's maximum gives the same results
 *    within fp32 rounding (a smaller one is not the planned shape);
 *  - the memory prediction equals what the model holds. */
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
#include "model/stage.h"

#include <cblas.h>

#include "model_fixture.h"

static void test_names(void **state)
{
	enum dtp_fp32_matmul b;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_fp32_matmul_parse("onednn", &b, &err), 0);
	assert_int_equal(b, DTP_FP32_MATMUL_ONEDNN);
	assert_string_equal(dtp_fp32_matmul_name(b), "onednn");
	assert_int_equal(dtp_fp32_matmul_parse("openblas", &b, &err), 0);
	assert_int_equal(b, DTP_FP32_MATMUL_OPENBLAS);
	assert_string_equal(dtp_fp32_matmul_name(b), "openblas");
	assert_int_equal(dtp_fp32_matmul_check(b, &err), 0);
	assert_int_equal(dtp_fp32_matmul_parse("mkl", &b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "openblas or onednn"));
}

#ifndef DTP_HAVE_ONEDNN
static void test_refused_without_onednn(void **state)
{
	(void)state;
	dtp_test_refused(DTP_TEST_ONEDNN);
}
#else

/* onednn against openblas at micro-batch B of a stage made for Bmax */
static void check_close(const char *text, int B, int Bmax)
{
	struct dtp_model_spec s;
	struct dtp_test_data d;
	char what[128];
	int n = dtp_test_spec(text, &s);
	struct dtp_stage_model *mb = dtp_test_stage(&s, 0, n, Bmax, DTP_TEST_OPENBLAS);
	struct dtp_stage_model *md = dtp_test_stage(&s, 0, n, Bmax, DTP_TEST_ONEDNN);
	int mlp = s.kind == DTP_MODEL_MLP;

	dtp_test_data_make(&s, md, B, (uint64_t)B, &d);
	float *dinb = mlp ? malloc(d.inb) : NULL, *dind = mlp ? malloc(d.inb) : NULL;
	double lb = dtp_test_step(mb, &d, B, 1, dinb), ld = dtp_test_step(md, &d, B, 1, dind);

	assert_true(fabs(ld - lb) <= 1e-5 * fabs(lb));
	snprintf(what, sizeof(what), "%s B=%d", text, B);
	double worst = dtp_test_worst_unit(&s, md, mb, 1e-5, what, "onednn");

	if (mlp)
		assert_true(dtp_test_rel(dind, dinb, d.inb / sizeof(float)) <= 1e-5);
	printf("%s B=%d/%d threads=%d: loss openblas %.7f onednn %.7f, worst unit gradient %.2g\n",
	       text, B, Bmax, dtp_test_threads, lb, ld, worst);
	free(dinb); free(dind);
	dtp_test_data_free(&d);
	dtp_stage_model_destroy(md);
	dtp_stage_model_destroy(mb);
}

static void test_grads(void **state)
{
	(void)state;
	for (dtp_test_threads = 1; dtp_test_threads <= 2; dtp_test_threads++) {
		check_close("mlp:48-64-40-10", 16, 16);
		check_close("mlp:784-256-256-10", 128, 128);
		check_close("gpt:L=2,C=32,H=4,T=8,V=19", 3, 3);
		check_close("gpt:L=2,C=64,H=4,T=32,V=50", 4, 4);
	}
	dtp_test_threads = 1;
}

/* micro-batches below the stage's maximum */
static void test_small_batch(void **state)
{
	(void)state;
	for (dtp_test_threads = 1; dtp_test_threads <= 2; dtp_test_threads++)
		for (int B = 1; B <= 150; B += B == 149 ? 1 : 37)   /* 1 ... 149, 150 */
			check_close("mlp:70-130-10", B, 150);
	dtp_test_threads = 1;
	check_close("gpt:L=2,C=32,H=4,T=8,V=19", 2, 5);
	dtp_test_threads = 1;
}

/* [0,n) against [0,k) + [k,n) on onednn, two micro-batches accumulating */
static void check_split(const char *text, int k, int B)
{
	static const struct dtp_test_split onednn = {
		.setting = DTP_TEST_ONEDNN, .zero_grads = 1,
	};

	dtp_test_check_split(text, k, B, &onednn);
}

static void test_split_bit_identical(void **state)
{
	(void)state;
	for (dtp_test_threads = 1; dtp_test_threads <= 2; dtp_test_threads++) {
		check_split("mlp:48-64-40-33-10", 1, 5);
		check_split("mlp:48-256-256-33-10", 2, 130);
		check_split("gpt:L=3,C=32,H=4,T=8,V=19", 1, 2);
		check_split("gpt:L=3,C=32,H=4,T=8,V=19", 4, 2);
		check_split("gpt:L=2,C=64,H=4,T=64,V=19", 1, 4);
	}
	dtp_test_threads = 1;
}

/* the memory prediction before the model exists equals what it holds */
static void test_mem(void **state)
{
	static const char *const specs[] = { "mlp:784-256-256-10", "gpt:L=2,C=64,H=4,T=32,V=50" };
	int nb = openblas_get_num_threads();

	(void)state;
	for (int t = 1; t <= 2; t++)
		for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
			struct dtp_model_spec s;
			struct dtp_stage_model *m;
			struct dtp_err err;
			size_t pred = 0;

			openblas_set_num_threads(t);
			assert_int_equal(dtp_model_spec_parse(specs[i], &s, &err), 0);
			int n = dtp_model_num_units(&s);

			assert_int_equal(dtp_stage_model_fp32_matmul_bytes(&s, 0, n, 8,
					 DTP_PRECISION_FP32, DTP_FP32_MATMUL_ONEDNN, &pred, &err), 0);
			assert_int_equal(dtp_stage_model_create(&s, 0, n, 8, 1, &m, &err), 0);
			assert_int_equal(dtp_stage_model_precision_held(m), 0);
			assert_int_equal(dtp_stage_model_set_fp32_matmul(m, DTP_FP32_MATMUL_ONEDNN,
									 &err), 0);
			assert_int_equal(dtp_stage_model_precision_held(m), pred);
			dtp_stage_model_destroy(m);
			/* openblas, or bf16 (whose engine is counted as precision's) */
			assert_int_equal(dtp_stage_model_fp32_matmul_bytes(&s, 0, n, 8,
					 DTP_PRECISION_FP32, DTP_FP32_MATMUL_OPENBLAS, &pred, &err), 0);
			assert_int_equal(pred, 0);
			assert_int_equal(dtp_stage_model_fp32_matmul_bytes(&s, 0, n, 8,
					 DTP_PRECISION_BF16, DTP_FP32_MATMUL_ONEDNN, &pred, &err), 0);
			assert_int_equal(pred, 0);
		}
	openblas_set_num_threads(nb);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
#ifndef DTP_HAVE_ONEDNN
		cmocka_unit_test(test_refused_without_onednn),
#else
		cmocka_unit_test(test_grads),
		cmocka_unit_test(test_small_batch),
		cmocka_unit_test(test_split_bit_identical),
		cmocka_unit_test(test_mem),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
