/* dtpipe-partition plan --nodes N --cores-per-node C: R replicas x K stages
 * x M micro-batches for a cluster (src/partition/cluster.c), the pipeline
 * step from the schedule simulator (src/pipeline/simulate.c). */
#include "config.h"
#include "partition-cluster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

static int sim_stash(void *ctx, int K, int M, int *slots, struct dtp_err *err)
{
	return dtp_schedule_stash_slots(*(const enum dtp_schedule_kind *)ctx, K, M, slots, err);
}

static int sim_predict(void *ctx, int K, int M, const double *fwd, const double *bwd,
		       double xfer, double *step, double *bubble, struct dtp_err *err)
{
	struct dtp_sim_result res;
	int r = dtp_schedule_predict(*(const enum dtp_schedule_kind *)ctx, K, M, fwd, bwd, xfer,
				     &res, err);

	if (!r) {
		*step = res.step_time;
		*bubble = res.bubble;
	}
	return r;
}

static double mib(size_t b)
{
	return (double)b / (1 << 20);
}

static void print_layouts(FILE *f, const struct dtp_layout *l, int n, int top)
{
	fprintf(f, "%4s %6s %3s %5s %8s %6s %10s %10s %7s %10s %10s %12s %10s %10s %8s\n", "rank",
		"R", "K", "M", "per_node", "cores", "step_ms", "pipe_ms", "bubble", "allred_ms",
		"exposed_ms", "samples/s", "mem_MiB", "perstep_ms", "ctrl_ms");
	for (int i = 0; i < n && i < top; i++)
		fprintf(f, "%4d %6d %3d %5d %8d %6.3g %10.3f %10.3f %6.1f%% %10.3f %10.3f %12.1f %10.1f "
			"%10.3f %8.3f\n", i + 1, l[i].R, l[i].K, l[i].M, l[i].per_node, l[i].speed,
			l[i].step * 1e3, l[i].pipe * 1e3, 100 * l[i].bubble, l[i].allreduce * 1e3,
			l[i].exposed * 1e3, l[i].samples_per_s, mib(l[i].mem_max),
			l[i].step_work * 1e3, l[i].ctrl * 1e3);
}

/* the best layout with a given K (K > 0) or R (R > 0), or NULL */
static const struct dtp_layout *best_with(const struct dtp_layout *l, int n, int K, int R)
{
	for (int i = 0; i < n; i++)
		if ((K && l[i].K == K) || (R && l[i].R == R))
			return &l[i];
	return NULL;
}

static void explain(FILE *f, const struct dtp_cluster_args *a, const struct dtp_layout *l, int n,
		    const struct dtp_cluster_stats *st)
{
	const struct dtp_layout *b = &l[0], *dp = best_with(l, n, 1, 0), *pp = best_with(l, n, 0, 1);

	fprintf(f, "chosen: R = %d replicas x K = %d stages, M = %d micro-batches per replica; %d "
		"process%s per node with %d cores each\n", b->R, b->K, b->M, b->per_node,
		b->per_node > 1 ? "es" : "", b->cores);
	fprintf(f, "  step %.3f ms predicted: pipeline %.3f ms (bubble %.1f%%, %d link%s leave a "
		"node), gradient all-reduce %.3f ms of which %.3f ms not hidden by the backward; "
		"%.1f samples/s\n", b->step * 1e3, b->pipe * 1e3, 100 * b->bubble, b->cross_links,
		b->cross_links == 1 ? "" : "s", b->allreduce * 1e3, b->exposed * 1e3,
		b->samples_per_s);
	fprintf(f, "  per-step work (optimizer%s, norm, %szeroing) %.3f ms and end-of-step "
		"exchange %.3f ms on the critical path%s\n", a->co.shard_optimizer ?
		" and norm 1/R each, all-gather" : "", a->co.no_zero_grads ? "no " : "",
		b->step_work * 1e3, b->ctrl * 1e3,
		a->co.busy ? "; compute as measured beside a busy core" : "");
	if (dp && dp != b)
		fprintf(f, "  data parallel alone (K = 1, R = %d): %.3f ms per step (%.2fx the "
			"choice)\n", dp->R, dp->step * 1e3, dp->step / b->step);
	else if (!dp)
		fprintf(f, "  data parallel alone (K = 1) does not fit the memory\n");
	if (pp && pp != b)
		fprintf(f, "  one pipeline (R = 1, K = %d): %.3f ms per step (%.2fx the choice)\n",
			pp->K, pp->step * 1e3, pp->step / b->step);
	fprintf(f, "  %d layouts fit the nodes and the batch; %d of them exceed the memory "
		"(per process %.1f MiB, per node %.1f MiB; 0 = no cap)\n", st->tried, st->over_mem,
		mib(a->co.mem_cap), mib(a->co.node_mem));
}

