/* Unit tests for the cluster planner (src/partition/cluster.c) on synthetic
 * profiles, with the pipeline's schedule simulator behind the callbacks (as
 * dtpipe-partition plan --nodes uses it): a tiny model on a fast network
 * takes one replica per node; a model too big for one node is cut into
 * stages across nodes; memory no layout meets is an error that says so. */
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

#include "partition/cluster.h"
#include "pipeline/pipeline.h"

static int stash(void *ctx, int K, int M, int *slots, struct dtp_err *err)
{
	(void)ctx;
	return dtp_schedule_stash_slots(DTP_SCHEDULE_GPIPE, K, M, slots, err);
}

static int predict(void *ctx, int K, int M, const double *fwd, const double *bwd, double xfer,
		   double *step, double *bubble, struct dtp_err *err)
{
	struct dtp_sim_result res;
	int r = dtp_schedule_predict(DTP_SCHEDULE_GPIPE, K, M, fwd, bwd, xfer, &res, err);

	(void)ctx;
	*step = res.step_time;
	*bubble = res.bubble;
	return r;
}

static const struct dtp_cluster_sim sim = { stash, predict, NULL };

/* n alike units: fwd 1 ms and bwd 2 ms on one core, `params` floats each,
 * 64 KiB activations */
static void profile(struct dtp_profile *p, struct dtp_unit_cost *u, int n, size_t params)
{
	memset(p, 0, sizeof(*p));
	p->batch = 8;
	p->n_units = n;
	p->measured = 1;
	p->units = u;
	for (int i = 0; i < n; i++) {
		memset(&u[i], 0, sizeof(u[i]));
		u[i].fwd_s = 1e-3;
		u[i].bwd_s = 2e-3;
		u[i].params = params;
		u[i].param_bytes = params * 4;
		u[i].in_bytes = u[i].out_bytes = 64 << 10;
		u[i].save_bytes = 128 << 10;
	}
}

static struct dtp_cluster_opts opts(int N, int C, const char *net)
{
	struct dtp_cluster_opts o = { .nodes = N, .cores_per_node = C, .micro_batch = 8,
				      .global_batch = 8L * 4 * N };
	struct dtp_err err = { 0 };

	assert_int_equal(dtp_network_parse(net, &o.net, &err), 0);
	o.shm = dtp_network_shm();
	return o;
}

/* what every layout must satisfy */
static void check_layouts(const struct dtp_layout *l, int n, const struct dtp_cluster_opts *o,
			  int units)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal((long)l[i].R * l[i].M * o->micro_batch, o->global_batch);
		assert_int_equal(((long)l[i].R * l[i].K) % o->nodes, 0);
		assert_int_equal(l[i].per_node, l[i].R * l[i].K / o->nodes);
		assert_true(l[i].per_node <= o->cores_per_node * (o->oversubscribe ? 4 : 1));
		assert_int_equal(l[i].bounds[0], 0);
		assert_int_equal(l[i].bounds[l[i].K], units);
		for (int s = 0; s < l[i].K; s++)
			assert_true(l[i].bounds[s] < l[i].bounds[s + 1]);
		assert_true(l[i].step >= l[i].pipe);
		if (o->node_mem)
			assert_true(l[i].node_mem_max <= o->node_mem);
		if (i)
			assert_true(l[i - 1].step <= l[i].step);
	}
}

static void test_network_parse(void **state)
{
	struct dtp_network n;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_network_parse("ib-hdr", &n, &err), 0);
	assert_true(n.bw == 25e9);
	assert_int_equal(dtp_network_parse("12.5,2", &n, &err), 0);
	assert_true(n.bw == 12.5e9 && fabs(n.lat - 2e-6) < 1e-12);
	assert_int_equal(dtp_network_parse("fast", &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "GB/s,us"));
	assert_int_equal(dtp_network_parse("0,1", &n, &err), -EINVAL);
	assert_int_equal(dtp_network_parse("10,", &n, &err), -EINVAL);
}

