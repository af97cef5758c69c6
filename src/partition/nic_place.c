/* Placement by traffic (see nic_place.h). */
#include "config.h"
#include "partition/nic_place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partition/cluster.h"
#include "partition/place_int.h"
#include "partition/profile.h"

static int is_loopback(const char *h)
{
	return !h[0] || strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0;
}

int dtp_place_same_host(const char *a, const char *b)
{
	return (is_loopback(a) && is_loopback(b)) || strcmp(a, b) == 0;
}

void dtp_place_off_node_bytes(const struct dtp_plan *p, const double *link_bytes,
			      double *off_node)
{
	int K = p->num_stages;

	for (int s = 0; s < K; s++)
		off_node[s] = 0;
	if (!link_bytes)
		return;
	for (int s = 0; s + 1 < K; s++)
		if (!dtp_place_same_host(p->stages[s].host, p->stages[s + 1].host)) {
			off_node[s] += link_bytes[s];
			off_node[s + 1] += link_bytes[s];
		}
	/* each stage's gradient sum over its replicas on other nodes: what a
	 * rank of the ring sends, float32 gradients of the stage's units */
	for (int s = 0; s < K && p->replicas > 1; s++) {
		double params = 0;

		for (int u = p->stages[s].first_unit; u < p->stages[s].last_unit; u++) {
			struct dtp_unit_info info;

			if (dtp_unit_describe(&p->model, u, &info) == 0)
				params += (double)info.n_params;
		}
		off_node[s] += dtp_ring_allreduce_bytes(params * sizeof(float), p->replicas);
	}
}

int dtp_plan_link_bytes(const struct dtp_plan *p, double *link_bytes, struct dtp_err *err)
{
	for (int s = 0; s + 1 < p->num_stages; s++) {
		struct dtp_unit_info info;
		int r = dtp_unit_describe(&p->model, p->stages[s].last_unit - 1, &info);

		if (r)
			return dtp_errf_input(err, r, "unit %d of the model cannot be described",
					      p->stages[s].last_unit - 1);
		link_bytes[s] = 2.0 * (double)dtp_precision_wire_bytes(p->precision, info.out_elems *
							     sizeof(float)) * p->micro_batch *
				p->micro_batches;
	}
	return 0;
}

static double mib(double b)
{
	return b / (1 << 20);
}

/* NUMA nodes of a cpuset as a list */
static void numa_of(struct dtp_topo *t, hwloc_const_bitmap_t set, char *buf, size_t len)
{
	hwloc_bitmap_t nodes = hwloc_bitmap_alloc();

	buf[0] = '\0';
	if (!nodes)
		return;
	hwloc_cpuset_to_nodeset(t->topo, set, nodes);
	hwloc_bitmap_list_snprintf(buf, len, nodes);
	hwloc_bitmap_free(nodes);
}

#define NICS_MAX 16

/* cpulist of `count` cores of type ct inside `pkg` from index `first` */
static int cores_of(struct dtp_topo *t, hwloc_obj_t pkg, hwloc_obj_type_t ct, int first,
		    int count, hwloc_bitmap_t set, char *list)
{
	for (int c = first; c < first + count; c++)
		hwloc_bitmap_or(set, set, hwloc_get_obj_inside_cpuset_by_type(
					t->topo, pkg->cpuset, ct, (unsigned)c)->cpuset);
	return hwloc_bitmap_list_snprintf(list, DTP_CPULIST_MAX, set) < DTP_CPULIST_MAX ? 0
										       : -ENOSPC;
}

/* Core sets that never straddle a package: with n <= packages each stage
 * gets whole packages (as even as the counts allow), else each package's
 * cores are split over the stages it holds (stages spread evenly over the
 * packages). Sizes may then differ by more than one core; the planner's
 * split weighs them by speed. Machines with one package, packages of
 * different core counts, or fewer cores than stages: dtp_place_split. */
