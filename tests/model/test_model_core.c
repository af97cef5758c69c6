/* Unit tests for the model core: specs (parse, validate, format), softmax
 * cross-entropy against hand-computed values, optimizer updates, learning-rate
 * schedule and clipping against hand-computed values, seeded init across unit
 * ranges, and bit-identical results for a model split over stages. */
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

#include "model/model.h"

/* ---------------------------------------------------------------- specs */

static void test_spec_parse_forms(void **state)
{
	struct dtp_model_spec s;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:784-1024-1024-10", &s, &err), 0);
	assert_int_equal(s.kind, DTP_MODEL_MLP);
	assert_int_equal(s.n_widths, 4);
	assert_int_equal(s.widths[0], 784);
	assert_int_equal(s.widths[3], 10);
	assert_int_equal(dtp_model_num_units(&s), 3);
	assert_int_equal(dtp_model_num_params(&s), 784 * 1024 + 1024 + 1024 * 1024 + 1024 +
			 1024 * 10 + 10);
	assert_int_equal(dtp_model_spec_parse("gpt:L=4,C=256,H=4,T=128,V=256", &s, &err), 0);
	assert_int_equal(s.kind, DTP_MODEL_GPT);
	assert_int_equal(s.layers, 4);
	assert_int_equal(s.dim, 256);
	assert_int_equal(s.heads, 4);
	assert_int_equal(s.seq_len, 128);
	assert_int_equal(s.vocab, 256);
	assert_int_equal(dtp_model_num_units(&s), 6);
	assert_int_equal(dtp_model_spec_parse("gpt:vocab=9,seq=3,heads=2,dim=4,layers=1", &s,
					      &err), 0);
	assert_int_equal(s.vocab, 9);

	struct dtp_unit_info u;

	assert_int_equal(dtp_unit_describe(&s, 0, &u), 0);
	assert_string_equal(u.name, "embed");
	assert_int_equal(u.in_dtype, DTP_DTYPE_I32);
	assert_int_equal(dtp_unit_describe(&s, 1, &u), 0);
	assert_string_equal(u.name, "block");
	assert_int_equal(u.n_params, 12 * 16 + 13 * 4);
	/* T = 3, C = 4: 24 T C^2 weighted, 4 T^2 C weightless (q k^T, att v);
	 * B has two matmuls per weightless one, W none */
	double fb, fw;

	assert_true(u.fwd_flops == 24.0 * 3 * 16 + 4.0 * 9 * 4);
	assert_true(u.noweight_flops == 4.0 * 9 * 4);
	dtp_unit_bwd_flops(&u, &fb, &fw);
	assert_true(fb == 24.0 * 3 * 16 + 2 * 4.0 * 9 * 4 && fw == 24.0 * 3 * 16);
	assert_int_equal(dtp_unit_describe(&s, 2, &u), 0);
	assert_string_equal(u.name, "lnf+head");
	assert_int_equal(u.out_elems, 3 * 9);
	dtp_unit_bwd_flops(&u, &fb, &fw);   /* weights only: B = W = F */
	assert_true(fb == u.fwd_flops && fw == u.fwd_flops);
	assert_int_equal(dtp_unit_describe(&s, 3, &u), -EINVAL);
}

static void test_spec_round_trip(void **state)
{
	const char *texts[] = { "mlp:784-1024-1024-1024-10", "mlp:3-1",
				"gpt:layers=12,dim=768,heads=12,seq=128,vocab=50257" };
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct dtp_model_spec a, b;
		struct dtp_err err;

		assert_int_equal(dtp_model_spec_parse(texts[i], &a, &err), 0);
		int n = dtp_model_spec_format(&a, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(texts[i]));
		assert_string_equal(buf, texts[i]);
		assert_int_equal(dtp_model_spec_parse(buf, &b, &err), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(dtp_model_spec_format(&a, buf, 5), -ENOSPC);
	}
}

