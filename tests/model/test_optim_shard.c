/* The sharded optimizer step and the gradient norm's block sums (model.h):
 * block sums give the same bits for any thread count and wherever the unit
 * sits in its stage, and agree with a plain double sum to rounding; a stage
 * updated in two complementary shards (two replicas' halves put together)
 * is bit-identical to one whole step, SGD and AdamW; shards that cut a
 * gradient block are refused. */
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

#include "model/stage.h"

/* units of 1248, 9312 (three blocks) and 388 floats */
#define SPEC "mlp:12-96-96-4"

static struct dtp_stage_model *model(int first, int last, int nw)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	assert_int_equal(dtp_model_spec_parse(SPEC, &s, &err), 0);
	assert_int_equal(dtp_stage_model_create_nw(&s, first, last, 4, 5, nw, &m, &err), 0);
	return m;
}

/* deterministic gradients of unit-dependent values (the same for a unit
 * wherever it sits) */
static void fill_grads(struct dtp_stage_model *m, int first, int last, uint32_t salt)
{
	const struct dtp_model_spec *s = dtp_stage_model_spec(m);
	float *g = dtp_stage_model_grads(m);

	for (int u = first; u < last; u++) {
		struct dtp_unit_info ui;
		size_t off = dtp_stage_model_unit_offset(m, u);

		dtp_unit_describe(s, u, &ui);
		for (size_t j = 0; j < ui.n_params; j++) {
			uint32_t x = (uint32_t)(j * 2654435761u) ^ (uint32_t)(u * 40503u) ^ salt;

			g[off + j] = ((float)(x % 20001u) - 10000.0f) * 1e-4f;
		}
	}
}

static void test_block_sumsq(void **state)
{
	struct dtp_stage_model *w1 = model(0, 3, 1), *w3 = model(0, 3, 3), *b = model(1, 3, 2);
	struct dtp_optim_config c;
	struct dtp_optim *o1, *o3, *ob;
	double u1[3], u3[3], ub[2], plain[3], *k1, *k3, *kb;

	(void)state;
	dtp_optim_config_default(&c, DTP_OPTIM_SGD);
	assert_int_equal(dtp_optim_create(&c, w1, &o1, NULL), 0);
	assert_int_equal(dtp_optim_create(&c, w3, &o3, NULL), 0);
	assert_int_equal(dtp_optim_create(&c, b, &ob, NULL), 0);
	/* 1 + 3 + 1 blocks; units 1-2 alone: 3 + 1 */
	assert_int_equal(dtp_optim_n_blocks(o1), 5);
	assert_int_equal(dtp_optim_n_blocks(ob), 4);
	k1 = calloc(5, sizeof(double));
	k3 = calloc(5, sizeof(double));
	kb = calloc(4, sizeof(double));
	assert_true(k1 && k3 && kb);
	fill_grads(w1, 0, 3, 7);
	fill_grads(w3, 0, 3, 7);
	fill_grads(b, 1, 3, 7);
	dtp_optim_block_sumsq(o1, k1);
	dtp_optim_block_sumsq(o3, k3);
	dtp_optim_block_sumsq(ob, kb);
	dtp_optim_unit_sumsq(o1, k1, u1);
	dtp_optim_unit_sumsq(o3, k3, u3);
	dtp_optim_unit_sumsq(ob, kb, ub);
	/* threads and the unit's place in its stage change no bit */
	assert_memory_equal(u1, u3, sizeof(u1));
	assert_memory_equal(u1 + 1, ub, sizeof(ub));
	dtp_stage_grad_sumsq(w1, plain);
	for (int u = 0; u < 3; u++) {
		assert_true(u1[u] > 0);
		assert_true(fabs(u1[u] - plain[u]) <= 1e-12 * plain[u]);
	}
	free(k1); free(k3); free(kb);
	dtp_optim_destroy(o1); dtp_optim_destroy(o3); dtp_optim_destroy(ob);
	dtp_stage_model_destroy(w1); dtp_stage_model_destroy(w3); dtp_stage_model_destroy(b);
}

