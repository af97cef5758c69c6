/* Unit tests for the min-max partitioner: against brute force on random small
 * chains, and hand-made cases (uneven stages, transfer cost, memory cap,
 * infeasible cap, 1F1B and recompute memory). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "partition/baseline.h"
#include "partition/partition.h"

/* K stages (up to DTP_MAX_STAGES) keeping 4 micro-batches in flight each */
static struct dtp_partition_opts opts(int K)
{
	struct dtp_partition_opts o = { .stages = K };

	for (int s = 0; s < DTP_MAX_STAGES; s++)
		o.stash_slots[s] = 4;
	return o;
}

/* slowest stage of the split given by bounds, or INFINITY when over the cap */
static double evaluate(const struct dtp_chain_unit *u, int n, const struct dtp_partition_opts *o,
		       const int *bounds)
{
	double worst = 0;

	for (int s = 0; s < o->stages; s++) {
		struct dtp_stage_cost c = dtp_stage_cost(u, n, bounds[s], bounds[s + 1], s, o);

		if (o->mem_cap && c.mem > o->mem_cap)
			return INFINITY;
		if (c.time > worst)
			worst = c.time;
	}
	return worst;
}

/* every way to place K-1 cuts among n-1 gaps */
static double brute(const struct dtp_chain_unit *u, int n, const struct dtp_partition_opts *o,
		    int *bounds, int k)
{
	double best = INFINITY;

	if (k == o->stages) {
		bounds[k] = n;
		return bounds[k - 1] < n ? evaluate(u, n, o, bounds) : INFINITY;
	}
	for (int b = bounds[k - 1] + 1; b <= n - (o->stages - k); b++) {
		double v;

		bounds[k] = b;
		v = brute(u, n, o, bounds, k + 1);
		if (v < best)
			best = v;
	}
	return best;
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void test_matches_brute_force(void **state)
{
	uint64_t seed = 12345;
	int feasible = 0, infeasible = 0;

	(void)state;
	for (int trial = 0; trial < 600; trial++) {
		struct dtp_chain_unit u[9];
		int n = 1 + (int)(lcg(&seed) % 9), bounds[10], bb[10] = { 0 };
		struct dtp_partition_opts o = opts(1 + (int)(lcg(&seed) % (uint64_t)n));
		struct dtp_err err = { 0 };
		double got = -1, want;
		int r;

		for (int i = 0; i < n; i++) {
			u[i].time = (double)(1 + lcg(&seed) % 1000) * 1e-4;
			u[i].state_mem = (size_t)(lcg(&seed) % 1000);
			u[i].save_mem = (size_t)(lcg(&seed) % 100);
			u[i].in_mem = (size_t)(lcg(&seed) % 100);
			u[i].cut_bytes = (size_t)(lcg(&seed) % 100000);
		}
		o.bandwidth = lcg(&seed) % 2 ? (double)(1 + lcg(&seed) % 100) * 1e6 : 0;
		for (int s = 0; s < o.stages; s++)
			o.stash_slots[s] = 1 + (int)(lcg(&seed) % 8);
		o.recompute = (int)(lcg(&seed) % 2);
		o.mem_cap = lcg(&seed) % 2 ? (size_t)(500 + lcg(&seed) % 3000) : 0;
		want = brute(u, n, &o, bb, 1);
		r = dtp_partition_chain(u, n, &o, bounds, &got, &err);
		if (isinf(want)) {
			assert_int_equal(r, -ERANGE);
			infeasible++;
			continue;
		}
		assert_int_equal(r, 0);
		feasible++;
		assert_true(got == want);
		assert_int_equal(bounds[0], 0);
		assert_int_equal(bounds[o.stages], n);
		for (int s = 0; s < o.stages; s++)
			assert_true(bounds[s] < bounds[s + 1]);
		assert_true(evaluate(u, n, &o, bounds) == got);
	}
	/* both kinds of case were exercised */
	assert_true(feasible > 100);
	assert_true(infeasible > 10);
}

/* slowest stage from first principles (not dtp_stage_cost): compute over the
 * stage's speed plus the transfers on its cuts */
static double slowest_with_speed(const struct dtp_chain_unit *u, int n, int K, const int *b,
				 const double *speed, double bw)
{
	double worst = 0;

	for (int s = 0; s < K; s++) {
		double t = 0;

		for (int i = b[s]; i < b[s + 1]; i++)
			t += u[i].time;
		t /= speed[s];
		if (bw > 0 && b[s] > 0)
			t += (double)u[b[s] - 1].cut_bytes / bw;
		if (bw > 0 && b[s + 1] < n)
			t += (double)u[b[s + 1] - 1].cut_bytes / bw;
		if (t > worst)
			worst = t;
	}
	return worst;
}

static double brute_speed(const struct dtp_chain_unit *u, int n, int K, int *b, int k,
			  const double *speed, double bw)
{
	double best = INFINITY;

	if (k == K) {
		b[k] = n;
		return b[k - 1] < n ? slowest_with_speed(u, n, K, b, speed, bw) : INFINITY;
	}
	for (int c = b[k - 1] + 1; c <= n - (K - k); c++) {
		double v;

		b[k] = c;
		v = brute_speed(u, n, K, b, k + 1, speed, bw);
		if (v < best)
			best = v;
	}
	return best;
}

/* uneven stages: random per-stage speeds on small random chains */
static void test_per_stage_speed_brute_force(void **state)
{
	uint64_t seed = 777;
	int moved = 0;

	(void)state;
	for (int trial = 0; trial < 500; trial++) {
		struct dtp_chain_unit u[8];
		int n = 1 + (int)(lcg(&seed) % 8), bounds[9], plain[9], bb[9] = { 0 };
		struct dtp_partition_opts o = opts(1 + (int)(lcg(&seed) % (uint64_t)n));
		struct dtp_err err = { 0 };
		double speed[8], got = -1, want, ignore;

		memset(u, 0, sizeof(u));
		for (int i = 0; i < n; i++) {
			u[i].time = (double)(1 + lcg(&seed) % 1000) * 1e-4;
			u[i].cut_bytes = (size_t)(lcg(&seed) % 100000);
		}
		for (int s = 0; s < o.stages; s++)
			speed[s] = (double)(1 + lcg(&seed) % 16) / 4;   /* 0.25 .. 4 */
		o.bandwidth = lcg(&seed) % 2 ? (double)(1 + lcg(&seed) % 100) * 1e6 : 0;
		for (int s = 0; s < o.stages; s++)
			o.stash_slots[s] = 1 + (int)(lcg(&seed) % 8);
		assert_int_equal(dtp_partition_chain(u, n, &o, plain, &ignore, &err), 0);
		o.speed = speed;
		want = brute_speed(u, n, o.stages, bb, 1, speed, o.bandwidth);
		assert_int_equal(dtp_partition_chain(u, n, &o, bounds, &got, &err), 0);
		assert_true(fabs(got - want) <= 1e-12 * want);
		assert_true(fabs(slowest_with_speed(u, n, o.stages, bounds, speed, o.bandwidth) - got)
			    <= 1e-12 * got);
		moved += memcmp(bounds, plain, sizeof(int) * (size_t)(o.stages + 1)) != 0;
	}
	/* the speeds changed the split in a good share of the cases */
	assert_true(moved > 50);
}

/* four equal units, the second stage three times as fast: it takes three */
static void test_faster_stage_takes_more(void **state)
{
	struct dtp_chain_unit u[4] = { { .time = 1 }, { .time = 1 }, { .time = 1 }, { .time = 1 } };
	struct dtp_partition_opts o = opts(2);
	const double speed[2] = { 1, 3 };
	struct dtp_err err = { 0 };
	int bounds[3];
	double slowest;

	(void)state;
	o.speed = speed;
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &slowest, &err), 0);
	assert_int_equal(bounds[1], 1);
	assert_true(slowest == 1.0);
}

