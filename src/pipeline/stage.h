/* Internal to src/pipeline: the state of one running stage. Everything here is
 * allocated by dtp_stage_open at start-up; a step allocates nothing. */
#ifndef DTP_PIPELINE_STAGE_H
#define DTP_PIPELINE_STAGE_H

#include <stdint.h>
#include <stdio.h>

#include "io/io.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "rdma/dp.h"
#include "rdma/transport.h"

#define DTP_MAX_SLOTS 1024

/* One micro-batch's stash: its stage input and what forward keeps. */
struct dtp_ckpt_bg;

struct dtp_slot {
	void *in;              /* stage input, in_bytes(B) */
	void *save;            /* save_bytes(B); NULL when recomputing */
	int32_t *tgt;          /* last stage: targets (B * target_elems) */
	float *logits;         /* last stage without recompute: logits, then dlogits */
	struct dtp_req recv;   /* activation receive (non-first stages) */
	int recv_posted;
};

/* A buffer with its own request, for sends and gradient receives. */
struct dtp_xbuf {
	void *buf;
	struct dtp_req req;
	int pending;
};

struct dtp_stage {
	const struct dtp_plan *plan;
	int s, K, M, B;
	int first_unit, last_unit, n_units, total_units;
	int is_first, is_last;
	int recompute;
	uint64_t seed;
	/* data-parallel replicas (R = 1, replica 0, dp NULL without them) */
	struct dtp_dp *dp;
	int R, replica;
	int reduce_failed;     /* a bucket could not start: the step fails after the backward */
	struct dtp_err reduce_err;
	size_t bucket_bytes;              /* the gradient buckets' size (rdma/dp.h) */

	struct dtp_stage_model *model;
	struct dtp_optim *optim;
	/* the learning-rate schedule this run runs (run.c, once the stages
	 * agreed on the run's length): the warm-up and the end of the decay */
	long lr_warmup, lr_decay_end;
	struct dtp_schedule sched;

	/* data: stage 0 reads inputs, the last stage targets (K = 1: both, one loader) */
	struct dtp_loader *train_in, *train_tgt;
	struct dtp_loader *test_in, *test_tgt;
	uint64_t train_samples, test_samples;
	size_t tgt_elems;      /* per sample: 1 (labels) or T */
	int vocab;             /* logits per target row */

	/* links and the registered buffer arena */
	struct dtp_link *prev, *next;
	struct dtp_mr *prev_mr, *next_mr;
	struct dtp_arena arena;
	struct dtp_link *arena_link;   /* the link the arena came from (dtp_link_alloc), or NULL */
	struct dtp_mr *arena_mr;       /* its registration on that link */
	size_t in_bytes, out_bytes, save_bytes;

	int n_slots;
	struct dtp_slot slots[DTP_MAX_SLOTS];
	int n_wslots;          /* split schedules: W stash slots (max_wstash) */
	void *wslots[DTP_MAX_SLOTS];   /* wsave_bytes each, micro-batch m in m % n_wslots */
	size_t wsave_bytes;
	void *scratch_save;    /* recompute: the one save area */
	void *scratch_out;     /* recompute: forward output (non-last) or logits (last) */
	struct dtp_xbuf act_out[2];   /* non-last: outputs being sent */
	struct dtp_xbuf grad_in[2];   /* non-last: gradients being received */
	struct dtp_xbuf grad_out[2];  /* non-first: input gradients being sent */
	double *ctrl_up;       /* control messages' vectors (layout: ctrl.c) */
	double *ctrl_down;
	size_t ctrl_up_n, ctrl_down_n;
	double *sumsq;         /* this stage's units */
	double *sumsq_blocks;  /* its gradient blocks' (model.h: dtp_optim_block_sumsq) */
	int sharded;           /* replicas: each updates its shard (rdma/dp.h) */

