/* Finite-difference gradient checks for every unit kind (linear+relu, linear,
 * embed, block, lnf+head) through the public stage API, and for whole small
 * mlp and gpt models trained with dtp_xent.
 *
 * Tolerance. Everything runs in float32 (what ships); the loss is summed in
 * double. Central differences with step h = 1e-3: truncation error
 * h^2/6 * |f'''| ~ 1e-7, rounding error about ulp(float) * sum|terms| / (2h)
 * ~ 6e-8 * 10 / 2e-3 ~ 3e-4. A larger h (1e-2) steps across ReLU kinks
 * (a hidden pre-activation within h of zero) and gives O(1) errors on the
 * few weights feeding that unit: seen on the whole mlp. We accept
 * |analytic - numeric| <= 3e-2 * max(|analytic|, |numeric|) + 2e-3 (the
 * absolute floor covers gradients that are ~0, where only rounding remains);
 * the measured worst case is < 0.1 of that tolerance, while a wrong backward
 * (missing term, wrong transpose, factor 2) is off by O(1) relative.
 * The data is seeded, so the check is deterministic. */
#include "config.h"

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

#define H_STEP 1e-3f
#define RTOL 3e-2
#define ATOL 2e-3

struct gc {
	struct dtp_stage_model *m;
	int B;
	void *in;          /* B * in elems (float or int32) */
	float *out, *save, *dout, *din;
	const int32_t *targets;   /* NULL: loss = sum(out * R), R = dout */
	float *R;
	size_t nout, nin;
};

static void fill(float *p, size_t n, uint64_t seed, float scale)
{
	struct dtp_rng r;

	dtp_rng_init(&r, seed, 99);
	for (size_t i = 0; i < n; i++)
		p[i] = scale * (2.0f * dtp_rng_uniform(&r) - 1.0f);
}

static double loss(struct gc *g)
{
	double L = 0.0;

	assert_int_equal(dtp_stage_forward(g->m, g->in, g->out, g->save, g->B), 0);
	if (g->targets) {
		int V = dtp_stage_model_spec(g->m)->kind == DTP_MODEL_GPT ?
			dtp_stage_model_spec(g->m)->vocab :
			dtp_stage_model_spec(g->m)->widths[dtp_stage_model_spec(g->m)->n_widths - 1];
		int N = (int)(g->nout / (size_t)V);

		return dtp_xent(g->out, g->targets, N, V, NULL, 1.0f, NULL) / N;
	}
	for (size_t i = 0; i < g->nout; i++)
		L += (double)g->out[i] * g->R[i];
	return L;
}

static void analytic(struct gc *g, int want_din)
{
	dtp_stage_zero_grads(g->m);
	assert_int_equal(dtp_stage_forward(g->m, g->in, g->out, g->save, g->B), 0);
	if (g->targets) {
		int V = (int)(dtp_stage_model_out_bytes(g->m, 1) / sizeof(float));
		const struct dtp_model_spec *s = dtp_stage_model_spec(g->m);
		int N;

		if (s->kind == DTP_MODEL_GPT)
			V = s->vocab;
		N = (int)(g->nout / (size_t)V);
		double L = dtp_xent(g->out, g->targets, N, V, g->dout, 1.0f / N, NULL);
		assert_true(isfinite(L));
	} else {
		memcpy(g->dout, g->R, g->nout * sizeof(float));
	}
	assert_int_equal(dtp_stage_backward(g->m, g->in, g->save, g->dout,
					    want_din ? g->din : NULL, g->B), 0);
}

static int close_enough(double an, double fd, double *worst)
{
	double tol = RTOL * fmax(fabs(an), fabs(fd)) + ATOL;
	double e = fabs(an - fd);

	if (e / tol > *worst)
		*worst = e / tol;
	return e <= tol;
}

/* check every parameter (stride 1) or every stride-th one */
static void check_params(struct gc *g, size_t stride, const char *what)
{
	float *p = dtp_stage_model_params(g->m);
	const float *gr = dtp_stage_model_grads(g->m);
	size_t n = dtp_stage_model_num_params(g->m);
	double worst = 0.0;
	int bad = 0;

	analytic(g, 0);
	float *an = malloc(n * sizeof(float));
	assert_non_null(an);
	memcpy(an, gr, n * sizeof(float));
	for (size_t j = 0; j < n; j += stride) {
		float keep = p[j];

		p[j] = keep + H_STEP;
		double lp = loss(g);
		p[j] = keep - H_STEP;
		double lm = loss(g);
		p[j] = keep;
		double fd = (lp - lm) / (2.0 * (double)H_STEP);

		if (!close_enough(an[j], fd, &worst)) {
			if (bad < 5)
				print_error("%s: param %zu analytic %g numeric %g\n", what, j,
					    (double)an[j], fd);
			bad++;
		}
	}
	free(an);
	print_message("%s: %zu params, worst error/tolerance %.3f\n", what, n, worst);
	assert_int_equal(bad, 0);
}

