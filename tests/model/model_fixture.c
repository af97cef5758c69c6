/* The model tests' shared scaffolding (model_fixture.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cblas.h>

#include "model_fixture.h"

int dtp_test_threads = 1;

int dtp_test_spec(const char *text, struct dtp_model_spec *s)
{
	struct dtp_err err;

	assert_int_equal(dtp_model_spec_parse(text, s, &err), 0);
	return dtp_model_num_units(s);
}

/* each setting: a precision (set with dtp_stage_model_set_precision) or an
 * fp32 matmul backend (dtp_stage_model_set_fp32_matmul), and its value */
static const struct {
	int precision;
	int value;
} settings[] = {
	[DTP_TEST_FP32] = { 1, DTP_PRECISION_FP32 },
	[DTP_TEST_BF16] = { 1, DTP_PRECISION_BF16 },
	[DTP_TEST_OPENBLAS] = { 0, DTP_FP32_MATMUL_OPENBLAS },
	[DTP_TEST_ONEDNN] = { 0, DTP_FP32_MATMUL_ONEDNN },
};

/* m set to st: the setter's result */
static int setting_set(struct dtp_stage_model *m, enum dtp_test_setting st,
		       struct dtp_err *err)
{
	if (settings[st].precision)
		return dtp_stage_model_set_precision(m, (enum dtp_precision)settings[st].value,
						     err);
	return dtp_stage_model_set_fp32_matmul(m, (enum dtp_fp32_matmul)settings[st].value, err);
}

/* m's precision or fp32 matmul backend (whichever st sets), as it reads back */
static int setting_get(const struct dtp_stage_model *m, enum dtp_test_setting st)
{
	if (settings[st].precision)
		return (int)dtp_stage_model_precision(m);
	return (int)dtp_stage_model_fp32_matmul(m);
}

void dtp_test_refused(enum dtp_test_setting st)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	assert_int_equal(dtp_model_spec_parse("mlp:8-4-3", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, 2, 2, 1, &m, &err), 0);
	assert_int_equal(setting_set(m, st, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "libdnnl-dev"));
	dtp_stage_model_destroy(m);
}

struct dtp_stage_model *dtp_test_stage(const struct dtp_model_spec *s, int first, int last,
				       int B, enum dtp_test_setting st)
{
	struct dtp_stage_model *m;
	struct dtp_err err;
	int nb = openblas_get_num_threads();

	openblas_set_num_threads(dtp_test_threads);
	assert_int_equal(dtp_stage_model_create_nw(s, first, last, B, 11, dtp_test_threads, &m,
						   &err), 0);
	openblas_set_num_threads(nb);
	if (setting_set(m, st, &err))
		fail_msg("%s: %s", settings[st].precision ? "set_precision" : "set_fp32_matmul",
			 err.msg);
	assert_int_equal(setting_get(m, st), settings[st].value);
	return m;
}

void dtp_test_data_make(const struct dtp_model_spec *s, struct dtp_stage_model *m, int B,
			uint64_t seed, struct dtp_test_data *d)
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

void dtp_test_data_free(struct dtp_test_data *d)
{
	free(d->in);
	free(d->t);
}

double dtp_test_step(struct dtp_stage_model *m, const struct dtp_test_data *d, int B,
		     int grads, float *din)
{
	float *out = malloc(d->outb);
	void *save = malloc(dtp_stage_model_save_bytes(m, B));
	double L;

	assert_true(out && save);
	assert_int_equal(dtp_stage_forward(m, d->in, out, save, B), 0);
	L = dtp_xent(out, d->t, d->N, d->V, out, 1.0f / d->N, NULL) / d->N;
	if (grads) {
		dtp_stage_zero_grads(m);
		assert_int_equal(dtp_stage_backward(m, d->in, save, out, din, B), 0);
	}
	free(out);
	free(save);
	return L;
}

double dtp_test_rel(const float *a, const float *b, size_t n)
{
	double e = 0.0, r = 0.0;

	for (size_t i = 0; i < n; i++) {
		e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		r += (double)b[i] * b[i];
	}
	assert_true(r > 0.0);
	return sqrt(e / r);
}

double dtp_test_worst_unit(const struct dtp_model_spec *s, struct dtp_stage_model *m,
			   struct dtp_stage_model *ref, double tol, const char *what,
			   const char *name)
{
	const float *g = dtp_stage_model_grads(m), *gref = dtp_stage_model_grads(ref);
	double worst = 0.0;

	for (int u = 0; u < dtp_model_num_units(s); u++) {
		size_t off = dtp_stage_model_unit_offset(ref, u);
		struct dtp_unit_info info;
		double e;

		dtp_unit_describe(s, u, &info);
		e = dtp_test_rel(g + off, gref + off, info.n_params);
		worst = fmax(worst, e);
		if (e > tol)
			fail_msg("%s unit %d: %s gradient off by %.3g relative", what, u, name, e);
	}
	return worst;
}

