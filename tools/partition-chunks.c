/* dtpipe-partition for interleaved plans (--virtual-stages v, schedule =
 * interleaved): the min-max split over K x v chunks taken in the interleaved
 * order, and the report of a chunked plan (each chunk's units and times,
 * each stage's predicted memory, the simulated step beside 1f1b's on the
 * same stage times and the ideal bubble formula). */
#include "config.h"
#include "tools/partition-chunks.h"

#include <errno.h>
#include <stdlib.h>

#include "partition/cluster.h"

enum { N_CHUNKS = DTP_MAX_STAGES * DTP_MAX_VIRTUAL_STAGES };

int dtp_tool_split_chunks(struct dtp_plan *plan, int v, const struct dtp_chain_unit *chain,
			  int n_units, const struct dtp_partition_opts *po, int *bounds0,
			  struct dtp_err *err)
{
	int K = plan->num_stages, KV = K * v, slots[N_CHUNKS], *bounds, r;
	struct dtp_partition_opts co = *po;
	double speed[DTP_MAX_STAGES], slowest;   /* per chunk (K v <= DTP_MAX_STAGES) */

	if (v < 2 || v > DTP_MAX_VIRTUAL_STAGES)
		return dtp_errf_input(err, -EINVAL, "--virtual-stages %d: give 2 to %d", v,
				      DTP_MAX_VIRTUAL_STAGES);
	if (KV > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL,
				      "--stages %d x --virtual-stages %d = %d chunks: the partitioner cuts at most %d",
				      K, v, KV, DTP_MAX_STAGES);
	r = dtp_schedule_chunk_stash_slots(DTP_SCHEDULE_INTERLEAVED, K, plan->micro_batches, v,
					   slots, err);
	if (r) {
		dtp_err_prefix(err, "--schedule interleaved: ");
		return r;
	}
	/* chunk j of the chain is chunk j / K of stage j % K */
	co.stages = KV;
	for (int j = 0; j < KV; j++) {
		co.stash_slots[j] = slots[(j % K) * v + j / K];
		if (po->speed)
			speed[j] = po->speed[j % K];   /* a chunk runs on its stage's cores */
	}
	/* the cap is per stage; each of its v chunks gets a v-th of it here,
	 * and the report checks the whole stage */
	co.mem_cap = po->mem_cap / (size_t)v;
	co.speed = po->speed ? speed : NULL;
	bounds = malloc(sizeof(*bounds) * (size_t)(KV + 1));
	if (!bounds)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dtp_partition_chain(chain, n_units, &co, bounds, &slowest, err);
	if (r) {
		dtp_err_prefix(err, "splitting into %d chunks (%d stages x %d): ", KV, K, v);
		goto out_free;
	}
	plan->virtual_stages = v;
	for (int j = 0; j < KV; j++) {
		struct dtp_stage_plan *st = &plan->stages[j % K];

		st->chunk_first[j / K] = bounds[j];
		st->chunk_last[j / K] = bounds[j + 1];
	}
	for (int s = 0; s < K; s++) {
		plan->stages[s].n_chunks = v;
		plan->stages[s].first_unit = plan->stages[s].chunk_first[0];
		plan->stages[s].last_unit = plan->stages[s].chunk_last[0];
		bounds0[s] = plan->stages[s].chunk_first[0];
	}
	bounds0[K] = plan->stages[K - 1].chunk_last[0];
out_free:
	free(bounds);
	return r;
}

/* per chunk (s * v + c) from the profile: F, B and W (dtp_unit_add_times) */
static void chunk_times(const struct dtp_plan *plan, const struct dtp_profile *prof, double *fwd,
			double *bwd_in, double *bwd_w)
{
	int K = plan->num_stages, v = dtp_plan_chunks(plan);

	for (int s = 0; s < K; s++) {
		for (int c = 0; c < v; c++) {
			int i = s * v + c, a, b;

			fwd[i] = bwd_in[i] = bwd_w[i] = 0;
			dtp_plan_chunk_units(plan, s, c, &a, &b);
			for (int u = a; u < b; u++)
				dtp_unit_add_times(&prof->units[u], plan->recompute, &fwd[i], &bwd_in[i],
						   &bwd_w[i]);
		}
	}
}

