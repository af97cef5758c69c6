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
	DTP_OP_BWD_IN,         /* B: m's input gradient only (zero-bubble schedules) */
	DTP_OP_BWD_W,          /* W: m's weight gradient, after its B; frees m's stash */
};
#define DTP_OP_KIND_MAX DTP_OP_BWD_W

struct dtp_op {
	int kind;              /* enum dtp_op_kind */
	int micro;             /* m in [0, M) */
	int chunk;             /* the stage's model chunk c in [0, v) (interleaved); 0 else */
};

struct dtp_schedule {
	enum dtp_schedule_kind kind;
	int stage;             /* s */
	int stages;            /* K */
	int micro;             /* M */
	int n_ops;
	struct dtp_op *ops;    /* n_ops entries, owned */
	int max_stash;         /* most micro-batches forwarded and not yet backwarded */
	int max_wstash;        /* split schedules: most micro-batches past B, not W */
	int chunks;            /* v: model chunks per stage (interleaved), else 1 */
	int chunk_stash[DTP_MAX_VIRTUAL_STAGES];   /* max_stash of each chunk's ops */
};

/* Build stage s's op list. GPipe: all forwards then all backwards.
 * 1F1B (PipeDream-flush): min(K-s-1, M) warm-up forwards, then one forward
 * and one backward alternately, then the remaining backwards; it stashes at
 * most min(K-s, M) micro-batches.
 * ZB-H1 (Qi et al., Zero Bubble Pipeline Parallelism, 2024): 1F1B's order
 * with each backward split into B (BWD_IN: the input gradient the previous
 * stage waits for, sent at once) and W (BWD_W: the weight gradient); stage s
 * lets its W's lag its B's by s, so the B's reach stage 0 sooner, and the
 * lagging W's run in the drain, where 1F1B waits. Every stage then holds at
 * most min(K, M) micro-batches between F and W (1F1B's stage 0), and W's run
 * in micro-batch order. ZB-H2: schedule_zb.c. In both, the first stage (whose
 * B no one waits for) runs a B and the W right after it as one whole
 * backward (BWD): the fused backward's cache locality and no W stash for it.
 * -EINVAL on a bad argument, -ENOMEM. */
int dtp_schedule_build(enum dtp_schedule_kind kind, int stage, int stages, int micro,
		       struct dtp_schedule *out, struct dtp_err *err);
void dtp_schedule_free(struct dtp_schedule *s);
const char *dtp_op_name(int kind);
/* Stash slots a schedule needs: the maximum over the list of forwards done
 * minus backwards (BWD or W) done. */
int dtp_schedule_stash_needed(const struct dtp_op *ops, int n_ops);
/* W stash slots (dtp_stage_model_wsave_bytes each): the maximum of B's done
 * minus W's done; 0 for a list without B and W. */
int dtp_schedule_wstash_needed(const struct dtp_op *ops, int n_ops);
/* 1 when the kind splits the backward into B and W ops */
int dtp_schedule_splits(enum dtp_schedule_kind kind);
/* ZB-H2's list for stage `stage` (schedule_zb.c): written to ops (room for
 * 7 * micro), *n_ops set; -ENOMEM */
int dtp_schedule_build_zbh2(int stage, int stages, int micro, struct dtp_op *ops, int *n_ops,
			    struct dtp_err *err);
/* The one source of the stash slot counts: slots[s] = max_stash of stage s's
 * built list, for s in [0, stages). The memory cap (dtp_stage_mem_predict),
 * the stage's arena and the partitioner (struct dtp_partition_opts, filled by
 * the tool) all take them from here. */
int dtp_schedule_stash_slots(enum dtp_schedule_kind kind, int stages, int micro, int *slots,
			     struct dtp_err *err);
/* wslots[s] = max_wstash of stage s's built list (0 for gpipe and 1f1b) */
int dtp_schedule_wstash_slots(enum dtp_schedule_kind kind, int stages, int micro, int *wslots,
			      struct dtp_err *err);

