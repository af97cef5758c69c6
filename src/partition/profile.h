/* Cost profile of a model's units on this machine: forward and backward time
 * per micro-batch (each unit built alone with dtp_stage_model_create, in the
 * job's precision and fp32 matmul backend, and timed with
 * dtp_stage_forward/backward), and the bytes each unit holds and sends.
 * Also the glue from a profile to the partitioner and to a plan. */
#ifndef DTP_PARTITION_PROFILE_H
#define DTP_PARTITION_PROFILE_H

#include <stddef.h>

#include "base/base.h"
#include "model/model.h"
#include "partition/partition.h"
#include "partition/plan.h"

/* The work of one unit once per training step (median seconds, one core):
 * the executor zeroes the gradients as a step begins, sums their squares for
 * the global norm after the last backward, and runs the optimizer step after
 * the end-of-step exchange (src/pipeline/executor.c). Measured apart so
 * that a model can leave out what the code no longer does (zeroing once the
 * first weight-gradient GEMM writes) or shard what it shards. */
struct dtp_step_times {
	double optim_s;           /* dtp_optim_step over the unit's parameters */
	double norm_s;            /* dtp_stage_grad_sumsq */
	double zero_s;            /* dtp_stage_zero_grads */
};

struct dtp_unit_cost {
	char name[32];
	double fwd_s, bwd_s;      /* median seconds per micro-batch of `batch` samples */
	/* the backward's two halves timed apart, B (input gradient) and W
	 * (weight gradient), medians (a static profile: from their FLOPs) */
	double bwd_in_s, bwd_w_s;
	struct dtp_step_times step;   /* per step, alone on its core */
	/* the same beside busy cores: measured while another core runs the same
	 * unit (memory bandwidth and last-level cache shared, as the stages of
	 * a run share them); equal to the figures above when not measured */
	double fwd_busy_s, bwd_busy_s;
	struct dtp_step_times step_busy;
	/* wall seconds per forward + backward while another thread runs the
	 * same unit on the same CPU (time-sharing it), over 60 ms of passes
	 * back to back: twice fwd_s + bwd_s when sharing costs nothing but the
	 * turns, more by what each evicts of the other's cache; 0 when not
	 * measured */
	double pass_shared_s;
	size_t params;            /* floats */
	size_t param_bytes;       /* parameters */
	size_t in_bytes;          /* unit input per micro-batch */
	size_t out_bytes;         /* unit output per micro-batch (fp32, as a stage holds it) */
	size_t link_bytes;        /* what a cut after it sends per micro-batch: out_bytes,
				   * half of them in bf16 (the links carry bf16) */
	/* what the precision adds to the unit's memory (0 in fp32 on OpenBLAS):
	 * its own (the bf16 copy of its parameters), and scratch a stage's
	 * units share (the activation and gradient copies, output tiles, oneDNN
	 * scratchpads, the attention's): a stage holds at most the largest of
	 * each kind of unit (dtp_profile_chain) */
	size_t prec_bytes, prec_shared_bytes;
	size_t save_bytes;        /* kept by forward for backward, per micro-batch */
	double fwd_flops;         /* per micro-batch */
	double bwd_in_flops, bwd_w_flops;   /* the backward's halves (dtp_unit_bwd_flops) */
};

struct dtp_profile {
	struct dtp_model_spec spec;
	int batch;                /* samples per micro-batch */
	int n_units;
	int measured;             /* 0: times are zero (static profile) */
	int busy_measured;        /* 1: the _busy and _shared figures were measured */
	enum dtp_optim_kind optim;    /* the optimizer the step times are of */
	enum dtp_precision precision; /* what the units were built in (dtp_profile_set_precision) */
	enum dtp_fp32_matmul fp32_matmul;
	struct dtp_unit_cost *units;
};

/* What a profile measures (dtp_profile_measure). */
struct dtp_profile_opts {
	int reps;                 /* timed repetitions per unit after a warm-up, >= 1 */
	enum dtp_optim_kind optim;    /* the optimizer whose step is timed */
	int busy;                 /* 1: also time each unit beside another core that runs
				   * the same unit, and sharing its CPU with it (needs
				   * two CPUs in this process's affinity; quietly
				   * skipped with one) */
	enum dtp_precision precision;     /* the units' precision (0: fp32) */
	enum dtp_fp32_matmul fp32_matmul; /* their fp32 matmul backend (0: openblas) */
};

/* Sizes only (no timing): fills units from dtp_unit_describe, in fp32 on
 * OpenBLAS (dtp_profile_set_precision for another). */
int dtp_profile_static(const struct dtp_model_spec *spec, int batch, struct dtp_profile *out,
		       struct dtp_err *err);
