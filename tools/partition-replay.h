/* A stage's compute as its schedule runs it (partition-replay.c): the
 * report's profile of a plan's stages on this machine. The unit profile
 * (src/partition/profile.c) times each unit alone, its forward after the
 * caches were flushed and its backward right after that forward on the
 * same buffers; a stage runs its units one after the other, its forwards
 * and backwards interleaved over micro-batches whose stash slots are
 * different buffers, each op finding the caches as the op before it left
 * them. The replay runs the stage's own op list (dtp_schedule_build), with
 * the plan's units, micro-batch, stash slots, recompute, precision and loss,
 * on this thread (pinned to the stage's own cores, whose speed it measures:
 * the CPUs of one machine need not be alike, and in a VM rarely are), with
 * every buffer the executor's ops touch (a receive
 * copies its message into the stage's buffer, as the shm transport does
 * on the receiving core), and times each compute op as dtpipe --trace
 * spans it. Links, waits and other stages are left out: the report's share
 * simulation adds those. */
#ifndef DTP_TOOLS_PARTITION_REPLAY_H
#define DTP_TOOLS_PARTITION_REPLAY_H

#include "partition/plan.h"

/* Stage s's own compute per micro-batch (seconds, median over `reps`
 * replayed steps after one warm-up step) on the CPUs of cpulist (NULL or
 * "": wherever this thread may run; the thread's affinity is restored
 * after; -EINVAL for a cpulist that is not one, or none of whose CPUs this
 * process may use): fwd (the forward op's span: 0 on
 * a last stage that recomputes), bwd_in and bwd_w (a whole backward, with
 * its recomputed forward: all of it in bwd_in, 0 in bwd_w; a split
 * schedule's B and W apart). Non-interleaved plans only (-EINVAL else). */
int dtp_tool_replay_stage(const struct dtp_plan *plan, int s, const char *cpulist, int reps,
			  double *fwd, double *bwd_in, double *bwd_w, struct dtp_err *err);

#endif