static void test_spec_errors(void **state)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "", "empty" },
		{ "784-10", "kind" },
		{ "cnn:3-4", "unknown model kind \"cnn\"" },
		{ "mlp:784", "2 to 65" },
		{ "mlp:784-0-10", "width 2 is 0" },
		{ "mlp:784--10", "width 2" },
		{ "mlp:784-x-10", "not an integer" },
		{ "mlp:784-10-", "not an integer" },
		{ "gpt:L=4,C=256,H=3,T=128,V=256", "does not divide" },
		{ "gpt:L=0,C=256,H=4,T=128,V=256", "layers is 0" },
		{ "gpt:L=4,C=-8,H=4,T=128,V=256", "dim is -8" },
		{ "gpt:L=4,C=256,H=4,T=128", "needs all of" },
		{ "gpt:L=4,C=256,H=4,T=128,V=256,Q=1", "unknown gpt key \"Q\"" },
		{ "gpt:L=4,L=5,C=256,H=4,T=128,V=256", "twice" },
		{ "gpt:L=4,C=256,H=4,T=128,V", "key=value" },
		{ "gpt:L=4,C=256,H=4,T=12x,V=256", "not an integer" },
		{ "gpt:L=99999999999,C=256,H=4,T=128,V=256", "not an integer" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dtp_model_spec s;
		struct dtp_err err;

		memset(&s, 0x5a, sizeof(s));
		dtp_err_clear(&err);
		assert_int_equal(dtp_model_spec_parse(bad[i].text, &s, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].needle))
			fail_msg("spec \"%s\": message \"%s\" lacks \"%s\"", bad[i].text, err.msg,
				 bad[i].needle);
		/* outputs untouched on error */
		assert_int_equal(s.n_widths, 0x5a5a5a5a);
	}
	struct dtp_model_spec s = { .kind = 7 };
	struct dtp_err err;

	assert_int_equal(dtp_model_spec_validate(&s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown model kind"));
	assert_int_equal(dtp_err_exit(&err, -EINVAL), DTP_EXIT_BADINPUT);
}

/* ----------------------------------------------------------------- xent */

static void test_xent_values(void **state)
{
	/* row 0: logits 1,2,3 target 2: loss = log(e^1+e^2+e^3) - 3 = 0.40760596;
	 * row 1: same logits, target 0: 2.40760596. softmax = .09003057,
	 * .24472847, .66524096 */
	float lg[6] = { 1, 2, 3, 1, 2, 3 }, d[6];
	int32_t t[2] = { 2, 0 };
	int correct = -1;

	(void)state;
	double L = dtp_xent(lg, t, 2, 3, d, 0.5f, &correct);
	assert_true(fabs(L - (0.40760596 + 2.40760596)) < 1e-6);
	assert_int_equal(correct, 1);
	const float want[6] = { 0.5f * 0.09003057f, 0.5f * 0.24472847f, 0.5f * (0.66524096f - 1),
				0.5f * (0.09003057f - 1), 0.5f * 0.24472847f, 0.5f * 0.66524096f };
	for (int i = 0; i < 6; i++)
		assert_true(fabsf(d[i] - want[i]) < 1e-6f);
	/* in place (dlogits aliasing logits) gives the same */
	assert_true(fabs(dtp_xent(lg, t, 2, 3, lg, 0.5f, NULL) - L) < 1e-12);
	assert_memory_equal(lg, d, sizeof(d));
	/* large logits do not overflow */
	float big[3] = { 1000, 0, -1000 };
	int32_t t0 = 0;
	assert_true(fabs(dtp_xent(big, &t0, 1, 3, NULL, 1.0f, NULL)) < 1e-6);
	/* a target out of range: NAN and nothing written */
	float keep[3] = { 7, 7, 7 }, l3[3] = { 1, 2, 3 };
	int32_t tb = 3;
	assert_true(isnan(dtp_xent(l3, &tb, 1, 3, keep, 1.0f, NULL)));
	tb = -1;
	assert_true(isnan(dtp_xent(l3, &tb, 1, 3, keep, 1.0f, NULL)));
	assert_true(keep[0] == 7 && keep[1] == 7 && keep[2] == 7);
}

/* ----------------------------------------------------------- optimizers */

/* mlp:1-1 is one unit with W (1x1, a matrix: decayed) then b (1, not decayed) */
static struct dtp_stage_model *tiny_model(void)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	assert_int_equal(dtp_model_spec_parse("mlp:1-1", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, 1, 1, 1, &m, &err), 0);
	assert_int_equal(dtp_stage_model_num_params(m), 2);
	return m;
}