static void check_input(struct gc *g, const char *what)
{
	float *x = g->in;
	double worst = 0.0;
	int bad = 0;

	analytic(g, 1);
	float *an = malloc(g->nin * sizeof(float));
	assert_non_null(an);
	memcpy(an, g->din, g->nin * sizeof(float));
	for (size_t j = 0; j < g->nin; j++) {
		float keep = x[j];

		x[j] = keep + H_STEP;
		double lp = loss(g);
		x[j] = keep - H_STEP;
		double lm = loss(g);
		x[j] = keep;
		double fd = (lp - lm) / (2.0 * (double)H_STEP);

		if (!close_enough(an[j], fd, &worst)) {
			if (bad < 5)
				print_error("%s: input %zu analytic %g numeric %g\n", what, j,
					    (double)an[j], fd);
			bad++;
		}
	}
	free(an);
	print_message("%s: %zu inputs, worst error/tolerance %.3f\n", what, g->nin, worst);
	assert_int_equal(bad, 0);
}

/* build a gc for units [first,last) of spec; tokens when the range starts at a gpt embed */
static void gc_setup(struct gc *g, const char *spec_text, int first, int last, int B,
		     int with_targets)
{
	struct dtp_model_spec s;
	struct dtp_err err;

	memset(g, 0, sizeof(*g));
	assert_int_equal(dtp_model_spec_parse(spec_text, &s, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, first, last, B, 7, &g->m, &err), 0);
	g->B = B;
	size_t inb = dtp_stage_model_in_bytes(g->m, B), outb = dtp_stage_model_out_bytes(g->m, B);

	g->in = malloc(inb);
	g->out = malloc(outb);
	g->dout = malloc(outb);
	g->R = malloc(outb);
	g->din = malloc(inb);
	g->save = malloc(dtp_stage_model_save_bytes(g->m, B) + 1);
	assert_true(g->in && g->out && g->dout && g->R && g->din && g->save);
	g->nout = outb / sizeof(float);
	g->nin = inb / sizeof(float);
	if (s.kind == DTP_MODEL_GPT && first == 0) {
		int32_t *tok = g->in;
		struct dtp_rng r;

		dtp_rng_init(&r, 5, 5);
		for (size_t i = 0; i < inb / sizeof(int32_t); i++)
			tok[i] = (int32_t)dtp_rng_below(&r, (uint64_t)s.vocab);
	} else {
		fill(g->in, g->nin, 11, 1.0f);
	}
	fill(g->R, g->nout, 13, 1.0f);
	/* non-trivial layernorm and bias parameters, so their gradients matter */
	float *p = dtp_stage_model_params(g->m);
	size_t n = dtp_stage_model_num_params(g->m);
	float *noise = malloc(n * sizeof(float));

	assert_non_null(noise);
	fill(noise, n, 17, 0.1f);
	for (size_t i = 0; i < n; i++)
		p[i] += noise[i];
	free(noise);
	if (with_targets) {
		int V = s.kind == DTP_MODEL_GPT ? s.vocab : s.widths[s.n_widths - 1];
		int N = (int)(g->nout / (size_t)V);
		int32_t *t = malloc((size_t)N * sizeof(int32_t));
		struct dtp_rng r;

		assert_non_null(t);
		dtp_rng_init(&r, 3, 3);
		for (int i = 0; i < N; i++)
			t[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);
		g->targets = t;
	}
}

static void gc_teardown(struct gc *g)
{
	dtp_stage_model_destroy(g->m);
	free(g->in);
	free(g->out);
	free(g->dout);
	free(g->R);
	free(g->din);
	free(g->save);
	free((void *)g->targets);
}

#define GPT_SMALL "gpt:L=2,C=8,H=2,T=5,V=11"

static void test_unit_linear_relu(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, "mlp:6-7-5-4", 1, 2, 3, 0);   /* unit 1: linear+relu 7->5 */
	check_params(&g, 1, "linear+relu params");
	check_input(&g, "linear+relu input");
	gc_teardown(&g);
}

static void test_unit_linear(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, "mlp:6-7-5-4", 2, 3, 3, 0);   /* unit 2: logits linear 5->4 */
	check_params(&g, 1, "linear params");
	check_input(&g, "linear input");
	gc_teardown(&g);
}

static void test_unit_embed(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, GPT_SMALL, 0, 1, 2, 0);
	check_params(&g, 1, "embed params");
	gc_teardown(&g);
}

static void test_unit_block(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, GPT_SMALL, 1, 2, 2, 0);
	check_params(&g, 1, "block params");
	check_input(&g, "block input");
	gc_teardown(&g);
}

static void test_unit_head(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, GPT_SMALL, 3, 4, 2, 0);
	check_params(&g, 1, "lnf+head params");
	check_input(&g, "lnf+head input");
	gc_teardown(&g);
}

static void test_whole_mlp_xent(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, "mlp:6-7-5-4", 0, 3, 4, 1);
	check_params(&g, 1, "mlp model params");
	check_input(&g, "mlp model input");
	gc_teardown(&g);
}

static void test_whole_gpt_xent(void **state)
{
	struct gc g;

	(void)state;
	gc_setup(&g, GPT_SMALL, 0, 4, 2, 1);
	check_params(&g, 1, "gpt model params");
	gc_teardown(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_linear_relu),
		cmocka_unit_test(test_unit_linear),
		cmocka_unit_test(test_unit_embed),
		cmocka_unit_test(test_unit_block),
		cmocka_unit_test(test_unit_head),
		cmocka_unit_test(test_whole_mlp_xent),
		cmocka_unit_test(test_whole_gpt_xent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