static int package_split(struct dtp_topo *t, int n, char (*lists)[DTP_CPULIST_MAX], int *sh,
			 struct dtp_err *err)
{
	hwloc_obj_type_t ct = dtp_topo_core_type(t);
	int P = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PACKAGE), per = -1, r = 0;
	hwloc_bitmap_t set;

	for (int p = 0; p < P; p++) {
		hwloc_obj_t pkg = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE, (unsigned)p);
		int c = hwloc_get_nbobjs_inside_cpuset_by_type(t->topo, pkg->cpuset, ct);

		if (per >= 0 && c != per)
			per = 0;
		else if (per < 0)
			per = c;
	}
	if (P < 2 || per < 1 || n < 1 || (n > P && per < (n + P - 1) / P))
		return dtp_place_split(t, n, lists, sh, err);
	set = hwloc_bitmap_alloc();
	if (!set)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int s = 0; s < n && !r; s++) {
		hwloc_bitmap_zero(set);
		if (n <= P) {
			for (int p = (int)((long)s * P / n); p < (int)((long)(s + 1) * P / n) && !r; p++)
				r = cores_of(t, hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE,
								      (unsigned)p), ct, 0, per, set, lists[s]);
		} else {
			/* package p holds stages [p n / P, (p + 1) n / P) */
			int p = 0, k0, m;

			while ((int)((long)(p + 1) * n / P) <= s)
				p++;
			k0 = (int)((long)p * n / P);
			m = (int)((long)(p + 1) * n / P) - k0;
			r = cores_of(t, hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE, (unsigned)p),
				     ct, (s - k0) * per / m, (s - k0 + 1) * per / m - (s - k0) * per / m,
				     set, lists[s]);
		}
	}
	hwloc_bitmap_free(set);
	if (r)
		return dtp_errf_input(err, r, "a stage's core list is too long");
	*sh = 0;
	return 0;
}

int dtp_place_node(struct dtp_topo *t, int n, const double *off_node,
		   struct dtp_stage_where *out, int *shared, struct dtp_err *err)
{
	char (*lists)[DTP_CPULIST_MAX] = calloc((size_t)(n > 0 ? n : 1), sizeof(*lists));
	hwloc_bitmap_t *seg = calloc((size_t)(n > 0 ? n : 1), sizeof(*seg));
	int *order = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
	int *taken = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
	int *set_of = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	int *nic_of = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	hwloc_obj_t nic[NICS_MAX], dev = NULL;
	int nic_used[NICS_MAX] = { 0 }, n_nic = 0, n_off = 0, sh = 0, r;
	hwloc_bitmap_t both = hwloc_bitmap_alloc();

	if (!lists || !seg || !order || !taken || !set_of || !nic_of || !both) {
		r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	r = package_split(t, n, lists, &sh, err);
	if (r)
		goto out_free;
	for (int s = 0; s < n; s++)
		set_of[s] = nic_of[s] = -1;
	for (int j = 0; j < n; j++) {
		seg[j] = hwloc_bitmap_alloc();
		if (!seg[j] || hwloc_bitmap_list_sscanf(seg[j], lists[j]) < 0) {
			r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
			goto out_free;
		}
	}
	while ((dev = hwloc_get_next_osdev(t->topo, dev)) && n_nic < NICS_MAX)
		if (dev->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS && dev->name)
			nic[n_nic++] = dev;
	/* stages with off-node traffic, heaviest first (stage order on ties), then
	 * the others in stage order */
	for (int i = 0; i < n; i++)
		if (off_node[i] > 0) {
			int at = n_off++;

			while (at > 0 && off_node[order[at - 1]] < off_node[i]) {
				order[at] = order[at - 1];
				at--;
			}
			order[at] = i;
		}
	for (int i = 0, k = n_off; i < n; i++)
		if (off_node[i] <= 0)
			order[k++] = i;
	/* first the stages with off-node traffic, heaviest first: the free set
	 * with the most cores local to a NIC, a NIC no heavier stage took first */
	for (int o = 0; o < n_off && !sh; o++) {
		int s = order[o], best_j = -1, best_k = -1;
		long best = 0;

		for (int j = 0; j < n; j++) {
			if (taken[j])
				continue;
			for (int k = 0; k < n_nic; k++) {
				hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t->topo, nic[k]);
				long score;

				hwloc_bitmap_and(both, seg[j], anc->cpuset);
				score = hwloc_bitmap_weight(both);
				if (score <= 0)
					continue;
				if (!nic_used[k])
					score += 1L << 20;
				if (score > best) {
					best = score;
					best_j = j;
					best_k = k;
				}
			}
		}
		if (best_j >= 0) {
			taken[best_j] = 1;
			nic_used[best_k] = 1;
			set_of[s] = best_j;
			nic_of[s] = best_k;
		}
	}
	/* then every other stage, in stage order, the free sets in order (all of
	 * them in order when nothing leaves the node or there is no NIC) */
	for (int s = 0, j = 0; s < n; s++) {
		if (set_of[s] >= 0)
			continue;
		if (sh) {
			set_of[s] = s;
			continue;
		}
		while (taken[j])
			j++;
		taken[j] = 1;
		set_of[s] = j;
	}
	for (int s = 0; s < n; s++) {
		struct dtp_stage_where *w = &out[s];
		int j = set_of[s];

		memset(w, 0, sizeof(*w));
		snprintf(w->cores, sizeof(w->cores), "%s", lists[j]);
		w->n_cores = hwloc_bitmap_weight(seg[j]);
		numa_of(t, seg[j], w->numa, sizeof(w->numa));
		if (off_node[s] <= 0) {
			snprintf(w->why, sizeof(w->why), "shared memory only: its neighbours are on "
				 "this node; takes cores the off-node stages left");
		} else if (nic_of[s] >= 0) {
			snprintf(w->nic, sizeof(w->nic), "%s", nic[nic_of[s]]->name);
			snprintf(w->why, sizeof(w->why), "sends %.1f MiB/step off the node: the "
				 "cores local to %s", mib(off_node[s]), w->nic);
		} else {
			r = dtp_place_nearest_nic(t, w->cores, w->nic, sizeof(w->nic), err);
			if (r && r != -ENODEV)
				goto out_free;
			r = 0;
			snprintf(w->why, sizeof(w->why), "sends %.1f MiB/step off the node; %s",
				 mib(off_node[s]), !n_nic ? "this node has no RDMA NIC (tcp)" : sh ?
				 "stages share cores" : "the NIC-local cores went to heavier stages");
		}
		if (sh && off_node[s] <= 0)
			snprintf(w->why, sizeof(w->why), "fewer cores than stages: shares cores");
	}
	*shared = sh;
out_free:
	for (int j = 0; seg && j < n; j++)
		if (seg[j])
			hwloc_bitmap_free(seg[j]);
	if (both)
		hwloc_bitmap_free(both);
	free(nic_of);
	free(set_of);
	free(taken);
	free(order);
	free(seg);
	free(lists);
	return r;
}

