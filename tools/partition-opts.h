/* dtpipe-partition's commands and what they share: the options (parsed in
 * dtpipe-partition.c: a new option is a field here and a case there), the
 * profile they ask for, and the plan (partition-plan.c) and report
 * (partition-report-cmd.c) commands. */
#ifndef DTP_TOOLS_PARTITION_OPTS_H
#define DTP_TOOLS_PARTITION_OPTS_H

#include <stdio.h>

#include "partition/nic_place.h"
#include "partition/plan.h"
#include "partition/profile.h"
#include "partition/topo.h"
#include "partition-cluster.h"

/* --split: the min-max split or a baseline's */
enum dtp_tool_split { DTP_TOOL_SPLIT_MINMAX, DTP_TOOL_SPLIT_LAYERS, DTP_TOOL_SPLIT_PARAMS };

struct dtp_tool_opts {
	const char *model, *plan, *trace, *output, *metrics, *svg, *from;
	int stages, batch, micro_batches, reps, is_static, recompute;
	int busy;           /* --busy: profile also beside a busy core */
	int threads;        /* report --threads: BLAS threads per stage; 0: its cores */
	int virtual_stages; /* --virtual-stages; 0: not given */
	enum dtp_optim_kind optim;
	enum dtp_precision precision;     /* --precision (report: the plan's) */
	enum dtp_fp32_matmul fp32_matmul; /* --fp32-matmul (report: the plan's) */
	int precision_given;              /* --precision or --fp32-matmul was given */
	enum dtp_schedule_kind schedule;
	size_t mem_cap;
	double bandwidth;   /* bytes/s */
	double flops;       /* --static: FLOP/s of one core */
	struct dtp_topo_map *topos;   /* --topology; empty: this machine */
	enum dtp_tool_split split;
	struct dtp_cluster_args cluster;   /* --nodes (nodes 0: not asked for) */
};

/* the profile the options ask for: measured, or from FLOPs (--static,
 * --flops), in --precision on --fp32-matmul (a static one: its bytes) */
int dtp_tool_get_profile(const struct dtp_model_spec *spec, const struct dtp_tool_opts *o,
			 struct dtp_profile *p, struct dtp_err *err);
/* what a profile's units were built in, for its headings: "fp32", "bf16",
 * "fp32, matmuls on oneDNN" */
const char *dtp_tool_precision_name(const struct dtp_profile *p);

/* plan: --stages K on this machine or --topology, --nodes for a cluster */
int dtp_tool_cmd_plan(struct dtp_tool_opts *o, const struct dtp_model_spec *spec,
		      struct dtp_err *err);
/* plan --from FILE --stages K */
int dtp_tool_cmd_replan(const struct dtp_tool_opts *o, struct dtp_err *err);
/* report --plan FILE [--trace] [--metrics] */
int dtp_tool_cmd_report(struct dtp_tool_opts *o, struct dtp_err *err);

/* Per-stage speed from the cores each stage gets on its host's node type,
 * relative to the smallest stage: 1 when the stages differ (speed[] filled),
 * 0 when they are all alike, or a negative errno. */
int dtp_tool_stage_speeds(const struct dtp_tool_opts *o, const struct dtp_plan *plan,
			  double *speed, struct dtp_err *err);
/* The BLAS threads stage w runs, as dtpipe runs it: report --threads, else
 * its cores; at most the CPUs this process may use */
int dtp_tool_stage_threads(const struct dtp_tool_opts *o, const struct dtp_stage_where *w);
/* The BLAS threads a profile times each unit with: the smallest stage's
 * dtp_tool_stage_threads, the basis dtp_tool_stage_speeds scales the others
 * from; or a negative errno */
int dtp_tool_profile_threads(const struct dtp_tool_opts *o, const struct dtp_plan *plan,
			     struct dtp_err *err);
/* one line per stage: where it runs and why */
void dtp_tool_print_placement(FILE *f, const struct dtp_plan *plan,
			      const struct dtp_stage_where *w);

#endif
