/* fp32_matmul = onednn (model.h): an fp32 stage's linear matmuls on oneDNN's
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
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:8-4-3", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, 2, 2, 1, &m, &err), 0);
	assert_int_equal(dtp_stage_model_set_fp32_matmul(m, DTP_FP32_MATMUL_ONEDNN, &err),
			 -ENOTSUP);
	assert_non_null(strstr(err.msg, "libdnnl-dev"));
	dtp_stage_model_destroy(m);
}
#else

static int g_threads = 1;

/* a stage model of units [first, last) on fp32 matmul backend b */
static struct dtp_stage_model *make(const struct dtp_model_spec *s, int first, int last,
				    int B, enum dtp_fp32_matmul b)
{
	struct dtp_stage_model *m;
	struct dtp_err err;
	int nb = openblas_get_num_threads();

	openblas_set_num_threads(g_threads);
	assert_int_equal(dtp_stage_model_create_nw(s, first, last, B, 11, g_threads, &m, &err),
			 0);
	openblas_set_num_threads(nb);
	if (dtp_stage_model_set_fp32_matmul(m, b, &err))
		fail_msg("set_fp32_matmul: %s", err.msg);
	assert_int_equal(dtp_stage_model_fp32_matmul(m), b);
	return m;
}

struct data {
	void *in;
	int32_t *t;
	int N, V;
	size_t inb, outb;
};

static void make_data(const struct dtp_model_spec *s, struct dtp_stage_model *m, int B,
		      uint64_t seed, struct data *d)
{
	struct dtp_rng r;

	d->inb = dtp_stage_model_in_bytes(m, B);
	d->outb = dtp_stage_model_out_bytes(m, B);
	d->V = s->kind == DTP_MODEL_GPT ? s->vocab : s->widths[s->n_widths - 1];
	d->N = (int)(d->outb / sizeof(float)) / d->V;
	d->in = malloc(d->inb);
	d->t = malloc((size_t)d->N * sizeof(int32_t));
	assert_true(d->in && d->t);
	dtp_rng_init(&r, seed, 3);
	for (size_t i = 0; i < d->inb / 4; i++)
		if (s->kind == DTP_MODEL_GPT)
			((int32_t *)d->in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)d->V);
		else
			((float *)d->in)[i] = dtp_rng_normal(&r);
	for (int i = 0; i < d->N; i++)
		d->t[i] = (int32_t)dtp_rng_below(&r, (uint64_t)d->V);
}

/* loss of one forward, then zeroed gradients and one backward's */
static double step(struct dtp_stage_model *m, const struct data *d, int B, float *din)
{
	float *out = malloc(d->outb);
	void *save = malloc(dtp_stage_model_save_bytes(m, B));
	double L;

	assert_true(out && save);
	assert_int_equal(dtp_stage_forward(m, d->in, out, save, B), 0);
	L = dtp_xent(out, d->t, d->N, d->V, out, 1.0f / d->N, NULL) / d->N;
	dtp_stage_zero_grads(m);
	assert_int_equal(dtp_stage_backward(m, d->in, save, out, din, B), 0);
	free(out);
	free(save);
	return L;
}

static double rel(const float *a, const float *b, size_t n)
{
	double e = 0.0, r = 0.0;

	for (size_t i = 0; i < n; i++) {
		e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		r += (double)b[i] * b[i];
	}
	assert_true(r > 0.0);
	return sqrt(e / r);
}

/* onednn against openblas at micro-batch B of a stage made for Bmax */
static void check_close(const char *text, int B, int Bmax)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct data d;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	int n = dtp_model_num_units(&s);
	struct dtp_stage_model *mb = make(&s, 0, n, Bmax, DTP_FP32_MATMUL_OPENBLAS);
	struct dtp_stage_model *md = make(&s, 0, n, Bmax, DTP_FP32_MATMUL_ONEDNN);
	int mlp = s.kind == DTP_MODEL_MLP;

	make_data(&s, md, B, (uint64_t)B, &d);
	float *dinb = mlp ? malloc(d.inb) : NULL, *dind = mlp ? malloc(d.inb) : NULL;
	double lb = step(mb, &d, B, dinb), ld = step(md, &d, B, dind), worst = 0.0;

	assert_true(fabs(ld - lb) <= 1e-5 * fabs(lb));
	for (int u = 0; u < n; u++) {
		size_t off = dtp_stage_model_unit_offset(mb, u);
		struct dtp_unit_info info;
		double e;

		dtp_unit_describe(&s, u, &info);
		e = rel(dtp_stage_model_grads(md) + off, dtp_stage_model_grads(mb) + off,
			info.n_params);
		worst = fmax(worst, e);
		if (e > 1e-5)
			fail_msg("%s B=%d unit %d: onednn gradient off by %.3g relative", text, B, u, e);
	}
	if (mlp)
		assert_true(rel(dind, dinb, d.inb / sizeof(float)) <= 1e-5);
	printf("%s B=%d/%d threads=%d: loss openblas %.7f onednn %.7f, worst unit gradient %.2g\n",
	       text, B, Bmax, g_threads, lb, ld, worst);
	free(dinb); free(dind); free(d.in); free(d.t);
	dtp_stage_model_destroy(md);
	dtp_stage_model_destroy(mb);
}