	/* per-step accounting (seconds) */
	double t_compute, t_wait, t_data;
	double loss_sum;       /* last stage: sum of xent over the step, in micro-batch order */
	int skipped;           /* the last step made no update (non-finite, nonfinite = skip) */

	/* failure detection (liveness.c): the links' configs (the heartbeats
	 * meet where the links did), the heartbeats, their bounds */
	struct dtp_link_config link_cfgs[2];
	int n_link_cfgs;
	struct dtp_hb *hb;             /* NULL: no neighbours */
	int heartbeat_ms, peer_timeout_ms, hang_timeout_ms;
	long test_hang_step;           /* DTP_TEST_HANG_AT_STEP, -1: none */
	long test_hang_ms;             /* DTP_TEST_HANG_MS, -1: forever */
	int stop;              /* the stages agreed to stop after the last step: the
				* stop signal (base/preempt.h), 0: go on */

	/* a chunk of an interleaved stage (run_interleaved.c): every chunk of
	 * this process, this one included (they share the main thread:
	 * liveness.c); NULL otherwise */
	struct dtp_stage *const *siblings;
	int n_siblings;
	struct dtp_trace *trace;   /* may be NULL */
	uint64_t span_cpu0;        /* with a trace: the process's CPU time at span_begin */
	size_t mem_bytes;      /* predicted: every arena this stage allocates */
	struct dtp_ckpt_bg *ckpt_bg;   /* background checkpoint writer, or NULL */
	uint64_t ckpt_last_ns;  /* when the last checkpoint (or training) started */
	int ckpt_due;           /* every_seconds passed: checkpoint after this step */
};

/* ---- executor.c */
/* One training step (schedule ops, gradient-norm gather, optimizer step).
 * On the last stage, *loss gets the step's mean loss; clip gets the factor. */
int dtp_stage_train_step(struct dtp_stage *st, long step, double *loss, double *gnorm,
			 double *stage_times, struct dtp_err *err);
/* The same in pieces, for a process that holds several stages of the chain
 * (run_interleaved.c): begin (zero the gradients, post the first receives),
 * ops, drain (the last sends, the replicas' sums, the gradient sums), then
 * dtp_ctrl_step_up/_down, then apply (the loss, the verdict, the optimizer
 * step). */
struct dtp_ctrl_down;
int dtp_stage_step_begin(struct dtp_stage *st, long step, struct dtp_err *err);
int dtp_stage_step_op(struct dtp_stage *st, const struct dtp_op *op, long step,
		      struct dtp_err *err);
int dtp_stage_step_drain(struct dtp_stage *st, long step, struct dtp_err *err);
int dtp_stage_step_apply(struct dtp_stage *st, long step, const struct dtp_ctrl_down *down,
			 double *loss, double *gnorm, double *stage_times, struct dtp_err *err);
/* Forward the test set (evaluate.c); last stage: *correct, *count, *loss_sum */
int dtp_stage_evaluate(struct dtp_stage *st, int64_t *correct, int64_t *count,
		       double *loss_sum, struct dtp_err *err);
/* ---- transfer.c: wait for a request on link l, counting the time as
 * waiting (trace span `span` at (step, m)); the caller prefixes the error
 * with its context */
int dtp_stage_wait(struct dtp_stage *st, struct dtp_link *l, struct dtp_req *req, int span,
		   long step, int m, struct dtp_err *err);
/* the same with the step's context prefixed (m < 0: the step's last sends) */
int dtp_stage_wait_op(struct dtp_stage *st, struct dtp_link *l, struct dtp_req *req, int span,
		      long step, int m, struct dtp_err *err);
/* a transport refused to post (r < 0): the link to `peer` has failed */
int dtp_stage_link_failed(int r, int peer, struct dtp_err *err);
/* a message's tag; the wire's bytes for fp32_bytes
 * (dtp_precision_wire_bytes) and the in-place packing before a send and
 * widening after a receive */
