/* dtpipe-partition's per-stage report (partition-report.c): the prediction
 * for a plan, and beside it what a run measured (dtpipe --trace for the
 * compute, --metrics for the peak RSS, read by partition-report-cmd.c). */
#ifndef DTP_TOOLS_PARTITION_REPORT_H
#define DTP_TOOLS_PARTITION_REPORT_H

#include <stdio.h>

#include "partition/partition.h"
#include "partition/plan.h"
#include "partition/profile.h"
#include "tools/partition-share.h"

struct dtp_measured {
	int have_compute;                    /* fwd_ms, bwd_ms from a trace */
	double fwd_ms[DTP_MAX_STAGES], bwd_ms[DTP_MAX_STAGES];   /* per micro-batch */
	int have_cpu;                        /* cpu_ms: CPU time over the compute spans */
	double cpu_ms[DTP_MAX_STAGES];       /* per micro-batch, the process's (every thread) */
	int have_split;                      /* bin_ms, bw_ms: the trace's B and W */
	double bin_ms[DTP_MAX_STAGES], bw_ms[DTP_MAX_STAGES];
	int have_overlap;                    /* overlap_ms from the trace's last step */
	double overlap_ms[DTP_MAX_STAGES];   /* per micro-batch: core-mates computing at once */
	int have_work;                       /* pre_ms, post_ms: the trace's optim spans */
	double pre_ms[DTP_MAX_STAGES], post_ms[DTP_MAX_STAGES];   /* per step */
	int have_rss;                        /* peak_rss from metrics */
	double peak_rss[DTP_MAX_STAGES];     /* bytes */
};

/* Each stage's own compute replayed in its schedule's order on this machine
 * (dtp_tool_replay_stage): seconds per micro-batch; bwd holds the whole
 * backward (its recomputed forward included), bwd_w a split schedule's W
 * (else 0). */
struct dtp_replayed {
	double fwd[DTP_MAX_STAGES], bwd[DTP_MAX_STAGES], bwd_w[DTP_MAX_STAGES];
};

/* The "end" line of a dtpipe --metrics file: peak RSS per stage (K of them).
 * -EINVAL naming the file when it has none or another stage count. */
int dtp_metrics_read_peak_rss(const char *path, int K, double *rss, struct dtp_err *err);

/* One line per stage (units, predicted compute per micro-batch alone and
 * as --trace will show it, time, share, the partitioner's memory, the
 * stage's predicted arenas and resident set), the simulated step; with m,
 * the measured compute and peak RSS beside, each as a ratio to its
 * prediction: the compute as the trace's spans last (against the spans the
 * sharing of cores predicts) and as CPU time per busy thread (against the
 * stage's ops alone). sh: the stages that share cores (NULL: none share); base_rss:
 * what a stage process holds besides its arenas (bytes: the program, its
 * libraries and OpenBLAS's buffers, dtp_tool_process_rss). rp: the stages'
 * compute replayed as the schedule runs it, which the prediction then uses
 * instead of the units' profile (NULL: the profile's units summed). */
int dtp_partition_report(FILE *f, const struct dtp_plan *plan, const struct dtp_profile *prof,
			 const struct dtp_chain_unit *chain, const struct dtp_partition_opts *po,
			 const struct dtp_share *sh, double base_rss, const struct dtp_measured *m,
			 const struct dtp_replayed *rp, struct dtp_err *err);

#endif