/* two steps of the whole stage against two models each updating one shard */
static void check_halves(enum dtp_optim_kind kind)
{
	struct dtp_stage_model *w = model(0, 3, 2), *a = model(0, 3, 1), *b = model(0, 3, 3);
	struct dtp_optim_config c;
	struct dtp_optim *ow, *oa, *ob;
	/* the cut inside unit 1 (it starts at 1248) after its first block */
	const size_t cut = 1248 + DTP_GRAD_BLOCK;
	size_t np = dtp_stage_model_num_params(w), ns;
	struct dtp_param_span lo = { 0, cut }, hi = { cut, np - cut };
	float *pw = dtp_stage_model_params(w), *pa = dtp_stage_model_params(a);
	float *pb = dtp_stage_model_params(b);

	dtp_optim_config_default(&c, kind);
	c.weight_decay = 0.1f;
	assert_int_equal(dtp_optim_create(&c, w, &ow, NULL), 0);
	assert_int_equal(dtp_optim_create(&c, a, &oa, NULL), 0);
	assert_int_equal(dtp_optim_create(&c, b, &ob, NULL), 0);
	dtp_optim_state(ow, &ns);
	memset(dtp_optim_state(ow, NULL), 0, ns * sizeof(float));
	memset(dtp_optim_state(oa, NULL), 0, ns * sizeof(float));
	memset(dtp_optim_state(ob, NULL), 0, ns * sizeof(float));
	assert_int_equal(dtp_optim_set_shard(oa, &lo, 1, NULL), 0);
	assert_int_equal(dtp_optim_set_shard(ob, &hi, 1, NULL), 0);
	for (long step = 0; step < 2; step++) {
		fill_grads(w, 0, 3, (uint32_t)step);
		fill_grads(a, 0, 3, (uint32_t)step);
		fill_grads(b, 0, 3, (uint32_t)step);
		dtp_optim_step(ow, step, 0.7f);
		dtp_optim_step(oa, step, 0.7f);
		dtp_optim_step(ob, step, 0.7f);
		/* each updated its shard only; the all-gather puts them together */
		assert_memory_not_equal(pa + cut, pw + cut, 16);
		memcpy(pa + cut, pb + cut, (np - cut) * sizeof(float));
		memcpy(pb, pa, cut * sizeof(float));
		dtp_optim_shard_gathered(oa);
		dtp_optim_shard_gathered(ob);
		assert_memory_equal(pa, pw, np * sizeof(float));
		assert_memory_equal(pb, pw, np * sizeof(float));
	}
	/* the state of each shard is the whole step's there */
	assert_memory_equal(dtp_optim_state(oa, NULL), dtp_optim_state(ow, NULL), cut * sizeof(float));
	assert_memory_equal(dtp_optim_state(ob, NULL) + cut, dtp_optim_state(ow, NULL) + cut,
			    (np - cut) * sizeof(float));
	dtp_optim_destroy(ow); dtp_optim_destroy(oa); dtp_optim_destroy(ob);
	dtp_stage_model_destroy(w); dtp_stage_model_destroy(a); dtp_stage_model_destroy(b);
}

static void test_halves_sgd(void **state)
{
	(void)state;
	check_halves(DTP_OPTIM_SGD);
}

static void test_halves_adamw(void **state)
{
	(void)state;
	check_halves(DTP_OPTIM_ADAMW);
}

static void test_shard_refused(void **state)
{
	struct dtp_stage_model *m = model(0, 3, 1);
	struct dtp_optim_config c;
	struct dtp_optim *o;
	struct dtp_err err;
	struct dtp_param_span inside = { 0, 1248 + 100 }, late = { 1248 + 100, 50 };
	struct dtp_param_span past = { 0, dtp_stage_model_num_params(m) + 1 };

	(void)state;
	dtp_optim_config_default(&c, DTP_OPTIM_SGD);
	assert_int_equal(dtp_optim_create(&c, m, &o, NULL), 0);
	assert_int_equal(dtp_optim_set_shard(o, &inside, 1, &err), -EINVAL);
	assert_int_equal(dtp_optim_set_shard(o, &late, 1, &err), -EINVAL);
	assert_int_equal(dtp_optim_set_shard(o, &past, 1, &err), -EINVAL);
	dtp_optim_destroy(o);
	dtp_stage_model_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_sumsq),
		cmocka_unit_test(test_halves_sgd),
		cmocka_unit_test(test_halves_adamw),
		cmocka_unit_test(test_shard_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
