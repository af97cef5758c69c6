/* Internal to src/pipeline: what a run reports (report.c): the step lines,
 * the progress bar, --metrics JSON lines, the evaluation and the final line
 * with each stage's peak RSS. Only the last stage prints step lines. */
#ifndef DTP_PIPELINE_REPORT_H
#define DTP_PIPELINE_REPORT_H

#include <stdio.h>

#include "pipeline/stage.h"

struct dtp_report {
	const struct dtp_stage *st;
	const struct dtp_stage_opts *o;
	FILE *metrics;
	FILE *losses;
	long total, start;
	int log_every;
	double units_per_step;   /* samples, or tokens for the gpt */
	const char *unit_name;
	uint64_t t_start, t_last, t_train_end;
	double sum_step_time;
	long steps_timed;
	int bar_drawn;
	/* since the last printed line: averaged over log_every steps */
	double acc_dt, acc_t[2 * DTP_MAX_STAGES];
	long acc_n;
};

int dtp_report_open(struct dtp_report *r, const struct dtp_stage *st,
		    const struct dtp_stage_opts *o, long total, long start, struct dtp_err *err);
void dtp_report_step(struct dtp_report *r, long step, double loss, double gnorm,
		     const double *stage_times);
void dtp_report_dump_loss(struct dtp_report *r, const char *dir, long step, double loss);
void dtp_report_train_end(struct dtp_report *r);
void dtp_report_eval(struct dtp_report *r, int64_t correct, int64_t count, double loss_sum);
/* gathers every stage's peak RSS along the chain; the last stage prints it */
int dtp_report_finish(struct dtp_report *r, struct dtp_stage *st, struct dtp_err *err);
void dtp_report_close(struct dtp_report *r);


#endif