static void test_ring_cost(void **state)
{
	struct dtp_network l = { "x", 1e9, 1e-6 };

	(void)state;
	assert_true(dtp_ring_allreduce_s(1e9, 1, &l) == 0);
	/* 2 (R-1)/R x bytes / bw + 2 x latency */
	assert_true(fabs(dtp_ring_allreduce_s(1e9, 4, &l) - (1.5 + 6e-6)) < 1e-12);
}

/* a small model on InfiniBand NDR: every node one replica of the whole model */
static void test_tiny_model_fast_network_takes_replicas(void **state)
{
	struct dtp_unit_cost u[4];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(8, 4, "ib-ndr");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	int n;

	(void)state;
	profile(&p, u, 4, 1 << 20);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &chain, &err), 0);
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	assert_true(n > 3);
	check_layouts(l, n, &o, 4);
	assert_int_equal(l[0].R, 8);
	assert_int_equal(l[0].K, 1);
	assert_int_equal(l[0].M, 4);
	assert_int_equal(l[0].bubble, 0);
	free(l);
	free(chain);
}

/* the whole model's state is more than a node holds: stages over nodes */
static void test_big_model_is_cut_over_nodes(void **state)
{
	struct dtp_unit_cost u[8];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(4, 8, "ib-hdr");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	size_t whole;
	int n;

	(void)state;
	profile(&p, u, 8, 16 << 20);   /* 64 MiB of parameters per unit */
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &chain, &err), 0);
	whole = 0;
	for (int i = 0; i < 8; i++)
		whole += chain[i].state_mem;
	o.node_mem = whole / 2 + whole / 8;   /* a bit more than half the model's state */
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	check_layouts(l, n, &o, 8);
	assert_true(st.over_mem > 0);
	for (int i = 0; i < n; i++)
		assert_true(l[i].K >= 2);
	assert_true(l[0].cross_links >= 1);
	free(l);
	/* a node that holds a quarter of it: no layout of 4 nodes fits */
	o.node_mem = whole / 8;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), -ERANGE);
	assert_non_null(strstr(err.msg, "memory"));
	free(chain);
}

/* a large model on slow Ethernet: the gradient sum of whole replicas costs
 * more than cutting the model into stages */
static void test_slow_network_prefers_stages(void **state)
{
	struct dtp_unit_cost u[8];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(4, 4, "eth-25");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	int n;

	(void)state;
	profile(&p, u, 8, 64 << 20);
	o.global_batch = 8L * 32 * 4;
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_ADAMW, 0, &chain, &err), 0);
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	check_layouts(l, n, &o, 8);
	assert_true(l[0].K > 1);
	assert_true(l[0].R < 4);
	free(l);
	free(chain);
}

static void test_bad_options(void **state)
{
	struct dtp_unit_cost u[2];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(4, 4, "ib-hdr");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	int n;

	(void)state;
	profile(&p, u, 2, 1000);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_SGD, 0, &chain, &err), 0);
	o.global_batch = 12;   /* not a multiple of the micro-batch */
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), -EINVAL);
	o.global_batch = 8;   /* 1 micro-batch and 2 units cannot fill 4 nodes */
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "at least 4 micro-batches"));
	free(chain);
}

/* one node of 2 cores: 2 x 2 is there only with oversubscribe, each rank at
 * half a core; the blocking sums (overlap = no, the default) add every
 * stage's all-reduce to the step, the overlapped ones hide some of it */
static void test_oversubscribed_and_blocking_sums(void **state)
{
	struct dtp_unit_cost u[4];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(1, 2, "ib-hdr");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	const struct dtp_layout *x22 = NULL, *x12 = NULL;
	double blocking;
	int n;

	(void)state;
	profile(&p, u, 4, 1 << 20);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_SGD, 0, &chain, &err), 0);
	o.global_batch = 8L * 8;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	for (int i = 0; i < n; i++)
		assert_true(l[i].R * l[i].K <= 2);
	free(l);
	o.oversubscribe = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	for (int i = 0; i < n; i++) {
		if (l[i].R == 2 && l[i].K == 2)
			x22 = &l[i];
		if (l[i].R == 1 && l[i].K == 2)
			x12 = &l[i];
	}
	assert_non_null(x22);
	assert_non_null(x12);
	assert_true(x22->speed == 0.5 && x12->speed == 1);
	/* half the micro-batches at half the speed: the same compute per stage */
	assert_true(x22->pipe > x12->pipe * 0.99);
	/* blocking: both stages' sums, whole, on top of the pipeline */
	assert_true(x22->allreduce > 0);
	assert_true(x22->step >= x22->pipe + x22->allreduce - 1e-12);
	blocking = x22->step;
	free(l);
	o.overlap = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	for (int i = 0; i < n; i++)
		if (l[i].R == 2 && l[i].K == 2)
			assert_true(l[i].step < blocking);
	free(l);
	free(chain);
}

