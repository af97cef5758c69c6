/* dtpipe-partition report: the prediction for a plan beside what a run
 * measured (see partition-report.h); the command that gathers the
 * measurements is partition-report-cmd.c. */
#include "config.h"
#include "partition-report.h"


#include "partition-opts.h"
#include "partition-schedules.h"

static double mib(size_t b)
{
	return (double)b / (1 << 20);
}

/* What stage s's process will hold resident: base (the program and its
 * libraries) and its predicted memory, which counts its arenas and what its
 * shm links map (the neighbours' buffer arenas and the rings:
 * dtp_stage_link_mem). */
static double stage_rss(const struct dtp_stage_mem *m, double base)
{
	return base + (double)m->total;
}

/* The step's per-step work, exchange and busy-core slowdown for the report's
 * simulation: each stage's from its units' profile (as the code runs the
 * plan: in its precision, the plan's sharding), at its speed; the
 * slowdowns only when the profile measured them (--busy). */
static void step_extra(const struct dtp_plan *plan, const struct dtp_profile *prof,
		       const struct dtp_partition_opts *po, struct dtp_share_extra *ex)
{
	struct dtp_step_work_opts wo = DTP_STEP_WORK_DEFAULT, wb = DTP_STEP_WORK_DEFAULT;

	wb.busy = 1;
	/* [parallel] shard_optimizer with replicas: 1/R of the optimizer and norm */
	if (plan->replicas > 1 && plan->shard_optimizer)
		wo.shard = wb.shard = plan->replicas;
	/* zeroing as the plan's precision does it: the profile timed
	 * dtp_stage_zero_grads on units built in it (bf16 and fp32 on oneDNN
	 * mark their matmuls' gradients fresh instead of zeroing them; the
	 * embedding's are zeroed in every precision) */
	dtp_share_extra_none(ex);
	ex->hop = dtp_network_shm().lat;
	for (int s = 0; s < plan->num_stages; s++) {
		int a = plan->stages[s].first_unit, b = plan->stages[s].last_unit;
		double sp = po->speed && po->speed[s] > 0 ? po->speed[s] : 1;
		double own = 0, busy = 0, pre_b, post_b;

		dtp_profile_step_work(prof, a, b, &wo, &ex->pre[s], &ex->post[s]);
		ex->share_pen[s] = dtp_profile_share_penalty(prof, a, b);
		if (prof->busy_measured) {
			dtp_profile_step_work(prof, a, b, &wb, &pre_b, &post_b);
			for (int u = a; u < b; u++) {
				own += dtp_unit_fwd_s(&prof->units[u], 0) + dtp_unit_bwd_s(&prof->units[u], 0);
				busy += dtp_unit_fwd_s(&prof->units[u], 1) + dtp_unit_bwd_s(&prof->units[u], 1);
			}
			if (own > 0)
				ex->slow[s] = busy / own;
			if (ex->pre[s] + ex->post[s] > 0)
				ex->slow_step[s] = (pre_b + post_b) / (ex->pre[s] + ex->post[s]);
		}
		ex->pre[s] /= sp;
		ex->post[s] /= sp;
	}
}

