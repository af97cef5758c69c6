/* Bootstrap: which stage this process is, and where the other stages run
 * when the plan names no hosts (under Slurm: the job's node list). */
#ifndef DTP_RDMA_BOOTSTRAP_H
#define DTP_RDMA_BOOTSTRAP_H

#include <stddef.h>

#include "base/base.h"

enum dtp_rank_source {
	DTP_RANK_NONE = 0,     /* nothing given: dtpipe launches the stages itself */
	DTP_RANK_OPTION,       /* --stage N */
	DTP_RANK_OMPI,         /* OMPI_COMM_WORLD_RANK */
	DTP_RANK_PMIX,         /* PMIX_RANK */
	DTP_RANK_PMI,          /* PMI_RANK */
	DTP_RANK_SLURM,        /* SLURM_PROCID */
};
const char *dtp_rank_source_name(enum dtp_rank_source s);

/* The stage of this process: `option` when >= 0 (from --stage), else the first
 * of OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID that is set
 * (SLURM_PROCID only in a job step, with SLURM_STEP_ID: a batch script's
 * SLURM_PROCID=0 names no rank, and dtpipe launches the stages there).
 * Sets *rank and *src (DTP_RANK_NONE and rank -1 when nothing is set).
 * -EINVAL naming the variable when its value is not a non-negative integer. */
int dtp_rank_detect(int option, int *rank, enum dtp_rank_source *src, struct dtp_err *err);

/* A list of host names. */
struct dtp_hostlist {
	int n;
	char **names;
};
void dtp_hostlist_free(struct dtp_hostlist *h);

/* Expand a Slurm node list: "node[2-3,7],gpu01" -> node2 node3 node7 gpu01.
 * Ranges keep the zero padding of their lower bound ("n[08-10]" -> n08 n09
 * n10); several bracket groups in one name multiply ("r[1-2]n[1-2]" -> r1n1
 * r1n2 r2n1 r2n2). -EINVAL with the position on malformed input, -E2BIG
 * beyond 65536 names. */
int dtp_slurm_nodelist_expand(const char *list, struct dtp_hostlist *out,
			      struct dtp_err *err);

/* Host of `stage` under block distribution: tasks fill the first node, then
 * the next, with the per-node counts of SLURM_STEP_TASKS_PER_NODE syntax
 * ("2(x3),1": three nodes with 2 tasks, then one with 1). tasks_per_node NULL
 * or empty: one stage per node. -ERANGE when the stage is beyond the tasks. */
int dtp_slurm_stage_host(const struct dtp_hostlist *nodes, const char *tasks_per_node,
			 int stage, char *host, size_t len, struct dtp_err *err);

/* From the environment: SLURM_STEP_NODELIST (else SLURM_JOB_NODELIST) and
 * SLURM_STEP_TASKS_PER_NODE (else SLURM_TASKS_PER_NODE). -ENOENT when no
 * node list is set (not under Slurm). */
int dtp_slurm_host_of_stage(int stage, char *host, size_t len, struct dtp_err *err);

#endif
