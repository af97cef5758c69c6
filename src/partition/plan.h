/* The stage plan: which units each stage runs, where, and how to train.
 * Read from an INI file (docs/plan-format.md) with inih; validated at load
 * time, every error naming the file and line. Plain data: the pipeline turns
 * the strings (schedule, transport) into its own types. */
#ifndef DTP_PARTITION_PLAN_H
#define DTP_PARTITION_PLAN_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"
#include "model/model.h"

#define DTP_MAX_STAGES 64
#define DTP_PLAN_PATH_MAX 1024

enum dtp_schedule_kind {
	DTP_SCHEDULE_GPIPE = 1, DTP_SCHEDULE_1F1B = 2, DTP_SCHEDULE_ZBH1 = 3,
	DTP_SCHEDULE_AUTO = 4,  /* the simulator picks one of the others (pipeline's
				 * dtp_schedule_choose) before anything runs */
	DTP_SCHEDULE_ZBH2 = 5,
	DTP_SCHEDULE_INTERLEAVED = 6   /* Megatron's interleaved 1F1B over virtual_stages
					* chunks per stage (docs/plan-format.md) */
};

/* the most model chunks a stage holds ([train] virtual_stages) */
#define DTP_MAX_VIRTUAL_STAGES 8

struct dtp_stage_plan {
	int first_unit;                  /* inclusive */
	int last_unit;                   /* exclusive */
	char host[256];                  /* "" = localhost */
	char cores[128];                 /* cpulist "0-3,8"; "" = let dtpipe choose */
	char nic[64];                    /* RDMA device ("mlx5_0"); "" = nearest / auto */
	int line;                        /* line of its [stage.N] section */
	/* units = A-B, C-D, ...: the stage's model chunks in order (interleaved
	 * plans, virtual_stages > 1); chunk 0 is also first_unit..last_unit.
	 * n_chunks = 1 for a plain range (plan_chunks.c) */
	int n_chunks;
	int chunk_first[DTP_MAX_VIRTUAL_STAGES];   /* inclusive */
	int chunk_last[DTP_MAX_VIRTUAL_STAGES];    /* exclusive */
};

/* [checkpoint] every_seconds by default: at most ten minutes of training
 * lost to a failure, and one checkpoint's stall (the snapshot's copy, with
 * background = yes) is well under 2% of ten minutes */
#define DTP_PLAN_CKPT_EVERY_S 600

struct dtp_plan {
	char path[DTP_PLAN_PATH_MAX];    /* file it came from ("<string>" if parsed from text) */
	struct dtp_model_spec model;     /* [model] */
	/* [train] */
	int micro_batch;                 /* samples per micro-batch, >= 1 */
	int micro_batches;               /* M >= 1 (M < stages allowed, warned) */
	enum dtp_schedule_kind schedule;
	int virtual_stages;              /* v >= 1: model chunks per stage (interleaved) */
	int recompute;                   /* keep only stage inputs, recompute before backward */
	struct dtp_optim_config optim;
	long steps;                      /* optimizer steps; 0 = derive from epochs */
	int epochs;                      /* used when steps == 0 */
	uint64_t seed;
	int log_every;                   /* metrics line every N steps */
	size_t mem_cap_bytes;            /* per-stage memory cap (0 = none) */
	/* [data] */
	char train_path[DTP_PLAN_PATH_MAX];   /* dataset dir/glob */
	char test_path[DTP_PLAN_PATH_MAX];    /* "" = no evaluation */
	size_t loader_budget_bytes;
	int shuffle_window;
	/* [checkpoint] */
	char checkpoint_dir[DTP_PLAN_PATH_MAX];  /* "" = none */
	long checkpoint_every;           /* steps; 0 = only at the end */
	/* [transport] */
	char transport[16];              /* "auto", "verbs", "tcp", "shm" */
	int base_port;                   /* stage s listens on base_port + s */
	int gid_index;                   /* -1 = auto */
	int connect_timeout_ms;
	int ib_port;                     /* RDMA port number, -1 = auto */
	int verbs_blocking;              /* wait on a completion channel instead of polling */
	/* failure detection (docs/architecture.md): each stage beats to its
	 * neighbours every heartbeat_ms; a neighbour silent for peer_timeout_ms,
	 * or alive but without progress for hang_timeout_ms while waiting on no
	 * other stage, has failed */
	int heartbeat_ms;
	int peer_timeout_ms;
	int hang_timeout_ms;
	/* [stage.N] */
	int num_stages;
	struct dtp_stage_plan stages[DTP_MAX_STAGES];
	int cosine_to_end;               /* [train] lr_schedule = cosine without total_steps
					  * and steps = 0: the program sets optim.total_steps
					  * to the run's total steps once it knows them */
	char warnings[1024];             /* "" or lines "file:line: warning: ...\n" (load only) */
	int skip_nonfinite;              /* [train] nonfinite = skip: a step whose loss or
					  * gradient norm is not finite makes no update
					  * (default stop: the run fails) */
	enum dtp_precision precision;    /* [train] precision (fp32 default; model.h) */
	enum dtp_fp32_matmul fp32_matmul; /* [model] fp32_matmul (openblas default;
					  * model.h); not in the plan hash or the
					  * checkpoints' settings: weights are fp32
					  * either way, so a run resumes across it */
	int checkpoint_keep;             /* [checkpoint] keep: the newest N complete
					  * checkpoints stay, older ones are deleted
					  * (0 = keep all; default 3) */
	int reduce_overlap;              /* [parallel] overlap: nonblocking gradient sums
					  * progressed under the backward (default: a
					  * blocking sum as each unit is done) */
	size_t reduce_bucket_bytes;      /* [parallel] bucket_size: gradient sums fuse the
					  * units into buckets of about this many bytes
					  * (0: one per unit; DTP_PLAN_BUCKET_AUTO when
					  * not given: dtp_dp_bucket_bytes in rdma/dp.h) */
	int shard_optimizer;             /* [parallel] shard_optimizer: with replicas, each
					  * updates a 1/R shard of its stage (gradients
					  * reduce-scattered, parameters all-gathered:
					  * rdma/dp.h; default yes) */
	int shm_reduce;                  /* [parallel] shm_reduce: a stage's replicas on
					  * one node sum from each other's memory, no MPI
					  * call (rdma/dp.h; default yes) */
	int replicas;                    /* [parallel] replicas: R data-parallel copies of
					  * the K-stage pipeline, R x K MPI ranks (default 1:
					  * no MPI); rank = replica x K + stage */
	int max_restarts;                /* [checkpoint] max_restarts: the local launcher
					  * restarts a failed job up to N times (0: never) */
	int elastic;                     /* [checkpoint] elastic: a restart re-plans over
					  * the cores left (dtpipe --elastic) */
	long checkpoint_every_s;         /* [checkpoint] every_seconds: also a checkpoint
					  * once this many seconds of training passed
					  * since the last one (default
					  * DTP_PLAN_CKPT_EVERY_S; 0 off) */
	int checkpoint_background;       /* [checkpoint] background: a periodic checkpoint
					  * is a snapshot at the step boundary written by
					  * a thread while training goes on (default yes) */
};

