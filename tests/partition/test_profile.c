/* Unit tests for the cost profile: sizes from the model, measured timings on
 * real units, and the chain handed to the partitioner. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
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
	struct dtp_profile_opts po = { .reps = 3, .optim = DTP_OPTIM_ADAMW, .busy = 1 };
	cpu_set_t cpus;
	int two = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) >= 2;

	(void)state;
	assert_int_equal(dtp_profile_static(&s, 2, &st, &err), 0);
	if (dtp_profile_measure(&s, 2, &po, &p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(p.n_units, 4);
	assert_int_equal(p.measured, 1);
	assert_int_equal(p.optim, DTP_OPTIM_ADAMW);
	/* beside a busy core where two CPUs are allowed, else the alone figures */
	assert_int_equal(p.busy_measured, two);
	for (int u = 0; u < p.n_units; u++) {
		assert_true(p.units[u].step.optim_s > 0);
		assert_true(p.units[u].step.norm_s >= 0 && p.units[u].step.zero_s >= 0);
		assert_true(p.units[u].fwd_busy_s > 0 && p.units[u].bwd_busy_s > 0);
		assert_true(p.units[u].step_busy.optim_s > 0);
		if (!two)
			assert_true(p.units[u].fwd_busy_s == p.units[u].fwd_s);
		/* time-sharing a CPU: the spans are there, or 0 (not measured) */
		assert_true(two ? p.units[u].pass_shared_s > 0 : p.units[u].pass_shared_s == 0);
	}
	/* the affinity is this thread's again */
	{
		cpu_set_t after;

		assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
		assert_true(CPU_EQUAL(&after, &cpus));
	}
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

/* the per-step work of a range of units: optimizer and zeroing before the
 * ops, the norm after; sharding divides the optimizer and norm, not the
 * zeroing; without zeroing it is left out; busy takes the busy figures */
static void test_step_work(void **state)
{
	struct dtp_unit_cost u[3] = { 0 };
	struct dtp_profile p = { .n_units = 3, .units = u, .measured = 1 };
	struct dtp_step_work_opts o = DTP_STEP_WORK_DEFAULT;
	double pre, post;

	(void)state;
	for (int i = 0; i < 3; i++) {
		u[i].step = (struct dtp_step_times){ .optim_s = 4e-3 * (i + 1), .norm_s = 2e-3,
						     .zero_s = 1e-3 };
		u[i].step_busy = (struct dtp_step_times){ .optim_s = 8e-3 * (i + 1), .norm_s = 4e-3,
							  .zero_s = 2e-3 };
	}
	dtp_profile_step_work(&p, 1, 3, &o, &pre, &post);
	assert_true(fabs(pre - (8e-3 + 12e-3 + 2e-3)) < 1e-12);
	assert_true(fabs(post - 4e-3) < 1e-12);
	o.shard = 4;
	dtp_profile_step_work(&p, 1, 3, &o, &pre, &post);
	assert_true(fabs(pre - (20e-3 / 4 + 2e-3)) < 1e-12);
	assert_true(fabs(post - 1e-3) < 1e-12);
	o.zero_grads = 0;
	dtp_profile_step_work(&p, 1, 3, &o, &pre, NULL);
	assert_true(fabs(pre - 20e-3 / 4) < 1e-12);
	o = DTP_STEP_WORK_DEFAULT;
	o.busy = 1;
	dtp_profile_step_work(&p, 0, 1, &o, &pre, &post);
	assert_true(fabs(pre - 10e-3) < 1e-12 && fabs(post - 4e-3) < 1e-12);
	dtp_profile_step_work(&p, 2, 2, &o, &pre, &post);
	assert_true(pre == 0 && post == 0);
	/* sharing a core: 1 unless measured, then the spans over twice alone */
	assert_true(dtp_profile_share_penalty(&p, 0, 3) == 1);
	for (int i = 0; i < 3; i++) {
		u[i].fwd_s = 1e-3;
		u[i].bwd_s = 2e-3;
		u[i].pass_shared_s = 9e-3;
	}
	p.busy_measured = 1;
	assert_true(fabs(dtp_profile_share_penalty(&p, 0, 3) - 1.5) < 1e-12);
}

/* a profile in bf16: the links carry half the bytes, and a stage's chain
 * memory holds what the precision adds to it as a stage built in it will
 * (dtp_stage_model_precision_bytes of the stage); fp32 on oneDNN adds its
 * scratchpads, nothing to the links. Without oneDNN both are refused. */
