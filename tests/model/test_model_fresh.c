/* Gradients that start afresh (dtp_stage_zero_grads, backward.c): in bf16 a
 * step's first weight-gradient half of each unit writes its gradients instead
 * of adding onto zeros (fp32 zeroes them, stage.c says why; its kernels take
 * the same write path, acc = 0, and the test marks its units fresh by hand
 * to check it). The test runs the same steps on two stage models:
 *  - "fresh": dtp_stage_zero_grads (the code under test), backward
 *    whole or split into B and W as zero-bubble schedules run it (every B,
 *    then every W in micro-batch order);
 *  - "zeroed": the previous semantics, the gradients set to zero by hand and
 *    no unit left fresh, so every micro-batch adds (beta = 1, += on zeros),
 *    whole backward;
 * and requires bit-identical gradients after each step's backward and
 * bit-identical parameters after each optimizer step: mlp and gpt (its
 * embedding is still zeroed, the rest written), fp32 and bf16, 1 and 2
 * threads, M = 3 micro-batches whose first is smaller than the stage's
 * maximum (the bf16 engine's ragged path), three AdamW steps. A reader of
 * the gradients before any backward of the step sees zeros. fp32 on oneDNN
 * (fp32_matmul = onednn) takes bf16's way (no zeroing pass): the same checks,
 * with the first micro-batch full as well (oneDNN's primitive without the
 * sum post-op; a smaller one runs OpenBLAS). */
#include "config.h"

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

#define M 3
#define STEPS 3
#define BMAX 4

static enum dtp_fp32_matmul g_fb = DTP_FP32_MATMUL_OPENBLAS;
static int g_full;      /* the first micro-batch full too */

struct run {
	struct dtp_stage_model *m;
	struct dtp_optim *o;
	void *save[M], *wsave[M];
	float *out[M];
};

static void run_init(struct run *r, const struct dtp_model_spec *s, enum dtp_precision p,
		     int threads)
{
	struct dtp_optim_config c;
	struct dtp_err err;
	int n = dtp_model_num_units(s), nb = openblas_get_num_threads();

	openblas_set_num_threads(threads);
	assert_int_equal(dtp_stage_model_create_nw(s, 0, n, BMAX, 5, threads, &r->m, &err), 0);
	openblas_set_num_threads(nb);
	if (dtp_stage_model_set_precision(r->m, p, &err))
		fail_msg("set_precision: %s", err.msg);
	if (dtp_stage_model_set_fp32_matmul(r->m, g_fb, &err))
		fail_msg("set_fp32_matmul: %s", err.msg);
	dtp_optim_config_default(&c, DTP_OPTIM_ADAMW);
	c.lr = 1e-2f;
	c.weight_decay = 0.1f;
	assert_int_equal(dtp_optim_create(&c, r->m, &r->o, &err), 0);
	for (int k = 0; k < M; k++) {
		r->save[k] = malloc(dtp_stage_model_save_bytes(r->m, BMAX));
		r->wsave[k] = malloc(dtp_stage_model_wsave_bytes(r->m, BMAX));
		r->out[k] = malloc(dtp_stage_model_out_bytes(r->m, BMAX));
		assert_true(r->save[k] && r->wsave[k] && r->out[k]);
	}
}

static void run_free(struct run *r)
{
	for (int k = 0; k < M; k++) {
		free(r->save[k]);
		free(r->wsave[k]);
		free(r->out[k]);
	}
	dtp_optim_destroy(r->o);
	dtp_stage_model_destroy(r->m);
}

/* micro-batch k's rows: the first is one sample short of the maximum */
static int rows_of(int k) { return k == 0 && !g_full ? BMAX - 1 : BMAX; }

/* one step's forwards and backwards; split: every B, then every W in
 * micro-batch order (zb-h1 / zb-h2); zeroed: the gradients zeroed by hand,
 * no unit fresh (the previous semantics) */
static void backward_step(struct run *r, const struct dtp_model_spec *s, void *const in[M],
			  int32_t *const tgt[M], int split, int zeroed)
{
	struct dtp_stage_model *m = r->m;
	int V = s->kind == DTP_MODEL_GPT ? s->vocab : s->widths[s->n_widths - 1];

	dtp_stage_zero_grads(m);
	if (!zeroed && !dtp_stage_mm(m))   /* fp32: the kernels' write path all the same */
		for (int i = 0; i < m->n_units; i++)
			m->units[i].fresh = m->units[i].kind != DTP_UNIT_EMBED;
	if (zeroed) {
		memset(m->grads, 0, m->n_params * sizeof(float));
		for (int i = 0; i < m->n_units; i++)
			m->units[i].fresh = 0;
	}
	for (int k = 0; k < M; k++) {
		int B = rows_of(k), N = (int)(dtp_stage_model_out_bytes(m, B) / sizeof(float)) / V;

		assert_int_equal(dtp_stage_forward(m, in[k], r->out[k], r->save[k], B), 0);
		dtp_xent(r->out[k], tgt[k], N, V, r->out[k], 1.0f / (float)(M * N), NULL);
		if (split)
			assert_int_equal(dtp_stage_backward_input(m, in[k], r->save[k], r->out[k],
								  NULL, r->wsave[k], B), 0);
		else
			assert_int_equal(dtp_stage_backward(m, in[k], r->save[k], r->out[k], NULL, B),
					 0);
	}
	for (int k = 0; split && k < M; k++)
		assert_int_equal(dtp_stage_backward_weight(m, in[k], r->save[k], r->wsave[k],
							   rows_of(k)), 0);
}