struct dtp_tag dtp_stage_tag(uint32_t step, int micro, int kind);
size_t dtp_stage_wire_bytes(const struct dtp_stage *st, size_t fp32_bytes);
void dtp_stage_wire_pack(const struct dtp_stage *st, void *buf, size_t fp32_bytes);
void dtp_stage_wire_unpack(const struct dtp_stage *st, void *buf, size_t fp32_bytes);
/* micro-batch m's activation receive into its stash slot, its gradient
 * receive into grad_in[m & 1]; the send of x (fwd: an activation to the
 * next stage, else a gradient to the previous one), packed first; waiting
 * for x's send (if pending) before x is written again */
int dtp_stage_post_act_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err);
int dtp_stage_post_grad_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err);
int dtp_stage_post_send(struct dtp_stage *st, struct dtp_xbuf *x, int fwd, long step, int m,
			struct dtp_err *err);
int dtp_stage_xbuf_ready(struct dtp_stage *st, struct dtp_link *l, struct dtp_xbuf *x, long step,
			 int m, struct dtp_err *err);
/* the shared steps of training and evaluation (executor.c): the forward
 * with its input errors said; n samples from a loader (data span at (step,
 * m)); the loss of one micro-batch on the last stage (logits -> dlogits in
 * place) */
int dtp_stage_forward_checked(struct dtp_stage *st, const void *in, void *out, void *save,
			      int n, int m, struct dtp_err *err);
int dtp_stage_fetch(struct dtp_stage *st, struct dtp_loader *l, int n, void *in, int32_t *tgt,
		    long step, int m, struct dtp_err *err);
int dtp_stage_loss(struct dtp_stage *st, float *logits, const int32_t *tgt, int n, float scale,
		   double *sum, int *correct, struct dtp_err *err);

/* ---- liveness.c: heartbeats with the neighbours, and when silence or a
 * standstill is a failure */
struct dtp_hb;
/* the bounds (command line, else plan; -EINVAL, input, when they do not
 * fit together) and the test hook, before any link */
int dtp_stage_liveness_config(struct dtp_stage *st, const struct dtp_stage_opts *o,
			      struct dtp_err *err);
/* once the links are up: meet each neighbour again and start beating */
int dtp_stage_liveness_open(struct dtp_stage *st, struct dtp_err *err);
void dtp_stage_liveness_close(struct dtp_stage *st);
/* the main thread did work / now waits on stage `peer` (-1: on none) */
void dtp_stage_busy(struct dtp_stage *st);
void dtp_stage_blocked_on(struct dtp_stage *st, int peer);
/* the main thread starts (1) or ends (0) checkpoint I/O: its neighbours do
 * not judge it hung meanwhile (only silence counts) */
void dtp_stage_in_io(struct dtp_stage *st, int in_io);
/* while blocked on `peer`: 0, or a runtime error naming it and the cause */
int dtp_stage_liveness_check(struct dtp_stage *st, int peer, struct dtp_err *err);
/* the judgement of dtp_stage_liveness_check on the heartbeat state `ps` of
 * `peer` (rdma/heartbeat.h) at time `now` (ns); a beat stamped after `now`
 * counts as just heard (exposed for the unit test) */
struct dtp_hb_state;
int dtp_liveness_judge(const struct dtp_hb_state *ps, uint64_t now, int peer,
		       int peer_timeout_ms, int hang_timeout_ms, struct dtp_err *err);
/* tests: spin at the start of step DTP_TEST_HANG_AT_STEP, forever or for
 * DTP_TEST_HANG_MS */
void dtp_stage_test_hang(const struct dtp_stage *st, long step);

/* ---- run.c: the pieces of a stage's run that run_interleaved.c shares */
struct dtp_ctrl_start;
int dtp_run_check_mem_cap(const struct dtp_plan *p, int s, struct dtp_stage_mem *m,
			  struct dtp_err *err);
