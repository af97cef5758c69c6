/* Internal to src/pipeline: the control messages between stages (ctrl.c).
 *
 * They share the links with activations and gradients: each is one
 * DTP_MSG_CTRL tensor of doubles, matched in order like every other message.
 * A training step's messages are tagged with the step; the messages outside
 * the training loop use reserved tag steps no run reaches. This file and
 * ctrl.c are the only places that know the tags, the sizes and the layout of
 * the control vectors; the rest of the pipeline passes the typed structs. */
#ifndef DTP_PIPELINE_CTRL_H
#define DTP_PIPELINE_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/stage.h"

/* reserved tag steps (a run's steps stay below DTP_CTRL_TAG_FIRST) */
#define DTP_CTRL_TAG_START  0xfffffff0u   /* the start-up agreement */
#define DTP_CTRL_TAG_EVAL   0xfffffff1u   /* the evaluation's batch count */
#define DTP_CTRL_TAG_EVAL_BATCH_FIRST 0xfffffff2u  /* its batches: 65536 per tag step */
#define DTP_CTRL_TAG_EVAL_BATCH_LAST  0xfffffff7u
#define DTP_CTRL_TAG_FINISH 0xfffffff8u   /* the final report (peak RSS) */
#define DTP_CTRL_TAG_FIRST  DTP_CTRL_TAG_START
/* the most evaluation batches the reserved tags can name */
#define DTP_CTRL_EVAL_MAX_BATCHES \
	((long)(DTP_CTRL_TAG_EVAL_BATCH_LAST - DTP_CTRL_TAG_EVAL_BATCH_FIRST + 1) << 16)

/* Stage 0 decides the step count, the first step (a resumed checkpoint's)
 * and the number of test batches; every other stage receives and checks it,
 * then passes it on. */
struct dtp_ctrl_start {
	long total_steps;
	long start_step;
	long eval_batches;
};

/* The evaluation's number of test batches, passed down the chain. */
struct dtp_ctrl_eval {
	long batches;
};

/* What one training step sends back down the chain from the last stage. */
struct dtp_ctrl_down {
	double clip;                          /* gradient multiplier */
	double loss_sum;                      /* last stage's sum of the step's losses */
	double grad_norm;                     /* global, before clipping */
	double verdict;                       /* non-finite step: 0 none, else nonfinite.c's */
	int stop;                             /* a stop signal (base/preempt.h) some stage had
					       * when it sent its sums up: stop after this
					       * step, every stage alike; 0: go on */
	int ckpt_due;                         /* [checkpoint] every_seconds have passed
					       * since the last checkpoint (the last
					       * stage's clock): write one after this step */
	double times[2 * DTP_MAX_STAGES];     /* per stage: compute + data, wait (seconds) */
};

/* A checkpoint's completion, gathered up the chain after every stage has
 * written its part: whether every stage so far committed (else the first
 * that did not), and stage 0's input loader position. */
struct dtp_ckpt_done {
	int failed_stage;                     /* -1: every stage so far committed */
	uint64_t in_epoch, in_sample;         /* stage 0's training input loader */
};

/* Each stage's peak RSS and predicted arena bytes, gathered up the chain. */
struct dtp_ctrl_finish {
	double peak_rss[DTP_MAX_STAGES];
	double arenas[DTP_MAX_STAGES];
};

/* doubles in the control vectors of a model of `units` units over K stages
 * (the up vector is also the longest message: setup.c sizes the links by it) */
size_t dtp_ctrl_up_len(int units, int K);
size_t dtp_ctrl_down_len(int K);

/* The start-up agreement: stage 0 sends *m; the others receive it (recv),
 * check it and pass it on (send; nothing on the last stage). */
int dtp_ctrl_start_recv(struct dtp_stage *st, struct dtp_ctrl_start *m, struct dtp_err *err);
int dtp_ctrl_start_send(struct dtp_stage *st, const struct dtp_ctrl_start *m,
			struct dtp_err *err);

/* The evaluation's batch count: stage 0 gives m->batches; the others get it. */
int dtp_ctrl_eval_pass(struct dtp_stage *st, struct dtp_ctrl_eval *m, struct dtp_err *err);
/* the tag step of evaluation batch b (b < DTP_CTRL_EVAL_MAX_BATCHES) */
static inline uint32_t dtp_ctrl_eval_batch_tag(long b)
{
	return DTP_CTRL_TAG_EVAL_BATCH_FIRST + (uint32_t)(b >> 16);
}

/* One step's gradient-norm exchange: every unit's gradient sum of squares
 * (this stage's are unit_sumsq, n_units of them), every stage's times
 * (st->t_compute + t_data, t_wait, read once the sums from upstream are in)
 * and the first stop signal any stage has received (dtp_preempt_requested,
 * read as the stage sends up) go up the chain; the last stage adds the sums
 * in global unit order, and the clip factor, the loss (st->loss_sum), the
 * times and the stop come back down into *down on every stage: the last
 * stage's word is the one every stage acts on. */
int dtp_ctrl_step_sync(struct dtp_stage *st, long step, const double *unit_sumsq,
		       struct dtp_ctrl_down *down, struct dtp_err *err);
/* its two halves: the sums up (the last stage then computes the word), and
 * the word down; a process that holds several stages of the chain (the
 * chunks of an interleaved stage) runs every up before any down */
int dtp_ctrl_step_up(struct dtp_stage *st, long step, const double *unit_sumsq,
		     struct dtp_err *err);
int dtp_ctrl_step_down(struct dtp_stage *st, long step, struct dtp_ctrl_down *down,
		       struct dtp_err *err);

/* After writing its part of the checkpoint of step `step` (ok: committed),
 * each stage receives what the stages before it reported, adds its own
 * outcome and passes it on; on the last stage *m says whether all committed.
 * Stage 0 fills m->in_epoch / in_sample before the call. Tagged with the
 * training step (micro 2), after that step's gradient-norm exchange. */
int dtp_ctrl_ckpt_gather(struct dtp_stage *st, long step, int ok, struct dtp_ckpt_done *m,
			 struct dtp_err *err);

/* The final report: each stage adds its peak RSS and arena bytes and passes
 * the list on; on the last stage *m holds every stage's. */
int dtp_ctrl_finish_gather(struct dtp_stage *st, double peak_rss, double arenas,
			   struct dtp_ctrl_finish *m, struct dtp_err *err);

#endif
