/* Internal to src/pipeline: per-stage checkpoints (checkpoint.c). */
#ifndef DTP_PIPELINE_CHECKPOINT_H
#define DTP_PIPELINE_CHECKPOINT_H

#include "pipeline/stage.h"

/* DIR/stage-N.ckpt, atomically; `step` = optimizer steps done */
int dtp_checkpoint_save(struct dtp_stage *st, const char *dir, long step, struct dtp_err *err);
/* restore params, optimizer state and loader positions; *step = steps done.
 * Another plan, stage, unit range or model: -EINVAL naming both. */
int dtp_checkpoint_load(struct dtp_stage *st, const char *dir, long *step, struct dtp_err *err);
/* the plan hash a checkpoint keeps: how long to run and where to write are left out */
uint64_t dtp_ckpt_plan_hash(const struct dtp_plan *p);

#endif