int dtp_run_check_peak_rss(const struct dtp_plan *p, long step, struct dtp_err *err);
/* stage 0 decides the step count and the first step; the others learn them */
int dtp_run_agree_on_steps(struct dtp_stage *st, struct dtp_plan *p, long resumed,
			   struct dtp_ctrl_start *m, struct dtp_err *err);
long dtp_run_warmup(const struct dtp_plan *p, const struct dtp_stage_opts *o, long total);
int dtp_run_fit_warmup(const struct dtp_plan *p, const struct dtp_stage_opts *o,
		       struct dtp_optim *optim, long total, int say, struct dtp_err *err);
/* 1 when a checkpoint of exactly the run's last step is resumed with
 * --resume-if-any (a restarted or requeued job whose training had ended):
 * nothing is left to train, the run does its ending and succeeds; says so */
int dtp_run_resumed_at_end(const struct dtp_stage *st, const struct dtp_plan *p,
			   const struct dtp_stage_opts *o, long resumed, long total);
int dtp_run_stopped(const struct dtp_stage *st, const struct dtp_plan *p, long step, long total,
		    struct dtp_err *err);
int dtp_run_dump_params(struct dtp_stage *st, const char *dir, struct dtp_err *err);
/* replicas: the gradient sums' figures beside a bare all-reduce (--metrics,
 * every replica; replica 0 prints), and a sharded optimizer's state gathered
 * on every replica before replica 0 writes a checkpoint */
int dtp_run_report_reduce(struct dtp_stage *st, struct dtp_err *err);
int dtp_run_gather_state(struct dtp_stage *st, struct dtp_err *err);
/* ---- run_interleaved.c: dtp_stage_run of a stage with v > 1 chunks */
int dtp_stage_run_interleaved(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
			      struct dtp_err *err);

/* ---- arena.c: the plan of a chunk's buffer arena (first, last: the chunk
 * starts or ends the pipeline: stage 0, stage K-1; interleaved: chunk 0 of
 * stage 0, chunk v-1 of stage K-1; K: the stages of the chain its control
 * vectors run along, K x v interleaved); at start-up the arena mapped (from
 * the next link, else the previous one, else privately; registered on the
 * other), its buffers cut out, and undone */
struct dtp_arena_plan {
	size_t in_b, out_b, save_b, tgt_b, ctrl_up_n, ctrl_down_n;
	size_t wsave_b;        /* split schedules: one W stash slot */
	int n_slots, n_wslots;
	size_t stash;          /* the stash slots' and W stash slots' share of total */
	size_t total;
};
void dtp_arena_plan_of(const struct dtp_plan *p, int K, int first, int last, int n_slots,
		       int n_wslots, size_t in_b, size_t out_b, size_t save_b, size_t wsave_b,
		       size_t tgt_elems, int total_units, struct dtp_arena_plan *a);
int dtp_stage_alloc_arena(struct dtp_stage *st, size_t bytes, struct dtp_err *err);
int dtp_stage_carve_arena(struct dtp_stage *st, const struct dtp_arena_plan *a,
			  struct dtp_err *err);
void dtp_stage_free_arena(struct dtp_stage *st);
/* chunk c's buffer arena (stash and buffers) of stage s, arena[c] for c < v */
int dtp_stage_chunk_arenas(const struct dtp_plan *p, int s, size_t *arena, struct dtp_err *err);

/* ---- setup.c */
int dtp_stage_open(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
		   struct dtp_stage **out, struct dtp_err *err);
void dtp_stage_close(struct dtp_stage *st);
/* ---- nonfinite.c: a target outside [0, vocab) (-ERANGE, named); the last
 * stage's verdict on a step (0: finite; +-(1 + first stage with a non-finite
 * gradient, or the last for the loss): + stop, - skip), and acting on it
 * (stop: -EDOM naming the step and that stage; skip: 0, the last stage warns) */
