/* Placement with hwloc: core sets per local stage, binding a process (CPU and
 * memory) to one, and the OpenFabrics NIC nearest to it. I/O objects are
 * loaded (type filter KEEP_IMPORTANT) so NICs are visible; tests load XML
 * topologies because synthetic ones carry no I/O devices. */
#ifndef DTP_PARTITION_PLACE_H
#define DTP_PARTITION_PLACE_H

#include <stddef.h>

#include "base/base.h"
#include "partition/plan.h"

#define DTP_CPULIST_MAX 128    /* same size as dtp_stage_plan.cores */
#define DTP_NIC_MAX 64         /* same size as dtp_stage_plan.nic */

struct dtp_topo;   /* opaque: an hwloc topology */

/* Load this machine's topology (xml == NULL) or an XML text (hwloc 2 format). */
int dtp_topo_load(const char *xml, struct dtp_topo **out, struct dtp_err *err);
void dtp_topo_destroy(struct dtp_topo *t);
/* cores this process may use (hwloc Core objects in the allowed set) */
int dtp_topo_num_cores(const struct dtp_topo *t);

/* Split the cores into n disjoint sets, contiguous in hwloc's logical order (so
 * a set stays inside one package where it can), sizes differing by at most one.
 * With fewer cores than n, set s is core s % cores and *shared = 1 (else 0).
 * lists[s] receives cpulists of PU OS indices ("0-3"). */
int dtp_place_split(const struct dtp_topo *t, int n, char (*lists)[DTP_CPULIST_MAX],
		    int *shared, struct dtp_err *err);

/* Number of PUs in a cpulist, or -EINVAL. */
int dtp_cpulist_count(const char *cpulist);
/* The PUs' OS indices of a cpulist in pus (the first max of them); returns
 * their number (which may exceed max) or -EINVAL. */
int dtp_cpulist_pus(const char *cpulist, int *pus, int max);

/* What stage `stage` of plan p should use on this machine: the plan's cores,
 * or its share of dtp_place_split over the stages of the plan on the same host
 * ("" and "localhost" are one host) that give no cores (in stage order; cores a
 * plan gives explicitly are not taken out of the split);
 * the plan's NIC, or the OpenFabrics device nearest to those cores ("" if the
 * machine has none). *shared = 1 when cores had to be shared. */
int dtp_place_stage(struct dtp_topo *t, const struct dtp_plan *p, int stage,
		    char cores[DTP_CPULIST_MAX], char nic[DTP_NIC_MAX], int *shared,
		    struct dtp_err *err);

struct dtp_bind_info {
	int n_pus;          /* PUs bound to: the thread count to give OpenBLAS */
	int mem_bound;      /* 1: memory bound to the local NUMA node(s); 0: not supported */
	char nodes[64];     /* NUMA nodes as a list ("0") */
};
/* Bind the whole calling process to cpulist and its memory to the NUMA nodes
 * local to it (ENOSYS/EXDEV from the memory binding are tolerated: mem_bound = 0).
 * Call before OpenBLAS starts its threads. */
int dtp_place_bind(struct dtp_topo *t, const char *cpulist, struct dtp_bind_info *out,
		   struct dtp_err *err);

/* The OpenFabrics device (e.g. "mlx5_1") nearest to cpulist: the one whose
 * non-I/O ancestor shares the deepest common ancestor with the object covering
 * the cores (first in topology order on a tie). -ENODEV when there is none. */
int dtp_place_nearest_nic(struct dtp_topo *t, const char *cpulist, char *name, size_t len,
			  struct dtp_err *err);

#endif
