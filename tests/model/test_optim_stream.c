/* The optimizer's memory reference (model.h, dtp_optim_stream), which the
 * benchmarks time in place of the step:
 *  - with its mask 0 it leaves every parameter, every state value and the
 *    bf16 copy of the weights bit for bit as they were (the next forward's
 *    loss is the same bits);
 *  - with the mask all ones each of those values becomes itself or-ed with
 *    its gradient's bits (the bf16 copy with the gradient's low 16): the
 *    pass reads and writes every element of every array the step does,
 *    no more (a sharded optimizer: its shard only);
 * for SGD and AdamW, fp32 and bf16 (with oneDNN), on 1 and 2 threads. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/model.h"
#include "model/stage.h"
#include "model/dnnl_matmul.h"

#include "model_fixture.h"

#define SPEC "gpt:L=1,C=16,H=2,T=4,V=11"
#define B 4

static uint32_t bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

/* copies of what the step reads and writes: parameters, state, bf16 copy */
struct snap {
	float *p, *s;
	uint16_t *w16;
	size_t np, ns;
};

static void take(struct snap *t, struct dtp_stage_model *m, struct dtp_optim *o)
{
	uint16_t *w16 = m->mx ? dtp_bf16_mm_weights(m->mx) : NULL;
	float *s = dtp_optim_state(o, &t->ns);

	t->np = dtp_stage_model_num_params(m);
	t->p = malloc(t->np * sizeof(float));
	t->s = malloc(t->ns * sizeof(float));
	t->w16 = w16 ? malloc(t->np * sizeof(uint16_t)) : NULL;
	assert_non_null(t->p);
	assert_non_null(t->s);
	memcpy(t->p, dtp_stage_model_params(m), t->np * sizeof(float));
	memcpy(t->s, s, t->ns * sizeof(float));
	if (w16)
		memcpy(t->w16, w16, t->np * sizeof(uint16_t));
}

static void drop(struct snap *t)
{
	free(t->p);
	free(t->s);
	free(t->w16);
}

/* each value of now is was's or-ed with g's bits under mask (the state's
 * g repeating for AdamW's second array), over [lo, hi) of the parameters */
static void check_or(const struct snap *was, struct dtp_stage_model *m, struct dtp_optim *o,
		     uint32_t mask, size_t lo, size_t hi)
{
	const float *p = dtp_stage_model_params(m), *g = dtp_stage_model_grads(m);
	const float *s = dtp_optim_state(o, NULL);
	uint16_t *w16 = m->mx ? dtp_bf16_mm_weights(m->mx) : NULL;
	size_t np = was->np;

	for (size_t i = 0; i < np; i++) {
		uint32_t b = i >= lo && i < hi ? bits(g[i]) & mask : 0;

		assert_int_equal(bits(p[i]), bits(was->p[i]) | b);
		for (size_t k = 0; k * np < was->ns; k++)
			assert_int_equal(bits(s[k * np + i]), bits(was->s[k * np + i]) | b);
		if (w16)
			assert_int_equal(w16[i], was->w16[i] | (uint16_t)b);
	}
}

static void check(enum dtp_optim_kind kind, enum dtp_test_setting st, int nw)
{
	struct dtp_model_spec s;
	struct dtp_optim_config c;
	struct dtp_optim *o;
	struct dtp_test_data d;
	struct snap was;
	struct dtp_err err;

	dtp_test_threads = nw;
	dtp_test_spec(SPEC, &s);
	struct dtp_stage_model *m = dtp_test_stage(&s, 0, dtp_model_num_units(&s), B, st);
	size_t np = dtp_stage_model_num_params(m);

	dtp_test_data_make(&s, m, B, 3, &d);
	dtp_optim_config_default(&c, kind);
	c.lr = 1e-2f;
	assert_int_equal(dtp_optim_create(&c, m, &o, &err), 0);
	/* a step, so the state is not zero; then fresh gradients */
	dtp_test_step(m, &d, B, 1, NULL);
	dtp_optim_step(o, 0, 1.0f);
	double loss = dtp_test_step(m, &d, B, 1, NULL);

	take(&was, m, o);
	assert_true(st != DTP_TEST_BF16 || was.w16);
	dtp_optim_stream(o, 0);
	check_or(&was, m, o, 0, 0, np);
	double again = dtp_test_step(m, &d, B, 1, NULL);

	assert_memory_equal(&again, &loss, sizeof(loss));
	dtp_optim_stream(o, ~0u);
	check_or(&was, m, o, ~0u, 0, np);
	drop(&was);

	/* sharded: the shard alone (the first unit's parameters: whole blocks) */
	size_t cut = dtp_stage_model_unit_offset(m, 1);
	struct dtp_param_span first = { 0, cut };

	assert_true(cut > 0 && cut < np);
	assert_int_equal(dtp_optim_set_shard(o, &first, 1, &err), 0);
	take(&was, m, o);
	dtp_optim_stream(o, ~0u);
	check_or(&was, m, o, ~0u, 0, cut);
	drop(&was);

	dtp_optim_destroy(o);
	dtp_test_data_free(&d);
	dtp_stage_model_destroy(m);
	dtp_test_threads = 1;
}

static void test_sgd(void **state)
{
	(void)state;
	for (int nw = 1; nw <= 2; nw++)
		check(DTP_OPTIM_SGD, DTP_TEST_FP32, nw);
}

static void test_adamw(void **state)
{
	(void)state;
	for (int nw = 1; nw <= 2; nw++)
		check(DTP_OPTIM_ADAMW, DTP_TEST_FP32, nw);
}

static void test_bf16(void **state)
{
	(void)state;
#ifdef DTP_HAVE_ONEDNN
	for (int nw = 1; nw <= 2; nw++) {
		check(DTP_OPTIM_SGD, DTP_TEST_BF16, nw);
		check(DTP_OPTIM_ADAMW, DTP_TEST_BF16, nw);
	}
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sgd),
		cmocka_unit_test(test_adamw),
		cmocka_unit_test(test_bf16),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