static void test_sgd_momentum(void **state)
{
	struct dtp_stage_model *m = tiny_model();
	struct dtp_optim_config c;
	struct dtp_optim *o;
	float *p = dtp_stage_model_params(m), *g = dtp_stage_model_grads(m);

	(void)state;
	dtp_optim_config_default(&c, DTP_OPTIM_SGD);
	c.lr = 0.1f;
	c.momentum = 0.9f;
	c.weight_decay = 0.1f;
	assert_int_equal(dtp_optim_create(&c, m, &o, NULL), 0);
	p[0] = 1.0f; p[1] = 1.0f;
	g[0] = 1.0f; g[1] = 1.0f;
	/* grad_mult 0.5: W: d = 0.5 + 0.1*1 = 0.6, buf 0.6, p = 1 - 0.06 = 0.94;
	 * b (no decay): d = 0.5, buf 0.5, p = 0.95 */
	dtp_optim_step(o, 0, 0.5f);
	assert_float_equal(p[0], 0.94f, 1e-6);
	assert_float_equal(p[1], 0.95f, 1e-6);
	/* step 2, grads 0.5 (mult 1): W: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594
	 * = 1.134, p = 0.94 - 0.1134 = 0.8266; b: buf = 0.45 + 0.5 = 0.95, p = 0.855 */
	g[0] = 0.5f; g[1] = 0.5f;
	dtp_optim_step(o, 1, 1.0f);
	assert_float_equal(p[0], 0.8266f, 1e-6);
	assert_float_equal(p[1], 0.855f, 1e-6);
	size_t n;
	float *st = dtp_optim_state(o, &n);
	assert_int_equal(n, 2);
	assert_float_equal(st[0], 1.134f, 1e-6);
	assert_float_equal(st[1], 0.95f, 1e-6);
	dtp_optim_destroy(o);
	dtp_stage_model_destroy(m);
}

static void test_adamw(void **state)
{
	struct dtp_stage_model *m = tiny_model();
	struct dtp_optim_config c;
	struct dtp_optim *o;
	float *p = dtp_stage_model_params(m), *g = dtp_stage_model_grads(m);

	(void)state;
	dtp_optim_config_default(&c, DTP_OPTIM_ADAMW);
	c.lr = 0.1f;
	c.weight_decay = 0.1f;
	assert_int_equal(dtp_optim_create(&c, m, &o, NULL), 0);
	p[0] = 1.0f; p[1] = 1.0f;
	g[0] = 0.5f; g[1] = 0.5f;
	/* t=1: m = 0.05, v = 0.00025, mhat = 0.5, vhat = 0.25, step = 0.5/0.5 = 1:
	 * W: p = 1 - 0.1*(1 + 0.1*1) = 0.89; b: p = 1 - 0.1 = 0.9 */
	dtp_optim_step(o, 0, 1.0f);
	assert_float_equal(p[0], 0.89f, 1e-6);
	assert_float_equal(p[1], 0.9f, 1e-6);
	/* t=2, W grad -0.25: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625
	 * = 0.00031225, mhat = 0.02/0.19 = 0.1052632, vhat = 0.00031225/0.001999
	 * = 0.1562031, sqrt = 0.3952254, ratio = 0.2663370;
	 * p = 0.89 - 0.1*(0.2663370 + 0.089) = 0.8544663 */
	g[0] = -0.25f;
	g[1] = 0.0f;
	dtp_optim_step(o, 1, 1.0f);
	assert_float_equal(p[0], 0.8544663f, 2e-6);
	size_t n;
	float *st = dtp_optim_state(o, &n);
	assert_int_equal(n, 4);
	assert_float_equal(st[0], 0.02f, 1e-7);
	/* 1 - 0.999f in float is 0.00099998713: 1.3e-5 relative */
	assert_float_equal(st[2], 0.00031225f, 5e-9);
	dtp_optim_destroy(o);
	dtp_stage_model_destroy(m);
}