/* Megatron-LM's equal layers: blocks evenly (the first stages one more), the
 * embedding with the first stage, norm + head with the last */
static void test_equal_layers(void **state)
{
	struct dtp_model_spec spec;
	struct dtp_err err = { 0 };
	int b[5];

	(void)state;
	assert_int_equal(dtp_model_spec_parse("gpt:L=6,C=32,H=2,T=16,V=64", &spec, &err), 0);
	assert_int_equal(dtp_split_equal_layers(&spec, 3, b, &err), 0);
	assert_true(b[0] == 0 && b[1] == 3 && b[2] == 5 && b[3] == 8);
	assert_int_equal(dtp_model_spec_parse("gpt:L=7,C=32,H=2,T=16,V=64", &spec, &err), 0);
	assert_int_equal(dtp_split_equal_layers(&spec, 3, b, &err), 0);
	assert_true(b[0] == 0 && b[1] == 4 && b[2] == 6 && b[3] == 9);
	assert_int_equal(dtp_split_equal_layers(&spec, 8, b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "use 1 to 7 stages"));
	assert_int_equal(dtp_model_spec_parse("mlp:8-8-8-8-8-4", &spec, &err), 0);
	assert_int_equal(dtp_split_equal_layers(&spec, 2, b, &err), 0);
	assert_true(b[0] == 0 && b[1] == 3 && b[2] == 5);
}

