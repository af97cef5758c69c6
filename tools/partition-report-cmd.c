/* dtpipe-partition report, the command: what a run measured (its --trace and
 * --metrics) and each stage's replay on this machine, gathered and handed to
 * the report (partition-report.c) beside the plan's prediction. */
#include "config.h"
#include "partition-report.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/proc.h"
#include "base/stats.h"
#include "partition/nic_place.h"
#include "pipeline/pipeline.h"

#include "partition-opts.h"
#include "partition-schedules.h"
#include "partition-chunks.h"
#include "partition-replay.h"

int dtp_metrics_read_peak_rss(const char *path, int K, double *rss, struct dtp_err *err)
{
	FILE *f = fopen(path, "r");
	char line[1 << 16];
	int found = 0, lineno = 0;

	if (!f)
		return dtp_errf_input(err, -errno, "--metrics %s: cannot open it: %s", path,
				      strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL), *a;

		lineno++;
		if (!o)
			continue;
		a = json_object_get(o, "peak_rss");
		if (json_is_array(a) && json_is_string(json_object_get(o, "event")) &&
		    strcmp(json_string_value(json_object_get(o, "event")), "end") == 0) {
			size_t n = json_array_size(a);

			if ((int)n != K) {
				json_decref(o);
				fclose(f);
				return dtp_errf_input(err, -EINVAL, "--metrics %s:%d: peak RSS of %zu "
						      "stages, the plan has %d: give the metrics of a "
						      "run of this plan", path, lineno, n, K);
			}
			for (int s = 0; s < K; s++)
				rss[s] = json_number_value(json_array_get(a, (size_t)s));
			found = 1;
		}
		json_decref(o);
	}
	fclose(f);
	if (!found)
		return dtp_errf_input(err, -EINVAL, "--metrics %s: no \"end\" line with peak_rss: give "
				      "the --metrics file of a finished dtpipe run", path);
	return 0;
}

/* Stages that share cores on this machine, as placement puts them (the
 * plan's cores, else dtp_place_split's: core s % cores when there are more
 * stages than cores), with the threads each keeps busy (--threads, else its
 * cores: dtpipe's default). Only this machine's stages can share with each
 * other; on --topology nodes every stage gets cores of its own. */
static int report_share(const struct dtp_tool_opts *o, const struct dtp_plan *plan,
			const struct dtp_stage_where *where, struct dtp_share *sh,
			struct dtp_err *err)
{
	char cores[DTP_MAX_STAGES][DTP_CPULIST_MAX];
	int threads[DTP_MAX_STAGES], r;

	if (o->topos->n) {
		dtp_share_none(sh, plan->num_stages);
		return 0;
	}
	for (int s = 0; s < plan->num_stages; s++) {
		memcpy(cores[s], where[s].cores, sizeof(cores[s]));
		threads[s] = o->threads;
	}
	r = dtp_share_from_cores(sh, plan->num_stages, (const char (*)[128])cores, threads, err);
	return r < 0 ? r : 0;
}

/* The trace's last step: how long each core-sharing stage's mates computed
 * during its ops (dtp_share_overlap); none when no stage shares or the trace
 * has no steps (it was read as a trace already: dtp_trace_read_compute) */
static int trace_overlap(const char *trace, const struct dtp_plan *plan,
			 const struct dtp_share *sh, struct dtp_measured *meas, struct dtp_err *err)
{
	enum { MAX_EVENTS = 1 << 16 };
	struct dtp_trace_event *ev;
	int n = 0, r;

	if (sh->n_groups == plan->num_stages)
		return 0;
	ev = calloc(MAX_EVENTS, sizeof(*ev));
	if (!ev)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dtp_trace_read_step(trace, plan->num_stages, ev, MAX_EVENTS, &n, err);
	if (r == -EINVAL || r == -E2BIG) {   /* no steps to read, or too many events */
		dtp_err_clear(err);
		r = n = 0;
	}
	if (r == 0 && n > 0) {
		dtp_share_overlap(sh, plan->num_stages, plan->micro_batches, ev, n, meas->overlap_ms);
		for (int s = 0; s < plan->num_stages; s++)
			meas->overlap_ms[s] *= 1e3;
		meas->have_overlap = 1;
	}
	free(ev);
	return r;
}