/* the closed form of what per-step work and the exchange add: one stage
 * adds its work whole; a later stage's work before its first input is
 * hidden by the forwards before it, its norm by the backwards after its
 * last; the exchange is a hop up and down per link, plus the agreement */
static void test_step_overhead(void **state)
{
	const double f[3] = { 1e-3, 1e-3, 1e-3 }, b[3] = { 2e-3, 2e-3, 2e-3 };
	const double hop[2] = { 1e-5, 1e-5 };
	double pre[3] = { 3e-4, 0, 0 }, post[3] = { 2e-4, 0, 0 }, ctrl, work, add;

	(void)state;
	add = dtp_step_overhead(1, f, b, 0, pre, post, hop, 0, &ctrl, &work);
	assert_true(fabs(add - 5e-4) < 1e-15 && ctrl == 0 && fabs(work - 5e-4) < 1e-15);
	add = dtp_step_overhead(1, f, b, 0, pre, post, hop, 4e-6, &ctrl, &work);
	assert_true(fabs(add - 5.04e-4) < 1e-15 && fabs(ctrl - 4e-6) < 1e-18);
	/* three stages: stage 2's pre work under its 2 ms of waiting is hidden */
	pre[2] = 1.5e-3;
	add = dtp_step_overhead(3, f, b, 0, pre, post, hop, 0, &ctrl, &work);
	assert_true(fabs(ctrl - 4e-5) < 1e-15);
	assert_true(fabs(add - (3e-4 + 2e-4 + 4e-5)) < 1e-12);
	/* past it, what sticks out counts */
	pre[2] = 2.5e-3;
	add = dtp_step_overhead(3, f, b, 0, pre, post, hop, 0, &ctrl, &work);
	assert_true(fabs(work - (5e-4 + 2e-4)) < 1e-12);
	/* the last stage's norm ends 4 ms before stage 0's backward */
	pre[2] = 0;
	post[2] = 5e-3;
	add = dtp_step_overhead(3, f, b, 0, pre, post, hop, 0, &ctrl, &work);
	assert_true(fabs(add - (3e-4 + (5e-3 - 4e-3) + 2e-5)) < 1e-12);
}

/* n units with per-step work: optimizer 0.4 ms, norm 0.2, zeroing 0.1 */
static void step_profile(struct dtp_profile *p, struct dtp_unit_cost *u, int n)
{
	profile(p, u, n, 1 << 18);
	for (int i = 0; i < n; i++) {
		u[i].step = (struct dtp_step_times){ .optim_s = 4e-4, .norm_s = 2e-4, .zero_s = 1e-4 };
		u[i].step_busy = u[i].step;
		u[i].fwd_busy_s = 2 * u[i].fwd_s;
		u[i].bwd_busy_s = 2 * u[i].bwd_s;
	}
}

static const struct dtp_layout *find(const struct dtp_layout *l, int n, int R, int K)
{
	for (int i = 0; i < n; i++)
		if (l[i].R == R && l[i].K == K)
			return &l[i];
	return NULL;
}

/* the per-step work adds once per step, whatever M; sharded, each replica
 * does 1/R of the optimizer and norm and gathers; without zeroing that
 * term goes; the busy figures apply when the node's other cores compute */
