/* dtpipe pipeline: schedules as data, the schedule simulator, and the stage
 * executor that runs one stage of a synchronous pipeline.
 *
 * A schedule is, for stage s of K with M micro-batches, the ordered list of
 * ops that stage runs in one training step: FWD m and BWD m with the
 * receives and sends they imply (RECV_ACT before FWD on every stage but the
 * first, SEND_ACT after it on every stage but the last; RECV_GRAD before BWD
 * on every stage but the last, SEND_GRAD after it on every stage but the
 * first). Backward ops run in micro-batch order 0..M-1 in every schedule, so
 * that parameter gradients accumulate in the same order whatever the
 * schedule and the number of stages: that is what makes a K-stage run
 * bit-identical to the 1-stage run. The executor, the simulator, the trace
 * and the tests all read the same list.
 */
#ifndef DTP_PIPELINE_H
#define DTP_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "partition/plan.h"

/* ---------------------------------------------------------------- schedules */

enum dtp_op_kind {
	DTP_OP_RECV_ACT = 1,   /* wait for micro-batch m's activation from stage s-1 */
	DTP_OP_FWD,            /* forward micro-batch m through the stage's units */
	DTP_OP_SEND_ACT,       /* post the send of m's output to stage s+1 */
	DTP_OP_RECV_GRAD,      /* wait for m's output gradient from stage s+1 */
	DTP_OP_BWD,            /* backward m (recompute first if enabled) */
	DTP_OP_SEND_GRAD,      /* post the send of m's input gradient to stage s-1 */
};

struct dtp_op {
	int kind;              /* enum dtp_op_kind */
	int micro;             /* m in [0, M) */
};

struct dtp_schedule {
	enum dtp_schedule_kind kind;
	int stage;             /* s */
	int stages;            /* K */
	int micro;             /* M */
	int n_ops;
	struct dtp_op *ops;    /* n_ops entries, owned */
	int max_stash;         /* most micro-batches forwarded and not yet backwarded */
};

/* Build stage s's op list. GPipe: all forwards then all backwards.
 * 1F1B (PipeDream-flush): min(K-s-1, M) warm-up forwards, then one forward
 * and one backward alternately, then the remaining backwards; it stashes at
 * most min(K-s, M) micro-batches. -EINVAL on a bad argument, -ENOMEM. */
int dtp_schedule_build(enum dtp_schedule_kind kind, int stage, int stages, int micro,
		       struct dtp_schedule *out, struct dtp_err *err);
void dtp_schedule_free(struct dtp_schedule *s);
const char *dtp_op_name(int kind);
/* Stash slots a schedule needs: the maximum over the list of forwards done
 * minus backwards done. */
int dtp_schedule_stash_needed(const struct dtp_op *ops, int n_ops);
/* The one source of the stash slot counts: slots[s] = max_stash of stage s's
 * built list, for s in [0, stages). The memory cap (dtp_stage_mem_predict),
 * the stage's arena and the partitioner (struct dtp_partition_opts, filled by
 * the tool) all take them from here. */
int dtp_schedule_stash_slots(enum dtp_schedule_kind kind, int stages, int micro, int *slots,
			     struct dtp_err *err);

/* ---------------------------------------------------------------- simulator */

/* Run the K op lists against each other with in-order message matching.
 * capacity = 0: sends complete at once (unbounded buffering); capacity = c:
 * a send waits while c messages on its link and direction are not yet
 * received (a transport with c credits). Returns 0 when every list runs to the
 * end, -EDEADLK naming the stuck stages' ops, -EPROTO on a message that
 * arrives out of order. */
int dtp_schedule_check(const struct dtp_schedule *scheds, int K, int capacity,
		       struct dtp_err *err);

struct dtp_sim_result {
	double step_time;              /* seconds, last op of any stage */
	double busy[DTP_MAX_STAGES];   /* compute time per stage */
	double bubble;                 /* 1 - sum(busy) / (K * step_time) */
	double stage_bubble_max;       /* 1 - min(busy) / step_time */
};

