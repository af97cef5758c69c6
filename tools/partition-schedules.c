/* dtpipe-partition's schedule views: every schedule's predicted step side by
 * side (the schedule simulator and memory prediction of src/pipeline),
 * schedule = auto on the profile's times, and the --svg timeline. */
#include "config.h"
#include "tools/partition-schedules.h"
#include "tools/timeline-svg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Every schedule's step from per-stage forward, B and W seconds per
 * micro-batch (the schedule simulator and the memory prediction,
 * src/pipeline), side by side; the plan's schedule marked. */
int dtp_tool_print_steps(FILE *f, const char *what, const struct dtp_plan *plan, const double *fwd,
		       const double *bwd_in, const double *bwd_w, double xfer, struct dtp_err *err)
{
	return dtp_tool_print_steps_plus(f, what, plan, fwd, bwd_in, bwd_w, xfer, 0, 0, err);
}

int dtp_tool_print_steps_plus(FILE *f, const char *what, const struct dtp_plan *plan,
			      const double *fwd, const double *bwd_in, const double *bwd_w,
			      double xfer, double add, double work, struct dtp_err *err)
{
	struct dtp_schedule_choice c;
	int r = dtp_schedule_choose(plan, fwd, bwd_in, bwd_w, xfer, &c, err);

	if (r == -ENOSPC) {
		fprintf(f, "%s%s\n", what, err->msg);
		dtp_err_clear(err);
		return 0;
	}
	if (r)
		return r;
	fprintf(f, "%s%-8s %12s %8s %15s\n", what, "schedule", "step_ms", "bubble",
		"max_stage_MiB");
	for (int i = 0; i < DTP_SCHEDULE_CHOICES; i++) {
		const struct dtp_schedule_option *o = &c.options[i];
		const char *mark = o->kind == plan->schedule ? "  <- the plan's" :
				   o->kind == c.kind ? "  <- shortest" : "";

		if (o->excluded && !o->mem)
			fprintf(f, "%s%-8s %12s %8s %15s  (%s)\n", what, dtp_schedule_name(o->kind), "-",
				"-", "-", o->excluded);
		else
			fprintf(f, "%s%-8s %12.3f %7.1f%% %15.1f%s%s%s%s\n", what,
				dtp_schedule_name(o->kind), (o->sim.step_time + add) * 1e3,
				100 * (add > 0 ? 1 - ((1 - o->sim.bubble) * o->sim.step_time + work) /
							 (o->sim.step_time + add) : o->sim.bubble),
				(double)o->mem / (1 << 20), o->excluded ? "  (" : "", o->excluded ? o->excluded : "",
				o->excluded ? ")" : "", mark);
	}
	return 0;
}

/* per stage: forward, B and W seconds per micro-batch from the profile
 * (dtp_unit_add_times); a last stage that recomputes runs its forward (and
 * the loss) in the backward only, its forward op being free (the
 * executor's op_fwd) */
void dtp_tool_stage_times(const struct dtp_plan *plan, const struct dtp_profile *prof,
			double *fwd, double *bwd_in, double *bwd_w)
{
	for (int s = 0; s < plan->num_stages; s++) {
		int once = plan->recompute && s == plan->num_stages - 1;
		double free_fwd = 0;

		fwd[s] = bwd_in[s] = bwd_w[s] = 0;
		for (int c = 0, a, b; c < dtp_plan_chunks(plan); c++) {   /* all of its chunks */
			dtp_plan_chunk_units(plan, s, c, &a, &b);
			for (int u = a; u < b; u++)
				dtp_unit_add_times(&prof->units[u], plan->recompute,
						   once ? &free_fwd : &fwd[s], &bwd_in[s], &bwd_w[s]);
		}
	}
}

int dtp_tool_auto_choice(const struct dtp_plan *plan, const struct dtp_profile *prof,
			 struct dtp_schedule_choice *c, double *step, struct dtp_err *err)
{
	double fwd[DTP_MAX_STAGES], bin[DTP_MAX_STAGES], bw[DTP_MAX_STAGES];
	int r = 0;