/* Each stage's replay (dtp_tool_replay_stage), `reps` rounds with one step
 * of every stage per round, the stages in turn, and per stage the median
 * over the rounds: a host that slows a core for some seconds then slows one
 * round of every stage, not every step of one stage (one stage's seven
 * steps in a row once read 1.31x its units' profile). Each round's replay
 * makes its stage anew (a warm-up step, then the timed one), so that only
 * one stage's state is ever held. pinned: on each stage's placed cores. */
static int replay_rounds(const struct dtp_tool_opts *o, const struct dtp_plan *plan,
			 const struct dtp_stage_where *where, int pinned, int reps,
			 struct dtp_replayed *rp, struct dtp_err *err)
{
	int K = plan->num_stages, r = 0, saved = dtp_blas_threads();
	double *t = calloc(3 * (size_t)K * (size_t)reps, sizeof(double));

	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for %d replays", K * reps);
	/* t[(k * K + s) * reps + i]: kind k (forward, B, W) of stage s, round i */
	for (int i = 0; i < reps && !r; i++)
		for (int s = 0; s < K && !r; s++) {
			double one[3];

			/* the stage's threads, as its model sizes its pool by them */
			dtp_blas_set_threads(dtp_tool_stage_threads(o, &where[s]));
			r = dtp_tool_replay_stage(plan, s, pinned ? where[s].cores : NULL, 1, &one[0],
						  &one[1], &one[2], err);
			for (int k = 0; k < 3 && !r; k++)
				t[((size_t)k * K + s) * reps + i] = one[k];
		}
	for (int s = 0; s < K && !r; s++) {
		rp->fwd[s] = dtp_median_doubles(t + ((size_t)0 * K + s) * reps, (size_t)reps);
		rp->bwd[s] = dtp_median_doubles(t + ((size_t)1 * K + s) * reps, (size_t)reps);
		rp->bwd_w[s] = dtp_median_doubles(t + ((size_t)2 * K + s) * reps, (size_t)reps);
	}
	free(t);
	dtp_blas_set_threads(saved);
	return r;
}


