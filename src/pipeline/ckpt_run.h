/* Internal to src/pipeline: a running stage's side of the layout-free
 * checkpoints (ckpt_run.c), on top of the store (ckpt_store.h). */
#ifndef DTP_PIPELINE_CKPT_RUN_H
#define DTP_PIPELINE_CKPT_RUN_H

#include "pipeline/ckpt_store.h"
#include "pipeline/stage.h"

/* The facts of this run a checkpoint records and a resume must share (the
 * model, the optimizer and its settings, the training settings that change
 * results, the random state); step and data positions are left empty. */
void dtp_stage_ckpt_info(const struct dtp_stage *st, struct dtp_ckpt_info *info);

/* Every stage, after step `step` (0-based) of the run: write this stage's
 * units (parameters and optimizer state) as checkpoint step + 1 under dir,
 * in parallel with the other stages; then the outcome goes up the chain
 * (ctrl.c) and the last stage writes the manifest and keeps the newest
 * `keep`. A stage that could not write its part fails the run, and so do
 * the stages after it; the previous checkpoint stays. */
int dtp_stage_ckpt_save(struct dtp_stage *st, const char *dir, long step, int keep,
			struct dtp_err *err);

/* The arrays a checkpoint holds for this stage: the parameters, then the
 * optimizer's state arrays (momentum; or Adam's m then v), each of
 * *n_params floats in the parameters' layout. Returns how many (at most 3). */
int dtp_stage_ckpt_arrays(const struct dtp_stage *st, const char **roles, float **arrays,
			  size_t *n_params);
/* This stage's file of checkpoint ck_step: its units of each array (a view
 * of the live arrays, or of a snapshot). Touches nothing of st but reads. */
int dtp_stage_ckpt_write_part(const struct dtp_stage *st, const char *dir, long ck_step,
			      const char *const *roles, float *const *arrays, int n,
			      struct dtp_err *err);

/* ------------------------------------------ in the background (ckpt_bg.c)
 * [checkpoint] background = yes, for the periodic checkpoints (every > 0):
 * after step `step`, every stage copies its arrays into the snapshot
 * (dtp_stage_ckpt_snapshot: memory mapped and touched at the start, counted
 * by dtp_stage_mem_predict) and its writer thread writes the stage's file
 * while the next step trains; at the next step boundary (or before the run's
 * last checkpoint, or a stop), every stage waits for its file and the
 * outcome is gathered and published as dtp_stage_ckpt_save does
 * (dtp_stage_ckpt_publish): the manifest and `latest` only once every
 * stage's file is durable. A kill before that leaves the previous checkpoint
 * the newest complete one. */
int dtp_stage_ckpt_snapshot(struct dtp_stage *st, const char *dir, long step,
			    struct dtp_err *err);
/* 0 at once when no snapshot waits to be published */
int dtp_stage_ckpt_publish(struct dtp_stage *st, const char *dir, int keep, struct dtp_err *err);

/* the snapshot's bytes for a plan's stage of n_params parameters: 0 unless
 * background checkpoints are on, a directory is set and every > 0 */
size_t dtp_ckpt_bg_bytes(const struct dtp_plan *p, size_t n_params);
struct dtp_ckpt_bg;
int dtp_ckpt_bg_open(const struct dtp_stage *st, size_t bytes, struct dtp_ckpt_bg **out,
		     struct dtp_err *err);
/* wait for the thread to be idle: the last write's outcome */
int dtp_ckpt_bg_wait(struct dtp_ckpt_bg *bg, struct dtp_err *err);
/* wait, then copy the live arrays into the snapshot and hand it to the
 * thread as checkpoint step + 1, pending with the data positions */
int dtp_ckpt_bg_start(struct dtp_ckpt_bg *bg, const char *dir, long step,
		      const struct dtp_ckpt_pos *in, const struct dtp_ckpt_pos *tgt,
		      struct dtp_err *err);
/* whether a snapshot waits to be published */
int dtp_ckpt_bg_is_pending(const struct dtp_ckpt_bg *bg);
/* 1 and the pending snapshot's step and positions (then it is not pending) */
int dtp_ckpt_bg_pending(struct dtp_ckpt_bg *bg, long *step, struct dtp_ckpt_pos *in,
			struct dtp_ckpt_pos *tgt);
/* finishes a write under way, stops the thread, frees; NULL is fine */
void dtp_ckpt_bg_close(struct dtp_ckpt_bg *bg);

/* Stage 0, before the start-up agreement: the newest complete checkpoint
 * under dir whose every byte checks (an older one when the newest is corrupt,
 * with a warning naming the file and tensor), and that this run may continue
 * (same model and settings: else -EINVAL naming what differs). *step = its
 * step. -ENOENT when there is none; with if_any, *step = 0 (start afresh)
 * when dir does not exist or holds no complete checkpoint (a manifest), and
 * -ENOENT when it holds some but none checks. */
int dtp_stage_ckpt_choose(struct dtp_stage *st, const char *dir, int if_any, long *step,
			  struct dtp_err *err);

/* Every stage, once the stages agreed on the step: load the units this stage
 * holds now (whichever stage wrote them) and, on the first and last stage,
 * the data positions. */
int dtp_stage_ckpt_load(struct dtp_stage *st, const char *dir, long step, struct dtp_err *err);

/* A test hook (tests/integration/chaos.sh, scripts/soak.sh): with
 * DTP_TEST_HOLD=PATH in the environment and the file PATH.POINT present, the
 * stage creates PATH.POINT.stage-N and waits while PATH.POINT exists, so a
 * test can kill a stage at a moment it knows: POINT "ckpt" once the stage has
 * written its part of a checkpoint (the checkpoint not finished), "resume"
 * once a resumed stage has loaded its units (before its first step). When
 * PATH.POINT holds a number N, only a checkpoint (or resume) of step >= N
 * holds, so a test can let the earlier ones complete. A held stage that a
 * stop signal reaches (base/preempt.h) creates PATH.POINT.stop.stage-N, so a
 * test knows the signal arrived before it lets the stage go. Unset, it costs
 * one getenv. */
void dtp_stage_test_hold(const struct dtp_stage *st, const char *point, long step);

#endif