/* DeepSpeed's partition_method=parameters: the least largest parameter count,
 * against brute force */
static void test_equal_params_brute_force(void **state)
{
	uint64_t seed = 99;

	(void)state;
	for (int trial = 0; trial < 300; trial++) {
		struct dtp_chain_unit u[8];
		size_t params[8];
		int n = 1 + (int)(lcg(&seed) % 8), bounds[9], bb[9] = { 0 };
		struct dtp_partition_opts o = opts(1 + (int)(lcg(&seed) % (uint64_t)n));
		struct dtp_err err = { 0 };
		double ones[8], want, got = 0;

		memset(u, 0, sizeof(u));
		for (int i = 0; i < n; i++) {
			params[i] = (size_t)(lcg(&seed) % 100000);
			u[i].time = (double)params[i];
			ones[i] = 1;
		}
		want = brute_speed(u, n, o.stages, bb, 1, ones, 0);
		assert_int_equal(dtp_split_equal_params(params, n, o.stages, bounds, &err), 0);
		for (int s = 0; s < o.stages; s++) {
			double sum = 0;

			assert_true(bounds[s] < bounds[s + 1]);
			for (int i = bounds[s]; i < bounds[s + 1]; i++)
				sum += (double)params[i];
			if (sum > got)
				got = sum;
		}
		assert_true(bounds[0] == 0 && bounds[o.stages] == n);
		assert_true(got == want);
	}
}

static void test_uneven_and_uniform(void **state)
{
	struct dtp_chain_unit u[6] = { { .time = 5 }, { .time = 1 }, { .time = 1 },
				       { .time = 1 }, { .time = 1 }, { .time = 1 } };
	struct dtp_partition_opts o = opts(2);
	int bounds[7];
	double t;

	(void)state;
	assert_int_equal(dtp_partition_chain(u, 6, &o, bounds, &t, NULL), 0);
	assert_true(t == 5);
	assert_int_equal(bounds[1], 1);    /* one heavy unit alone, five light ones together */
	for (int i = 0; i < 6; i++)
		u[i].time = 1;
	o.stages = 3;
	assert_int_equal(dtp_partition_chain(u, 6, &o, bounds, &t, NULL), 0);
	assert_true(t == 2);
	assert_int_equal(bounds[1], 2);
	assert_int_equal(bounds[2], 4);
	o.stages = 6;
	assert_int_equal(dtp_partition_chain(u, 6, &o, bounds, &t, NULL), 0);
	assert_true(t == 1);
}