/* Interleaved 1F1B (schedule_interleaved.c; Narayanan et al., SC'21, as in
 * Megatron-LM): stage s holds v chunks; chunk c of stage s feeds chunk c of
 * stage s+1, and chunk c of stage K-1 feeds chunk c+1 of stage 0 (the wrap
 * link). The M x v forward passes of a stage run in the order of the virtual
 * index k = 0 .. Mv-1, micro-batch (k / Kv) K + k % K through chunk
 * (k % Kv) / K, and the backward passes in the same order with the chunks
 * reversed: K micro-batches through chunk 0, the same K through chunk 1, ...
 * then the next K. Stage s runs min(Mv, 2(K-s-1) + (v-1)K) forwards first
 * (all of them when M = K), then one forward and one backward alternately,
 * then the remaining backwards. Each chunk's backwards run in micro-batch
 * order. Needs K >= 2, 2 <= v <= DTP_MAX_VIRTUAL_STAGES, M a multiple of K
 * (-EINVAL saying so). Ops carry their chunk; the simulator and the tests
 * read the same lists. */
int dtp_schedule_build_v(enum dtp_schedule_kind kind, int stage, int stages, int micro,
			 int chunks, struct dtp_schedule *out, struct dtp_err *err);
/* 0 when (K, M, v) suit the interleaved schedule, else -EINVAL saying why */
int dtp_schedule_interleaved_check(int stages, int micro, int chunks, struct dtp_err *err);
struct dtp_sim_result;
/* slots[s * v + c] = chunk_stash[c] of stage s's built list (v = 1: as
 * dtp_schedule_stash_slots) */
int dtp_schedule_chunk_stash_slots(enum dtp_schedule_kind kind, int stages, int micro,
				   int chunks, int *slots, struct dtp_err *err);
/* dtp_schedule_predict_split of a (kind, stages, micro, chunks) schedule;
 * with chunks > 1 the times are per chunk: fwd[s * chunks + c] ... */
int dtp_schedule_predict_v(enum dtp_schedule_kind kind, int stages, int micro, int chunks,
			   const double *fwd, const double *bwd_in, const double *bwd_w,
			   double xfer, struct dtp_sim_result *out, struct dtp_err *err);

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

/* Predict the step time of the K op lists (lists with chunks = v > 1: the
 * times below are per chunk, fwd[s * v + c] for chunk c of stage s, and
 * busy[] sums a stage's chunks) given per-stage forward and
 * backward times per micro-batch (seconds; add the recomputed forward to bwd
 * when recomputing) and the transfer time of one activation or gradient.
 * GPipe with equal stages and no transfer time: (M+K-1)(f+b). A split
 * list's B and W take half of bwd each (see _split). */
int dtp_schedule_simulate(const struct dtp_schedule *scheds, int K, const double *fwd,
			  const double *bwd, double xfer, struct dtp_sim_result *out,
			  struct dtp_err *err);
/* The same with the backward given as its two halves: B (bwd_in) and W
 * (bwd_w) per stage; a whole BWD op takes bwd_in + bwd_w. */
int dtp_schedule_simulate_split(const struct dtp_schedule *scheds, int K, const double *fwd,
				const double *bwd_in, const double *bwd_w, double xfer,
				struct dtp_sim_result *out, struct dtp_err *err);
/* The same, writing each op's start and end (seconds from the step's start)
 * to ops[s][i] for op i of stage s (ops[s] holds scheds[s].n_ops): a
 * receive starts when the stage gets to it and ends when the message is
 * there (its wait), a send takes no time, compute takes its time. */
struct dtp_sim_op {
	double t0, t1;
};
int dtp_schedule_simulate_ops(const struct dtp_schedule *scheds, int K, const double *fwd,
			      const double *bwd_in, const double *bwd_w, double xfer,
			      struct dtp_sim_op **ops, struct dtp_sim_result *out,
			      struct dtp_err *err);