/* the chunks' times from a trace: each stage process's measured compute per
 * micro-batch of a chunk (the trace's forwards count M x v) times v, split
 * over its chunks by their FLOPs */
static int traced_times(const struct dtp_plan *plan, const char *trace, double *fwd,
			double *bwd_in, double *bwd_w, struct dtp_err *err)
{
	double f[DTP_MAX_STAGES], b[DTP_MAX_STAGES], hb[DTP_MAX_STAGES];
	int K = plan->num_stages, v = dtp_plan_chunks(plan);
	int r = dtp_trace_read_compute(trace, K, f, b, err);

	for (int s = 0; s < K; s++) {
		f[s] *= v * 1e-3;
		hb[s] = b[s] * v * 0.5e-3;
	}
	if (r == 0)
		r = dtp_schedule_split_chunk_times(plan, f, fwd, err);
	if (r == 0)
		r = dtp_schedule_split_chunk_times(plan, hb, bwd_in, err);
	if (r == 0)
		r = dtp_schedule_split_chunk_times(plan, hb, bwd_w, err);
	return r;
}

/* the same two steps with the trace's own per-step work (zeroing and the
 * optimizer step before the ops, the norm's sums after them) on the
 * critical path, as dtp_step_overhead puts it: stage s's first input comes
 * after the chunk-0 forwards of the stages before it, its last backward
 * ends their chunk-0 backwards before stage 0's (the exchange's hops, a few
 * microseconds on shm, left out); nothing when the trace has no such spans */
static int traced_step_work(FILE *f, const struct dtp_plan *plan, const char *trace,
			    const double *cf, const double *cbi, const double *cbw,
			    const struct dtp_sim_result *il, const struct dtp_sim_result *one,
			    struct dtp_err *err)
{
	double pre_ms[DTP_MAX_STAGES], post_ms[DTP_MAX_STAGES], pre[DTP_MAX_STAGES];
	double post[DTP_MAX_STAGES], f0[DTP_MAX_STAGES], b0[DTP_MAX_STAGES];
	double hop[DTP_MAX_STAGES] = { 0 }, ctrl, work, add, mean = 0;
	int K = plan->num_stages, v = dtp_plan_chunks(plan);
	int r = dtp_trace_read_step_work(trace, K, pre_ms, post_ms, err);
	const struct dtp_sim_result *sims[2] = { il, one };
	const char *names[2] = { "interleaved", "1f1b" };

	if (r <= 0)
		return r;
	fprintf(f, "measured per-step work (ms; before the ops + after them):");
	for (int s = 0; s < K; s++) {
		pre[s] = pre_ms[s] * 1e-3;
		post[s] = post_ms[s] * 1e-3;
		f0[s] = cf[s * v];
		b0[s] = cbi[s * v] + cbw[s * v];
		mean += (pre[s] + post[s]) / K;
		fprintf(f, " %d: %.3f + %.3f", s, pre_ms[s], post_ms[s]);
	}
	add = dtp_step_overhead(K, f0, b0, 0, pre, post, hop, 0, &ctrl, &work);
	fprintf(f, "\nwith the trace's per-step work (%.3f ms per step on the critical path):\n",
		add * 1e3);
	fprintf(f, "  %-11s %12s %8s\n", "schedule", "step_ms", "bubble");
	for (int i = 0; i < 2; i++)
		fprintf(f, "  %-11s %12.3f %7.1f%%\n", names[i], (sims[i]->step_time + add) * 1e3,
			100 * (1 - ((1 - sims[i]->bubble) * sims[i]->step_time + mean) /
				   (sims[i]->step_time + add)));
	return 0;
}

