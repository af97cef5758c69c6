/* dtpipe-partition plan: the split (min-max or a baseline's) of a profiled
 * model over K stages, placed on this machine or --topology nodes by traffic,
 * written as a plan file with its report; --nodes: the cluster planner
 * (partition-cluster.c); --from: a plan split again over K stages. */
#include "config.h"
#include "tools/partition-opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpuprobe.h"
#include "base/proc.h"
#include "partition/baseline.h"
#include "partition/partition.h"
#include "partition/place.h"
#include "pipeline/pipeline.h"
#include "partition-report.h"
#include "partition-schedules.h"
#include "partition-chunks.h"

/* The plan without its units: settings, K stages, hosts from --topology
 * HOST=FILE entries (stages spread over them in order, contiguous). */
static int plan_skeleton(const struct dtp_tool_opts *o, const struct dtp_model_spec *spec,
			 struct dtp_plan *plan, struct dtp_err *err)
{
	const struct dtp_topo_map *m = o->topos;
	const char *hosts[DTP_TOPO_FILES_MAX];
	int H = 0;

	dtp_plan_defaults(plan);
	plan->model = *spec;
	plan->micro_batch = o->batch;
	plan->micro_batches = o->micro_batches;
	plan->schedule = o->schedule;
	plan->recompute = o->recompute;
	dtp_optim_config_default(&plan->optim, o->optim);
	plan->precision = o->precision;
	plan->fp32_matmul = o->fp32_matmul;
	plan->mem_cap_bytes = o->mem_cap;
	plan->num_stages = o->stages;
	for (int i = 0; i < m->n; i++)
		if (m->host[i])
			hosts[H++] = m->host[i];
	if (H > o->stages)
		return dtp_errf_input(err, -EINVAL, "--topology names %d hosts but --stages is %d: give "
				      "at least one stage per host", H, o->stages);
	for (int s = 0; s < o->stages; s++)
		if (H)
			snprintf(plan->stages[s].host, sizeof(plan->stages[s].host), "%s",
				 hosts[(long)s * H / o->stages]);
	return 0;
}

/* one line per stage: where it runs and why */
void dtp_tool_print_placement(FILE *f, const struct dtp_plan *plan,
			    const struct dtp_stage_where *w)
{
	fprintf(f, "%5s %-12s %-12s %-5s %-8s %s\n", "stage", "host", "cores", "numa", "nic",
		"why");
	for (int s = 0; s < plan->num_stages; s++)
		fprintf(f, "%5d %-12s %-12s %-5s %-8s %s\n", s,
			plan->stages[s].host[0] ? plan->stages[s].host : "localhost", w[s].cores,
			w[s].numa[0] ? w[s].numa : "-", w[s].nic[0] ? w[s].nic : "-", w[s].why);
}

/* bounds of the split --split asks for */
static int split(const struct dtp_tool_opts *o, const struct dtp_model_spec *spec,
		 const struct dtp_profile *p, const struct dtp_chain_unit *chain,
		 const struct dtp_partition_opts *po, int *bounds, struct dtp_err *err)
{
	size_t *params;
	double slowest;
	int r;

	if (o->split == DTP_TOOL_SPLIT_LAYERS)
		return dtp_split_equal_layers(spec, o->stages, bounds, err);
	if (o->split == DTP_TOOL_SPLIT_MINMAX)
		return dtp_partition_chain(chain, p->n_units, po, bounds, &slowest, err);
	params = malloc(sizeof(*params) * (size_t)p->n_units);
	if (!params)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int u = 0; u < p->n_units; u++)
		params[u] = p->units[u].params;
	r = dtp_split_equal_params(params, p->n_units, o->stages, bounds, err);
	free(params);
	return r;
}

/* Per-stage speed from the cores each stage gets on its host's node type
 * (before the split: core counts do not depend on the units), relative to the
 * smallest stage, which runs at the profile's speed; compute is taken to scale
 * linearly with cores. 1 when the stages differ (speed[] filled), 0 when they
 * are all alike, or a negative errno. */
