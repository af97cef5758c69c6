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
 * holds, so a test can let the earlier ones complete. Unset, it costs one
 * getenv. */
void dtp_stage_test_hold(const struct dtp_stage *st, const char *point, long step);

#endif
