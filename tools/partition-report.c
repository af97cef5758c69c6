/* dtpipe-partition's per-stage report: the prediction for a plan beside what
 * a run measured (see partition-report.h). */
#include "config.h"
#include "partition-report.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "partition-schedules.h"

static double mib(size_t b)
{
	return (double)b / (1 << 20);
}

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

int dtp_partition_report(FILE *f, const struct dtp_plan *plan, const struct dtp_profile *prof,
			 const struct dtp_chain_unit *chain, const struct dtp_partition_opts *po,
			 const struct dtp_measured *m, struct dtp_err *err)
{
	const double *measured_fwd = m && m->have_compute ? m->fwd_ms : NULL;
	const double *measured_bwd = m && m->have_compute ? m->bwd_ms : NULL;
	double arenas[DTP_MAX_STAGES];
	int K = plan->num_stages, M = plan->micro_batches, r;
	double total = 0, slowest = 0, mtotal = 0, mslow = 0, xfer = 0;
	double fwd[DTP_MAX_STAGES], measured[DTP_MAX_STAGES];
	double bin[DTP_MAX_STAGES], bw[DTP_MAX_STAGES];
	struct dtp_stage_cost c;

	for (int s = 0; s < K; s++) {
		c = dtp_stage_cost(chain, prof->n_units, plan->stages[s].first_unit,
				   plan->stages[s].last_unit, s, po);
		total += c.time;
		if (c.time > slowest)
			slowest = c.time;
		for (int u = c.first; u < c.last; u++) {
			const struct dtp_unit_cost *uc = &prof->units[u];

			/* one activation (or gradient) over the slowest cut (transfers
			 * do not scale with the stage's speed) */
			if (po->bandwidth > 0 && u + 1 == c.last && s + 1 < K &&
			    (double)uc->out_bytes / po->bandwidth > xfer)
				xfer = (double)uc->out_bytes / po->bandwidth;
		}
		if (measured_fwd) {
			measured[s] = measured_fwd[s] + measured_bwd[s];
			mtotal += measured[s];
			if (measured[s] > mslow)
				mslow = measured[s];
		}
	}
	for (int s = 0; s < K; s++) {
		struct dtp_stage_mem sm;

		r = dtp_stage_mem_predict(plan, s, &sm, err);
		if (r)
			return r;
		arenas[s] = (double)sm.total;
	}
	fprintf(f, "%5s %-9s %12s %12s %7s %11s %11s", "stage", "units", "compute_ms", "time_ms", "share",
	       "memory_MiB", "arenas_MiB");
	if (measured_fwd)
		fprintf(f, " %12s %7s %8s", "measured_ms", "share", "/pred");
	if (m && m->have_rss)
		fprintf(f, " %12s %8s", "peak_rss_MiB", "/arenas");
	fprintf(f, "\n");
	for (int s = 0; s < K; s++) {
		char units[32];

		c = dtp_stage_cost(chain, prof->n_units, plan->stages[s].first_unit,
				   plan->stages[s].last_unit, s, po);
		snprintf(units, sizeof(units), "%d-%d", c.first, c.last - 1);
		fprintf(f, "%5d %-9s %12.3f %12.3f %6.1f%% %11.1f %11.1f", s, units, c.compute * 1e3,
		       c.time * 1e3, total > 0 ? 100 * c.time / total : 0.0, mib(c.mem),
		       arenas[s] / (1 << 20));
		if (measured_fwd)
			fprintf(f, " %12.3f %6.1f%% %8.2f", measured[s],
				mtotal > 0 ? 100 * measured[s] / mtotal : 0.0,
				c.compute > 0 ? measured[s] / (c.compute * 1e3) : 0.0);
		if (m && m->have_rss)
			fprintf(f, " %12.1f %8.2f", m->peak_rss[s] / (1 << 20),
				arenas[s] > 0 ? m->peak_rss[s] / arenas[s] : 0.0);
		fprintf(f, "%s\n", plan->mem_cap_bytes && c.mem > plan->mem_cap_bytes ? "  over mem_cap" : "");
	}
	fprintf(f, "slowest stage %.3f ms per micro-batch; M = %d, K = %d\n", slowest * 1e3, M, K);
	/* every schedule on the profile's times, B and W half the backward each,
	 * each stage's at its speed */
	dtp_tool_stage_times(plan, prof, fwd, bin, bw);
	for (int s = 0; s < K; s++)
		if (po->speed && po->speed[s] > 0) {
			fwd[s] /= po->speed[s];
			bin[s] /= po->speed[s];
			bw[s] /= po->speed[s];
		}
	fprintf(f, "predicted (simulated, every schedule):\n");
	r = dtp_tool_print_steps(f, "  ", plan, fwd, bin, bw, xfer, err);
	if (r || !measured_fwd)
		return r;
	/* B and W as the trace measured them (a split schedule's run; a whole
	 * backward is then their sum), else half the backward each */
	for (int s = 0; s < K; s++) {
		fwd[s] = measured_fwd[s] * 1e-3;
		bin[s] = m->have_split ? m->bin_ms[s] * 1e-3 : measured_bwd[s] * 0.5e-3;
		bw[s] = m->have_split ? m->bw_ms[s] * 1e-3 : measured_bwd[s] * 0.5e-3;
	}
	fprintf(f, "measured: slowest stage %.3f ms per micro-batch\n", mslow);
	if (m->have_split) {
		fprintf(f, "measured B and W per micro-batch (ms):");
		for (int s = 0; s < K; s++)
			fprintf(f, " stage %d: %.3f + %.3f", s, m->bin_ms[s], m->bw_ms[s]);
		fprintf(f, "\n");
	}
	fprintf(f, "measured compute, no transfers (simulated, every schedule%s):\n",
		m->have_split ? "; B and W as measured" : "; B and W half the backward each");
	return dtp_tool_print_steps(f, "  ", plan, fwd, bin, bw, 0, err);
}