int dtp_tool_stage_speeds(const struct dtp_tool_opts *o, const struct dtp_plan *plan, double *speed,
			struct dtp_err *err)
{
	struct dtp_stage_where where[DTP_MAX_STAGES];
	int least = 0, most = 0, r;

	r = dtp_place_plan(o->topos, plan, NULL, where, err);
	if (r)
		return r;
	for (int s = 0; s < plan->num_stages; s++) {
		if (!least || where[s].n_cores < least)
			least = where[s].n_cores;
		if (where[s].n_cores > most)
			most = where[s].n_cores;
	}
	if (least < 1 || least == most)
		return 0;
	for (int s = 0; s < plan->num_stages; s++)
		speed[s] = (double)where[s].n_cores / least;
	return 1;
}

int dtp_tool_stage_threads(const struct dtp_tool_opts *o, const struct dtp_stage_where *w)
{
	int cpus[1024], n = dtp_cpu_allowed(cpus, 1024);
	int t = o->threads > 0 ? o->threads : w->n_cores;

	if (n > 0 && t > n)
		t = n;
	return t > 0 ? t : 1;
}

int dtp_tool_profile_threads(const struct dtp_tool_opts *o, const struct dtp_plan *plan,
			     struct dtp_err *err)
{
	struct dtp_stage_where where[DTP_MAX_STAGES];
	int least = 0, r;

	r = dtp_place_plan(o->topos, plan, NULL, where, err);
	if (r)
		return r;
	for (int s = 0; s < plan->num_stages; s++) {
		int t = dtp_tool_stage_threads(o, &where[s]);

		if (!least || t < least)
			least = t;
	}
	return least > 0 ? least : 1;
}

/* units from the split, then cores and NICs by traffic; notes[s] say why */
static int plan_place(const struct dtp_tool_opts *o, const int *bounds, struct dtp_plan *plan,
		      struct dtp_stage_where *where, char (*notes)[sizeof(where->why) + 64],
		      struct dtp_err *err)
{
	double bytes[DTP_MAX_STAGES];
	int r;

	for (int s = 0; s < o->stages; s++) {
		plan->stages[s].first_unit = bounds[s];
		plan->stages[s].last_unit = bounds[s + 1];
	}
	r = dtp_plan_link_bytes(plan, bytes, err);
	if (!r)
		r = dtp_place_plan(o->topos, plan, bytes, where, err);
	if (r)
		return r;
	for (int s = 0; s < o->stages; s++) {
		struct dtp_stage_plan *st = &plan->stages[s];

		/* same sizes (DTP_CPULIST_MAX, DTP_NIC_MAX), both NUL-terminated */
		memcpy(st->cores, where[s].cores, sizeof(st->cores));
		memcpy(st->nic, where[s].nic, sizeof(st->nic));
		snprintf(notes[s], sizeof(notes[s]), "NUMA node %s, NIC %s: %s",
			 where[s].numa[0] ? where[s].numa : "-",
			 where[s].nic[0] ? where[s].nic : "-", where[s].why);
	}
	return dtp_plan_validate(plan, err);
}

/* --nodes: R, K, M and the cuts for the cluster from a one-core profile */
static int cmd_plan_cluster(struct dtp_tool_opts *o, const struct dtp_model_spec *spec,
			    struct dtp_err *err)
{
	struct dtp_cluster_args *a = &o->cluster;
	struct dtp_profile p;
	int r;