static void test_lr_schedule_and_clip(void **state)
{
	struct dtp_optim_config c;
	struct dtp_err err;

	(void)state;
	dtp_optim_config_default(&c, DTP_OPTIM_SGD);
	c.lr = 1.0f;
	c.warmup_steps = 4;
	c.total_steps = 12;
	c.min_lr_ratio = 0.1f;
	assert_int_equal(dtp_optim_config_validate(&c, &err), 0);
	assert_float_equal(dtp_lr_at(&c, 0), 0.25f, 1e-7);
	assert_float_equal(dtp_lr_at(&c, 1), 0.5f, 1e-7);
	assert_float_equal(dtp_lr_at(&c, 3), 1.0f, 1e-7);
	assert_float_equal(dtp_lr_at(&c, 4), 1.0f, 1e-7);
	/* halfway through the cosine: 0.1 + 0.9 * 0.5 */
	assert_float_equal(dtp_lr_at(&c, 8), 0.55f, 1e-6);
	/* a quarter: 0.1 + 0.9 * 0.5 * (1 + cos(pi/4)) = 0.8681981 */
	assert_float_equal(dtp_lr_at(&c, 6), 0.8681981f, 1e-6);
	assert_float_equal(dtp_lr_at(&c, 12), 0.1f, 1e-6);
	assert_float_equal(dtp_lr_at(&c, 1000), 0.1f, 1e-6);
	c.warmup_steps = 0;
	c.total_steps = 0;
	assert_float_equal(dtp_lr_at(&c, 77), 1.0f, 0);

	c.clip_norm = 1.0f;
	/* norm 4 -> 1/(4 + 1e-6) */
	assert_float_equal(dtp_clip_factor(&c, 16.0), (float)(1.0 / (4.0 + 1e-6)), 1e-7);
	assert_float_equal(dtp_clip_factor(&c, 0.25), 1.0f, 0);
	c.clip_norm = 0.0f;
	assert_float_equal(dtp_clip_factor(&c, 1e6), 1.0f, 0);

	c.momentum = 1.0f;
	assert_int_equal(dtp_optim_config_validate(&c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "momentum"));
	dtp_optim_config_default(&c, DTP_OPTIM_ADAMW);
	c.lr = -1.0f;
	assert_int_equal(dtp_optim_config_validate(&c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "learning rate"));
}

/* -------------------------------------------- init and stage partitions */

static void check_init_ranges(const char *text, int k)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *whole, *a, *b, *other;
	struct dtp_err err;
	int n;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	n = dtp_model_num_units(&s);
	assert_int_equal(dtp_stage_model_create(&s, 0, n, 2, 42, &whole, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, k, 2, 42, &a, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, k, n, 2, 42, &b, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, n, 2, 43, &other, &err), 0);
	assert_int_equal(dtp_stage_model_num_params(whole), dtp_model_num_params(&s));
	assert_int_equal(dtp_stage_model_num_params(a) + dtp_stage_model_num_params(b),
			 dtp_model_num_params(&s));
	for (int u = 0; u < n; u++) {
		struct dtp_stage_model *part = u < k ? a : b;
		struct dtp_unit_info info;

		dtp_unit_describe(&s, u, &info);
		const float *pw = dtp_stage_model_params(whole) + dtp_stage_model_unit_offset(whole, u);
		const float *pp = dtp_stage_model_params(part) + dtp_stage_model_unit_offset(part, u);
		const float *po = dtp_stage_model_params(other) + dtp_stage_model_unit_offset(other, u);

		assert_memory_equal(pw, pp, info.n_params * sizeof(float));
		assert_memory_not_equal(pw, po, info.n_params * sizeof(float));
	}
	/* different units draw different numbers */
	if (s.kind == DTP_MODEL_GPT && s.layers >= 2) {
		struct dtp_unit_info info;

		dtp_unit_describe(&s, 1, &info);
		assert_memory_not_equal(dtp_stage_model_params(whole) +
					dtp_stage_model_unit_offset(whole, 1),
					dtp_stage_model_params(whole) +
					dtp_stage_model_unit_offset(whole, 2),
					info.n_params * sizeof(float));
	}
	dtp_stage_model_destroy(other);
	dtp_stage_model_destroy(b);
	dtp_stage_model_destroy(a);
	dtp_stage_model_destroy(whole);
}

static void test_init_same_across_ranges(void **state)
{
	(void)state;
	check_init_ranges("mlp:20-16-12-8-5", 2);
	check_init_ranges("mlp:20-16-12-8-5", 1);
	check_init_ranges("gpt:L=3,C=16,H=4,T=6,V=13", 2);
	check_init_ranges("gpt:L=3,C=16,H=4,T=6,V=13", 4);
}

/* One training micro-batch through [0,n) and through [0,k) then [k,n), with the
 * activation and gradient passed through separately allocated, differently
 * aligned buffers (as a transport would): logits, input gradient and every
 * parameter gradient must be bit-identical. */