/* The profile's bytes in precision prec with fp32 matmul backend fb (its
 * precision and fp32_matmul set): each unit's link_bytes (bf16 halves what
 * crosses a cut), and prec_bytes and prec_shared_bytes: of
 * dtp_stage_model_precision_bytes and dtp_stage_model_fp32_matmul_bytes of
 * the unit alone, the bf16 copy of its parameters is its own, the rest
 * scratch. Times are left alone: dtp_profile_measure times the units in
 * the precision; a static profile's FLOPs count the matmuls only, so a
 * precision changes their rate, not their ratios. 0, or -ENOTSUP with what
 * to do where this build cannot run prec or fb. */
int dtp_profile_set_precision(struct dtp_profile *p, enum dtp_precision prec,
			      enum dtp_fp32_matmul fb, struct dtp_err *err);
/* Sizes and timings: o->reps timed forward+backward passes per unit after
 * one warm-up (median taken), and as many of its per-step work (optimizer
 * step of o->optim, sum of squares, zeroing). With o->busy and two CPUs
 * allowed, the calling thread is pinned to the first and a helper thread on
 * the second runs the same unit in a loop while every figure is timed again
 * (the _busy ones), then on the first CPU too (pass_shared_s); the
 * thread's affinity is restored after. Each unit is built in o->precision
 * on o->fp32_matmul (dtp_stage_model_set_precision and _set_fp32_matmul,
 * as a stage sets itself up), and the bytes are theirs
 * (dtp_profile_set_precision). Runs on the calling thread (OpenBLAS threads
 * as configured). */
int dtp_profile_measure(const struct dtp_model_spec *spec, int batch,
			const struct dtp_profile_opts *o, struct dtp_profile *out,
			struct dtp_err *err);
void dtp_profile_free(struct dtp_profile *p);

/* How a step's per-step work is done (the code's choices, which a model
 * must follow): shard > 1 (ZeRO-1, [parallel] shard_optimizer with R
 * replicas) gives each replica 1/shard of the optimizer step and of the
 * norm's sum of squares; zero_grads 0 when the step no longer zeroes the
 * gradients. */
struct dtp_step_work_opts {
	int shard;                /* >= 1 */
	int zero_grads;           /* 1: dtp_stage_zero_grads each step */
	int busy;                 /* 1: the _busy times (other cores computing) */
};
/* The defaults of the code on main: no sharding, zeroing, alone. */
#define DTP_STEP_WORK_DEFAULT ((struct dtp_step_work_opts){ .shard = 1, .zero_grads = 1 })

/* The per-step work of units [first, last) in seconds on one core, split in
 * what runs before the step's first op (optimizer step of the step before,
 * then zeroing: *pre) and after its last backward (the sum of squares:
 * *post); either pointer may be NULL. */
void dtp_profile_step_work(const struct dtp_profile *p, int first, int last,
			   const struct dtp_step_work_opts *o, double *pre, double *post);
/* What time-sharing a CPU costs units [first, last) beyond their turns: the
 * pass_shared_s over twice the passes alone (1 when not measured). A stage
 * that shares its cores computes at cores / threads of its speed divided
 * by this. */
double dtp_profile_share_penalty(const struct dtp_profile *p, int first, int last);
/* A unit's forward and backward (busy: beside busy cores). */
double dtp_unit_fwd_s(const struct dtp_unit_cost *c, int busy);
double dtp_unit_bwd_s(const struct dtp_unit_cost *c, int busy);
/* The whole backward (bwd_s) shared out as B and W in the ratio the halves
 * took timed apart, half each when they were not: the schedules' B + W is
 * the measured whole (the split's own cost left out). */
void dtp_unit_bwd_halves(const struct dtp_unit_cost *c, double *b, double *w);
/* Add a unit's forward to *f, its B (dtp_unit_bwd_halves; plus the
 * recomputed forward under recompute) to *b and its W to *w: one unit's
 * share of a schedule's per-micro-batch F, B and W. */
void dtp_unit_add_times(const struct dtp_unit_cost *c, int recompute, double *f, double *b,
			double *w);

/* Optimizer state per parameter: 1 (SGD momentum) or 2 (AdamW m and v). */
int dtp_optim_state_mult(enum dtp_optim_kind kind);

/* Chain for the partitioner (n_units entries): time = fwd + bwd (+ fwd again
 * with recompute), state = param bytes x (2 + state_mult) (parameters,
 * gradients, optimizer state) + prec_bytes, shared = prec_shared_bytes
 * (kind: units of one name are of one kind), cut = link_bytes x 2
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