	if (!a->co.cores_per_node)
		return dtp_errf_input(err, -EINVAL, "--nodes needs --cores-per-node C (cores of one "
				      "node)");
	if (o->topos->n)
		return dtp_errf_input(err, -EINVAL, "--nodes plans for nodes of --cores-per-node "
				      "cores; --topology is for plans with --stages");
	if (!a->co.net.bw && dtp_network_parse("ib-hdr", &a->co.net, err))
		return -EINVAL;
	if (!a->co.shm.bw)
		a->co.shm = dtp_network_shm();
	a->co.micro_batch = o->batch;
	if (!a->co.global_batch)
		a->co.global_batch = (long)o->batch * o->micro_batches * a->co.nodes;
	a->co.mem_cap = o->mem_cap;
	a->co.recompute = o->recompute;
	a->co.busy = o->busy;
	a->co.max_stages = o->stages;
	a->optim = o->optim;
	a->schedule = o->schedule;
	a->output = o->output;
	a->is_static = o->is_static;
	if (!a->top)
		a->top = 5;
	dtp_blas_set_threads(1);   /* the profile is per core */
	r = dtp_tool_get_profile(spec, o, &p, err);
	if (r)
		return r;
	r = dtp_cluster_cmd(a, spec, &p, err);
	dtp_profile_free(&p);
	return r;
}

/* the plan to -o FILE, else stdout; notes as dtp_plan_write_notes's (or NULL) */
static int write_plan(const struct dtp_tool_opts *o, const struct dtp_plan *plan, const char *const *notes,
		      struct dtp_err *err)
{
	FILE *f = o->output ? fopen(o->output, "w") : stdout;
	int r;

	if (!f)
		return dtp_errf_input(err, -errno, "cannot write %s: %s", o->output, strerror(errno));
	r = dtp_plan_write_notes(plan, notes, f);
	if ((f != stdout && fclose(f)) || r)
		r = dtp_errf_runtime(err, r ? r : -EIO, "cannot write the plan to %s",
				     o->output ? o->output : "stdout");
	return r;
}

/* The most chunks per stage --schedule auto weighs. The simulator prices an
 * op by its unit's profile alone, so what more, smaller ops cost beside
 * that (a message each way per chunk, each op's turn in the executor,
 * the chunks' parameters out of cache between them) it leaves out: on the
 * gpt of docs/benchmarks.md (L = 8, K = 2, M = 8) 4 chunks were predicted
 * 4% shorter than 2 and ran 4% longer. 2 chunks ran as predicted. */
#define AUTO_MAX_CHUNKS 2

/* --schedule auto without --virtual-stages chooses the layout too: one range
 * of units per stage (bounds, already cut) against interleaved over v = 2
 * .. AUTO_MAX_CHUNKS chunks per stage (each cut min-max, while K x v chunks
 * fit the units and M is a multiple of K), each layout with its schedule =
 * auto pick simulated on the profile's times; the shortest predicted step
 * wins (a tie, within DTP_SCHEDULE_TIE: fewer chunks), said on f. Returns
 * the chunks per stage of the winner (plan and bounds cut for it) or a
 * negative errno. */