int dtp_tool_report_chunks(FILE *f, const struct dtp_plan *plan, const struct dtp_profile *prof,
			   const char *trace, struct dtp_err *err)
{
	double cf[N_CHUNKS], cbi[N_CHUNKS], cbw[N_CHUNKS];
	double sf[DTP_MAX_STAGES], sbi[DTP_MAX_STAGES], sbw[DTP_MAX_STAGES];
	int K = plan->num_stages, v = dtp_plan_chunks(plan), M = plan->micro_batches, r;
	struct dtp_sim_result il, one;
	double total = 0;

	if (plan->schedule != DTP_SCHEDULE_INTERLEAVED)
		return dtp_errf_input(err, -EINVAL, "%s: a plan with %d chunks per stage runs "
				      "schedule = interleaved only", plan->path, v);
	chunk_times(plan, prof, cf, cbi, cbw);
	fprintf(f, "%5s %5s %-9s %10s %10s %8s\n", "stage", "chunk", "units", "fwd_ms", "bwd_ms",
		"share");
	for (int i = 0; i < K * v; i++)
		total += cf[i] + cbi[i] + cbw[i];
	for (int s = 0; s < K; s++) {
		struct dtp_stage_mem m;

		sf[s] = sbi[s] = sbw[s] = 0;
		for (int c = 0; c < v; c++) {
			int i = s * v + c, a, b;
			char units[32];

			dtp_plan_chunk_units(plan, s, c, &a, &b);
			if (b - a == 1)
				snprintf(units, sizeof(units), "%d", a);
			else
				snprintf(units, sizeof(units), "%d-%d", a, b - 1);
			fprintf(f, "%5d %5d %-9s %10.3f %10.3f %7.1f%%\n", s, c, units, cf[i] * 1e3,
				(cbi[i] + cbw[i]) * 1e3,
				total > 0 ? 100 * (cf[i] + cbi[i] + cbw[i]) / total : 0.0);
		}
		r = dtp_stage_mem_predict(plan, s, &m, err);
		if (r)
			return r;
		for (int c = 0; c < v; c++)
			sf[s] += cf[s * v + c], sbi[s] += cbi[s * v + c], sbw[s] += cbw[s * v + c];
		fprintf(f, "%5d %5s %-9s %10.3f %10.3f %7.1f%%  predicted %.1f MiB (stash %.1f MiB, shm links %.1f MiB)%s\n",
			s, "all", "", sf[s] * 1e3, (sbi[s] + sbw[s]) * 1e3,
			total > 0 ? 100 * (sf[s] + sbi[s] + sbw[s]) / total : 0.0,
			(double)m.total / (1 << 20), (double)m.stash / (1 << 20), (double)m.links / (1 << 20),
			plan->mem_cap_bytes && m.total > plan->mem_cap_bytes ? "  OVER mem_cap" : "");
	}
	/* the step: on the profile, or on what the trace measured */
	if (trace && (r = traced_times(plan, trace, cf, cbi, cbw, err)))
		return r;
	for (int s = 0; s < K; s++) {
		sf[s] = sbi[s] = sbw[s] = 0;
		for (int c = 0; c < v; c++)
			sf[s] += cf[s * v + c], sbi[s] += cbi[s * v + c], sbw[s] += cbw[s * v + c];
	}
	r = dtp_schedule_predict_v(DTP_SCHEDULE_INTERLEAVED, K, M, v, cf, cbi, cbw, 0.0, &il, err);
	if (r == 0)
		r = dtp_schedule_predict_v(DTP_SCHEDULE_1F1B, K, M, 1, sf, sbi, sbw, 0.0, &one, err);
	if (r)
		return r;
	fprintf(f, "simulated on the %s:\n", trace ? "trace's measured compute" : "profile");
	fprintf(f, "  %-11s %12s %8s %12s\n", "schedule", "step_ms", "bubble", "ideal_bubble");
	fprintf(f, "  %-11s %12.3f %7.1f%% %11.1f%%  <- the plan's (v = %d)\n", "interleaved",
		il.step_time * 1e3, 100 * il.bubble, 100.0 * (K - 1) / ((double)v * M + K - 1), v);
	fprintf(f, "  %-11s %12.3f %7.1f%% %11.1f%%  (the same stage times; one range per stage)\n",
		"1f1b", one.step_time * 1e3, 100 * one.bubble, 100.0 * (K - 1) / (M + K - 1));
	return trace ? traced_step_work(f, plan, trace, cf, cbi, cbw, &il, &one, err) : 0;
}
