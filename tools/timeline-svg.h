/* dtpipe-partition report --svg: a step's timeline as SVG (timeline-svg.c). */
#ifndef DTP_TOOLS_TIMELINE_SVG_H
#define DTP_TOOLS_TIMELINE_SVG_H

#include "pipeline/pipeline.h"

/* Write to path one row per stage of the simulated step (the K op lists
 * with their times, ops[s][i]) and, when ev is not NULL, under each the
 * measured events of that stage (dtp_trace_read_step). what: the title. */
int dtp_timeline_svg(const char *path, const struct dtp_schedule *sch, int K,
		     struct dtp_sim_op **ops, const char *what, const struct dtp_trace_event *ev,
		     int n_ev, struct dtp_err *err);

#endif
