/* Exact min-max chain partitioning (see partition.h for the cost model). */
#include "config.h"
#include "partition/partition.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct dtp_stage_cost dtp_stage_cost(const struct dtp_chain_unit *u, int n, int a, int b, int s,
				     const struct dtp_partition_opts *o)
{
	struct dtp_stage_cost c = { .first = a, .last = b };
	size_t state = 0, save = 0, shared[DTP_CHAIN_KINDS] = { 0 }, slots;
	double t = 0;

	for (int i = a; i < b; i++) {
		size_t *sh = &shared[(unsigned)u[i].kind % DTP_CHAIN_KINDS];

		t += u[i].time;
		state += u[i].state_mem;
		save += u[i].save_mem;
		if (u[i].shared_mem > *sh)
			*sh = u[i].shared_mem;
	}
	for (int k = 0; k < DTP_CHAIN_KINDS; k++)
		state += shared[k];
	if (o->speed && o->speed[s] > 0)
		t /= o->speed[s];
	c.compute = t;
	if (o->bandwidth > 0) {
		if (a > 0)
			t += (double)u[a - 1].cut_bytes / o->bandwidth;
		if (b < n)
			t += (double)u[b - 1].cut_bytes / o->bandwidth;
	}
	c.time = t;
	slots = (size_t)o->stash_slots[s];
	if (o->recompute)
		c.mem = state + slots * u[a].in_mem + save;
	else
		c.mem = state + slots * (u[a].in_mem + save);
	return c;
}

/* best[k][j]: least objective splitting units [0, j) into k stages (the
 * objective is the slowest time, or with by_mem the largest memory); stages
 * over `cap` (when cap > 0) are not allowed. */
static int dp(const struct dtp_chain_unit *u, int n, const struct dtp_partition_opts *o,
	      int by_mem, size_t cap, int *bounds, double *value)
{
	int K = o->stages;
	double *best = malloc(sizeof(double) * (size_t)(K + 1) * (size_t)(n + 1));
	int *from = malloc(sizeof(int) * (size_t)(K + 1) * (size_t)(n + 1));
	int r = 0;

#define BEST(k, j) best[(size_t)(k) * (size_t)(n + 1) + (size_t)(j)]
#define FROM(k, j) from[(size_t)(k) * (size_t)(n + 1) + (size_t)(j)]
	if (!best || !from) {
		r = -ENOMEM;
		goto out_free;
	}
	for (int k = 0; k <= K; k++)
		for (int j = 0; j <= n; j++)
			BEST(k, j) = INFINITY;
	BEST(0, 0) = 0;
	for (int k = 1; k <= K; k++) {
		/* stage k-1 ends at unit j; the K-k stages after it need one unit each */
		for (int j = k; j <= n - (K - k); j++) {
			for (int i = k - 1; i < j; i++) {
				struct dtp_stage_cost c;
				double v;

				if (isinf(BEST(k - 1, i)))
					continue;
				c = dtp_stage_cost(u, n, i, j, k - 1, o);
				if (cap && c.mem > cap)
					continue;
				v = by_mem ? (double)c.mem : c.time;
				if (BEST(k - 1, i) > v)
					v = BEST(k - 1, i);
				if (v < BEST(k, j)) {
					BEST(k, j) = v;
					FROM(k, j) = i;
				}
			}
		}
	}
	if (isinf(BEST(K, n))) {
		r = -ERANGE;
		goto out_free;
	}
	bounds[K] = n;
	for (int k = K; k > 0; k--)
		bounds[k - 1] = FROM(k, bounds[k]);
	*value = BEST(K, n);
#undef BEST
#undef FROM
out_free:
	free(from);
	free(best);
	return r;
}

int dtp_partition_chain(const struct dtp_chain_unit *u, int n, const struct dtp_partition_opts *o,
			int *bounds, double *slowest, struct dtp_err *err)
{
	int *tmp;
	double v, least;
	int r;

	if (o->stages < 1 || o->stages > n)
		return dtp_errf_input(err, -EINVAL, "cannot split %d units into %d stages: each stage "
				      "needs at least one unit; use 1 to %d stages", n, o->stages, n);
	for (int s = 0; s < o->stages; s++)
		if (o->stash_slots[s] < 1)
			return dtp_errf_input(err, -EINVAL, "stage %d keeps %d micro-batches in flight: "
					      "every stage keeps at least 1 (fill the stash slots from "
					      "the schedule)", s, o->stash_slots[s]);
	tmp = malloc(sizeof(int) * (size_t)(o->stages + 1));
	if (!tmp)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dp(u, n, o, 0, o->mem_cap, tmp, &v);
	if (r == -ERANGE) {
		/* say what cap would have worked */
		if (dp(u, n, o, 1, 0, tmp, &least) == 0)
			r = dtp_errf_input(err, -ERANGE, "no split into %d stages keeps every stage under "
					   "the memory cap of %zu bytes (%.1f MiB): the best split needs "
					   "%.0f bytes (%.1f MiB) on its largest stage; raise the cap, use "
					   "more stages, fewer micro-batches or recompute", o->stages,
					   o->mem_cap, (double)o->mem_cap / (1 << 20), least,
					   least / (1 << 20));
		else
			r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	if (r) {
		r = dtp_errf_runtime(err, r, "out of memory");
		goto out_free;
	}
	for (int k = 0; k <= o->stages; k++)
		bounds[k] = tmp[k];
	*slowest = v;
out_free:
	free(tmp);
	return r;
}