/* dtp_schedule_simulate of the op lists of every stage of a (kind, stages,
 * micro) schedule, built for the call. */
int dtp_schedule_predict(enum dtp_schedule_kind kind, int stages, int micro, const double *fwd,
			 const double *bwd, double xfer, struct dtp_sim_result *out,
			 struct dtp_err *err);
int dtp_schedule_predict_split(enum dtp_schedule_kind kind, int stages, int micro,
			       const double *fwd, const double *bwd_in, const double *bwd_w,
			       double xfer, struct dtp_sim_result *out, struct dtp_err *err);

/* ------------------------------------------------------ schedule = auto */

#define DTP_SCHEDULE_CHOICES 4   /* 1f1b, zb-h1, zb-h2, gpipe */
/* Predicted steps within this fraction of the shortest are ties for
 * schedule = auto, and a tie goes to the schedule that holds less (or the
 * layout with fewer chunks): the simulator's error against measured steps
 * is a few percent, and the schedules that stash more run further over
 * their predictions (zb-h2 on the gpt L = 8 of docs/benchmarks.md: +4 to +9%
 * where zb-h1 read +2.5 to +5%). */
#define DTP_SCHEDULE_TIE 0.01

struct dtp_schedule_option {
	enum dtp_schedule_kind kind;
	const char *excluded;          /* NULL, "recompute" or "over mem_cap" */
	struct dtp_sim_result sim;     /* when not excluded */
	size_t mem;                    /* the largest stage's predicted total, bytes */
};

struct dtp_schedule_choice {
	enum dtp_schedule_kind kind;   /* the pick */
	struct dtp_schedule_option options[DTP_SCHEDULE_CHOICES];
	char why[512];                 /* one line: the pick and every option's figures */
};

/* Simulate every fixed schedule on per-stage F, B and W times (seconds;
 * B includes a recomputed forward), drop those over the plan's mem_cap
 * (dtp_stage_mem_predict) or that cannot recompute, and pick the shortest
 * step (a tie, within DTP_SCHEDULE_TIE, goes to 1f1b, then zb-h1, then
 * zb-h2). -ENOSPC (bad input) when none
 * fits. p->schedule is ignored. */
int dtp_schedule_choose(const struct dtp_plan *p, const double *fwd, const double *bwd_in,
			const double *bwd_w, double xfer, struct dtp_schedule_choice *out,
			struct dtp_err *err);
/* choose_interleaved.c: v of a plan (1 unless virtual_stages > 1) */
int dtp_plan_chunks(const struct dtp_plan *p);
/* a chunked plan's per-stage times split over each stage's chunks in
 * proportion to their FLOPs: chunk[s * v + c] */
int dtp_schedule_split_chunk_times(const struct dtp_plan *p, const double *stage, double *chunk,
				   struct dtp_err *err);
/* dtp_schedule_choose of a chunked plan (dtp_schedule_choose calls it):
 * interleaved, simulated on the chunks' times, the fixed schedules
 * excluded; -ENOSPC over mem_cap. nominal: the times are FLOPs at a nominal
 * rate, and why gives no step in ms. */
int dtp_schedule_choose_chunked(const struct dtp_plan *p, const double *fwd, const double *bwd_in,
				const double *bwd_w, double xfer, int nominal,
				struct dtp_schedule_choice *out, struct dtp_err *err);
/* Per-stage F, B and W times from the model's FLOPs alone (B and W as
 * dtp_unit_bwd_flops splits the backward: B = W = F but for the attention's
 * weightless matmuls, all in B; B plus F with recompute): the same on every
 * process, for choosing before anything is measured. */
int dtp_schedule_stage_flops(const struct dtp_plan *p, double *fwd, double *bwd_in,
			     double *bwd_w, struct dtp_err *err);
/* schedule = auto: replace it by dtp_schedule_choose's pick on the FLOP
 * times (every stage process of a job picks the same) and write why into
 * why (one line, each step relative to the shortest, as FLOPs say nothing
 * of seconds; "" when the plan named its schedule). */
