/* schedule = auto for a chunked plan (virtual_stages = v > 1): interleaved is
 * the one schedule that runs a stage's non-adjacent chunks, so the choice is
 * simulated and said like the others, with the fixed schedules excluded. */
#include "config.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int dtp_plan_chunks(const struct dtp_plan *p)
{
	return p->virtual_stages > 1 ? p->virtual_stages : 1;
}

int dtp_schedule_split_chunk_times(const struct dtp_plan *p, const double *stage, double *chunk,
				   struct dtp_err *err)
{
	int K = p->num_stages, v = dtp_plan_chunks(p);

	for (int s = 0; s < K; s++) {
		double flops[DTP_MAX_VIRTUAL_STAGES], total = 0;

		for (int c = 0; c < v; c++) {
			struct dtp_unit_info ui;
			int a, b, r;

			dtp_plan_chunk_units(p, s, c, &a, &b);
			flops[c] = 0;
			for (int u = a; u < b; u++) {
				r = dtp_unit_describe(&p->model, u, &ui);
				if (r)
					return dtp_errf_input(err, r, "stage %d: cannot describe unit %d", s, u);
				flops[c] += ui.fwd_flops;
			}
			total += flops[c];
		}
		for (int c = 0; c < v; c++)
			chunk[s * v + c] = total > 0 ? stage[s] * flops[c] / total : stage[s] / v;
	}
	return 0;
}

int dtp_schedule_choose_chunked(const struct dtp_plan *p, const double *fwd, const double *bwd_in,
				const double *bwd_w, double xfer, int nominal,
				struct dtp_schedule_choice *out, struct dtp_err *err)
{
	enum { N = DTP_MAX_STAGES * DTP_MAX_VIRTUAL_STAGES };
	static const enum dtp_schedule_kind others[] = { DTP_SCHEDULE_1F1B, DTP_SCHEDULE_ZBH1 };
	double cf[N], cbi[N], cbw[N];
	struct dtp_schedule_choice c;
	struct dtp_schedule_option *o = &c.options[0];
	struct dtp_plan q = *p;
	struct dtp_stage_mem m;
	int v = dtp_plan_chunks(p), r;

	memset(&c, 0, sizeof(c));
	r = dtp_schedule_split_chunk_times(p, fwd, cf, err);
	if (r == 0)
		r = dtp_schedule_split_chunk_times(p, bwd_in, cbi, err);
	if (r == 0)
		r = dtp_schedule_split_chunk_times(p, bwd_w, cbw, err);
	o->kind = DTP_SCHEDULE_INTERLEAVED;
	if (r == 0)
		r = dtp_schedule_predict_v(o->kind, p->num_stages, p->micro_batches, v, cf, cbi, cbw,
					   xfer, &o->sim, err);
	q.schedule = o->kind;
	for (int s = 0; s < p->num_stages && r == 0; s++) {
		r = dtp_stage_mem_predict(&q, s, &m, err);
		if (r == 0 && m.total > o->mem)
			o->mem = m.total;
	}
	if (r)
		return r;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		c.options[1 + i].kind = others[i];
		c.options[1 + i].excluded = "one range per stage";
	}
	if (p->mem_cap_bytes && o->mem > p->mem_cap_bytes)
		return dtp_errf_input(err, -ENOSPC,
				      "schedule = auto: interleaved, the one schedule of a plan with %d chunks per stage, needs %zu bytes on its largest stage, over mem_cap = %zu: raise mem_cap, or plan one range per stage",
				      v, o->mem, p->mem_cap_bytes);
	c.kind = o->kind;
	char ms[32] = "";

	if (!nominal)   /* FLOPs at a nominal rate: no step in ms to give */
		snprintf(ms, sizeof(ms), "%.3g ms, ", o->sim.step_time * 1e3);
	snprintf(c.why, sizeof(c.why),
		 "schedule auto: interleaved, the one schedule for %d chunks per stage (%sbubble %.0f%%, %.1f MiB; 1f1b and zb-h1 need one range of units per stage)%s",
		 v, ms, 100 * o->sim.bubble, (double)o->mem / (1 << 20),
		 p->mem_cap_bytes ? ", within mem_cap" : "");
	*out = c;
	return 0;
}
