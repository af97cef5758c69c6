/* Unit tests for a stage model built in the caller's memory
 * (dtp_stage_model_create_in, what data-parallel replicas on one node use):
 * for mlp and gpt stages, the parameters start as dtp_stage_model_create's
 * and the gradients at zero whatever the memory held, both lie in the
 * caller's arrays, nothing past dtp_stage_model_array_floats of either is
 * written, and forwards and backwards give the arena model's outputs and
 * gradients bit for bit; misaligned arrays, one array without the other and
 * bad ranges are refused. */
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

#define GUARD 64   /* floats after the arrays that must stay untouched */

static void check(const char *text, int first, int last, int B)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *a, *b;
	struct dtp_err err;
	struct dtp_rng r;
	size_t nf, np, inb, outb;
	float *arrays, *out_a, *out_b, *dout;
	void *in, *save_a, *save_b;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	nf = dtp_stage_model_array_floats(&s, first, last);
	assert_true(nf > 0);
	/* the gradients first, the parameters after them: any order works */
	arrays = aligned_alloc(64, (2 * nf + 2 * GUARD) * sizeof(float));
	assert_non_null(arrays);
	memset(arrays, 0x7f, (2 * nf + 2 * GUARD) * sizeof(float));
	assert_int_equal(dtp_stage_model_create(&s, first, last, B, 3, &a, &err), 0);
	assert_int_equal(dtp_stage_model_create_in(&s, first, last, B, 3, arrays + nf + GUARD,
						   arrays, &b, &err), 0);
	np = dtp_stage_model_num_params(b);
	assert_int_equal(np, dtp_stage_model_num_params(a));
	assert_true(np <= nf);
	assert_ptr_equal(dtp_stage_model_params(b), arrays + nf + GUARD);
	assert_ptr_equal(dtp_stage_model_grads(b), arrays);
	assert_memory_equal(dtp_stage_model_params(a), dtp_stage_model_params(b),
			    np * sizeof(float));
	for (size_t i = 0; i < np; i++)
		assert_true(dtp_stage_model_grads(b)[i] == 0.0f);

	inb = dtp_stage_model_in_bytes(a, B);
	outb = dtp_stage_model_out_bytes(a, B);
	in = malloc(inb);
	save_a = malloc(dtp_stage_model_save_bytes(a, B));
	save_b = malloc(dtp_stage_model_save_bytes(b, B));
	out_a = malloc(outb);
	out_b = malloc(outb);
	dout = malloc(outb);
	assert_true(in && save_a && save_b && out_a && out_b && dout);
	dtp_rng_init(&r, 5, 9);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < inb / 4; i++)
			if (s.kind == DTP_MODEL_GPT && first == 0)
				((int32_t *)in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)s.vocab);
			else
				((float *)in)[i] = dtp_rng_normal(&r);
		for (size_t i = 0; i < outb / 4; i++)
			dout[i] = 0.01f * dtp_rng_normal(&r);
		assert_int_equal(dtp_stage_forward(a, in, out_a, save_a, B), 0);
		assert_int_equal(dtp_stage_forward(b, in, out_b, save_b, B), 0);
		assert_memory_equal(out_a, out_b, outb);
		assert_int_equal(dtp_stage_backward(a, in, save_a, dout, NULL, B), 0);
		assert_int_equal(dtp_stage_backward(b, in, save_b, dout, NULL, B), 0);
	}
	assert_memory_equal(dtp_stage_model_grads(a), dtp_stage_model_grads(b),
			    np * sizeof(float));
	for (size_t i = 0; i < GUARD; i++) {
		uint32_t w, v;

		memcpy(&w, &arrays[nf + i], sizeof(w));
		memcpy(&v, &arrays[2 * nf + GUARD + i], sizeof(v));
		assert_int_equal(w, 0x7f7f7f7fu);
		assert_int_equal(v, 0x7f7f7f7fu);
	}
	dtp_stage_model_destroy(a);
	dtp_stage_model_destroy(b);
	free(in);
	free(save_a);
	free(save_b);
	free(out_a);
	free(out_b);
	free(dout);
	free(arrays);
}

static void test_arrays(void **state)
{
	(void)state;
	check("mlp:12-16-10-7", 0, 3, 4);
	check("mlp:12-16-10-7", 1, 3, 4);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 0, 2, 3);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 2, 4, 3);
}

static void test_refused(void **state)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m = NULL;
	struct dtp_err err;
	float *arrays;
	size_t nf;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:12-16-10-7", &s, &err), 0);
	assert_int_equal(dtp_stage_model_array_floats(&s, 0, 4), 0);
	assert_int_equal(dtp_stage_model_array_floats(&s, 2, 2), 0);
	nf = dtp_stage_model_array_floats(&s, 0, 3);
	arrays = aligned_alloc(64, (2 * nf + 32) * sizeof(float));
	assert_non_null(arrays);
	assert_int_equal(dtp_stage_model_create_in(&s, 0, 3, 4, 3, arrays + 1, arrays + nf + 16, &m,
						   &err), -EINVAL);
	assert_int_equal(dtp_stage_model_create_in(&s, 0, 3, 4, 3, arrays, arrays + nf + 17, &m,
						   &err), -EINVAL);
	assert_int_equal(dtp_stage_model_create_in(&s, 0, 3, 4, 3, arrays, NULL, &m, &err), -EINVAL);
	assert_null(m);
	free(arrays);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