static int auto_layout(FILE *f, struct dtp_plan *plan, const struct dtp_profile *p,
		       const struct dtp_chain_unit *chain, const struct dtp_partition_opts *po,
		       int *bounds, struct dtp_err *err)
{
	int K = plan->num_stages, best_v = 1, qb[DTP_MAX_STAGES + 1], r;
	struct dtp_schedule_choice c;
	double best = 0, step = 0;
	char said[384];
	size_t len = 0;
	struct dtp_plan *q = malloc(sizeof(*q));

	if (!q)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	*q = *plan;
	for (int s = 0; s < K; s++) {
		q->stages[s].first_unit = bounds[s];
		q->stages[s].last_unit = bounds[s + 1];
	}
	r = dtp_tool_auto_choice(q, p, &c, &best, err);
	if (r)
		goto out_free;
	len += (size_t)snprintf(said, sizeof(said), "one range per stage: %s %.4g ms",
				dtp_schedule_name(c.kind), best * 1e3);
	if (K > 1 && plan->micro_batches % K)
		len += (size_t)snprintf(said + len, sizeof(said) - len,
					"; chunks: M = %d is not a multiple of K = %d", plan->micro_batches, K);
	else if (K > 1 && 2 * K > p->n_units)
		len += (size_t)snprintf(said + len, sizeof(said) - len,
					"; chunks: %d units are fewer than 2 per stage", p->n_units);
	for (int v = 2; v <= AUTO_MAX_CHUNKS && K * v <= p->n_units && K * v <= DTP_MAX_STAGES &&
			plan->micro_batches % K == 0 && K > 1; v++) {
		*q = *plan;
		r = dtp_tool_split_chunks(q, v, chain, p->n_units, po, qb, err);
		if (r == 0)
			r = dtp_tool_auto_choice(q, p, &c, &step, err);
		if (r == -ENOSPC || r == -EINVAL) {   /* over mem_cap, or the chunks do not fit */
			if (len < sizeof(said))
				len += (size_t)snprintf(said + len, sizeof(said) - len,
							"; %d chunks: does not fit (%.160s)", v, err->msg);
			dtp_err_clear(err);
			continue;
		}
		if (r)
			goto out_free;
		if (len < sizeof(said))
			len += (size_t)snprintf(said + len, sizeof(said) - len, "; %d chunks: %.4g ms",
						v, step * 1e3);
		if (step < best * (1 - DTP_SCHEDULE_TIE)) {
			best = step;
			best_v = v;
		}
	}
	r = 0;
	if (best_v > 1)
		r = dtp_tool_split_chunks(plan, best_v, chain, p->n_units, po, bounds, err);
	if (r)
		goto out_free;
	if (best_v > 1)
		fprintf(f, "layout auto: %d chunks per stage (interleaved), the shortest predicted step (%s)\n",
			best_v, said);
	else
		fprintf(f, "layout auto: one range of units per stage, the shortest predicted step (%s)\n",
			said);
	r = best_v;
out_free:
	free(q);
	return r;
}

