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

#endif
