/* Placement with hwloc 2.x: core sets, process binding, the nearest NIC. */
#include "config.h"
#include "partition/place.h"
#include "partition/nic_place.h"
#include "partition/place_int.h"

#include <errno.h>
#include <hwloc.h>
#include <stdlib.h>
#include <string.h>

int dtp_topo_load(const char *xml, struct dtp_topo **out, struct dtp_err *err)
{
	return dtp_topo_load_from(xml, NULL, out, err);
}

int dtp_topo_load_from(const char *xml, const char *path, struct dtp_topo **out,
		       struct dtp_err *err)
{
	const char *what = path ? path : xml ? "the topology XML" : "this machine";
	struct dtp_topo *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory loading the machine topology");
	if (hwloc_topology_init(&t->topo) < 0) {
		r = dtp_errf_runtime(err, -ENOMEM, "hwloc_topology_init failed");
		goto out_free;
	}
	/* I/O devices (PCI, OS devices such as mlx5_0) are filtered out by default */
	hwloc_topology_set_io_types_filter(t->topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	/* a file or text describes another machine: hwloc is not told it is this
	 * system, so its layout is used and binding to it is refused */
	if ((path && hwloc_topology_set_xml(t->topo, path) < 0) ||
	    (!path && xml && hwloc_topology_set_xmlbuffer(t->topo, xml, (int)strlen(xml) + 1) < 0)) {
		r = -(errno ? errno : EINVAL);
		r = dtp_errf_input(err, r == -ENOENT ? r : -EINVAL, "%s: cannot read it as a topology "
				   "(%s): give an hwloc 2 XML file written by 'lstopo --of xml FILE.xml' "
				   "on the compute node", what, strerror(-r));
		goto out_destroy;
	}
	if (hwloc_topology_load(t->topo) < 0) {
		r = -(errno ? errno : EINVAL);
		/* a file or text the user gave is input; the machine's own is not */
		r = (xml || path ? dtp_errf_input : dtp_errf_runtime)(err, r,
				"%s: hwloc cannot load the topology (%s)%s", what,
				strerror(-r), xml || path ? ": write it again with 'lstopo --of xml "
				"FILE.xml' (hwloc 2)" : "");
		goto out_destroy;
	}
	if (dtp_topo_num_cores(t) < 1) {
		r = dtp_errf_input(err, -EINVAL, "%s: the topology has no cores", what);
		goto out_destroy;
	}
	*out = t;
	return 0;
out_destroy:
	hwloc_topology_destroy(t->topo);
out_free:
	free(t);
	return r;
}

void dtp_topo_destroy(struct dtp_topo *t)
{
	if (!t)
		return;
	hwloc_topology_destroy(t->topo);
	free(t);
}

/* Cores (or PUs where hwloc found no cores) in logical order. */
hwloc_obj_type_t dtp_topo_core_type(const struct dtp_topo *t)
{
	return hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE
								       : HWLOC_OBJ_PU;
}

int dtp_topo_num_cores(const struct dtp_topo *t)
{
	return hwloc_get_nbobjs_by_type(t->topo, dtp_topo_core_type(t));
}

int dtp_place_split(const struct dtp_topo *t, int n, char (*lists)[DTP_CPULIST_MAX],
		    int *shared, struct dtp_err *err)
{
	hwloc_obj_type_t type = dtp_topo_core_type(t);
	int cores = hwloc_get_nbobjs_by_type(t->topo, type);
	hwloc_bitmap_t set;
	int r = 0;

	if (n < 1 || n > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "cannot split the machine into %d stages", n);
	if (cores < 1)
		return dtp_errf_runtime(err, -ENODEV, "hwloc found no cores on this machine");
	set = hwloc_bitmap_alloc();
	if (!set)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int s = 0; s < n; s++) {
		/* stage s takes cores [lo, hi): sizes differ by at most one */
		int lo = cores >= n ? (int)((long)s * cores / n) : s % cores;
		int hi = cores >= n ? (int)((long)(s + 1) * cores / n) : lo + 1;

		hwloc_bitmap_zero(set);
		for (int c = lo; c < hi; c++)
			hwloc_bitmap_or(set, set, hwloc_get_obj_by_type(t->topo, type, (unsigned)c)->cpuset);
		if (hwloc_bitmap_list_snprintf(lists[s], DTP_CPULIST_MAX, set) >= DTP_CPULIST_MAX) {
			r = dtp_errf_input(err, -ENOSPC, "the core list of stage %d is too long", s);
			goto out_free;
		}
	}
	*shared = cores < n;
out_free:
	hwloc_bitmap_free(set);
	return r;
}

