/* Cost profile of a model's units on this machine: forward and backward time
 * per micro-batch (each unit built alone with dtp_stage_model_create and timed
 * with dtp_stage_forward/backward), and the bytes each unit holds and sends.
 * Also the glue from a profile to the partitioner and to a plan. */
#ifndef DTP_PARTITION_PROFILE_H
#define DTP_PARTITION_PROFILE_H

#include <stddef.h>

#include "base/base.h"
#include "model/model.h"
#include "partition/partition.h"
#include "partition/plan.h"

struct dtp_unit_cost {
	char name[32];
	double fwd_s, bwd_s;      /* median seconds per micro-batch of `batch` samples */
	size_t params;            /* floats */
	size_t param_bytes;       /* parameters */
	size_t in_bytes;          /* unit input per micro-batch */
	size_t out_bytes;         /* unit output per micro-batch (what a cut after it sends) */
	size_t save_bytes;        /* kept by forward for backward, per micro-batch */
	double fwd_flops;         /* per micro-batch */
};

struct dtp_profile {
	struct dtp_model_spec spec;
	int batch;                /* samples per micro-batch */
	int n_units;
	int measured;             /* 0: times are zero (static profile) */
	struct dtp_unit_cost *units;
};

/* Sizes only (no timing): fills units from dtp_unit_describe. */
int dtp_profile_static(const struct dtp_model_spec *spec, int batch, struct dtp_profile *out,
		       struct dtp_err *err);
/* Sizes and timings: `reps` timed forward+backward passes per unit after one
 * warm-up (median taken). Runs on the calling thread (pin it first for
 * meaningful numbers; OpenBLAS threads as configured). */
int dtp_profile_measure(const struct dtp_model_spec *spec, int batch, int reps,
			struct dtp_profile *out, struct dtp_err *err);
void dtp_profile_free(struct dtp_profile *p);

/* Optimizer state per parameter: 1 (SGD momentum) or 2 (AdamW m and v). */
int dtp_optim_state_mult(enum dtp_optim_kind kind);

/* Chain for the partitioner (n_units entries): time = fwd + bwd (+ fwd again
 * with recompute), state = param bytes x (2 + state_mult) (parameters,
 * gradients, optimizer state), cut = out x 2
 * (activation forward, its gradient back). */
int dtp_profile_chain(const struct dtp_profile *p, enum dtp_optim_kind optim, int recompute,
		      struct dtp_chain_unit **out, struct dtp_err *err);

/* Partitioner options for a plan: its K, recompute and mem cap; the stash
 * slots are the caller's to fill from the plan's schedule (the pipeline's
 * dtp_schedule_stash_slots: partition does not depend on pipeline). */
void dtp_plan_partition_opts(const struct dtp_plan *p, double bandwidth,
			     struct dtp_partition_opts *o);

/* The rate a static profile assumes when none is given (--flops): only the
 * units' ratios matter to a split, not the rate. */
#define DTP_STATIC_FLOPS 1e10

/* A static profile's times from its FLOPs at `flops_per_s` (forward; backward
 * twice the forward): what `dtpipe-partition --static` and a re-plan use. */
void dtp_profile_time_from_flops(struct dtp_profile *p, double flops_per_s);

/* The plan `in` split again over K stages (1 <= K <= its units): the same
 * model and settings, the units cut by the min-max partitioner on the static
 * (FLOPs) profile, transfers free, under the plan's mem_cap; every stage's
 * host, nic and cores are cleared (cores[s], when not NULL, are set instead).
 * stash_slots: K entries from the schedule (dtp_schedule_stash_slots). For the
 * elastic restarts (dtpipe --elastic, dtpipe-partition plan --from): a run
 * resumed under any split is bit-identical to the run that was not stopped. */
int dtp_plan_resplit(const struct dtp_plan *in, int K, const int *stash_slots,
		     const char *const *cores, struct dtp_plan *out, struct dtp_err *err);

#endif
