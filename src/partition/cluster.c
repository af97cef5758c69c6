/* Planning for a whole cluster (see cluster.h for the cost model). */
#include "config.h"
#include "partition/cluster.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nominal links: the signalling rate as bytes/s and a typical one-way latency
 * of a small message through the verbs (or, for eth-25, TCP) stack. */
static const struct dtp_network networks[] = {
	{ "ib-hdr", 25e9, 1.0e-6 },      /* InfiniBand HDR, 200 Gb/s */
	{ "ib-ndr", 50e9, 1.0e-6 },      /* InfiniBand NDR, 400 Gb/s */
	{ "roce-100", 12.5e9, 2.0e-6 },  /* RoCE v2 on 100 GbE */
	{ "eth-25", 3.125e9, 25e-6 },    /* 25 GbE, TCP */
};
#define N_NETWORKS (sizeof(networks) / sizeof(networks[0]))

struct dtp_network dtp_network_shm(void)
{
	/* one copy through a shared segment on a loaded node: ~10 GB/s, ~1 us */
	return (struct dtp_network){ "shm", 10e9, 1.0e-6 };
}

const char *dtp_network_names(void)
{
	return "ib-hdr|ib-ndr|roce-100|eth-25|GB/s,us";
}

int dtp_network_parse(const char *s, struct dtp_network *out, struct dtp_err *err)
{
	double gbs, us;
	char *end;

	for (size_t i = 0; i < N_NETWORKS; i++)
		if (strcmp(s, networks[i].name) == 0) {
			*out = networks[i];
			return 0;
		}
	gbs = strtod(s, &end);
	if (end != s && *end == ',') {
		const char *u = end + 1;

		us = strtod(u, &end);
		if (end != u && !*end && gbs > 0 && isfinite(gbs) && us >= 0 && isfinite(us)) {
			snprintf(out->name, sizeof(out->name), "given");
			out->bw = gbs * 1e9;
			out->lat = us * 1e-6;
			return 0;
		}
	}
	return dtp_errf_input(err, -EINVAL, "--network '%s': use one of ib-hdr (200 Gb/s), ib-ndr "
			      "(400 Gb/s), roce-100, eth-25, or bandwidth and latency as GB/s,us "
			      "(e.g. 25,1.5)", s);
}

double dtp_ring_allreduce_bytes(double bytes, int R)
{
	return R <= 1 ? 0 : 2.0 * (R - 1) / R * bytes;
}

double dtp_ring_allreduce_s(double bytes, int R, const struct dtp_network *l)
{
	if (R <= 1)
		return 0;
	return dtp_ring_allreduce_bytes(bytes, R) / l->bw + 2.0 * (R - 1) * l->lat;
}

double dtp_step_overhead(int K, const double *fwd, const double *bwd, double xfer,
			 const double *pre, const double *post, const double *hop, double agree,
			 double *ctrl, double *work)
{
	double first = 0, last = 0, pre_crit = 0, up = 0, down = 0, at_last = 0;

	/* before: stage s's first input comes `first` after stage 0's start */
	for (int s = 0; s < K; s++) {
		pre_crit = fmax(pre_crit, pre[s] - first);
		first += fwd[s] + xfer;
	}
	/* after: stage s's sums leave `post[s] - last` after stage 0's last
	 * backward ends and travel the hops s .. K-2 up; the last stage then
	 * sends the clip factor down all K-1 hops */
	for (int s = 0; s < K; s++) {
		double hops = 0;

		for (int j = s; j + 1 < K; j++)
			hops += hop[j];
		at_last = fmax(at_last, post[s] - last + hops);
		last += bwd[s] + xfer;
	}
	for (int j = 0; j + 1 < K; j++) {
		up += hop[j];
		down += hop[j];
	}
	/* the exchange alone: the hops up and down and the agreement */
	*ctrl = up + down + agree;
	/* the per-step work on the critical path: what the hops do not cover */
	*work = pre_crit + at_last - up;
	return pre_crit + at_last + down + agree;
}

