/* dtpipe-partition plan --nodes N: the cluster planner's side of the tool
 * (partition-cluster.c); the options come from dtpipe-partition.c. */
#ifndef DTP_TOOLS_PARTITION_CLUSTER_H
#define DTP_TOOLS_PARTITION_CLUSTER_H

#include <stdio.h>

#include "partition/cluster.h"
#include "partition/plan.h"
#include "partition/profile.h"

struct dtp_cluster_args {
	struct dtp_cluster_opts co;      /* nodes, cores, network, batch, memory */
	enum dtp_optim_kind optim;
	enum dtp_schedule_kind schedule;
	int top;                         /* layouts listed */
	const char *output;              /* plan file; NULL: stdout */
	int is_static;                   /* the profile is estimated, not measured */
};

/* Choose R, K, M and the cuts for p (a one-core profile at micro-batch
 * co.micro_batch), print the best layouts and why, write the plan. */
int dtp_cluster_cmd(const struct dtp_cluster_args *a, const struct dtp_model_spec *spec,
		    const struct dtp_profile *p, struct dtp_err *err);

#endif