int dtp_tool_cmd_plan(struct dtp_tool_opts *o, const struct dtp_model_spec *spec, struct dtp_err *err)
{
	struct dtp_chain_unit *chain = NULL;
	struct dtp_partition_opts po;
	struct dtp_profile p;
	struct dtp_plan *plan;
	int bounds[DTP_MAX_STAGES + 1], threads, r;
	struct dtp_stage_where where[DTP_MAX_STAGES];
	double speed[DTP_MAX_STAGES];
	char notes[DTP_MAX_STAGES][sizeof(where->why) + 64];
	const char *note_ptr[DTP_MAX_STAGES];
	/* the program and its libraries, before the profile (partition-report-cmd.c) */
	double base_rss = (double)dtp_rss();
	int chunks = o->virtual_stages ? o->virtual_stages :
		     o->schedule == DTP_SCHEDULE_INTERLEAVED ? 2 : 1;

	if (chunks > 1 && o->schedule != DTP_SCHEDULE_INTERLEAVED && o->schedule != DTP_SCHEDULE_AUTO)
		return dtp_errf_input(err, -EINVAL, "--virtual-stages %d with --schedule %s: chunks "
				      "run under --schedule interleaved (or auto)", chunks,
				      dtp_schedule_name(o->schedule));
	if (o->cluster.co.nodes)
		return cmd_plan_cluster(o, spec, err);
	if (o->stages < 1)
		return dtp_errf_input(err, -EINVAL, "plan needs --stages K (or --nodes N "
				      "--cores-per-node C for a cluster)");
	plan = calloc(1, sizeof(*plan));
	if (!plan)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = plan_skeleton(o, spec, plan, err);
	if (r)
		goto out_free_plan;
	/* time the units as the stages will run them, not on every CPU here */
	r = dtp_tool_profile_threads(o, plan, err);
	if (r < 0)
		goto out_free_plan;
	threads = r;
	dtp_blas_set_threads(threads);
	r = dtp_tool_get_profile(spec, o, &p, err);
	if (r)
		goto out_free_plan;
	r = dtp_profile_chain(&p, o->optim, o->recompute, &chain, err);
	if (r)
		goto out_free_profile;
	po = (struct dtp_partition_opts){ .stages = o->stages, .bandwidth = o->bandwidth,
					  .mem_cap = o->mem_cap, .recompute = o->recompute };
	/* auto: cut for 1f1b's stash, then let the simulator pick for the cuts
	 * (interleaved: partition-chunks.c takes each chunk's from its lists) */
	r = dtp_schedule_stash_slots(o->schedule == DTP_SCHEDULE_AUTO || chunks > 1 ?
				     DTP_SCHEDULE_1F1B : o->schedule, o->stages, o->micro_batches,
				     po.stash_slots, err);
	if (r)
		goto out_free_chain;
	r = dtp_tool_stage_speeds(o, plan, speed, err);
	if (r < 0)
		goto out_free_chain;
	if (r)
		po.speed = speed;
	if (chunks > 1)
		r = dtp_tool_split_chunks(plan, chunks, chain, p.n_units, &po, bounds, err);
	else
		r = split(o, spec, &p, chain, &po, bounds, err);
	if (r == 0 && o->schedule == DTP_SCHEDULE_AUTO && !o->virtual_stages &&
	    o->split == DTP_TOOL_SPLIT_MINMAX) {
		r = auto_layout(o->output ? stdout : stderr, plan, &p, chain, &po, bounds, err);
		if (r > 0) {
			chunks = r;
			r = 0;
		}
	}
	if (r)
		goto out_free_chain;
	r = plan_place(o, bounds, plan, where, notes, err);
	if (r)
		goto out_free_chain;
	for (int s = 0; s < o->stages; s++)
		note_ptr[s] = notes[s];
	r = dtp_tool_resolve_auto(o->output ? stdout : stderr, plan, &p, err);
	if (r)
		goto out_free_chain;
	r = write_plan(o, plan, note_ptr, err);
	if (!r) {
		/* the summary goes where it does not mix with a plan on stdout */
		fflush(stdout);
		fprintf(o->output ? stdout : stderr, "# split on a %s profile in %s",
			p.measured ? "measured" : "static (FLOPs)", dtp_tool_precision_name(&p));
		if (p.measured)
			fprintf(o->output ? stdout : stderr, ", each unit on %d BLAS thread%s "
				"(the smallest stage's cores)", threads, threads == 1 ? "" : "s");
		fprintf(o->output ? stdout : stderr, "\n");
		if (chunks > 1)
			r = dtp_tool_report_chunks(o->output ? stdout : stderr, plan, &p, NULL, err);
		else
			r = dtp_partition_report(o->output ? stdout : stderr, plan, &p, chain, &po,
						 NULL, base_rss, NULL, NULL, err);
		if (!r)
			dtp_tool_print_placement(o->output ? stdout : stderr, plan, where);
	}
out_free_chain:
	free(chain);
out_free_profile:
	dtp_profile_free(&p);
out_free_plan:
	free(plan);
	return r;
}

/* plan --from FILE --stages K: FILE split again over K stages */
int dtp_tool_cmd_replan(const struct dtp_tool_opts *o, struct dtp_err *err)
{
	struct dtp_plan *in, *out;
	int slots[DTP_MAX_STAGES], r;

	if (o->stages < 1)
		return dtp_errf_input(err, -EINVAL, "plan --from needs --stages K");
	in = calloc(2, sizeof(*in));
	if (!in)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	out = in + 1;
	r = dtp_plan_load(o->from, in, err);
	if (r == 0 && o->stages > dtp_model_num_units(&in->model))
		r = dtp_errf_input(err, -EINVAL, "--stages %d: %s's model has %d units, so at most %d stages",
				   o->stages, o->from, dtp_model_num_units(&in->model),
				   dtp_model_num_units(&in->model));
	if (r == 0)
		r = dtp_schedule_stash_slots(in->schedule, o->stages, in->micro_batches, slots, err);
	if (r == 0)
		r = dtp_plan_resplit(in, o->stages, slots, NULL, out, err);
	if (r == 0)
		r = write_plan(o, out, NULL, err);
	free(in);
	return r;
}