static void test_per_step_terms(void **state)
{
	struct dtp_unit_cost u[4];
	struct dtp_profile p;
	struct dtp_chain_unit *chain;
	struct dtp_cluster_opts o = opts(1, 1, "ib-hdr");
	struct dtp_cluster_stats st;
	struct dtp_layout *l;
	struct dtp_err err = { 0 };
	const struct dtp_layout *x;
	double work4, pipe4, one, sharded;
	int n;

	(void)state;
	step_profile(&p, u, 4);
	assert_int_equal(dtp_profile_chain(&p, DTP_OPTIM_SGD, 0, &chain, &err), 0);
	/* one core, K = 1: 4 units' 0.7 ms, M = 4 and M = 8 alike */
	o.max_stages = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	x = find(l, n, 1, 1);
	assert_non_null(x);
	assert_true(fabs(x->step_work - 4 * 7e-4) < 1e-12);
	assert_true(fabs(x->step - x->pipe - 4 * 7e-4) < 1e-12);
	work4 = x->step_work;
	pipe4 = x->pipe;
	free(l);
	o.global_batch *= 2;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	x = find(l, n, 1, 1);
	assert_true(fabs(x->pipe - 2 * pipe4) < 1e-12);
	assert_true(fabs(x->step_work - work4) < 1e-12);
	free(l);
	o.no_zero_grads = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	assert_true(fabs(find(l, n, 1, 1)->step_work - 4 * 6e-4) < 1e-12);
	free(l);
	/* two replicas on two nodes: whole, then sharded (1/2 of optimizer and
	 * norm, plus the all-gather of the parameters) */
	o = opts(2, 1, "ib-hdr");
	o.max_stages = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	x = find(l, n, 2, 1);
	assert_non_null(x);
	one = x->step_work;
	assert_true(fabs(one - 4 * 7e-4) < 1e-12 && x->gather == 0);
	assert_true(x->ctrl > 0);   /* the replicas agree on stopping */
	free(l);
	o.shard_optimizer = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	x = find(l, n, 2, 1);
	sharded = 4 * (6e-4 / 2 + 1e-4);
	assert_true(fabs(x->gather - dtp_ring_allreduce_s(4.0 * (1 << 20), 2, &o.net) / 2) < 1e-12);
	assert_true(fabs(x->step_work - (sharded + x->gather)) < 1e-12);
	free(l);
	/* busy: two cores of one node, both computing: the busy figures */
	o = opts(1, 2, "ib-hdr");
	o.max_stages = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	pipe4 = find(l, n, 2, 1)->pipe;
	free(l);
	o.busy = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	assert_true(find(l, n, 2, 1)->pipe == pipe4);   /* not measured: as alone */
	free(l);
	p.busy_measured = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	assert_true(fabs(find(l, n, 2, 1)->pipe - 2 * pipe4) < 1e-12);
	free(l);
	/* oversubscribed (2 x 2 on 2 cores): sharing a core costs 1.25x the
	 * turns (passes of 2.5x alone while another runs the same unit) */
	o.oversubscribe = 1;
	o.global_batch = 8L * 8;
	o.max_stages = 2;
	o.busy = 0;
	o.shm.bw = 1e18;   /* transfers free: the pipeline scales with the compute */
	o.shm.lat = 0;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	pipe4 = find(l, n, 2, 2)->pipe;
	one = find(l, n, 1, 2)->pipe;
	free(l);
	for (int i = 0; i < 4; i++) {
		u[i].fwd_busy_s = u[i].fwd_s;
		u[i].bwd_busy_s = u[i].bwd_s;
		u[i].pass_shared_s = 2.5 * (u[i].fwd_s + u[i].bwd_s);
	}
	o.busy = 1;
	assert_int_equal(dtp_cluster_plan(&p, chain, &o, &sim, &l, &n, &st, &err), 0);
	x = find(l, n, 2, 2);
	assert_true(fabs(x->pipe - 1.25 * pipe4) < 1e-9);
	/* not oversubscribed: no sharing cost */
	assert_true(fabs(find(l, n, 1, 2)->pipe - one) < 1e-12);
	free(l);
	free(chain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_parse),
		cmocka_unit_test(test_step_overhead),
		cmocka_unit_test(test_per_step_terms),
		cmocka_unit_test(test_oversubscribed_and_blocking_sums),
		cmocka_unit_test(test_ring_cost),
		cmocka_unit_test(test_tiny_model_fast_network_takes_replicas),
		cmocka_unit_test(test_big_model_is_cut_over_nodes),
		cmocka_unit_test(test_slow_network_prefers_stages),
		cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