	dtp_tool_stage_times(plan, prof, fwd, bin, bw);
	if (!prof->measured)
		r = dtp_schedule_stage_flops(plan, fwd, bin, bw, err);
	if (r == 0)
		r = dtp_schedule_choose(plan, fwd, bin, bw, 0.0, c, err);
	if (r)
		return r;
	for (int i = 0; i < DTP_SCHEDULE_CHOICES; i++)
		if (c->options[i].kind == c->kind && !c->options[i].excluded)
			*step = c->options[i].sim.step_time;
	return 0;
}

/* schedule = auto: the simulator's pick on the profile's times, said why */
int dtp_tool_resolve_auto(FILE *f, struct dtp_plan *plan, const struct dtp_profile *prof,
			struct dtp_err *err)
{
	struct dtp_schedule_choice c;
	double step = 0;
	int r;

	if (plan->schedule != DTP_SCHEDULE_AUTO)
		return 0;
	r = dtp_tool_auto_choice(plan, prof, &c, &step, err);
	if (r)
		return r;
	plan->schedule = c.kind;
	fprintf(f, "%s; from the %s\n", c.why, prof->measured ? "measured profile" : "model's FLOPs");
	return 0;
}

/* --svg: the plan's schedule simulated on the profile's times, and the
 * trace's last step under it */
int dtp_tool_write_svg(const char *svg, const char *trace, const struct dtp_plan *plan,
		       const struct dtp_profile *prof, struct dtp_err *err)
{
	enum { MAX_EV = 1 << 16 };
	enum { N = DTP_MAX_STAGES * DTP_MAX_VIRTUAL_STAGES };
	double fwd[N], bin[N], bw[N];   /* per stage, or per chunk (interleaved) */
	struct dtp_schedule sch[DTP_MAX_STAGES] = { 0 };
	struct dtp_sim_op *ops[DTP_MAX_STAGES] = { 0 };
	struct dtp_trace_event *ev = NULL;
	struct dtp_sim_result res;
	char what[160];
	int K = plan->num_stages, built = 0, n_ev = 0, r = 0;

	dtp_tool_stage_times(plan, prof, fwd, bin, bw);
	if (dtp_plan_chunks(plan) > 1) {   /* the chunks' times, by their FLOPs */
		double sf[DTP_MAX_STAGES], sbi[DTP_MAX_STAGES], sbw[DTP_MAX_STAGES];

		memcpy(sf, fwd, sizeof(sf)), memcpy(sbi, bin, sizeof(sbi)), memcpy(sbw, bw, sizeof(sbw));
		r = dtp_schedule_split_chunk_times(plan, sf, fwd, err);
		if (r == 0)
			r = dtp_schedule_split_chunk_times(plan, sbi, bin, err);
		if (r == 0)
			r = dtp_schedule_split_chunk_times(plan, sbw, bw, err);
	}
	for (; built < K && r == 0; built++) {
		r = dtp_schedule_build_v(plan->schedule, built, K, plan->micro_batches,
					 dtp_plan_chunks(plan), &sch[built], err);
		if (r == 0 && !(ops[built] = calloc((size_t)sch[built].n_ops, sizeof(**ops))))
			r = dtp_errf_runtime(err, -ENOMEM, "out of memory");
	}
	if (r == 0)
		r = dtp_schedule_simulate_ops(sch, K, fwd, bin, bw, 0.0, ops, &res, err);
	if (r == 0 && trace) {
		ev = calloc(MAX_EV, sizeof(*ev));
		r = ev ? dtp_trace_read_step(trace, K, ev, MAX_EV, &n_ev, err) :
			 dtp_errf_runtime(err, -ENOMEM, "out of memory");
	}
	snprintf(what, sizeof(what), "%s, K = %d, M = %d: predicted%s", dtp_schedule_name(plan->schedule),
		 K, plan->micro_batches, trace ? " (top) and measured (below)" : "");
	if (r == 0)
		r = dtp_timeline_svg(svg, sch, K, ops, what, ev, n_ev, err);
	if (r == 0)
		printf("timeline written to %s\n", svg);
	free(ev);
	for (int s = 0; s < K; s++) {
		free(ops[s]);
		dtp_schedule_free(&sch[s]);   /* zeroed when not built */
	}
	return r;
}