int dtp_tool_cmd_report(struct dtp_tool_opts *o, struct dtp_err *err)
{
	struct dtp_chain_unit *chain = NULL;
	struct dtp_partition_opts po;
	struct dtp_profile p;
	struct dtp_plan *plan;
	struct dtp_measured meas = { 0 };
	struct dtp_stage_where where[DTP_MAX_STAGES];
	double speed[DTP_MAX_STAGES], bytes[DTP_MAX_STAGES], base_rss;
	struct dtp_share sh;
	struct dtp_replayed rp;
	int r, replayed = 0, threads = 0;

	/* the program and its libraries, as a stage process maps them: this
	 * process's resident set before it reads or profiles anything (the
	 * same libraries) */
	base_rss = (double)dtp_rss();
	if (!o->plan)
		return dtp_errf_input(err, -EINVAL, "report needs --plan plan.ini");
	plan = calloc(1, sizeof(*plan));
	if (!plan)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dtp_plan_load(o->plan, plan, err);
	if (r)
		goto out_free_plan;
	fputs(dtp_plan_warnings(plan), stderr);
	if (o->trace) {
		r = dtp_trace_read_compute(o->trace, plan->num_stages, meas.fwd_ms, meas.bwd_ms, err);
		if (r)
			goto out_free_plan;
		meas.have_compute = 1;
		r = dtp_trace_read_split(o->trace, plan->num_stages, meas.bin_ms, meas.bw_ms, err);
		if (r < 0)
			goto out_free_plan;
		meas.have_split = r;
		r = dtp_trace_read_cpu(o->trace, plan->num_stages, meas.cpu_ms, err);
		if (r < 0)
			goto out_free_plan;
		meas.have_cpu = r;
		r = dtp_trace_read_step_work(o->trace, plan->num_stages, meas.pre_ms, meas.post_ms,
					     err);
		if (r < 0)
			goto out_free_plan;
		meas.have_work = r;
		r = 0;
	}
	if (o->metrics) {
		r = dtp_metrics_read_peak_rss(o->metrics, plan->num_stages, meas.peak_rss, err);
		if (r)
			goto out_free_plan;
		meas.have_rss = 1;
	}
	o->batch = plan->micro_batch;
	o->optim = plan->optim.kind;   /* the per-step work of the plan's optimizer */
	/* the units in the plan's precision (a run's --precision overrides it
	 * there, not here: report on the plan that will run) */
	o->precision = plan->precision;
	o->fp32_matmul = plan->fp32_matmul;
	/* time the units as the stages will run them, as plan does */
	if (!o->is_static) {
		r = dtp_tool_profile_threads(o, plan, err);
		if (r < 0)
			goto out_free_plan;
		threads = r;
		dtp_blas_set_threads(threads);
	}
	r = dtp_tool_get_profile(&plan->model, o, &p, err);
	if (r)
		goto out_free_plan;
	r = dtp_profile_chain(&p, plan->optim.kind, plan->recompute, &chain, err);
	if (r)
		goto out_free_profile;
	r = dtp_tool_resolve_auto(stdout, plan, &p, err);
	if (r)
		goto out_free_chain;
	if (dtp_plan_chunks(plan) > 1) {   /* interleaved: partition-chunks.c */
		printf("# %s: %d stages x %d chunks, micro-batch %d, M = %d, %s, %s\n", o->plan,
		       plan->num_stages, dtp_plan_chunks(plan), plan->micro_batch,
		       plan->micro_batches, dtp_schedule_name(plan->schedule),
		       dtp_tool_precision_name(&p));
		r = dtp_tool_report_chunks(stdout, plan, &p, o->trace, err);
		if (!r && o->svg)
			r = dtp_tool_write_svg(o->svg, o->trace, plan, &p, err);
		goto out_free_chain;
	}
	dtp_plan_partition_opts(plan, o->bandwidth, &po);
	r = dtp_schedule_stash_slots(plan->schedule, plan->num_stages, plan->micro_batches,
				     po.stash_slots, err);
	if (r)
		goto out_free_chain;
	/* stages with more cores than the smallest compute faster, as in plan */
	r = dtp_tool_stage_speeds(o, plan, speed, err);
	if (r < 0)
		goto out_free_chain;
	po.speed = r ? speed : NULL;
	r = dtp_plan_link_bytes(plan, bytes, err);
	if (!r)
		r = dtp_place_plan(o->topos, plan, bytes, where, err);
	if (!r)
		r = report_share(o, plan, where, &sh, err);
	if (!r && o->trace)
		r = trace_overlap(o->trace, plan, &sh, &meas, err);
	if (r)
		goto out_free_chain;
	printf("# %s: %d stages, micro-batch %d, M = %d, %s%s, %s\n", o->plan, plan->num_stages,
	       plan->micro_batch, plan->micro_batches, dtp_schedule_name(plan->schedule),
	       plan->recompute ? ", recompute" : "", dtp_tool_precision_name(&p));
	if (p.measured)
		printf("# measured profile: each unit on %d BLAS thread%s (%s)\n", threads,
		       threads == 1 ? "" : "s", o->threads > 0 ? "--threads" : "the smallest stage's cores");
	if (po.speed) {
		printf("# stages with more cores compute faster (times the smallest stage's speed):");
		for (int s = 0; s < plan->num_stages; s++)
			printf(" %d: x%.2f", s, speed[s]);
		printf("\n");
	}
	/* a measured profile: each stage's compute also replayed as its
	 * schedule runs it, which the prediction takes */
	if (p.measured) {
		r = replay_rounds(o, plan, where, o->topos->n ? 0 : 1, o->reps, &rp, err);
		if (r)
			goto out_free_chain;
		replayed = 1;
		printf("# replay_ms: each stage's own ops replayed in its schedule's order%s "
		       "(median of %d steps, the stages in turn), which traced_ms builds on\n",
		       o->topos->n ? " on this machine" : " on its own cores", o->reps);
	}
	r = dtp_partition_report(stdout, plan, &p, chain, &po, &sh, base_rss,
				 o->trace || o->metrics ? &meas : NULL, replayed ? &rp : NULL, err);
	if (!r)
		dtp_tool_print_placement(stdout, plan, where);
	if (!r && o->svg)
		r = dtp_tool_write_svg(o->svg, o->trace, plan, &p, err);
out_free_chain:
	free(chain);
out_free_profile:
	dtp_profile_free(&p);
out_free_plan:
	free(plan);
	return r;
}