/* The most optimizer steps a run may take ([train] steps, --steps, or epochs
 * times the steps of an epoch): a step number fits a message tag (32 bits)
 * well below the tags kept for control messages. And the most epochs. */
#define DTP_MAX_STEPS ((1L << 31) - 1)
#define DTP_MAX_EPOCHS (1 << 20)
/* [parallel] bucket_size not given: the default for the replica count */
#define DTP_PLAN_BUCKET_AUTO SIZE_MAX

/* The most data-parallel replicas ([parallel] replicas) */
#define DTP_MAX_REPLICAS 4096

/* Defaults for everything but the model and the stages. */
void dtp_plan_defaults(struct dtp_plan *p);
/* Load and validate. Errors: -ENOENT (cannot open), -EINVAL with
 * "file:line: what is wrong; what to do" (unknown section or key, bad value,
 * a unit dropped, repeated or out of order, stage sections not 0..K-1). */
int dtp_plan_load(const char *path, struct dtp_plan *out, struct dtp_err *err);
int dtp_plan_parse_string(const char *text, const char *name, struct dtp_plan *out, struct dtp_err *err);
/* Checks that hold whatever the source (also for generated plans). */
int dtp_plan_validate(const struct dtp_plan *p, struct dtp_err *err);
/* Write a plan that dtp_plan_load reads back to the same struct (minus path/lines). */
int dtp_plan_write(const struct dtp_plan *p, FILE *f);
/* The same with a comment line under each [stage.N] header: notes[s] ("" or
 * NULL for none; notes may be NULL), e.g. why the stage sits where it does. */
int dtp_plan_write_notes(const struct dtp_plan *p, const char *const *notes, FILE *f);
/* Hash of everything that must agree between stages (model, training settings,
 * stage ranges); exchanged in the transport handshake. */
uint64_t dtp_plan_hash(const struct dtp_plan *p);
/* The warnings dtp_plan_load/parse_string found (M < stages, ...): "" when none,
 * else one line per warning, each ending in '\n'. Never NULL. */
const char *dtp_plan_warnings(const struct dtp_plan *p);
/* Parse sizes such as "512", "64K", "1.5G", "4MiB" (binary multiples). 0 or -EINVAL/-ERANGE. */
int dtp_parse_size(const char *s, size_t *out);
/* Syntax check of a cpulist ("0-3,8,10-11"): 0 or -EINVAL. */
int dtp_cpulist_check(const char *s);
int dtp_schedule_parse(const char *s, enum dtp_schedule_kind *out);
const char *dtp_schedule_name(enum dtp_schedule_kind k);
/* ---- plan_chunks.c: interleaved plans' chunk lists */
/* units = "A-B" or "A-B, C-D, ...": fill st's chunks (and first/last_unit
 * from chunk 0); -EINVAL with what is wrong in why */
int dtp_plan_parse_units(const char *v, struct dtp_stage_plan *st, char *why, size_t why_len);
/* virtual_stages, the chunk lists tiling the units in the interleaved order
 * (stage 0's chunk 0, stage 1's chunk 0, ..., stage K-1's chunk 0, stage 0's
 * chunk 1, ...) and the interleaved schedule's constraints (K >= 2, M a
 * multiple of K); for a plan whose stages list more than one range or whose
 * virtual_stages > 1. 1 when the plan is chunked (checked), 0 when not. */
int dtp_plan_validate_chunks(const struct dtp_plan *p, int n_units, struct dtp_err *err);
/* the units of chunk c of stage s: [*first, *last) (c = 0 for a plain stage) */
void dtp_plan_chunk_units(const struct dtp_plan *p, int s, int c, int *first, int *last);
/* write "units = ..." for stage s */
void dtp_plan_write_units(const struct dtp_stage_plan *st, FILE *f);
/* "stop" -> 0, "skip" -> 1 (what a non-finite loss or gradient norm does);
 * -EINVAL otherwise */
int dtp_nonfinite_parse(const char *s, int *skip);

#endif