/* Predict the step time of the K op lists given per-stage forward and
 * backward times per micro-batch (seconds; add the recomputed forward to bwd
 * when recomputing) and the transfer time of one activation or gradient.
 * GPipe with equal stages and no transfer time: (M+K-1)(f+b). */
int dtp_schedule_simulate(const struct dtp_schedule *scheds, int K, const double *fwd,
			  const double *bwd, double xfer, struct dtp_sim_result *out,
			  struct dtp_err *err);

/* dtp_schedule_simulate of the op lists of every stage of a (kind, stages,
 * micro) schedule, built for the call. */
int dtp_schedule_predict(enum dtp_schedule_kind kind, int stages, int micro, const double *fwd,
			 const double *bwd, double xfer, struct dtp_sim_result *out,
			 struct dtp_err *err);

/* ----------------------------------------------------------- running a stage */

struct dtp_trace;

struct dtp_stage_opts {
	int stage;                     /* this process's stage */
	int transport;                 /* enum dtp_transport_kind; -1: the plan's */
	long steps;                    /* > 0 overrides the plan */
	int epochs;                    /* > 0 overrides the plan (with steps = 0) */
	const char *data_dir;          /* non-NULL: train = DIR/train, test = DIR/test */
	const char *checkpoint_dir;    /* non-NULL overrides the plan */
	int resume;                    /* continue from checkpoint_dir */
	const char *metrics_path;      /* last stage writes JSON lines here */
	const char *trace_path;        /* each stage writes PATH.stage-N (events), merged later */
	const char *dump_dir;          /* tests: params per stage, losses in hex */
	size_t mem_cap;                /* > 0 overrides the plan's mem_cap */
	int quiet;                     /* no per-step lines */
	int progress;                  /* draw a progress bar (stdout is a terminal) */
	uint64_t job_key;
	int connect_timeout_ms;        /* 0: the plan's */
	int wait_timeout_ms;           /* a receive that waits longer fails; 0: 120 s */
	int nonfinite;                 /* 0: the plan's; 1: stop; 2: skip (--nonfinite) */
	int precision;                 /* enum dtp_precision; -1: the plan's */
};
void dtp_stage_opts_default(struct dtp_stage_opts *o);

/* Run one stage of the plan to the end: connect to the neighbours, train,
 * checkpoint, evaluate, report. Returns 0 or a negative errno (with err). */
int dtp_stage_run(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
		  struct dtp_err *err);

/* Memory a stage will allocate, by arena (bytes), computed before allocating;
 * dtp_stage_run refuses to start when the total is over the cap. precision:
 * what the plan's precision adds (bf16: the matmul engine's bf16 weights,
 * activation and gradient copies, output tiles, oneDNN scratchpads). */
struct dtp_stage_mem {
	size_t params, grads, optim, stash, buffers, loader, model_scratch, precision, total;
};
int dtp_stage_mem_predict(const struct dtp_plan *plan, int stage, struct dtp_stage_mem *out,
			  struct dtp_err *err);

/* Merge the per-stage trace files PATH.stage-0 .. PATH.stage-(K-1) into one
 * Chrome trace-event JSON file at PATH (removing the parts). */
int dtp_trace_merge(const char *path, int stages, struct dtp_err *err);

/* Read a trace written by dtp_trace_merge (or any Chrome trace with the
 * same event names): per stage s < stages (pid s), the forward ("fwd") and
 * backward ("bwd" plus "recompute") compute per micro-batch in ms, the sums
 * divided by the number of forward events. -EINVAL with the path on a file
 * that is not such a trace, a stage out of range or one without forwards. */
int dtp_trace_read_compute(const char *path, int stages, double *fwd_ms, double *bwd_ms,
			   struct dtp_err *err);

#endif