int dtp_partition_report(FILE *f, const struct dtp_plan *plan, const struct dtp_profile *prof,
			 const struct dtp_chain_unit *chain, const struct dtp_partition_opts *po,
			 const struct dtp_share *sh, double base_rss, const struct dtp_measured *m,
			 const struct dtp_replayed *rp, struct dtp_err *err)
{
	const double *measured_fwd = m && m->have_compute ? m->fwd_ms : NULL;
	const double *measured_bwd = m && m->have_compute ? m->bwd_ms : NULL;
	double arenas[DTP_MAX_STAGES], own[DTP_MAX_STAGES], rss[DTP_MAX_STAGES];
	int K = plan->num_stages, M = plan->micro_batches, r;
	double total = 0, slowest = 0, mtotal = 0, mslow = 0, xfer = 0;
	double fwd[DTP_MAX_STAGES], measured[DTP_MAX_STAGES], units_own[DTP_MAX_STAGES];
	double bin[DTP_MAX_STAGES], bw[DTP_MAX_STAGES];
	struct dtp_stage_mem sm[DTP_MAX_STAGES];
	struct dtp_share none;
	struct dtp_share_result shared;
	struct dtp_share_extra ex;
	struct dtp_stage_cost c;

	/* every schedule on the profile's times, B and W half the backward each,
	 * each stage's at its speed */
	dtp_tool_stage_times(plan, prof, fwd, bin, bw);
	for (int s = 0; s < K; s++) {
		units_own[s] = fwd[s] + bin[s] + bw[s];
		if (rp) {
			/* the stage as its schedule runs it; a whole backward shared
			 * between B and W as the profile shares it */
			double b = bin[s] + bw[s], frac = b > 0 ? bin[s] / b : 0.5;

			fwd[s] = rp->fwd[s];
			if (rp->bwd_w[s] > 0) {
				bin[s] = rp->bwd[s];
				bw[s] = rp->bwd_w[s];
			} else {
				bin[s] = rp->bwd[s] * frac;
				bw[s] = rp->bwd[s] * (1 - frac);
			}
		}
		if (po->speed && po->speed[s] > 0) {
			units_own[s] /= po->speed[s];
			fwd[s] /= po->speed[s];
			bin[s] /= po->speed[s];
			bw[s] /= po->speed[s];
		}
		own[s] = fwd[s] + bin[s] + bw[s];
	}
	for (int s = 0; s < K; s++) {
		c = dtp_stage_cost(chain, prof->n_units, plan->stages[s].first_unit,
				   plan->stages[s].last_unit, s, po);
		total += c.time;
		if (c.time > slowest)
			slowest = c.time;
		for (int u = c.first; u < c.last; u++) {
			const struct dtp_unit_cost *uc = &prof->units[u];

			/* one activation (or gradient) over the slowest cut, as the
			 * link carries it (bf16 in bf16; transfers do not scale with
			 * the stage's speed) */
			if (po->bandwidth > 0 && u + 1 == c.last && s + 1 < K &&
			    (double)uc->link_bytes / po->bandwidth > xfer)
				xfer = (double)uc->link_bytes / po->bandwidth;
		}
		if (measured_fwd) {
			measured[s] = measured_fwd[s] + measured_bwd[s];
			mtotal += measured[s];
			if (measured[s] > mslow)
				mslow = measured[s];
		}
	}
	/* what the trace will show: each op's span, stretched where stages
	 * share cores */
	if (!sh) {
		dtp_share_none(&none, K);
		sh = &none;
	}
	step_extra(plan, prof, po, &ex);
	r = dtp_share_simulate_step(plan->schedule, K, M, fwd, bin, bw, xfer, sh, &ex, &shared, err);
	if (r)
		return r;
	for (int s = 0; s < K; s++) {
		r = dtp_stage_mem_predict(plan, s, &sm[s], err);
		if (r)
			return r;
		arenas[s] = (double)(sm[s].total - sm[s].links);
	}
	for (int s = 0; s < K; s++)
		rss[s] = stage_rss(&sm[s], base_rss);
	fprintf(f, "%5s %-9s %12s", "stage", "units", "compute_ms");
	if (rp)
		fprintf(f, " %10s", "replay_ms");
	fprintf(f, " %10s %12s %7s %11s %11s %10s %9s",
		"traced_ms", "time_ms", "share", "memory_MiB", "arenas_MiB", "links_MiB", "rss_MiB");
	if (measured_fwd)
		fprintf(f, " %12s %7s %8s", "measured_ms", "share", "/pred");
	if (m && m->have_cpu)
		fprintf(f, " %8s %8s", "cpu_ms", "/pred");
	if (m && m->have_rss)
		fprintf(f, " %12s %8s", "peak_rss_MiB", "/pred");
	fprintf(f, "\n");
	for (int s = 0; s < K; s++) {
		double traced = (shared.fwd_span[s] + shared.bwd_span[s]) * 1e3;
		char units[32];

		c = dtp_stage_cost(chain, prof->n_units, plan->stages[s].first_unit,
				   plan->stages[s].last_unit, s, po);
		snprintf(units, sizeof(units), "%d-%d", c.first, c.last - 1);
		fprintf(f, "%5d %-9s %12.3f", s, units, units_own[s] * 1e3);
		if (rp)
			fprintf(f, " %10.3f", own[s] * 1e3);
		fprintf(f, " %10.3f %12.3f %6.1f%% %11.1f %11.1f %10.1f %9.1f", traced, c.time * 1e3,
			total > 0 ? 100 * c.time / total : 0.0,
			mib(c.mem), arenas[s] / (1 << 20), (double)sm[s].links / (1 << 20),
			rss[s] / (1 << 20));
		if (measured_fwd)
			fprintf(f, " %12.3f %6.1f%% %8.2f", measured[s],
				mtotal > 0 ? 100 * measured[s] / mtotal : 0.0,
				traced > 0 ? measured[s] / traced : 0.0);
		if (m && m->have_cpu) {
			/* the stage's CPU time per busy thread against its ops alone */
			double cpu = m->cpu_ms[s] / sh->threads[s];

			fprintf(f, " %8.3f %8.2f", cpu, own[s] > 0 ? cpu / (own[s] * 1e3) : 0.0);
		}
		if (m && m->have_rss)
			fprintf(f, " %12.1f %8.2f", m->peak_rss[s] / (1 << 20),
				rss[s] > 0 ? m->peak_rss[s] / rss[s] : 0.0);
		fprintf(f, "%s\n", plan->mem_cap_bytes && c.mem > plan->mem_cap_bytes ? "  over mem_cap" : "");
	}
	fprintf(f, "slowest stage %.3f ms per micro-batch; M = %d, K = %d\n", slowest * 1e3, M, K);
	if (measured_fwd) {
		/* per op kind, so that a miss can be told apart: the forward op's
		 * span and the backward's (with its recompute), predicted / measured */
		fprintf(f, "per op, traced ms predicted / measured:");
		for (int s = 0; s < K; s++)
			fprintf(f, " %d: F %.3f / %.3f, B %.3f / %.3f;", s, shared.fwd_span[s] * 1e3,
				measured_fwd[s], shared.bwd_span[s] * 1e3, measured_bwd[s]);
		fprintf(f, "\n");
	}
	fprintf(f, "per-step work (ms; optimizer + zeroing before the ops, norm after):");
	for (int s = 0; s < K; s++)
		fprintf(f, " %d: %.3f + %.3f", s, ex.pre[s] * 1e3, ex.post[s] * 1e3);
	fprintf(f, "\n");
	if (prof->busy_measured) {
		fprintf(f, "beside busy cores (profile --busy), compute x:");
		for (int s = 0; s < K; s++)
			fprintf(f, " %d: %.3f", s, ex.slow[s]);
		fprintf(f, "; per-step work x:");
		for (int s = 0; s < K; s++)
			fprintf(f, " %d: %.3f", s, ex.slow_step[s]);
		fprintf(f, "; sharing a core, beyond the turns x:");
		for (int s = 0; s < K; s++)
			fprintf(f, " %d: %.3f", s, ex.share_pen[s]);
		fprintf(f, "\n");
	}
	if (sh->n_groups < K) {
		/* whether a core-sharing stage's miss is in how long its mates
		 * compute beside it (the schedule's timing) or in what sharing
		 * costs while they do */
		fprintf(f, "core-mates computing at once (ms per micro-batch, predicted%s):",
			m && m->have_overlap ? " / measured in the trace's last step" : "");
		for (int s = 0; s < K; s++) {
			int mates = 0;

			for (int o = 0; o < K; o++)
				mates += o != s && sh->group[o] == sh->group[s];
			if (!mates)
				continue;
			fprintf(f, " %d: %.3f", s, shared.overlap[s] * 1e3);
			if (m && m->have_overlap)
				fprintf(f, " / %.3f", m->overlap_ms[s]);
		}
		fprintf(f, "\n");
	}
	fprintf(f, "%s step with the per-step work and the end-of-step exchange%s: %.3f ms, "
		"bubble %.1f%%\n", dtp_schedule_name(plan->schedule),
		sh->n_groups < K ? ", the cores shared" : "", shared.step_time * 1e3,
		100 * shared.bubble);
	if (sh->n_groups < K) {
		fprintf(f, "stages sharing cores (their ops' spans stretch: traced_ms):");
		for (int g = 0; g < sh->n_groups; g++) {
			int n = 0;

			for (int s = 0; s < K; s++)
				n += sh->group[s] == g;
			if (n < 2)
				continue;
			fprintf(f, " {");
			for (int s = 0, first = 1; s < K; s++)
				if (sh->group[s] == g) {
					fprintf(f, first ? "%d" : " %d", s);
					first = 0;
				}
			fprintf(f, "} on %d core%s", sh->cores[g], sh->cores[g] > 1 ? "s" : "");
		}
		fprintf(f, "\n");
	}
	fprintf(f, "predicted (simulated, every schedule%s):\n",
		sh->n_groups < K ? ", as if no core were shared" : "");
	r = dtp_tool_print_steps(f, "  ", plan, fwd, bin, bw, xfer, err);
	if (r)
		return r;
	{
		/* the same terms in closed form (as the cluster planner has them),
		 * for the table's steps, which hold the ops only */
		double b[DTP_MAX_STAGES], hop[DTP_MAX_STAGES], ctrl, work, add;

		for (int s = 0; s < K; s++) {
			b[s] = bin[s] + bw[s];
			hop[s] = ex.hop;
		}
		add = dtp_step_overhead(K, fwd, b, xfer, ex.pre, ex.post, hop, 0, &ctrl, &work);
		fprintf(f, "  every step above also holds %.3f ms of per-step work and end-of-step "
			"exchange on its critical path (alone: no core shared)\n", add * 1e3);
	}
	if (!measured_fwd)
		return 0;
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
	r = dtp_tool_print_steps(f, "  ", plan, fwd, bin, bw, 0, err);
	if (r || !m->have_work)
		return r;
	{
		/* the trace's own per-step work (zeroing and the optimizer step
		 * before the ops, the norm's sums after them) on the critical
		 * path as the planned step has it, with the exchange's hops */
		double b[DTP_MAX_STAGES], hop[DTP_MAX_STAGES], pre[DTP_MAX_STAGES];
		double post[DTP_MAX_STAGES], ctrl, work, add, mean = 0;

		fprintf(f, "measured per-step work (ms; before the ops + after them):");
		for (int s = 0; s < K; s++) {
			b[s] = bin[s] + bw[s];
			hop[s] = ex.hop;
			pre[s] = m->pre_ms[s] * 1e-3;
			post[s] = m->post_ms[s] * 1e-3;
			mean += (pre[s] + post[s]) / K;
			fprintf(f, " %d: %.3f + %.3f", s, m->pre_ms[s], m->post_ms[s]);
		}
		add = dtp_step_overhead(K, fwd, b, 0, pre, post, hop, 0, &ctrl, &work);
		fprintf(f, "\nmeasured compute and per-step work, no transfers (simulated, every "
			"schedule; %.3f ms per step on the critical path):\n", add * 1e3);
		return dtp_tool_print_steps_plus(f, "  ", plan, fwd, bin, bw, 0, add, mean, err);
	}
}