/* cpulist -> new bitmap, or NULL (bad syntax) */
static hwloc_bitmap_t parse_list(const char *cpulist)
{
	hwloc_bitmap_t set;

	if (dtp_cpulist_check(cpulist))
		return NULL;
	set = hwloc_bitmap_alloc();
	if (set && hwloc_bitmap_list_sscanf(set, cpulist) < 0) {
		hwloc_bitmap_free(set);
		return NULL;
	}
	return set;
}

int dtp_cpulist_count(const char *cpulist)
{
	hwloc_bitmap_t set = parse_list(cpulist);
	int n;

	if (!set)
		return -EINVAL;
	n = hwloc_bitmap_weight(set);
	hwloc_bitmap_free(set);
	return n;
}

int dtp_cpulist_pus(const char *cpulist, int *pus, int max)
{
	hwloc_bitmap_t set = parse_list(cpulist);
	int n = 0, pu;

	if (!set)
		return -EINVAL;
	hwloc_bitmap_foreach_begin(pu, set)
		if (n < max)
			pus[n] = pu;
		n++;
	hwloc_bitmap_foreach_end();
	hwloc_bitmap_free(set);
	return n;
}

/* parse cpulist and check that every PU is on this machine */
static int machine_set(struct dtp_topo *t, const char *cpulist, hwloc_bitmap_t *out,
		       struct dtp_err *err)
{
	hwloc_const_bitmap_t all = hwloc_topology_get_allowed_cpuset(t->topo);
	hwloc_bitmap_t set = parse_list(cpulist);
	char have[DTP_CPULIST_MAX];

	if (!set)
		return dtp_errf_input(err, -EINVAL, "cores '%s' is not a cpulist: write core numbers and "
				      "ranges such as 0-3,8", cpulist);
	if (hwloc_bitmap_iszero(set) || !hwloc_bitmap_isincluded(set, all)) {
		hwloc_bitmap_list_snprintf(have, sizeof(have), all);
		hwloc_bitmap_free(set);
		return dtp_errf_input(err, -EINVAL, "cores %s are not all on this machine (this process "
				      "may use %s): the plan was written for another machine; run it on "
				      "the nodes it was planned for, plan again for this one "
				      "(dtpipe-partition plan, with --topology FILE.xml from 'lstopo --of "
				      "xml' on the node), or delete the stage's cores line to let dtpipe "
				      "place it", cpulist, have);
	}
	*out = set;
	return 0;
}

int dtp_place_bind(struct dtp_topo *t, const char *cpulist, struct dtp_bind_info *out,
		   struct dtp_err *err)
{
	struct dtp_bind_info info = { 0 };
	hwloc_bitmap_t set, nodes;
	int r;

	r = machine_set(t, cpulist, &set, err);
	if (r)
		return r;
	nodes = hwloc_bitmap_alloc();
	if (!nodes) {
		r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
		goto out_free_set;
	}
	if (hwloc_set_cpubind(t->topo, set, HWLOC_CPUBIND_PROCESS) < 0) {
		r = -errno;
		r = dtp_errf_runtime(err, r, "cannot bind to cores %s: %s", cpulist, strerror(-r));
		goto out_free_nodes;
	}
	info.n_pus = hwloc_bitmap_weight(set);
	hwloc_cpuset_to_nodeset(t->topo, set, nodes);
	hwloc_bitmap_list_snprintf(info.nodes, sizeof(info.nodes), nodes);
	if (hwloc_set_membind(t->topo, nodes, HWLOC_MEMBIND_BIND,
			      HWLOC_MEMBIND_PROCESS | HWLOC_MEMBIND_BYNODESET) == 0) {
		info.mem_bound = 1;
	} else if (errno != ENOSYS && errno != EXDEV && errno != EPERM) {
		r = -errno;
		r = dtp_errf_runtime(err, r, "cannot bind memory to NUMA node(s) %s: %s", info.nodes,
				     strerror(-r));
		goto out_free_nodes;
	}
	*out = info;
out_free_nodes:
	hwloc_bitmap_free(nodes);
out_free_set:
	hwloc_bitmap_free(set);
	return r;
}