int dtp_plan_resolve_schedule(struct dtp_plan *p, char *why, size_t why_len,
			      struct dtp_err *err);

/* ----------------------------------------------------------- running a stage */

struct dtp_trace;
struct dtp_dp;

/* --resume: continue from the newest good checkpoint in checkpoint_dir, and
 * refuse to start without one; --resume-if-any: the same when the directory
 * holds a complete checkpoint, else start afresh (a batch script that is
 * requeued after a preemption) */
#define DTP_RESUME 1
#define DTP_RESUME_IF_ANY 2

struct dtp_stage_opts {
	int stage;                     /* this process's stage */
	int transport;                 /* enum dtp_transport_kind; -1: the plan's */
	long steps;                    /* > 0 overrides the plan */
	int epochs;                    /* > 0 overrides the plan (with steps = 0) */
	const char *data_dir;          /* non-NULL: train = DIR/train, test = DIR/test */
	const char *checkpoint_dir;    /* non-NULL overrides the plan */
	int resume;                    /* 0, DTP_RESUME or DTP_RESUME_IF_ANY */
	const char *metrics_path;      /* last stage writes JSON lines here */
	const char *trace_path;        /* each stage writes PATH.stage-N (events), merged later */
	const char *dump_dir;          /* tests: params per stage, losses in hex */
	size_t mem_cap;                /* > 0 overrides the plan's mem_cap */
	int quiet;                     /* no per-step lines */
	int progress;                  /* draw a progress bar (stdout is a terminal) */
	int chunk_slots;               /* > 0: this is a chunk of an interleaved stage
					* (run_interleaved.c): its stash slots, from
					* the stage's list; the op list is the caller's */
	int chain_procs;               /* a chunk: the stage processes of a replica (the
					* plan's K), virtual stage j running in process
					* j % chain_procs; 0: one stage a process */
	uint64_t job_key;
	int connect_timeout_ms;        /* 0: the plan's */
	/* failure detection (0: the plan's [transport] keys of the same names) */
	int heartbeat_ms;              /* a beat to each neighbour this often */
	int peer_timeout_ms;           /* a neighbour silent this long has failed */
	int hang_timeout_ms;           /* one alive but with no progress this long,
					  waiting on no other stage, is hung */
	int nonfinite;                 /* 0: the plan's; 1: stop; 2: skip (--nonfinite) */
	int precision;                 /* enum dtp_precision; -1: the plan's */
	int fp32_matmul;               /* enum dtp_fp32_matmul; -1: the plan's */
	struct dtp_dp *dp;             /* [parallel] replicas > 1: this rank's place in the
					* MPI job (rdma/dp.h; the stage is its stage); NULL: R = 1 */
	int measure_reduce;            /* replicas: end the run by timing a bare all-reduce
					* of the gradients beside the step's sums (every
					* rank alike: set from --metrics before replica 0
					* alone keeps the path) */
};

/* The command line's overrides (--steps, --epochs, --data, --checkpoint-dir,
 * --mem-cap, --precision, --transport, ...) written into the plan: what every
 * process runs, and so what schedule = auto must choose for (before
 * dtp_plan_resolve_schedule). */
void dtp_run_apply_overrides(struct dtp_plan *p, const struct dtp_stage_opts *o);
void dtp_stage_opts_default(struct dtp_stage_opts *o);

/* Run one stage of the plan to the end: connect to the neighbours, train,
 * checkpoint, evaluate, report. Returns 0 or a negative errno (with err). */
int dtp_stage_run(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
		  struct dtp_err *err);

/* The step of the newest complete checkpoint under dir (the one --resume
 * starts from when every byte of it checks), for a launcher that restarts a
 * job; -ENOENT when dir holds none (or does not exist). */
int dtp_checkpoint_newest(const char *dir, long *step, struct dtp_err *err);

