/* Stages that share cores (partition-share.c): the schedule's step as the run
 * really goes when a plan puts more stage threads on a node than it has cores
 * (dtp_place_split gives stage s core s % cores): stages on the same cores
 * time-share them, so an op's span in dtpipe --trace is its own compute
 * stretched by whatever its neighbours on those cores run meanwhile. */
#ifndef DTP_TOOLS_PARTITION_SHARE_H
#define DTP_TOOLS_PARTITION_SHARE_H

#include "partition/plan.h"
#include "pipeline/pipeline.h"

/* Who shares what: stages with the same group run on that group's cores. */
struct dtp_share {
	int group[DTP_MAX_STAGES];     /* per stage: its group (0 .. n_groups-1) */
	int threads[DTP_MAX_STAGES];   /* per stage: threads it keeps busy (>= 1) */
	int cores[DTP_MAX_STAGES];     /* per group: its cores (>= 1) */
	int n_groups;
};

/* Every stage on cores of its own (no sharing): group s, one thread on one core. */
void dtp_share_none(struct dtp_share *sh, int K);
/* From each stage's cpulist (DTP_CPULIST_MAX strings, as placement gives
 * them) and thread count: stages whose lists are equal form a group. 1 when
 * some group is oversubscribed (more threads than cores), else 0; -EINVAL
 * for a list that is not a cpulist. */
int dtp_share_from_cores(struct dtp_share *sh, int K, const char (*cores)[128],
			 const int *threads, struct dtp_err *err);

/* What a step holds besides the schedule's ops (dtp_share_simulate_step):
 * per stage, the work before its first op (the optimizer step of the step
 * before and the zeroing of the gradients: pre) and after its last (the sum
 * of squares for the norm: post), the end-of-step exchange (the sums up the
 * chain from stage 0 to the last stage, one hop per link, the clip factor
 * back down), and the slowdown of a stage's compute while some other group's
 * cores compute too (the profile's _busy figures over its own: slow for the
 * schedule's ops, slow_step for pre and post; 1 = none), and the cost of
 * time-sharing a core beyond the turns (share_pen: dtp_profile_share_penalty;
 * a stage in an oversubscribed group runs at cores / threads / share_pen). */
struct dtp_share_extra {
	double pre[DTP_MAX_STAGES], post[DTP_MAX_STAGES];   /* seconds, alone */
	double hop;                                       /* one control message (s) */
	double slow[DTP_MAX_STAGES], slow_step[DTP_MAX_STAGES];
	double share_pen[DTP_MAX_STAGES];
};

/* No per-step work, no exchange, no slowdown: the ops alone. */
void dtp_share_extra_none(struct dtp_share_extra *ex);

struct dtp_share_result {
	double step_time;                 /* seconds: last op of any stage, or with an
					   * extra, the clip factor back at stage 0 */
	double bubble;                    /* 1 - own compute / (K x step) */
	double fwd_span[DTP_MAX_STAGES];  /* mean wall span of a forward (s) */
	double bwd_span[DTP_MAX_STAGES];  /* of the backward per micro-batch (B + W) */
	double overlap[DTP_MAX_STAGES];   /* per micro-batch: wall seconds of the stage's
					   * ops during which a stage of its group runs
					   * an op too (dtp_share_overlap measures it) */
};

/* Event-driven run of the schedule's K op lists (kind, M micro-batches) with
 * per-stage own compute times fwd, bwd_in, bwd_w (seconds on its cores
 * alone, as the profile says) and one transfer time xfer: an op in a group
 * with n busy threads on c cores advances at min(1, c / n) of its own speed
 * (processor sharing, what Linux's fair scheduler gives ops much longer than
 * its time slice). With no group oversubscribed it is the plain simulator's
 * step. -EDEADLK for lists that cannot finish. */
int dtp_share_simulate(enum dtp_schedule_kind kind, int K, int M, const double *fwd,
		       const double *bwd_in, const double *bwd_w, double xfer,
		       const struct dtp_share *sh, struct dtp_share_result *out,
		       struct dtp_err *err);
/* The same for a whole training step: every stage starts with its pre work
 * at 0, ends its ops with its post work, then the exchange; the step ends
 * when stage 0 has the clip factor. ex NULL: dtp_share_simulate. */
int dtp_share_simulate_step(enum dtp_schedule_kind kind, int K, int M, const double *fwd,
			    const double *bwd_in, const double *bwd_w, double xfer,
			    const struct dtp_share *sh, const struct dtp_share_extra *ex,
			    struct dtp_share_result *out, struct dtp_err *err);

/* The same overlap as a trace measured it: events of one step (n of them,
 * dtp_trace_read_step's; names from dtp_trace_span_name, compute spans only:
 * fwd, bwd, recompute, bwd_b, bwd_w), M micro-batches; overlap[s] per
 * micro-batch, 0 for a stage alone in its group. */
void dtp_share_overlap(const struct dtp_share *sh, int K, int M,
		       const struct dtp_trace_event *ev, int n, double *overlap);

#endif