int dtp_stage_check_targets(const struct dtp_stage *st, const int32_t *tgt, int n,
			    struct dtp_err *err);
double dtp_nonfinite_verdict(const struct dtp_stage *st, const double *sumsq, double loss_sum);
int dtp_nonfinite_act(const struct dtp_stage *st, long step, double verdict, double loss,
		      double gnorm, struct dtp_err *err);

/* ---- datacheck.c: a dataset's kind, feature width and classes against the
 * model (-EINVAL naming both and the fix) */
int dtp_stage_check_data(const struct dtp_plan *p, const char *path,
			 const struct dtp_dataset_info *info, struct dtp_err *err);

/* ---- trace.c: spans recorded into a buffer allocated at start-up */
enum dtp_span_kind {
	DTP_SPAN_FWD = 0, DTP_SPAN_BWD, DTP_SPAN_RECOMPUTE, DTP_SPAN_SEND, DTP_SPAN_RECV,
	DTP_SPAN_WAIT, DTP_SPAN_OPTIM, DTP_SPAN_DATA, DTP_SPAN_SYNC, DTP_SPAN_EVAL,
	DTP_SPAN_CKPT, DTP_SPAN_BWD_IN, DTP_SPAN_BWD_W, DTP_SPAN_N
};
/* the event name of a span kind in the trace ("fwd", "bwd", ...) */
const char *dtp_span_name(int kind);
int dtp_trace_open(const char *path, int stage, size_t max_spans, struct dtp_trace **out,
		   struct dtp_err *err);
static inline void dtp_trace_span(struct dtp_trace *t, int kind, long step, int micro,
				  uint64_t t0, uint64_t t1);
/* the same, with the process's CPU time over the span (ns) */
static inline void dtp_trace_span_cpu(struct dtp_trace *t, int kind, long step, int micro,
				      uint64_t t0, uint64_t t1, uint64_t cpu);
/* writes PATH.stage-N and frees t */
int dtp_trace_close(struct dtp_trace *t, struct dtp_err *err);
/* frees t, writing nothing (a run that failed leaves no part behind) */
void dtp_trace_discard(struct dtp_trace *t);

struct dtp_span {
	uint64_t t0, t1;
	uint64_t cpu;    /* the process's CPU time over the span, ns; UINT64_MAX: not taken */
	int32_t step;
	int16_t micro;
	int8_t kind;
	int8_t chunk;    /* interleaved: the chunk the span ran on; -1: a plain run */
};
struct dtp_trace {
	char *path;
	int stage;
	int chunk;       /* the chunk the spans recorded now are for (-1: none), set
			  * by the interleaved runner before it runs a chunk's work */
	size_t n, cap, dropped;
	struct dtp_span *spans;
};
/* the spans recorded from now on ran on chunk c of an interleaved stage */
static inline void dtp_trace_set_chunk(struct dtp_trace *t, int c)
{
	if (t)
		t->chunk = c;
}
static inline void dtp_trace_span(struct dtp_trace *t, int kind, long step, int micro,
				  uint64_t t0, uint64_t t1)
{
	struct dtp_span *sp;

	if (!t)
		return;
	if (t->n == t->cap) {
		t->dropped++;
		return;
	}
	sp = &t->spans[t->n++];
	sp->t0 = t0, sp->t1 = t1;
	sp->cpu = UINT64_MAX;
	sp->step = (int32_t)step;
	sp->micro = (int16_t)micro;
	sp->kind = (int8_t)kind;
	sp->chunk = (int8_t)t->chunk;
}
static inline void dtp_trace_span_cpu(struct dtp_trace *t, int kind, long step, int micro,
				      uint64_t t0, uint64_t t1, uint64_t cpu)
{
	size_t n = t ? t->n : 0;

	dtp_trace_span(t, kind, step, micro, t0, t1);
	if (t && t->n > n)
		t->spans[n].cpu = cpu;
}

#endif