/* Memory a stage will allocate, by arena (bytes), computed before allocating;
 * dtp_stage_run refuses to start when the total is over the cap. links: what
 * its shm links make resident in its process (dtp_stage_link_mem). precision:
 * what the plan's precision adds (bf16: the matmul engine's bf16 weights,
 * activation and gradient copies, output tiles, oneDNN scratchpads).
 * ckpt_snapshot: the background checkpoint writer's snapshot (ckpt_bg.c). */
struct dtp_stage_mem {
	size_t params, grads, optim, stash, buffers, loader, model_scratch, precision;
	size_t ckpt_snapshot;      /* [checkpoint] background's copy of params + state */
	size_t links;              /* shm links: neighbours' arenas mapped here, rings */
	size_t total;
};
int dtp_stage_mem_predict(const struct dtp_plan *plan, int stage, struct dtp_stage_mem *out,
			  struct dtp_err *err);

/* What stage s's shm links make resident in its process, the `links` term of
 * dtp_stage_mem_predict: for each neighbour of each of its chunks along the
 * chain (interleaved: virtual stages cK + s +- 1, which may be chunks of this
 * process) reached over shm, the neighbour chunk's buffer arena (stash and
 * buffers), which this process maps (the one-copy placement, dtp_link_alloc),
 * and the link's control area and ring (dtp_shm_link_resident_bytes). A link
 * is shm when [transport] kind = shm, or auto (or none) between stages the
 * plan puts on one host; auto picks verbs where the host has an RDMA device,
 * where this over-counts. tcp and verbs links add nothing. */
int dtp_stage_link_mem(const struct dtp_plan *plan, int stage, size_t *out, struct dtp_err *err);
/* 1 when the link between stages a and b of the plan is shm, as above */
int dtp_plan_link_is_shm(const struct dtp_plan *plan, int a, int b);

/* Merge the per-stage trace files PATH.stage-0 .. PATH.stage-(K-1) into one
 * Chrome trace-event JSON file at PATH (removing the parts). */
int dtp_trace_merge(const char *path, int stages, struct dtp_err *err);

/* Read a trace written by dtp_trace_merge (or any Chrome trace with the
 * same event names): per stage s < stages (pid s), the forward ("fwd") and
 * backward ("bwd" plus "recompute", or its halves "bwd_b" and "bwd_w")
 * compute per micro-batch in ms: each step's sums divided by its forward
 * events, the median over the steps after the first (the warm-up) when the
 * trace has later steps (a step the host slowed moves it no more than it
 * moves the metrics' median step time). -EINVAL with the path on a file
 * that is not such a trace, a stage out of range or one without forwards. */
int dtp_trace_read_compute(const char *path, int stages, double *fwd_ms, double *bwd_ms,
			   struct dtp_err *err);
/* The same trace's CPU time over each stage's compute spans (the process's,
 * every thread: args.cpu_us), per micro-batch in ms as dtp_trace_read_compute
 * counts them: what the stage computed, without the time a process sharing
 * its core took. 1 when every compute span has it, 0 when not (cpu_ms
 * untouched), -EINVAL as dtp_trace_read_compute. */
int dtp_trace_read_cpu(const char *path, int stages, double *cpu_ms, struct dtp_err *err);
/* The same trace's B ("bwd_b") and W ("bwd_w") per micro-batch in ms: each
 * stage's backward per micro-batch (as dtp_trace_read_compute's) shared as
 * its B and W spans share their sum (half each on a stage that ran only
 * whole backwards, as a zero-bubble schedule's first stage can). 1 when some
 * stage has B and W spans (a split schedule's run), 0 (bin_ms, bw_ms
 * untouched) when none does; errors as above. */
int dtp_trace_read_split(const char *path, int stages, double *bin_ms, double *bw_ms,
			 struct dtp_err *err);