/* one split check's models, data and buffers */
struct split {
	const struct dtp_model_spec *s;
	const struct dtp_test_split *how;
	int n, k, B;
	struct dtp_stage_model *w, *a, *b;      /* [0,n), [0,k), [k,n) */
	struct dtp_test_data d;
	size_t midb;                            /* bytes crossing the split */
	float *lw, *lb, *mid, *dmid, *dinw, *dina;
	void *sw, *sa, *sb;
};

static void split_alloc(struct split *x)
{
	x->midb = dtp_stage_model_out_bytes(x->a, x->B);
	x->lw = malloc(x->d.outb);
	x->lb = malloc(x->d.outb);
	x->mid = malloc(x->midb);
	x->dmid = malloc(x->midb);
	x->dinw = malloc(x->d.inb);
	x->dina = malloc(x->d.inb);
	x->sw = malloc(dtp_stage_model_save_bytes(x->w, x->B));
	x->sa = malloc(dtp_stage_model_save_bytes(x->a, x->B));
	x->sb = malloc(dtp_stage_model_save_bytes(x->b, x->B));
	assert_true(x->lw && x->lb && x->mid && x->dmid && x->dinw && x->dina && x->sw &&
		    x->sa && x->sb);
}

static void split_free(struct split *x)
{
	free(x->lw); free(x->lb); free(x->mid); free(x->dmid); free(x->dinw); free(x->dina);
	free(x->sw); free(x->sa); free(x->sb);
	dtp_test_data_free(&x->d);
}

/* the how's boundary check on n floats, where it has one */
static void split_boundary(const struct split *x, const float *v, size_t n)
{
	if (x->how->boundary)
		x->how->boundary(v, n);
}

/* one micro-batch through the whole model and the split; then the input
 * changed for the next */
static void split_micro_batch(struct split *x)
{
	struct dtp_test_data *d = &x->d;
	int B = x->B, mlp = x->s->kind == DTP_MODEL_MLP;
	float *din_w = mlp ? x->dinw : NULL, *din_a = mlp ? x->dina : NULL;

	assert_int_equal(dtp_stage_forward(x->w, d->in, x->lw, x->sw, B), 0);
	dtp_xent(x->lw, d->t, d->N, d->V, x->lw, 1.0f / d->N, NULL);
	assert_int_equal(dtp_stage_backward(x->w, d->in, x->sw, x->lw, din_w, B), 0);
	assert_int_equal(dtp_stage_forward(x->a, d->in, x->mid, x->sa, B), 0);
	split_boundary(x, x->mid, x->midb / sizeof(float));
	assert_int_equal(dtp_stage_forward(x->b, x->mid, x->lb, x->sb, B), 0);
	dtp_xent(x->lb, d->t, d->N, d->V, x->lb, 1.0f / d->N, NULL);
	assert_memory_equal(x->lw, x->lb, d->outb);
	assert_int_equal(dtp_stage_backward(x->b, x->mid, x->sb, x->lb, x->dmid, B), 0);
	split_boundary(x, x->dmid, x->midb / sizeof(float));
	assert_int_equal(dtp_stage_backward(x->a, d->in, x->sa, x->dmid, din_a, B), 0);
	if (din_w) {
		assert_memory_equal(x->dinw, x->dina, d->inb);
		split_boundary(x, x->dinw, d->inb / sizeof(float));
	}
	if (mlp)
		((float *)d->in)[0] += 1.0f;
	else
		((int32_t *)d->in)[0] = (((int32_t *)d->in)[0] + 1) % d->V;
}

/* every unit's gradients in the split equal the whole model's */
static void split_grads_equal(const struct split *x)
{
	for (int u = 0; u < x->n; u++) {
		struct dtp_stage_model *p = u < x->k ? x->a : x->b;
		size_t ow = dtp_stage_model_unit_offset(x->w, u);
		size_t op = dtp_stage_model_unit_offset(p, u);
		struct dtp_unit_info info;

		dtp_unit_describe(x->s, u, &info);
		assert_memory_equal(dtp_stage_model_grads(x->w) + ow, dtp_stage_model_grads(p) + op,
				    info.n_params * sizeof(float));
	}
}

void dtp_test_check_split(const char *text, int k, int B, const struct dtp_test_split *how)
{
	struct dtp_model_spec s;
	struct split x = { .s = &s, .how = how, .k = k, .B = B };

	x.n = dtp_test_spec(text, &s);
	x.w = dtp_test_stage(&s, 0, x.n, B, how->setting);
	x.a = dtp_test_stage(&s, 0, k, B, how->setting);
	x.b = dtp_test_stage(&s, k, x.n, B, how->setting);
	dtp_test_data_make(&s, x.w, B, 2, &x.d);
	split_alloc(&x);
	if (how->zero_grads) {
		dtp_stage_zero_grads(x.w);
		dtp_stage_zero_grads(x.a);
		dtp_stage_zero_grads(x.b);
	}
	for (int mb = 0; mb < 2; mb++)
		split_micro_batch(&x);
	split_grads_equal(&x);
	split_free(&x);
	dtp_stage_model_destroy(x.b);
	dtp_stage_model_destroy(x.a);
	dtp_stage_model_destroy(x.w);
}
