/* Placement by traffic: within a node, the cores nearest each OpenFabrics NIC
 * go to the stages whose links leave the node, heaviest (bytes per step)
 * first; stages that only talk over shared memory take the cores left. The
 * core sets themselves are dtp_place_split's (contiguous, a package each where
 * the counts allow): traffic decides which stage gets which set.
 * The weight of a stage is a plain byte count per step so that more traffic
 * (the all-reduce of data-parallel replicas) adds to it without changing the
 * placement itself. */
#ifndef DTP_PARTITION_NIC_PLACE_H
#define DTP_PARTITION_NIC_PLACE_H

#include "base/base.h"
#include "partition/place.h"
#include "partition/plan.h"
#include "partition/topo.h"

struct dtp_stage_where {
	char cores[DTP_CPULIST_MAX];   /* cpulist */
	char numa[32];                 /* NUMA nodes of those cores ("1") */
	char nic[DTP_NIC_MAX];         /* NIC its off-node links use; "" when it has none */
	char why[192];                 /* one line for people */
	int n_cores;
};

/* Bytes per step over links that leave each stage's host: link_bytes[s]
 * (K - 1 entries) is what crosses between stages s and s + 1 per step
 * (activation forward + gradient back, times micro-batches); a link counts
 * for both ends when their hosts differ ("" and "localhost" are one host).
 * With [parallel] replicas R > 1, each stage's all-reduce is taken to leave
 * the node (its replicas run on other nodes: rank = replica x K + stage) and
 * adds what a ring rank sends, 2 (R-1)/R x the stage's float32 gradients. */
void dtp_place_off_node_bytes(const struct dtp_plan *p, const double *link_bytes,
			      double *off_node);

/* Bytes per step over the link after each stage (K - 1 entries): the
 * activation forward and its gradient back (float32, bf16 in a bf16 plan),
 * micro_batch samples, for each of the plan's micro-batches (from the model's
 * unit sizes, nothing measured). */
int dtp_plan_link_bytes(const struct dtp_plan *p, double *link_bytes, struct dtp_err *err);

/* Place n stages (in stage order) on one node of topology t, off_node[i]
 * bytes per step leaving the node from stage i. *shared = 1 when there are
 * fewer cores than stages (then no NIC preference is applied). */
int dtp_place_node(struct dtp_topo *t, int n, const double *off_node,
		   struct dtp_stage_where *out, int *shared, struct dtp_err *err);

/* Every stage of plan p: the stages of each host placed together with
 * dtp_place_node on that host's topology from m; a stage whose cores (or NIC)
 * the plan gives keeps them and is not counted in the split (as at run time).
 * link_bytes as for dtp_place_off_node_bytes (NULL: no traffic known). */
int dtp_place_plan(struct dtp_topo_map *m, const struct dtp_plan *p, const double *link_bytes,
		   struct dtp_stage_where *out, struct dtp_err *err);

#endif
