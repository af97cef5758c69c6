/* schedule = auto: the simulator predicts the step of every schedule from
 * per-stage forward, B and W times, drops those whose predicted memory is over
 * the plan's mem_cap, and picks the shortest step; it says why. */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* the fixed schedules, in the order a tie is broken (1f1b: less memory
 * than gpipe at the same step; zb-h1 needs W stash, zb-h2 more) */
static const enum dtp_schedule_kind candidates[DTP_SCHEDULE_CHOICES] = {
	DTP_SCHEDULE_1F1B, DTP_SCHEDULE_ZBH1, DTP_SCHEDULE_ZBH2, DTP_SCHEDULE_GPIPE,
};

/* the largest predicted stage total of plan p under schedule k: what the
 * start-up cap checks, the shm links' term included (the neighbours' arenas
 * this stage maps grow with their stash under k) */
static int mem_of(const struct dtp_plan *p, enum dtp_schedule_kind k, size_t *most,
		  struct dtp_err *err)
{
	struct dtp_plan q = *p;
	struct dtp_stage_mem m;
	int r;

	q.schedule = k;
	*most = 0;
	for (int s = 0; s < q.num_stages; s++) {
		r = dtp_stage_mem_predict(&q, s, &m, err);
		if (r)
			return r;
		if (m.total > *most)
			*most = m.total;
	}
	return 0;
}

/* nominal: the times are FLOPs at a nominal rate (dtp_schedule_stage_flops),
 * so why gives each step relative to the shortest, not in ms */
static int choose(const struct dtp_plan *p, const double *fwd, const double *bwd_in,
		  const double *bwd_w, double xfer, int nominal, struct dtp_schedule_choice *out,
		  struct dtp_err *err)
{
	struct dtp_schedule_choice c;
	size_t len = 0;
	int best = -1, fast = -1, r;

	if (dtp_plan_chunks(p) > 1)   /* interleaved or nothing: choose_interleaved.c */
		return dtp_schedule_choose_chunked(p, fwd, bwd_in, bwd_w, xfer, nominal, out, err);
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < DTP_SCHEDULE_CHOICES; i++) {
		struct dtp_schedule_option *o = &c.options[i];

		o->kind = candidates[i];
		if (dtp_schedule_splits(o->kind) && p->recompute) {
			o->excluded = "recompute";
			continue;
		}
		r = dtp_schedule_predict_split(o->kind, p->num_stages, p->micro_batches, fwd, bwd_in,
					       bwd_w, xfer, &o->sim, err);
		if (r == 0)
			r = mem_of(p, o->kind, &o->mem, err);
		if (r)
			return r;
		if (p->mem_cap_bytes && o->mem > p->mem_cap_bytes) {
			o->excluded = "over mem_cap";
			continue;
		}
		if (fast < 0 || o->sim.step_time < c.options[fast].sim.step_time)
			fast = i;
	}
	/* the first (the least memory) within DTP_SCHEDULE_TIE of the shortest */
	for (int i = 0; i < DTP_SCHEDULE_CHOICES && fast >= 0 && best < 0; i++)
		if (!c.options[i].excluded &&
		    c.options[i].sim.step_time <= c.options[fast].sim.step_time * (1 + DTP_SCHEDULE_TIE))
			best = i;
	if (best < 0)
		return dtp_errf_input(err, -ENOSPC,
				      "schedule = auto: no schedule fits mem_cap = %zu bytes (1f1b needs %zu per stage at most): raise mem_cap, recompute, or use more stages",
				      p->mem_cap_bytes, c.options[0].mem);
	c.kind = candidates[best];
	if (c.options[best].sim.step_time <= c.options[fast].sim.step_time * (1 + 1e-6))
		len += (size_t)snprintf(c.why + len, sizeof(c.why) - len,
					"schedule auto: %s, the shortest predicted step (",
					dtp_schedule_name(c.kind));
	else
		len += (size_t)snprintf(c.why + len, sizeof(c.why) - len,
					"schedule auto: %s, within %.0f%% of the shortest predicted step (%s's) with less memory (",
					dtp_schedule_name(c.kind), 100 * DTP_SCHEDULE_TIE,
					dtp_schedule_name(c.options[fast].kind));
	if (nominal && len < sizeof(c.why))
		len += (size_t)snprintf(c.why + len, sizeof(c.why) - len, "steps relative to %s's: ",
					dtp_schedule_name(c.options[fast].kind));
	for (int i = 0; i < DTP_SCHEDULE_CHOICES && len < sizeof(c.why); i++) {
		const struct dtp_schedule_option *o = &c.options[i];
		const char *sep = i ? "; " : "", *name = dtp_schedule_name(o->kind);
		char step[32];

		if (o->excluded) {
			len += (size_t)snprintf(c.why + len, sizeof(c.why) - len, "%s%s %s", sep, name,
						o->excluded);
			continue;
		}
		if (nominal)
			snprintf(step, sizeof(step), "%.2fx",
				 o->sim.step_time / c.options[fast].sim.step_time);
		else
			snprintf(step, sizeof(step), "%.3g ms", o->sim.step_time * 1e3);
		len += (size_t)snprintf(c.why + len, sizeof(c.why) - len,
					"%s%s %s, bubble %.0f%%, %.1f MiB", sep, name, step,
					100 * o->sim.bubble, (double)o->mem / (1 << 20));
	}
	if (len < sizeof(c.why))
		snprintf(c.why + len, sizeof(c.why) - len, ")%s",
			 p->mem_cap_bytes ? ", within mem_cap" : "");
	*out = c;
	return 0;
}