/* a stage whose cores the plan gives: say where its NIC is from them */
static void given(struct dtp_topo *t, const struct dtp_plan *p, int s, double off,
		  struct dtp_stage_where *w)
{
	struct dtp_err err = { 0 };
	char near[DTP_NIC_MAX] = "";
	int r = dtp_place_nearest_nic(t, w->cores, near, sizeof(near), &err);

	snprintf(w->nic, sizeof(w->nic), "%s", p->stages[s].nic[0] ? p->stages[s].nic :
		 off > 0 ? near : "");
	if (r && r != -ENODEV)
		snprintf(w->why, sizeof(w->why), "cores given by the plan: %.150s", err.msg);
	else if (off <= 0)
		snprintf(w->why, sizeof(w->why), "cores given by the plan; shared memory only");
	else
		snprintf(w->why, sizeof(w->why), "cores given by the plan; sends %.1f MiB/step "
			 "off the node%s%s", mib(off), near[0] ? ", nearest NIC " : ", no RDMA NIC",
			 near);
}

int dtp_place_plan(struct dtp_topo_map *m, const struct dtp_plan *p, const double *link_bytes,
		   struct dtp_stage_where *out, struct dtp_err *err)
{
	int K = p->num_stages, done[DTP_MAX_STAGES] = { 0 }, r = 0;
	double off[DTP_MAX_STAGES], sub_off[DTP_MAX_STAGES];
	struct dtp_stage_where sub[DTP_MAX_STAGES];
	int idx[DTP_MAX_STAGES];

	dtp_place_off_node_bytes(p, link_bytes, off);
	for (int s = 0; s < K; s++) {
		const char *host = p->stages[s].host, *from;
		struct dtp_topo *t;
		int n = 0, shared;

		if (done[s])
			continue;
		t = dtp_topo_map_get(m, host, &from, err);
		if (!t)
			return err->code ? err->code : -EINVAL;
		/* stages of this host that leave placement to dtpipe */
		for (int i = s; i < K; i++)
			if (dtp_place_same_host(p->stages[i].host, host)) {
				done[i] = 1;
				if (p->stages[i].cores[0]) {
					struct dtp_stage_where *w = &out[i];
					hwloc_bitmap_t set = hwloc_bitmap_alloc();

					memset(w, 0, sizeof(*w));
					snprintf(w->cores, sizeof(w->cores), "%s", p->stages[i].cores);
					if (set && hwloc_bitmap_list_sscanf(set, w->cores) == 0) {
						w->n_cores = hwloc_bitmap_weight(set);
						numa_of(t, set, w->numa, sizeof(w->numa));
					}
					if (set)
						hwloc_bitmap_free(set);
					given(t, p, i, off[i], w);
					continue;
				}
				idx[n] = i;
				sub_off[n++] = off[i];
			}
		if (!n)
			continue;
		r = dtp_place_node(t, n, sub_off, sub, &shared, err);
		if (r) {
			dtp_err_prefix(err, "host %s (%s): ", host[0] ? host : "localhost", from);
			return r;
		}
		for (int i = 0; i < n; i++) {
			out[idx[i]] = sub[i];
			if (p->stages[idx[i]].nic[0])
				snprintf(out[idx[i]].nic, sizeof(out[idx[i]].nic), "%s",
					 p->stages[idx[i]].nic);
		}
	}
	return 0;
}