static void check_split_bit_identical(const char *text, int k, int B)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *w, *a, *b;
	struct dtp_err err;
	int n;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	n = dtp_model_num_units(&s);
	assert_int_equal(dtp_stage_model_create(&s, 0, n, B, 9, &w, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 0, k, B, 9, &a, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, k, n, B, 9, &b, &err), 0);

	size_t inb = dtp_stage_model_in_bytes(w, B), outb = dtp_stage_model_out_bytes(w, B);
	size_t midb = dtp_stage_model_out_bytes(a, B);
	int V = s.kind == DTP_MODEL_GPT ? s.vocab : s.widths[s.n_widths - 1];
	int N = (int)(outb / sizeof(float)) / V;
	char *in = malloc(inb), *lw = malloc(outb), *lb = malloc(outb);
	char *mid = malloc(midb + 4), *dmid = malloc(midb + 8);
	char *sw = malloc(dtp_stage_model_save_bytes(w, B));
	char *sa = malloc(dtp_stage_model_save_bytes(a, B) + 4);
	char *sb = malloc(dtp_stage_model_save_bytes(b, B) + 4);
	char *dinw = malloc(inb), *dina = malloc(inb + 4);
	int32_t *t = malloc((size_t)N * sizeof(int32_t));
	struct dtp_rng r;

	assert_true(in && lw && lb && mid && dmid && sw && sa && sb && dinw && dina && t);
	dtp_rng_init(&r, 1, 2);
	if (s.kind == DTP_MODEL_GPT)
		for (size_t i = 0; i < inb / 4; i++)
			((int32_t *)in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);
	else
		for (size_t i = 0; i < inb / 4; i++)
			((float *)in)[i] = dtp_rng_normal(&r);
	for (int i = 0; i < N; i++)
		t[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);

	/* two micro-batches, so gradient accumulation is covered too */
	for (int mb = 0; mb < 2; mb++) {
		float *midp = (float *)(mid + 4), *dmidp = (float *)(dmid + 8);
		float *sap = (float *)(sa + 4), *sbp = (float *)(sb + 4);
		float *dinap = (float *)(dina + 4);
		double l1, l2;

		assert_int_equal(dtp_stage_forward(w, in, lw, sw, B), 0);
		l1 = dtp_xent((float *)lw, t, N, V, (float *)lw, 1.0f / N, NULL);
		assert_int_equal(dtp_stage_backward(w, in, sw, (float *)lw, (float *)dinw, B), 0);

		assert_int_equal(dtp_stage_forward(a, in, midp, sap, B), 0);
		assert_int_equal(dtp_stage_forward(b, midp, lb, sbp, B), 0);
		l2 = dtp_xent((float *)lb, t, N, V, (float *)lb, 1.0f / N, NULL);
		assert_memory_equal(&l1, &l2, sizeof(l1));
		assert_int_equal(dtp_stage_backward(b, midp, sbp, (float *)lb, dmidp, B), 0);
		assert_int_equal(dtp_stage_backward(a, in, sap, dmidp, dinap, B), 0);
		assert_memory_equal(lw, lb, outb);
		if (s.kind == DTP_MODEL_MLP)
			assert_memory_equal(dinw, dinap, inb);
		/* the next micro-batch sees other data */
		if (s.kind == DTP_MODEL_MLP)
			((float *)in)[0] += 1.0f;
		else
			((int32_t *)in)[0] = (((int32_t *)in)[0] + 1) % V;
	}
	for (int u = 0; u < n; u++) {
		struct dtp_stage_model *p = u < k ? a : b;
		struct dtp_unit_info info;

		dtp_unit_describe(&s, u, &info);
		assert_memory_equal(dtp_stage_model_grads(w) + dtp_stage_model_unit_offset(w, u),
				    dtp_stage_model_grads(p) + dtp_stage_model_unit_offset(p, u),
				    info.n_params * sizeof(float));
	}
	/* grad sum of squares per unit agrees too */
	double *gw = calloc((size_t)n, sizeof(double)), *gs = calloc((size_t)n, sizeof(double));
	assert_true(gw && gs);
	dtp_stage_grad_sumsq(w, gw);
	dtp_stage_grad_sumsq(a, gs);
	dtp_stage_grad_sumsq(b, gs + k);
	assert_memory_equal(gw, gs, (size_t)n * sizeof(double));
	for (int u = 0; u < n; u++)
		assert_true(gw[u] > 0.0);
	free(gw); free(gs);
	free(in); free(lw); free(lb); free(mid); free(dmid); free(sw); free(sa); free(sb);
	free(dinw); free(dina); free(t);
	dtp_stage_model_destroy(b);
	dtp_stage_model_destroy(a);
	dtp_stage_model_destroy(w);
}