int dtp_schedule_choose(const struct dtp_plan *p, const double *fwd, const double *bwd_in,
			const double *bwd_w, double xfer, struct dtp_schedule_choice *out,
			struct dtp_err *err)
{
	return choose(p, fwd, bwd_in, bwd_w, xfer, 0, out, err);
}

int dtp_schedule_stage_flops(const struct dtp_plan *p, double *fwd, double *bwd_in,
			     double *bwd_w, struct dtp_err *err)
{
	struct dtp_unit_info ui;
	int r;

	for (int s = 0; s < p->num_stages; s++) {
		fwd[s] = bwd_in[s] = bwd_w[s] = 0;
		for (int c = 0, a, b; c < dtp_plan_chunks(p); c++) {   /* all of its chunks */
			dtp_plan_chunk_units(p, s, c, &a, &b);
			for (int u = a; u < b; u++) {
				double fb, fw;

				r = dtp_unit_describe(&p->model, u, &ui);
				if (r)
					return dtp_errf_input(err, r, "stage %d: cannot describe unit %d", s, u);
				dtp_unit_bwd_flops(&ui, &fb, &fw);
				fwd[s] += ui.fwd_flops * p->micro_batch;
				bwd_in[s] += fb * p->micro_batch;
				bwd_w[s] += fw * p->micro_batch;
			}
		}
		/* seconds at a nominal 10 GFLOP/s; only the ratios matter */
		fwd[s] *= 1e-10;
		bwd_in[s] = bwd_in[s] * 1e-10 + (p->recompute ? fwd[s] : 0);
		bwd_w[s] *= 1e-10;
	}
	return 0;
}

int dtp_plan_resolve_schedule(struct dtp_plan *p, char *why, size_t why_len,
			      struct dtp_err *err)
{
	double f[DTP_MAX_STAGES], bi[DTP_MAX_STAGES], bw[DTP_MAX_STAGES];
	struct dtp_schedule_choice c;
	int r;

	if (why_len)
		why[0] = '\0';
	if (p->schedule != DTP_SCHEDULE_AUTO)
		return 0;
	r = dtp_schedule_stage_flops(p, f, bi, bw, err);
	if (r == 0)
		r = choose(p, f, bi, bw, 0.0, 1, &c, err);
	if (r)
		return r;
	p->schedule = c.kind;
	if (why_len)
		snprintf(why, why_len, "%s; from the model's FLOPs", c.why);
	return 0;
}