static void test_precision_bytes(void **state)
{
	struct dtp_model_spec s = spec_of("gpt:L=3,C=64,H=4,T=32,V=512");
	const int slots[DTP_MAX_STAGES] = { 1, 1, 1, 1, 1, 1 };
	struct dtp_partition_opts po = { .stages = 5 };
	struct dtp_profile p32, p;
	struct dtp_chain_unit *c32, *c;
	struct dtp_err err = { 0 };
	int r;

	(void)state;
	memcpy(po.stash_slots, slots, sizeof(slots));
	assert_int_equal(dtp_profile_static(&s, 2, &p32, &err), 0);
	assert_int_equal(dtp_profile_static(&s, 2, &p, &err), 0);
	r = dtp_profile_set_precision(&p, DTP_PRECISION_BF16, DTP_FP32_MATMUL_OPENBLAS, &err);
#ifndef DTP_HAVE_ONEDNN
	assert_int_equal(r, -ENOTSUP);
	assert_non_null(strstr(err.msg, "libdnnl-dev"));
	dtp_profile_free(&p);
	dtp_profile_free(&p32);
	return;
#endif
	assert_int_equal(r, 0);
	assert_int_equal(p.precision, DTP_PRECISION_BF16);
	assert_int_equal(dtp_profile_chain(&p32, DTP_OPTIM_ADAMW, 0, &c32, &err), 0);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &c, &err), 0);
	for (int u = 0; u < p.n_units; u++) {
		assert_int_equal(p32.units[u].link_bytes, p32.units[u].out_bytes);
		assert_int_equal(2 * p.units[u].link_bytes, p.units[u].out_bytes);
		assert_int_equal(c[u].cut_bytes * 2, c32[u].cut_bytes);
		assert_int_equal(p.units[u].in_bytes, p32.units[u].in_bytes);
	}
	for (int a = 0; a < p.n_units; a++)
		for (int b = a + 1; b <= p.n_units; b++) {
			size_t want;
			struct dtp_stage_cost k = dtp_stage_cost(c, p.n_units, a, b, 0, &po);
			struct dtp_stage_cost k32 = dtp_stage_cost(c32, p.n_units, a, b, 0, &po);

			assert_int_equal(dtp_stage_model_precision_bytes(&s, a, b, 2,
									 DTP_PRECISION_BF16, &want,
									 &err), 0);
			/* never under what the stage holds (a plan under mem_cap
			 * fits it): exact for units of one kind, over by the
			 * scratch another kind could share (the head's copies
			 * beside the blocks': a third here) */
			assert_true(k.mem - k32.mem >= want);
			assert_true(k.mem - k32.mem <= want + want / 2);
			if (b < p.n_units)
				assert_true(k.mem - k32.mem == want);
		}
	free(c);
	dtp_profile_free(&p);
	/* fp32 on oneDNN: its scratchpads, the links as fp32's */
	assert_int_equal(dtp_profile_static(&s, 2, &p, &err), 0);
	assert_int_equal(dtp_profile_set_precision(&p, DTP_PRECISION_FP32, DTP_FP32_MATMUL_ONEDNN,
						   &err), 0);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &c, &err), 0);
	for (int u = 0; u < p.n_units; u++) {
		assert_int_equal(p.units[u].link_bytes, p32.units[u].link_bytes);
		assert_int_equal(p.units[u].prec_bytes, 0);
		assert_int_equal(c[u].state_mem, c32[u].state_mem);
	}
	free(c);
	free(c32);
	dtp_profile_free(&p);
	dtp_profile_free(&p32);
}

/* a plan split again over K stages: the same model and settings, contiguous
 * units covering the model, the min-max split, cores as given, hosts cleared */
static void test_resplit(void **state)
{
	struct dtp_plan in, out;
	struct dtp_err err = { 0 };
	const int slots[DTP_MAX_STAGES] = { 1, 1, 1, 1, 1 };
	const char *cores[3] = { "0", "1", "0" };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nspec = mlp:64-256-256-256-8\n[train]\noptimizer = adamw\nseed = 5\n"
		"[checkpoint]\nmax_restarts = 2\n[stage.0]\nunits = 0-1\nhost = a\ncores = 0\n"
		"[stage.1]\nunits = 2-3\nhost = b\ncores = 1\n", "r.ini", &in, &err), 0);
	assert_int_equal(dtp_plan_resplit(&in, 3, slots, cores, &out, &err), 0);
	assert_int_equal(out.num_stages, 3);
	assert_int_equal(out.seed, 5);
	assert_int_equal(out.max_restarts, 2);
	assert_int_equal(out.optim.kind, DTP_OPTIM_ADAMW);
	assert_int_equal(out.stages[0].first_unit, 0);
	for (int s = 0; s < 3; s++) {
		assert_true(out.stages[s].last_unit > out.stages[s].first_unit);
		if (s > 0)
			assert_int_equal(out.stages[s].first_unit, out.stages[s - 1].last_unit);
		assert_string_equal(out.stages[s].cores, cores[s]);
		assert_string_equal(out.stages[s].host, "");
	}
	assert_int_equal(out.stages[2].last_unit, 4);
	/* the three 256x256-sized units go one to a stage: units 0, 1, 2-3 or
	 * 0-1, 2, 3 (unit 3 is 256x8, small) */
	assert_true(out.stages[1].last_unit - out.stages[1].first_unit == 1);
	/* one stage holds all; no cores given: none set */
	assert_int_equal(dtp_plan_resplit(&in, 1, slots, NULL, &out, &err), 0);
	assert_int_equal(out.stages[0].last_unit, 4);
	assert_string_equal(out.stages[0].cores, "");
	/* more stages than units: refused */
	assert_int_not_equal(dtp_plan_resplit(&in, 5, slots, NULL, &out, &err), 0);
	assert_int_not_equal(dtp_plan_resplit(&in, 0, slots, NULL, &out, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_sizes_mlp),
		cmocka_unit_test(test_measure_gpt),
		cmocka_unit_test(test_step_work),
		cmocka_unit_test(test_resplit),
		cmocka_unit_test(test_precision_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