int dtp_place_nearest_nic(struct dtp_topo *t, const char *cpulist, char *name, size_t len,
			  struct dtp_err *err)
{
	hwloc_obj_t cover, dev = NULL, best = NULL;
	hwloc_bitmap_t set;
	int best_depth = -1, r;

	r = machine_set(t, cpulist, &set, err);
	if (r)
		return r;
	cover = hwloc_get_obj_covering_cpuset(t->topo, set);
	hwloc_bitmap_free(set);
	if (!cover)
		return dtp_errf_input(err, -EINVAL, "no object covers cores %s", cpulist);
	while ((dev = hwloc_get_next_osdev(t->topo, dev))) {
		hwloc_obj_t anc, common;

		if (dev->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS || !dev->name)
			continue;
		anc = hwloc_get_non_io_ancestor_obj(t->topo, dev);
		common = hwloc_get_common_ancestor_obj(t->topo, anc, cover);
		if (common && common->depth > best_depth) {
			best_depth = common->depth;
			best = dev;
		}
	}
	if (!best)
		return -ENODEV;
	if (strlen(best->name) >= len)
		return dtp_errf_runtime(err, -ENOSPC, "NIC name %s is too long", best->name);
	snprintf(name, len, "%s", best->name);
	return 0;
}

/* The cores a plan gives a stage exist on this machine: a plan written for
 * another node type fails here, before anything starts, with what to do. */
static int given_cores_here(struct dtp_topo *t, const struct dtp_stage_plan *st,
			    struct dtp_err *err)
{
	hwloc_bitmap_t set;
	int r = machine_set(t, st->cores, &set, err);

	if (!r)
		hwloc_bitmap_free(set);
	else if (st->host[0])
		dtp_err_prefix(err, "host %s: ", st->host);
	return r;
}

int dtp_place_stage(struct dtp_topo *t, const struct dtp_plan *p, int stage,
		    char cores[DTP_CPULIST_MAX], char nic[DTP_NIC_MAX], int *shared,
		    struct dtp_err *err)
{
	const struct dtp_stage_plan *st;
	struct dtp_stage_where *where = NULL;
	double link[DTP_MAX_STAGES], off[DTP_MAX_STAGES], sub[DTP_MAX_STAGES];
	char c[DTP_CPULIST_MAX], n[DTP_NIC_MAX] = "";
	int group = 0, index = 0, sh = 0, r;

	if (stage < 0 || stage >= p->num_stages)
		return dtp_errf_input(err, -EINVAL, "stage %d is not in the plan (it has %d)", stage,
				      p->num_stages);
	st = &p->stages[stage];
	if (st->cores[0]) {
		r = given_cores_here(t, st, err);
		if (r)
			goto out_free;
		snprintf(c, sizeof(c), "%s", st->cores);
	} else {
		/* its share of the machine among the stages on the same host that
		 * name no cores of their own, placed by the traffic leaving the
		 * host (nic_place.c: the same placement the planner writes) */
		r = dtp_plan_link_bytes(p, link, err);
		if (r)
			goto out_free;
		dtp_place_off_node_bytes(p, link, off);
		for (int s = 0; s < p->num_stages; s++)
			if (!p->stages[s].cores[0] &&
			    dtp_place_same_host(p->stages[s].host, st->host)) {
				if (s < stage)
					index++;
				sub[group++] = off[s];
			}
		where = calloc((size_t)group, sizeof(*where));
		if (!where)
			return dtp_errf_runtime(err, -ENOMEM, "out of memory");
		r = dtp_place_node(t, group, sub, where, &sh, err);
		if (r)
			goto out_free;
		snprintf(c, sizeof(c), "%s", where[index].cores);
		snprintf(n, sizeof(n), "%s", where[index].nic);
	}
	if (st->nic[0]) {
		snprintf(n, sizeof(n), "%s", st->nic);
	} else if (!n[0]) {
		r = dtp_place_nearest_nic(t, c, n, sizeof(n), err);
		if (r == -ENODEV)
			n[0] = '\0';
		else if (r)
			goto out_free;
	}
	memcpy(cores, c, sizeof(c));
	memcpy(nic, n, sizeof(n));
	*shared = sh;
	r = 0;
out_free:
	if (r)
		dtp_err_prefix(err, "%s:%d: [stage.%d]: ", p->path, st->line, stage);
	free(where);
	return r;
}