/* The same trace's per-step work outside the op lists, per stage in ms
 * (medians over the training steps after the first, or the one step):
 * pre_ms the "optim" spans before the step's ops (zeroing the gradients) and
 * after its end-of-step exchange (the optimizer step), which the next
 * step's ops wait for; post_ms those between the stage's last compute span
 * and the exchange (the gradient norm's sums). 1 when the trace has optim
 * spans, 0 (pre_ms, post_ms untouched) when it has none; errors as above. */
int dtp_trace_read_step_work(const char *path, int stages, double *pre_ms, double *post_ms,
			     struct dtp_err *err);

/* One event of a trace's step, for timelines (dtpipe-partition --svg). */
struct dtp_trace_event {
	int stage, micro;
	int kind;              /* a span kind: dtp_trace_span_name gives its name */
	double t0, t1;         /* seconds from the step's first event */
};
/* The compute, send, receive and wait events of the last training step in
 * a trace (its forwards, backwards, B's and W's, transfers; not the optimizer
 * or the end-of-step exchange), at most max. -EINVAL with the path on a file
 * that is not such a trace; -E2BIG past max. */
int dtp_trace_read_step(const char *path, int K, struct dtp_trace_event *evs, int max, int *n,
			struct dtp_err *err);
/* the trace's name of a span kind ("fwd", "bwd_b", "recv", ...; "?" past them) */
const char *dtp_trace_span_name(int kind);
/* ---------------------------------------------------- exporting a checkpoint */

/* metadata keys and tensor names of the files below */
#define DTP_EXPORT_META_MODEL "dtpipe.model"   /* dtp_model_spec_format() */
#define DTP_EXPORT_META_STEP "dtpipe.step"     /* optimizer steps done */
#define DTP_EXPORT_INPUTS "inputs"             /* gpt: I32 (B, T); mlp: F32 (B, in) */
#define DTP_EXPORT_LOGITS "logits"             /* gpt: F32 (B, T, V); mlp: F32 (B, out) */

/* Write the parameters of checkpoint step `step` under path (a checkpoint
 * directory, or one of its step-NNNNNNNN directories; step < 0: the step
 * directory's, else the newest complete one, skipping others with the
 * reason) as one safetensors
 * file at out_path (atomically), named as in the checkpoint
 * ("unit.3.fc.weight"), without optimizer state; metadata: the model spec and
 * the step. Every tensor is checked against its CRC-32C. A corrupt or
 * incomplete checkpoint: -EBADMSG / -ENOENT naming the file and tensor, and
 * out_path is not touched. *step_out (if non-NULL) gets the step exported. */
int dtp_ckpt_export(const char *path, long step, const char *out_path, long *step_out,
		    struct dtp_err *err);
/* The logits of one batch of `batch` samples (PRNG stream (seed, 0): gpt
 * tokens uniform in [0, V), mlp features uniform in [0, 1)) through the
 * checkpoint's whole model (dtp_stage_forward over every unit), written to
 * out_path as DTP_EXPORT_INPUTS and DTP_EXPORT_LOGITS with the metadata of
 * dtp_ckpt_export. */
int dtp_ckpt_logits(const char *path, long step, const char *out_path, int batch, uint64_t seed,
		    long *step_out, struct dtp_err *err);

/* The checkpoint store's benchmark: write one checkpoint (step 1) of model
 * spec with AdamW state (parameters, m, v) under dir from `writers` parts in
 * turn, as stages write theirs (each file fsync'd, the manifest, `latest`),
 * then drop its files from the page cache and read every tensor back as a
 * resume does (CRCs checked, values compared). Seconds of each (wall and
 * this process's CPU, user + system), and the tensor bytes. */
struct dtp_ckpt_bench {
	double write_s, read_s;
	double write_cpu_s, read_cpu_s;
	uint64_t bytes;
	int direct_files;          /* files whose data went with O_DIRECT */
};
/* direct: 1 O_DIRECT where the file system takes it (what runs do), 0 buffered */
int dtp_ckpt_bench(const char *dir, const struct dtp_model_spec *spec, int writers,
		   int direct, struct dtp_ckpt_bench *out, struct dtp_err *err);

#endif
