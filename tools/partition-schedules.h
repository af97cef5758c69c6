/* dtpipe-partition's schedule views (partition-schedules.c): every schedule's
 * predicted step side by side, schedule = auto, the --svg timeline. */
#ifndef DTP_TOOLS_PARTITION_SCHEDULES_H
#define DTP_TOOLS_PARTITION_SCHEDULES_H

#include <stdio.h>

#include "partition/profile.h"
#include "pipeline/pipeline.h"

/* per stage: forward, B and W seconds per micro-batch from the profile
 * (dtp_unit_add_times; a last stage that recomputes forwards in its
 * backward only) */
void dtp_tool_stage_times(const struct dtp_plan *plan, const struct dtp_profile *prof,
			  double *fwd, double *bwd_in, double *bwd_w);
/* every schedule's simulated step, bubble and largest stage memory, one line
 * each prefixed by what; the plan's schedule and the shortest marked */
int dtp_tool_print_steps(FILE *f, const char *what, const struct dtp_plan *plan,
			 const double *fwd, const double *bwd_in, const double *bwd_w, double xfer,
			 struct dtp_err *err);
/* the same with `add` seconds of per-step work and exchange on every
 * step's critical path, and `work` seconds of per-step work on the mean
 * stage (busy, not idle, in the bubble) */
int dtp_tool_print_steps_plus(FILE *f, const char *what, const struct dtp_plan *plan,
			      const double *fwd, const double *bwd_in, const double *bwd_w,
			      double xfer, double add, double work, struct dtp_err *err);
/* schedule = auto's pick for plan (its units as they are) on the profile's
 * times (the FLOPs for a static profile), and the pick's predicted step in
 * seconds; -ENOSPC (bad input) when no schedule fits mem_cap */
int dtp_tool_auto_choice(const struct dtp_plan *plan, const struct dtp_profile *prof,
			 struct dtp_schedule_choice *c, double *step, struct dtp_err *err);
/* schedule = auto: replace it by the simulator's pick on the profile's times
 * (the FLOPs for a static profile) and print why to f; else nothing */
int dtp_tool_resolve_auto(FILE *f, struct dtp_plan *plan, const struct dtp_profile *prof,
			  struct dtp_err *err);
/* --svg: the plan's schedule simulated on the profile's times, and the last
 * step of trace (or NULL) under it */
int dtp_tool_write_svg(const char *svg, const char *trace, const struct dtp_plan *plan,
		       const struct dtp_profile *prof, struct dtp_err *err);

#endif