static void check(const char *text, enum dtp_precision p, int threads, int split)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct run fresh, zeroed;
	void *in[M];
	int32_t *tgt[M];
	struct dtp_rng rng;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	run_init(&fresh, &s, p, threads);
	run_init(&zeroed, &s, p, threads);

	int V = s.kind == DTP_MODEL_GPT ? s.vocab : s.widths[s.n_widths - 1];
	size_t np = dtp_stage_model_num_params(fresh.m);

	dtp_rng_init(&rng, 17, 1);
	for (int k = 0; k < M; k++) {
		size_t inb = dtp_stage_model_in_bytes(fresh.m, BMAX);
		int N = (int)(dtp_stage_model_out_bytes(fresh.m, BMAX) / sizeof(float)) / V;

		in[k] = malloc(inb);
		tgt[k] = malloc((size_t)N * sizeof(int32_t));
		assert_true(in[k] && tgt[k]);
		for (size_t i = 0; i < inb / 4; i++)
			if (s.kind == DTP_MODEL_GPT)
				((int32_t *)in[k])[i] = (int32_t)dtp_rng_below(&rng, (uint64_t)V);
			else
				((float *)in[k])[i] = dtp_rng_normal(&rng);
		for (int i = 0; i < N; i++)
			tgt[k][i] = (int32_t)dtp_rng_below(&rng, (uint64_t)V);
	}
	for (int step = 0; step < STEPS; step++) {
		backward_step(&fresh, &s, in, tgt, split, 0);
		backward_step(&zeroed, &s, in, tgt, 0, 1);
		if (memcmp(dtp_stage_model_grads(fresh.m), dtp_stage_model_grads(zeroed.m),
			   np * sizeof(float)))
			fail_msg("%s %s threads=%d %s step %d: the gradients differ from adding "
				 "onto zeros", text, dtp_precision_name(p), threads,
				 split ? "B/W" : "whole", step);
		dtp_optim_step(fresh.o, step, 1.0f);
		dtp_optim_step(zeroed.o, step, 1.0f);
		if (memcmp(dtp_stage_model_params(fresh.m), dtp_stage_model_params(zeroed.m),
			   np * sizeof(float)))
			fail_msg("%s %s threads=%d step %d: the parameters differ", text,
				 dtp_precision_name(p), threads, step);
	}
	/* a reader before any backward of the step sees zeros */
	{
		const float *g;
		double *sq = calloc((size_t)fresh.m->n_units, sizeof(double));
		int nonzero = 0;

		assert_non_null(sq);
		dtp_stage_zero_grads(fresh.m);
		dtp_stage_grad_sumsq(fresh.m, sq);
		for (int i = 0; i < fresh.m->n_units; i++)
			assert_true(sq[i] == 0.0);
		g = dtp_stage_model_grads(fresh.m);
		for (size_t i = 0; i < np; i++)
			nonzero += g[i] != 0.0f;
		assert_int_equal(nonzero, 0);
		free(sq);
	}
	for (int k = 0; k < M; k++) {
		free(in[k]);
		free(tgt[k]);
	}
	run_free(&fresh);
	run_free(&zeroed);
}

static const char *const MLP = "mlp:40-64-48-10";
static const char *const GPT = "gpt:L=2,C=32,H=4,T=8,V=19";

static void test_fp32(void **state)
{
	(void)state;
	for (int split = 0; split <= 1; split++) {
		check(MLP, DTP_PRECISION_FP32, 1, split);
		check(GPT, DTP_PRECISION_FP32, 1, split);
		check(GPT, DTP_PRECISION_FP32, 2, split);
	}
}

#ifdef DTP_HAVE_ONEDNN
static void test_fp32_onednn(void **state)
{
	(void)state;
	g_fb = DTP_FP32_MATMUL_ONEDNN;
	for (g_full = 0; g_full <= 1; g_full++)
		for (int split = 0; split <= 1; split++) {
			check(MLP, DTP_PRECISION_FP32, 1, split);
			check(MLP, DTP_PRECISION_FP32, 2, split);
			check(GPT, DTP_PRECISION_FP32, 1, split);
			check(GPT, DTP_PRECISION_FP32, 2, split);
		}
	g_full = 0;
	g_fb = DTP_FP32_MATMUL_OPENBLAS;
}

static void test_bf16(void **state)
{
	(void)state;
	for (int split = 0; split <= 1; split++) {
		check(MLP, DTP_PRECISION_BF16, 1, split);
		check(GPT, DTP_PRECISION_BF16, 1, split);
		check(GPT, DTP_PRECISION_BF16, 2, split);
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp32),
#ifdef DTP_HAVE_ONEDNN
		cmocka_unit_test(test_fp32_onednn),
		cmocka_unit_test(test_bf16),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