static void test_transfer_cost_moves_the_cut(void **state)
{
	/* cutting after unit 1 would send 1000 bytes each way at 100 B/s */
	struct dtp_chain_unit u[4] = { { .time = 1, .cut_bytes = 10 },
				       { .time = 1, .cut_bytes = 1000 },
				       { .time = 1, .cut_bytes = 10 }, { .time = 1 } };
	struct dtp_partition_opts o = opts(2);
	int bounds[3];
	double t;

	(void)state;
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &t, NULL), 0);
	assert_int_equal(bounds[1], 2);    /* free transfers: the even split */
	assert_true(t == 2);
	o.bandwidth = 100;
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &t, NULL), 0);
	assert_int_not_equal(bounds[1], 2);
	assert_true(fabs(t - 3.1) < 1e-12);
}

static void test_memory_cap(void **state)
{
	struct dtp_chain_unit u[4] = { { .time = 1, .state_mem = 100 },
				       { .time = 1, .state_mem = 100 },
				       { .time = 1, .state_mem = 1 }, { .time = 1, .state_mem = 1 } };
	struct dtp_partition_opts o = opts(2);
	struct dtp_err err = { 0 };
	int bounds[3];
	double t;

	(void)state;
	o.mem_cap = 150;   /* units 0 and 1 cannot share a stage */
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &t, &err), 0);
	assert_int_equal(bounds[1], 1);
	assert_true(t == 3);
	o.mem_cap = 50;    /* nothing fits: the least workable cap is 102 (100 | 100+1+1) */
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &t, &err), -ERANGE);
	assert_non_null(strstr(err.msg, "memory cap of 50 bytes"));
	assert_non_null(strstr(err.msg, "needs 102 bytes"));
	o.mem_cap = 0;
	o.stages = 5;
	assert_int_equal(dtp_partition_chain(u, 4, &o, bounds, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4 units into 5 stages"));
}

static void test_stash_memory_model(void **state)
{
	struct dtp_chain_unit u[2] = { { .state_mem = 1000, .save_mem = 10, .in_mem = 7 },
				       { .state_mem = 1000, .save_mem = 20, .in_mem = 5 } };
	struct dtp_partition_opts o = opts(4);   /* K = 4, 4 slots each (GPipe, M = 4) */
	struct dtp_stage_cost c;
	struct dtp_err err = { 0 };
	int bounds[3];
	double t;

	(void)state;
	/* slots of (stage input + saves) */
	c = dtp_stage_cost(u, 2, 0, 2, 0, &o);
	assert_int_equal(c.mem, 2000 + 4 * (7 + 30));
	/* each stage's own slot count (1F1B, M = 4: 4, 3, 2, 1) */
	for (int s = 0; s < 4; s++)
		o.stash_slots[s] = 4 - s;
	c = dtp_stage_cost(u, 2, 1, 2, 3, &o);
	assert_int_equal(c.mem, 1000 + 1 * (5 + 20));
	c = dtp_stage_cost(u, 2, 1, 2, 1, &o);
	assert_int_equal(c.mem, 1000 + 3 * (5 + 20));
	/* recompute: inputs per slot, saves once */
	o.stash_slots[0] = 4;
	o.recompute = 1;
	c = dtp_stage_cost(u, 2, 0, 2, 0, &o);
	assert_int_equal(c.mem, 2000 + 4 * 7 + 30);
	/* a stage without slots is a caller's mistake, named */
	o = opts(2);
	o.stash_slots[1] = 0;
	assert_int_equal(dtp_partition_chain(u, 2, &o, bounds, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "stage 1 keeps 0 micro-batches"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_brute_force),
		cmocka_unit_test(test_per_stage_speed_brute_force),
		cmocka_unit_test(test_faster_stage_takes_more),
		cmocka_unit_test(test_equal_layers),
		cmocka_unit_test(test_equal_params_brute_force),
		cmocka_unit_test(test_uneven_and_uniform),
		cmocka_unit_test(test_transfer_cost_moves_the_cut),
		cmocka_unit_test(test_memory_cap),
		cmocka_unit_test(test_stash_memory_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