static void test_split_bit_identical(void **state)
{
	(void)state;
	check_split_bit_identical("mlp:33-40-24-17-10", 1, 5);
	check_split_bit_identical("mlp:33-40-24-17-10", 2, 5);
	check_split_bit_identical("gpt:L=3,C=32,H=4,T=9,V=21", 1, 3);
	check_split_bit_identical("gpt:L=3,C=32,H=4,T=9,V=21", 2, 3);
	check_split_bit_identical("gpt:L=3,C=32,H=4,T=9,V=21", 4, 3);
}

static void test_stage_errors(void **state)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("gpt:L=1,C=8,H=2,T=4,V=5", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create(&s, 2, 4, 2, 1, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "[2, 4)"));
	assert_int_equal(dtp_stage_model_create(&s, 1, 1, 2, 1, &m, &err), -EINVAL);
	assert_int_equal(dtp_stage_model_create(&s, 0, 3, 0, 1, &m, &err), -EINVAL);
	assert_int_equal(dtp_stage_model_create(&s, 0, 3, 2, 1, &m, &err), 0);
	assert_int_equal(dtp_stage_model_first(m), 0);
	assert_int_equal(dtp_stage_model_last(m), 3);
	assert_int_equal(dtp_stage_model_in_bytes(m, 2), 2 * 4 * sizeof(int32_t));
	assert_int_equal(dtp_stage_model_out_bytes(m, 2), 2 * 4 * 5 * sizeof(float));

	int32_t tok[8] = { 0, 1, 2, 3, 4, 0, 1, 5 };   /* 5 is out of range */
	float *out = malloc(dtp_stage_model_out_bytes(m, 2));
	void *save = malloc(dtp_stage_model_save_bytes(m, 2));

	assert_int_equal(dtp_stage_forward(m, tok, out, save, 2), -EINVAL);
	tok[7] = 4;
	assert_int_equal(dtp_stage_forward(m, tok, out, save, 3), -EINVAL);
	assert_int_equal(dtp_stage_forward(m, tok, out, save, 0), -EINVAL);
	assert_int_equal(dtp_stage_forward(m, tok, out, save, 2), 0);
	free(out);
	free(save);
	dtp_stage_model_destroy(m);
}

static void test_matmul_list(void **state)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct dtp_matmul mm[64];
	double flops = 0, fwd = 0;

	(void)state;
	/* an mlp step is 3x the forward FLOPs, minus d(input) of the first layer */
	assert_int_equal(dtp_model_spec_parse("mlp:784-1024-10", &s, &err), 0);
	int n = dtp_model_matmuls(&s, 0, 2, 256, 0, mm, 64);
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		flops += 2.0 * mm[i].m * mm[i].n * mm[i].k * (double)mm[i].count;
	for (int u = 0; u < 2; u++) {
		struct dtp_unit_info info;

		dtp_unit_describe(&s, u, &info);
		fwd += info.fwd_flops * 256;
	}
	assert_true(fabs(flops - (3 * fwd - 2.0 * 256 * 784 * 1024)) < 1.0);
	/* a gpt block: forward and backward FLOPs are 1x and 2x unit_describe's */
	assert_int_equal(dtp_model_spec_parse("gpt:L=2,C=64,H=4,T=16,V=50", &s, &err), 0);
	n = dtp_model_matmuls(&s, 1, 2, 3, 1, mm, 64);
	assert_true(n > 0 && n <= 64);
	flops = 0;
	for (int i = 0; i < n; i++)
		flops += 2.0 * mm[i].m * mm[i].n * mm[i].k * (double)mm[i].count;
	struct dtp_unit_info info;

	dtp_unit_describe(&s, 1, &info);
	assert_true(fabs(flops - 3 * 3 * info.fwd_flops) < 1.0);
	assert_int_equal(dtp_model_matmuls(&s, 0, 5, 3, 1, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse_forms),
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_xent_values),
		cmocka_unit_test(test_sgd_momentum),
		cmocka_unit_test(test_adamw),
		cmocka_unit_test(test_lr_schedule_and_clip),
		cmocka_unit_test(test_init_same_across_ranges),
		cmocka_unit_test(test_split_bit_identical),
		cmocka_unit_test(test_stage_errors),
		cmocka_unit_test(test_matmul_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