/* notes under each [stage.N]: where the stage's processes run */
static void stage_notes(const struct dtp_layout *b, char (*notes)[160])
{
	for (int s = 0; s < b->K; s++)
		snprintf(notes[s], sizeof(notes[s]), "%d replica%s of this stage, %d cores each, %d "
			 "process%s per node; %s", b->R, b->R > 1 ? "s" : "", b->cores, b->per_node,
			 b->per_node > 1 ? "es" : "",
			 s + 1 == b->K ? "the last stage" :
			 b->cross_links ? "pipeline links leave the node" : "links to the next stage "
			 "stay on the node");
}

int dtp_cluster_cmd(const struct dtp_cluster_args *a, const struct dtp_model_spec *spec,
		    const struct dtp_profile *p, struct dtp_err *err)
{
	enum dtp_schedule_kind sched = a->schedule;
	struct dtp_cluster_sim sim = { sim_stash, sim_predict, &sched };
	struct dtp_chain_unit *chain = NULL;
	struct dtp_cluster_stats st;
	struct dtp_layout *l = NULL;
	struct dtp_plan *plan;
	char notes[DTP_MAX_STAGES][160];
	const char *note_ptr[DTP_MAX_STAGES];
	FILE *f, *info = a->output ? stdout : stderr;
	int n = 0, r;

	plan = calloc(1, sizeof(*plan));
	if (!plan)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dtp_profile_chain(p, a->optim, a->co.recompute, &chain, err);
	if (r)
		goto out_free_plan;
	r = dtp_cluster_plan(p, chain, &a->co, &sim, &l, &n, &st, err);
	if (r)
		goto out_free_chain;
	dtp_plan_defaults(plan);
	plan->model = *spec;
	plan->micro_batch = a->co.micro_batch;
	plan->micro_batches = l[0].M;
	plan->schedule = a->schedule;
	plan->recompute = a->co.recompute;
	dtp_optim_config_default(&plan->optim, a->optim);
	plan->mem_cap_bytes = a->co.mem_cap;
	plan->num_stages = l[0].K;
	plan->replicas = l[0].R;
	plan->shard_optimizer = a->co.shard_optimizer;
	plan->precision = p->precision;      /* what the profile's units ran in */
	plan->fp32_matmul = p->fp32_matmul;
	for (int s = 0; s < l[0].K; s++) {
		plan->stages[s].first_unit = l[0].bounds[s];
		plan->stages[s].last_unit = l[0].bounds[s + 1];
	}
	r = dtp_plan_validate(plan, err);
	if (r)
		goto out_free_layouts;
	stage_notes(&l[0], notes);
	for (int s = 0; s < l[0].K; s++)
		note_ptr[s] = notes[s];
	f = a->output ? fopen(a->output, "w") : stdout;
	if (!f) {
		r = dtp_errf_input(err, -errno, "cannot write %s: %s", a->output, strerror(errno));
		goto out_free_layouts;
	}
	r = dtp_plan_write_notes(plan, note_ptr, f);
	if ((f != stdout && fclose(f)) || r) {
		r = dtp_errf_runtime(err, r ? r : -EIO, "cannot write the plan to %s",
				     a->output ? a->output : "stdout");
		goto out_free_layouts;
	}
	fflush(stdout);
	fprintf(info, "# %d nodes x %d cores, network %s (%.1f GB/s, %.1f us), global batch %ld "
		"(micro-batch %d), %s%s; compute from a %s one-core profile in %s%s scaled linearly "
		"with cores\n", a->co.nodes, a->co.cores_per_node, a->co.net.name, a->co.net.bw * 1e-9,
		a->co.net.lat * 1e6, a->co.global_batch, a->co.micro_batch,
		dtp_schedule_name(a->schedule), a->co.recompute ? ", recompute" : "",
		a->is_static ? "static (from FLOPs, no per-step work)" : "measured",
		dtp_precision_name(p->precision),
		a->co.busy && p->busy_measured ? " (beside a busy core)" : "");
	if (a->co.busy && p->busy_measured) {
		double own = 0, busy = 0;

		for (int u = 0; u < p->n_units; u++) {
			own += p->units[u].fwd_s + p->units[u].bwd_s;
			busy += p->units[u].fwd_busy_s + p->units[u].bwd_busy_s;
		}
		fprintf(info, "# compute beside a busy core x%.3f of alone; sharing a core x%.3f of "
			"twice alone (oversubscribed layouts)\n", own > 0 ? busy / own : 1.0,
			dtp_profile_share_penalty(p, 0, p->n_units));
	}
	print_layouts(info, l, n, a->top);
	explain(info, a, l, n, &st);
out_free_layouts:
	free(l);
out_free_chain:
	free(chain);
out_free_plan:
	free(plan);
	return r;
}