/* node of rank `rank` with `per` processes per node */
static int node_of(int replica, int K, int stage, int per)
{
	return (int)(((long)replica * K + stage) / per);
}

static int cmp_layout(const void *a, const void *b)
{
	const struct dtp_layout *x = a, *y = b;

	/* steps within rounding of each other are ties */
	if (fabs(x->step - y->step) > 1e-9 * fmax(x->step, y->step))
		return x->step < y->step ? -1 : 1;
	if (x->K != y->K)
		return x->K - y->K;
	return x->R - y->R;
}

/* One (R, K): 0 and *l filled, 1 when it does not fit the memory, or a
 * negative errno. */
static int evaluate(const struct dtp_profile *p, const struct dtp_chain_unit *chain,
		    const struct dtp_cluster_opts *o, const struct dtp_cluster_sim *sim, int R,
		    int K, int M, struct dtp_layout *l, struct dtp_err *err)
{
	int n = p->n_units, per = (int)((long)R * K / o->nodes), N = o->nodes;
	struct dtp_partition_opts po = { .stages = K, .mem_cap = o->mem_cap,
					 .recompute = o->recompute };
	double speed[DTP_MAX_STAGES], fwd[DTP_MAX_STAGES], bwd[DTP_MAX_STAGES];
	double grad[DTP_MAX_STAGES], hidden[DTP_MAX_STAGES], ar[DTP_MAX_STAGES] = { 0 };
	double pre[DTP_MAX_STAGES], post[DTP_MAX_STAGES], hop[DTP_MAX_STAGES] = { 0 };
	double slowest, bavg = 0, step, agree = 0, pen;
	struct dtp_step_work_opts wo = DTP_STEP_WORK_DEFAULT;
	size_t mem[DTP_MAX_STAGES];
	int cross[DTP_MAX_STAGES] = { 0 }, r;
	struct dtp_err e2 = { 0 };

	memset(l, 0, sizeof(*l));
	l->R = R;
	l->K = K;
	l->M = M;
	l->per_node = per;
	l->cores = per > o->cores_per_node ? 1 : o->cores_per_node / per;
	l->speed = per > o->cores_per_node ? (double)o->cores_per_node / per : l->cores;
	/* which pipeline links leave a node (for some replica) */
	for (int s = 0; s + 1 < K; s++)
		for (int rep = 0; rep < R && !cross[s]; rep++)
			cross[s] = node_of(rep, K, s, per) != node_of(rep, K, s + 1, per);
	for (int s = 0; s + 1 < K; s++)
		l->cross_links += cross[s];
	l->spans = R > 1 && node_of(0, K, 0, per) != node_of(R - 1, K, 0, per);
	for (int s = 0; s < K; s++)
		speed[s] = l->speed;
	po.speed = speed;
	wo.shard = o->shard_optimizer ? R : 1;
	wo.zero_grads = !o->no_zero_grads;
	wo.busy = o->busy && p->busy_measured && o->cores_per_node > 1;
	po.bandwidth = l->cross_links ? o->net.bw : o->shm.bw;
	r = sim->stash_slots(sim->ctx, K, M, po.stash_slots, err);
	if (r)
		return r;
	r = dtp_partition_chain(chain, n, &po, l->bounds, &slowest, &e2);
	if (r == -ERANGE)
		return 1;
	if (r) {
		dtp_err_copy(err, &e2);
		return r;
	}
	for (int s = 0; s < K; s++) {
		struct dtp_stage_cost c = dtp_stage_cost(chain, n, l->bounds[s], l->bounds[s + 1], s,
							 &po);
		int units = l->bounds[s + 1] - l->bounds[s];

		fwd[s] = bwd[s] = grad[s] = 0;
		for (int u = l->bounds[s]; u < l->bounds[s + 1]; u++) {
			double f = dtp_unit_fwd_s(&p->units[u], wo.busy);

			fwd[s] += f;
			bwd[s] += dtp_unit_bwd_s(&p->units[u], wo.busy) + (o->recompute ? f : 0);
			grad[s] += (double)p->units[u].param_bytes;
		}
		/* oversubscribed: each process's turns, and what sharing costs
		 * beyond them (measured with the busy figures) */
		pen = o->busy && p->busy_measured && per > o->cores_per_node ?
		      dtp_profile_share_penalty(p, l->bounds[s], l->bounds[s + 1]) : 1;
		fwd[s] *= pen / l->speed;
		bwd[s] *= pen / l->speed;
		dtp_profile_step_work(p, l->bounds[s], l->bounds[s + 1], &wo, &pre[s], &post[s]);
		pre[s] *= pen / l->speed;
		post[s] *= pen / l->speed;
		bavg += bwd[s] / K;
		hidden[s] = bwd[s] * (units - 1) / units;
		mem[s] = c.mem;
		if (c.mem > l->mem_max)
			l->mem_max = c.mem;
		if (s + 1 < K) {
			const struct dtp_network *lk = cross[s] ? &o->net : &o->shm;
			double t = (double)p->units[l->bounds[s + 1] - 1].link_bytes / lk->bw + lk->lat;

			if (t > l->xfer)
				l->xfer = t;
			hop[s] = lk->lat;
		}
	}
	/* each node's processes together */
	for (int j = 0; j < N; j++) {
		size_t sum = 0;

		for (int q = j * per; q < (j + 1) * per; q++)
			sum += mem[q % K];
		if (sum > l->node_mem_max)
			l->node_mem_max = sum;
	}
	if (o->node_mem && l->node_mem_max > o->node_mem)
		return 1;
	r = sim->predict(sim->ctx, K, M, fwd, bwd, l->xfer, &l->pipe, &l->bubble, err);
	if (r)
		return r;
	/* the gradient sums: on the NIC, every stage group present on the
	 * busiest node shares it; inside a node, shared memory, copied by the
	 * processes' cores (slower by the sharing when oversubscribed) */
	if (R > 1) {
		double net = 0;

		if (l->spans) {
			for (int j = 0; j < N; j++) {
				uint64_t seen = 0;
				double load = 0;

				for (int q = j * per; q < (j + 1) * per; q++) {
					int s = q % K;

					if (!(seen & (1ull << s)))
						load += grad[s];
					seen |= 1ull << s;
				}
				if (load > net)
					net = load;
			}
			net = dtp_ring_allreduce_s(net, R, &o->net);
		}
		for (int s = 0; s < K; s++) {
			ar[s] = l->spans ? net : dtp_ring_allreduce_s(grad[s], R, &o->shm) /
						 fmin(1.0, l->speed);
			/* shard_optimizer: a reduce-scatter, the ring's first half (the
			 * all-gather, its second, comes after the optimizer: below) */
			if (o->shard_optimizer)
				ar[s] /= 2;
			if (ar[s] > l->allreduce)
				l->allreduce = ar[s];
		}
	}
	/* shard_optimizer: each stage's parameters gathered after its 1/R of the
	 * optimizer step, on the link its sums use */
	for (int s = 0; s < K && R > 1 && o->shard_optimizer; s++) {
		const struct dtp_network *lk = l->spans ? &o->net : &o->shm;
		double g = dtp_ring_allreduce_s(grad[s], R, lk) / 2 /
			   (l->spans ? 1 : fmin(1.0, l->speed));

		pre[s] += g;
		if (g > l->gather)
			l->gather = g;
	}
	if (R > 1) {
		const struct dtp_network *lk = l->spans ? &o->net : &o->shm;

		/* a few doubles: recursive doubling, log2 R rounds of a latency */
		agree = ceil(log2((double)R)) * lk->lat * (o->shard_optimizer ? 2 : 1);
	}
	step = l->pipe;
	if (R > 1 && !o->overlap) {
		/* blocking sums, each as its unit's last backward ends: the
		 * backward below waits for it, and so does the gradient the stage
		 * sends down: every stage's sums add to the step */
		for (int s = 0; s < K; s++)
			step += ar[s];
	}
	for (int s = 0; s < K && R > 1 && o->overlap; s++) {
		double end = l->pipe - s * (bavg + l->xfer) + fmax(0, ar[s] - hidden[s]);

		if (end > step)
			step = end;
	}
	l->exposed = step - l->pipe;
	step += dtp_step_overhead(K, fwd, bwd, l->xfer, pre, post, hop, agree, &l->ctrl,
				  &l->step_work);
	l->step = step;
	l->samples_per_s = step > 0 ? (double)o->global_batch / step : 0;
	return 0;
}