static void test_grads(void **state)
{
	(void)state;
	for (g_threads = 1; g_threads <= 2; g_threads++) {
		check_close("mlp:48-64-40-10", 16, 16);
		check_close("mlp:784-256-256-10", 128, 128);
		check_close("gpt:L=2,C=32,H=4,T=8,V=19", 3, 3);
		check_close("gpt:L=2,C=64,H=4,T=32,V=50", 4, 4);
	}
	g_threads = 1;
}

/* micro-batches below the stage's maximum */
static void test_small_batch(void **state)
{
	(void)state;
	for (g_threads = 1; g_threads <= 2; g_threads++)
		for (int B = 1; B <= 150; B += B == 149 ? 1 : 37)   /* 1 ... 149, 150 */
			check_close("mlp:70-130-10", B, 150);
	g_threads = 1;
	check_close("gpt:L=2,C=32,H=4,T=8,V=19", 2, 5);
	g_threads = 1;
}

/* [0,n) against [0,k) + [k,n) on onednn, two micro-batches accumulating */
static void check_split(const char *text, int k, int B)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct data d;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	int n = dtp_model_num_units(&s);
	struct dtp_stage_model *w = make(&s, 0, n, B, DTP_FP32_MATMUL_ONEDNN);
	struct dtp_stage_model *a = make(&s, 0, k, B, DTP_FP32_MATMUL_ONEDNN);
	struct dtp_stage_model *b = make(&s, k, n, B, DTP_FP32_MATMUL_ONEDNN);

	make_data(&s, w, B, 2, &d);
	size_t midb = dtp_stage_model_out_bytes(a, B);
	float *lw = malloc(d.outb), *lb = malloc(d.outb), *mid = malloc(midb);
	float *dmid = malloc(midb), *dinw = malloc(d.inb), *dina = malloc(d.inb);
	void *sw = malloc(dtp_stage_model_save_bytes(w, B));
	void *sa = malloc(dtp_stage_model_save_bytes(a, B));
	void *sb = malloc(dtp_stage_model_save_bytes(b, B));

	assert_true(lw && lb && mid && dmid && dinw && dina && sw && sa && sb);
	dtp_stage_zero_grads(w);
	dtp_stage_zero_grads(a);
	dtp_stage_zero_grads(b);
	for (int mb = 0; mb < 2; mb++) {
		float *din_w = s.kind == DTP_MODEL_MLP ? dinw : NULL;
		float *din_a = s.kind == DTP_MODEL_MLP ? dina : NULL;

		assert_int_equal(dtp_stage_forward(w, d.in, lw, sw, B), 0);
		dtp_xent(lw, d.t, d.N, d.V, lw, 1.0f / d.N, NULL);
		assert_int_equal(dtp_stage_backward(w, d.in, sw, lw, din_w, B), 0);
		assert_int_equal(dtp_stage_forward(a, d.in, mid, sa, B), 0);
		assert_int_equal(dtp_stage_forward(b, mid, lb, sb, B), 0);
		dtp_xent(lb, d.t, d.N, d.V, lb, 1.0f / d.N, NULL);
		assert_memory_equal(lw, lb, d.outb);
		assert_int_equal(dtp_stage_backward(b, mid, sb, lb, dmid, B), 0);
		assert_int_equal(dtp_stage_backward(a, d.in, sa, dmid, din_a, B), 0);
		if (din_w)
			assert_memory_equal(dinw, dina, d.inb);
		if (s.kind == DTP_MODEL_MLP)
			((float *)d.in)[0] += 1.0f;
		else
			((int32_t *)d.in)[0] = (((int32_t *)d.in)[0] + 1) % d.V;
	}
	for (int u = 0; u < n; u++) {
		struct dtp_stage_model *p = u < k ? a : b;
		struct dtp_unit_info info;

		dtp_unit_describe(&s, u, &info);
		assert_memory_equal(dtp_stage_model_grads(w) + dtp_stage_model_unit_offset(w, u),
				    dtp_stage_model_grads(p) + dtp_stage_model_unit_offset(p, u),
				    info.n_params * sizeof(float));
	}
	free(lw); free(lb); free(mid); free(dmid); free(dinw); free(dina);
	free(sw); free(sa); free(sb); free(d.in); free(d.t);
	dtp_stage_model_destroy(b);
	dtp_stage_model_destroy(a);
	dtp_stage_model_destroy(w);
}

static void test_split_bit_identical(void **state)
{
	(void)state;
	for (g_threads = 1; g_threads <= 2; g_threads++) {
		check_split("mlp:48-64-40-33-10", 1, 5);
		check_split("mlp:48-256-256-33-10", 2, 130);
		check_split("gpt:L=3,C=32,H=4,T=8,V=19", 1, 2);
		check_split("gpt:L=3,C=32,H=4,T=8,V=19", 4, 2);
		check_split("gpt:L=2,C=64,H=4,T=64,V=19", 1, 4);
	}
	g_threads = 1;
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
