/* Unit tests for the cost profile: sizes from the model, measured timings on
 * real units, and the chain handed to the partitioner. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "partition/profile.h"

static struct dtp_model_spec spec_of(const char *text)
{
	struct dtp_model_spec s;
	struct dtp_err err = { 0 };

	if (dtp_model_spec_parse(text, &s, &err))
		fail_msg("%s", err.msg);
	return s;
}

static void test_static_sizes_mlp(void **state)
{
	struct dtp_model_spec s = spec_of("mlp:784-1024-10");
	struct dtp_profile p;
	struct dtp_chain_unit *c;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_profile_static(&s, 64, &p, &err), 0);
	assert_int_equal(p.n_units, 2);
	assert_int_equal(p.measured, 0);
	assert_int_equal(p.units[0].params, 784 * 1024 + 1024);
	assert_int_equal(p.units[0].param_bytes, (784 * 1024 + 1024) * 4);
	assert_int_equal(p.units[0].in_bytes, 64 * 784 * 4);
	assert_int_equal(p.units[0].out_bytes, 64 * 1024 * 4);
	assert_int_equal(p.units[1].params, 1024 * 10 + 10);
	assert_int_equal(p.units[0].params + p.units[1].params, dtp_model_num_params(&s));
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &c, &err), 0);
	assert_int_equal(c[0].state_mem, 4 * p.units[0].param_bytes);   /* w, grad, m, v */
	assert_int_equal(c[0].cut_bytes, 2 * p.units[0].out_bytes);
	free(c);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_SGD, 0, &c, &err), 0);
	assert_int_equal(c[1].state_mem, 3 * p.units[1].param_bytes);   /* w, grad, momentum */
	free(c);
	dtp_profile_free(&p);
	assert_int_equal(dtp_profile_static(&s, 0, &p, &err), -EINVAL);
}

static void test_measure_gpt(void **state)
{
	struct dtp_model_spec s = spec_of("gpt:L=2,C=32,H=2,T=16,V=64");
	struct dtp_profile st, p;
	struct dtp_chain_unit *c;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_profile_static(&s, 2, &st, &err), 0);
	if (dtp_profile_measure(&s, 2, 3, &p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(p.n_units, 4);
	assert_int_equal(p.measured, 1);
	assert_int_equal(p.units[0].in_bytes, 2 * 16 * 4);        /* int32 tokens */
	for (int u = 0; u < p.n_units; u++) {
		assert_true(p.units[u].fwd_s > 0);
		assert_true(p.units[u].bwd_s > 0);
		/* what the stage model allocates agrees with the unit description */
		assert_int_equal(p.units[u].in_bytes, st.units[u].in_bytes);
		assert_int_equal(p.units[u].out_bytes, st.units[u].out_bytes);
	}
	assert_int_equal(p.units[1].out_bytes, 2 * 16 * 32 * 4);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 1, &c, &err), 0);
	assert_true(c[1].time == 2 * p.units[1].fwd_s + p.units[1].bwd_s);   /* recompute */
	free(c);
	dtp_profile_free(&p);
	dtp_profile_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_sizes_mlp),
		cmocka_unit_test(test_measure_gpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