int dtp_cluster_plan(const struct dtp_profile *p, const struct dtp_chain_unit *chain,
		     const struct dtp_cluster_opts *o, const struct dtp_cluster_sim *sim,
		     struct dtp_layout **out, int *n, struct dtp_cluster_stats *st,
		     struct dtp_err *err)
{
	int N = o->nodes, C = o->cores_per_node, kmax = o->max_stages, cap = 64, got = 0, r = 0;
	long micro, slots = (long)N * C * (o->oversubscribe ? 4 : 1);
	struct dtp_layout *list;

	memset(st, 0, sizeof(*st));
	*out = NULL;
	*n = 0;
	if (N < 1 || C < 1 || o->micro_batch < 1 || o->global_batch < 1 ||
	    o->global_batch % o->micro_batch)
		return dtp_errf_input(err, -EINVAL, "--nodes %d, --cores-per-node %d, global batch %ld, "
				      "micro-batch %d: give nodes and cores >= 1 and a global batch "
				      "that is a multiple of the micro-batch", N, C, o->global_batch,
				      o->micro_batch);
	micro = o->global_batch / o->micro_batch;
	if (kmax <= 0 || kmax > p->n_units)
		kmax = p->n_units;
	if (kmax > DTP_MAX_STAGES)
		kmax = DTP_MAX_STAGES;
	list = malloc(sizeof(*list) * (size_t)cap);
	if (!list)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int K = 1; K <= kmax; K++) {
		for (long R = 1; R <= micro && R * K <= slots; R++) {
			struct dtp_layout l;

			if (micro % R || (R * K) % N)
				continue;
			st->tried++;
			r = evaluate(p, chain, o, sim, (int)R, K, (int)(micro / R), &l, err);
			if (r < 0)
				goto out_free;
			if (r) {
				st->over_mem++;
				r = 0;
				continue;
			}
			if (got == cap) {
				struct dtp_layout *more = realloc(list, sizeof(*list) * (size_t)cap * 2);

				if (!more) {
					r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
					goto out_free;
				}
				list = more;
				cap *= 2;
			}
			list[got++] = l;
		}
	}
	if (!st->tried) {
		r = dtp_errf_input(err, -EINVAL, "no layout of %d nodes x %d cores fits a global batch of "
				   "%ld micro-batches: R x K processes must fill every node alike; "
				   "give a global batch of at least %d micro-batches", N, C, micro, N);
		goto out_free;
	}
	if (!got) {
		r = dtp_errf_input(err, -ERANGE, "none of the %d layouts of %d nodes fits the memory "
				   "(per process %zu bytes, per node %zu bytes; 0 = no cap): give more "
				   "nodes, more memory, recompute or a smaller micro-batch", st->tried,
				   N, o->mem_cap, o->node_mem);
		goto out_free;
	}
	qsort(list, (size_t)got, sizeof(*list), cmp_layout);
	*out = list;
	*n = got;
	return 0;
out_free:
	free(list);
	return r;
}
