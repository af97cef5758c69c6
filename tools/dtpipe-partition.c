/* dtpipe-partition: profile a model's units on this machine, plan a balanced
 * pipeline (exact min-max split), and report a plan's predicted balance beside
 * what a dtpipe trace measured. See docs/man/dtpipe-partition.1. */
#include "config.h"
#include "tools/partition-schedules.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partition/baseline.h"
#include "partition/nic_place.h"
#include "partition/partition.h"
#include "partition/place.h"
#include "partition/plan.h"
#include "partition/profile.h"
#include "pipeline/pipeline.h"
#include "partition/topo.h"
#include "partition-cluster.h"
#include "partition-report.h"
#include "partition-chunks.h"


static const char usage[] =
	"usage: dtpipe-partition profile --model SPEC [--batch B] [--reps N] [--static]\n"
	"       dtpipe-partition plan --model SPEC --stages K [--batch B] [--micro-batches M]\n"
	"                        [--optimizer sgd|adamw] [--schedule gpipe|1f1b|zb-h1|interleaved|auto]\n"
	"                        [--virtual-stages V] [--recompute]\n"
	"                        [--mem-cap SIZE] [--bandwidth GB/s] [--reps N] [--static]\n"
	"                        [--topology [HOST=]FILE.xml[,...]] [--split minmax|layers|params]\n"
	"                        [-o plan.ini]\n"
	"       dtpipe-partition plan --model SPEC --nodes N --cores-per-node C\n"
	"                        [--network ib-hdr|ib-ndr|roce-100|eth-25|GB/s,us]\n"
	"                        [--global-batch SAMPLES] [--node-mem SIZE] [--top N] [...]\n"
	"       dtpipe-partition plan --from plan.ini --stages K [-o plan.ini]\n"
	"       dtpipe-partition report --plan plan.ini [--trace trace.json] [--metrics m.json]\n"
	"                        [--bandwidth GB/s]\n"
	"                        [--topology [HOST=]FILE.xml[,...]] [--reps N] [--static]\n"
	"                        [--svg timeline.svg]\n"
	"\n"
	"  profile  time each unit's forward and backward at micro-batch size B on this\n"
	"           machine and print its parameter, activation and stash bytes\n"
	"  plan     split the model into K stages minimising the slowest stage (with the\n"
	"           activation transfer on each cut at --bandwidth, and every stage's\n"
	"           parameters + gradients + optimizer state + stash under --mem-cap);\n"
	"           writes a plan file (stdout without -o) with cores split over this machine;\n"
	"           with --nodes: also chooses data-parallel replicas R (R x K processes over\n"
	"           the nodes), K, M and the cuts for the least predicted step at the global\n"
	"           batch (default micro-batch x M x N), from a one-core profile, the network\n"
	"           (default ib-hdr) and the memory caps; lists the --top (5) layouts;\n"
	"           with --from: the same plan split again over K stages (min-max, FLOPs\n"
	"           profile), its hosts, cores and NICs cleared: for a restart on fewer\n"
	"           or more nodes (examples/slurm-restart.sh)\n"
	"  report   per stage: units, predicted time per micro-batch, share, memory; the\n"
	"           step time, bubble and memory of every schedule (simulated); with --trace,\n"
	"           the per-stage compute measured by dtpipe --trace beside the prediction;\n"
	"           with --metrics, each stage's peak RSS (dtpipe --metrics) beside its\n"
	"           predicted arenas; --svg writes the plan schedule's step as a timeline\n"
	"           (with --trace, the trace's last step under it)\n"
	"  --virtual-stages V  (plan) cut K x V chunks, stage s holding chunks s, s + K, ...\n"
	"                 (schedule interleaved; --schedule interleaved alone takes V = 2)\n"
	"\n"
	"  --model SPEC   mlp:784-1024-10 or gpt:L=4,C=128,H=4,T=64,V=256\n"
	"  --static       estimate times from FLOPs (10 GFLOP/s) instead of measuring\n"
	"  --flops G      --static at G GFLOP/s (e.g. a rate measured with profile)\n"
	"  --topology     plan for nodes described by 'lstopo --of xml' files instead of\n"
	"                 this machine: FILE.xml for every host, or HOST=FILE.xml,... to\n"
	"                 spread the stages over those hosts in order (one node type each);\n"
	"                 cores next to each NIC go to the stages whose links leave the node\n"
	"  --split        minmax (default: the slowest stage as fast as possible), or the\n"
	"                 baselines: layers (equal layers per stage, Megatron-LM's default),\n"
	"                 params (equal parameters, DeepSpeed's partition_method=parameters)\n"
	"  SIZE           bytes with K, M, G suffixes (binary): 512M\n"
	"Exit status: 0 ok, 2 bad input, 1 other failure.\n";

struct opts {
	const char *model, *plan, *trace, *output, *metrics, *svg, *from;
	int stages, batch, micro_batches, reps, is_static, recompute;
	int virtual_stages;   /* --virtual-stages; 0: not given */
	enum dtp_optim_kind optim;
	enum dtp_schedule_kind schedule;
	size_t mem_cap;
	double bandwidth;   /* bytes/s */
	double flops;       /* --static: FLOP/s of one core */
	struct dtp_topo_map *topos;   /* --topology; empty: this machine */
	enum { SPLIT_MINMAX, SPLIT_LAYERS, SPLIT_PARAMS } split;
	struct dtp_cluster_args cluster;   /* --nodes (nodes 0: not asked for) */
};

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "dtpipe-partition: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'dtpipe-partition --help'.\n");
	return DTP_EXIT_BADINPUT;
}

static int to_int(const char *s, int lo, int *out)
{
	long v;

	if (dtp_parse_long(s, lo, 1 << 24, &v))
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "batch", required_argument, NULL, 'b' },
		{ "stages", required_argument, NULL, 'k' },
		{ "micro-batches", required_argument, NULL, 'M' },
		{ "optimizer", required_argument, NULL, 'O' },
		{ "schedule", required_argument, NULL, 'S' },
		{ "virtual-stages", required_argument, NULL, 'I' },
		{ "recompute", no_argument, NULL, 'r' },
		{ "mem-cap", required_argument, NULL, 'c' },
		{ "bandwidth", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'n' },
		{ "static", no_argument, NULL, 's' },
		{ "flops", required_argument, NULL, 'F' },
		{ "plan", required_argument, NULL, 'p' },
		{ "trace", required_argument, NULL, 't' },
		{ "metrics", required_argument, NULL, 'R' },
		{ "svg", required_argument, NULL, 'V' },
		{ "output", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' },
		{ "topology", required_argument, NULL, 'T' },
		{ "split", required_argument, NULL, 'x' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "cores-per-node", required_argument, NULL, 'C' },
		{ "network", required_argument, NULL, 'W' },
		{ "global-batch", required_argument, NULL, 'G' },
		{ "node-mem", required_argument, NULL, 'Y' },
		{ "top", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'm': o->model = optarg; break;
		case 'p': o->plan = optarg; break;
		case 't': o->trace = optarg; break;
		case 'R': o->metrics = optarg; break;
		case 'V': o->svg = optarg; break;
		case 'o': o->output = optarg; break;
		case 'f': o->from = optarg; break;
		case 'r': o->recompute = 1; break;
		case 's': o->is_static = 1; break;
		case 'F':
			o->flops = strtod(optarg, &end) * 1e9;
			if (end == optarg || *end || !(o->flops > 0))
				return bad("--flops '%s': give GFLOP/s as a positive number", optarg);
			o->is_static = 1;
			break;
		case 'b':
			if (to_int(optarg, 1, &o->batch))
				return bad("--batch '%s': give a whole number >= 1", optarg);
			break;
		case 'k':
			if (to_int(optarg, 1, &o->stages) || o->stages > DTP_MAX_STAGES)
				return bad("--stages '%s': give 1 to 64", optarg);
			break;
		case 'M':
			if (to_int(optarg, 1, &o->micro_batches))
				return bad("--micro-batches '%s': give a whole number >= 1", optarg);
			break;
		case 'n':
			if (to_int(optarg, 1, &o->reps))
				return bad("--reps '%s': give a whole number >= 1", optarg);
			break;
		case 'O': {
			static const char *const names[] = { "sgd", "adamw" };
			static const enum dtp_optim_kind kinds[] = { DTP_OPTIM_SGD, DTP_OPTIM_ADAMW };
			int i = dtp_parse_word(optarg, names, 2);

			if (i < 0)
				return bad("--optimizer '%s': use sgd or adamw", optarg);
			o->optim = kinds[i];
			break;
		}
		case 'S':
			if (dtp_schedule_parse(optarg, &o->schedule))
				return bad("--schedule '%s': use gpipe, 1f1b, zb-h1, interleaved or auto", optarg);
			break;
		case 'I':
			if (to_int(optarg, 1, &o->virtual_stages) || o->virtual_stages > DTP_MAX_VIRTUAL_STAGES)
				return bad("--virtual-stages '%s': give 1 to 8 chunks per stage", optarg);
			break;
		case 'c':
			if (dtp_parse_size(optarg, &o->mem_cap))
				return bad("--mem-cap '%s': give bytes with an optional K, M, G suffix",
					   optarg);
			break;
		case 'w':
			o->bandwidth = strtod(optarg, &end) * 1e9;
			if (end == optarg || *end || !(o->bandwidth > 0))
				return bad("--bandwidth '%s': give GB/s as a positive number", optarg);
			break;
		case 'x': {
			/* in the order of enum split */
			static const char *const names[] = { "minmax", "layers", "params" };
			int i = dtp_parse_word(optarg, names, 3);

			if (i < 0)
				return bad("--split '%s': use minmax, layers or params", optarg);
			o->split = i;
			break;
		}
		case 'T': {
			struct dtp_err err = { 0 };

			if (dtp_topo_map_add(o->topos, optarg, &err)) {
				fprintf(stderr, "dtpipe-partition: error: %s\n", err.msg);
				return dtp_err_exit(&err, err.code);
			}
			break;
		}
		case 'N':
			if (to_int(optarg, 1, &o->cluster.co.nodes))
				return bad("--nodes '%s': give a whole number >= 1", optarg);
			break;
		case 'C':
			if (to_int(optarg, 1, &o->cluster.co.cores_per_node))
				return bad("--cores-per-node '%s': give a whole number >= 1", optarg);
			break;
		case 'P':
			if (to_int(optarg, 1, &o->cluster.top))
				return bad("--top '%s': give a whole number >= 1", optarg);
			break;
		case 'G': {
			long v;

			if (dtp_parse_long(optarg, 1, 1L << 40, &v))
				return bad("--global-batch '%s': give samples per step, >= 1", optarg);
			o->cluster.co.global_batch = v;
			break;
		}
		case 'Y':
			if (dtp_parse_size(optarg, &o->cluster.co.node_mem))
				return bad("--node-mem '%s': give bytes with an optional K, M, G suffix",
					   optarg);
			break;
		case 'W': {
			struct dtp_err err = { 0 };

			if (dtp_network_parse(optarg, &o->cluster.co.net, &err)) {
				fprintf(stderr, "dtpipe-partition: error: %s\n", err.msg);
				return dtp_err_exit(&err, err.code);
			}
			break;
		}
		case 'h':
			fputs(usage, stdout);
			exit(DTP_EXIT_OK);
		default:
			return bad("%s", "unknown option");
		}
	}
	return 0;
}

static int get_profile(const struct dtp_model_spec *spec, const struct opts *o,
		       struct dtp_profile *p, struct dtp_err *err)
{
	int r;

	if (!o->is_static)
		return dtp_profile_measure(spec, o->batch, o->reps, p, err);
	r = dtp_profile_static(spec, o->batch, p, err);
	if (r)
		return r;
	dtp_profile_time_from_flops(p, o->flops > 0 ? o->flops : DTP_STATIC_FLOPS);
	return 0;
}

static double mib(size_t b)
{
	return (double)b / (1 << 20);
}

static int cmd_profile(const struct opts *o, const struct dtp_model_spec *spec,
		       struct dtp_err *err)
{
	struct dtp_profile p;
	double tf = 0, tb = 0;
	int r = get_profile(spec, o, &p, err);

	if (r)
		return r;
	printf("# %s profile, micro-batch %d%s\n", o->model, o->batch,
	       o->is_static ? " (static: from FLOPs)" : "");
	printf("%4s %-12s %12s %10s %10s %10s %10s %10s %8s\n", "unit", "name", "params", "fwd_ms",
	       "bwd_ms", "in_MiB", "out_MiB", "save_MiB", "GFLOP/s");
	for (int u = 0; u < p.n_units; u++) {
		const struct dtp_unit_cost *c = &p.units[u];
		double t = c->fwd_s + c->bwd_s;

		printf("%4d %-12s %12zu %10.3f %10.3f %10.3f %10.3f %10.3f %8.2f\n", u, c->name,
		       c->params, c->fwd_s * 1e3, c->bwd_s * 1e3, mib(c->in_bytes),
		       mib(c->out_bytes), mib(c->save_bytes),
		       t > 0 ? 3 * c->fwd_flops / t * 1e-9 : 0.0);
		tf += c->fwd_s;
		tb += c->bwd_s;
	}
	printf("%4s %-12s %12zu %10.3f %10.3f\n", "all", "", dtp_model_num_params(spec), tf * 1e3,
	       tb * 1e3);
	dtp_profile_free(&p);
	return 0;
}

/* The plan without its units: settings, K stages, hosts from --topology
 * HOST=FILE entries (stages spread over them in order, contiguous). */
static int plan_skeleton(const struct opts *o, const struct dtp_model_spec *spec,
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
static void print_placement(FILE *f, const struct dtp_plan *plan,
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
static int split(const struct opts *o, const struct dtp_model_spec *spec,
		 const struct dtp_profile *p, const struct dtp_chain_unit *chain,
		 const struct dtp_partition_opts *po, int *bounds, struct dtp_err *err)
{
	size_t *params;
	double slowest;
	int r;

	if (o->split == SPLIT_LAYERS)
		return dtp_split_equal_layers(spec, o->stages, bounds, err);
	if (o->split == SPLIT_MINMAX)
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
static int stage_speeds(const struct opts *o, const struct dtp_plan *plan, double *speed,
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

/* units from the split, then cores and NICs by traffic; notes[s] say why */
static int plan_place(const struct opts *o, const int *bounds, struct dtp_plan *plan,
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
static int cmd_plan_cluster(struct opts *o, const struct dtp_model_spec *spec,
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
	a->co.shm = dtp_network_shm();
	a->co.micro_batch = o->batch;
	if (!a->co.global_batch)
		a->co.global_batch = (long)o->batch * o->micro_batches * a->co.nodes;
	a->co.mem_cap = o->mem_cap;
	a->co.recompute = o->recompute;
	a->co.max_stages = o->stages;
	a->optim = o->optim;
	a->schedule = o->schedule;
	a->output = o->output;
	a->is_static = o->is_static;
	if (!a->top)
		a->top = 5;
	dtp_blas_set_threads(1);   /* the profile is per core */
	r = get_profile(spec, o, &p, err);
	if (r)
		return r;
	r = dtp_cluster_cmd(a, spec, &p, err);
	dtp_profile_free(&p);
	return r;
}

/* the plan to -o FILE, else stdout; notes as dtp_plan_write_notes's (or NULL) */
static int write_plan(const struct opts *o, const struct dtp_plan *plan, const char *const *notes,
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

static int cmd_plan(struct opts *o, const struct dtp_model_spec *spec, struct dtp_err *err)
{
	struct dtp_chain_unit *chain = NULL;
	struct dtp_partition_opts po;
	struct dtp_profile p;
	struct dtp_plan *plan;
	int bounds[DTP_MAX_STAGES + 1], r;
	struct dtp_stage_where where[DTP_MAX_STAGES];
	double speed[DTP_MAX_STAGES];
	char notes[DTP_MAX_STAGES][sizeof(where->why) + 64];
	const char *note_ptr[DTP_MAX_STAGES];
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
	r = get_profile(spec, o, &p, err);
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
	r = stage_speeds(o, plan, speed, err);
	if (r < 0)
		goto out_free_chain;
	if (r)
		po.speed = speed;
	if (chunks > 1)
		r = dtp_tool_split_chunks(plan, chunks, chain, p.n_units, &po, bounds, err);
	else
		r = split(o, spec, &p, chain, &po, bounds, err);
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
		if (chunks > 1)
			r = dtp_tool_report_chunks(o->output ? stdout : stderr, plan, &p, NULL, err);
		else
			r = dtp_partition_report(o->output ? stdout : stderr, plan, &p, chain, &po, NULL, err);
		if (!r)
			print_placement(o->output ? stdout : stderr, plan, where);
	}
out_free_chain:
	free(chain);
out_free_profile:
	dtp_profile_free(&p);
out_free_plan:
	free(plan);
	return r;
}

/* where each stage of the plan runs on its host's node type, and why */
static int report_placement(const struct opts *o, const struct dtp_plan *plan,
			    struct dtp_err *err)
{
	struct dtp_stage_where where[DTP_MAX_STAGES];
	double bytes[DTP_MAX_STAGES];
	int r;

	r = dtp_plan_link_bytes(plan, bytes, err);
	if (!r)
		r = dtp_place_plan(o->topos, plan, bytes, where, err);
	if (!r)
		print_placement(stdout, plan, where);
	return r;
}

static int cmd_report(struct opts *o, struct dtp_err *err)
{
	struct dtp_chain_unit *chain = NULL;
	struct dtp_partition_opts po;
	struct dtp_profile p;
	struct dtp_plan *plan;
	struct dtp_measured meas = { 0 };
	double speed[DTP_MAX_STAGES];
	int r;

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
	}
	if (o->metrics) {
		r = dtp_metrics_read_peak_rss(o->metrics, plan->num_stages, meas.peak_rss, err);
		if (r)
			goto out_free_plan;
		meas.have_rss = 1;
	}
	o->batch = plan->micro_batch;
	r = get_profile(&plan->model, o, &p, err);
	if (r)
		goto out_free_plan;
	r = dtp_profile_chain(&p, plan->optim.kind, plan->recompute, &chain, err);
	if (r)
		goto out_free_profile;
	r = dtp_tool_resolve_auto(stdout, plan, &p, err);
	if (r)
		goto out_free_chain;
	if (dtp_plan_chunks(plan) > 1) {   /* interleaved: partition-chunks.c */
		printf("# %s: %d stages x %d chunks, micro-batch %d, M = %d, %s\n", o->plan,
		       plan->num_stages, dtp_plan_chunks(plan), plan->micro_batch,
		       plan->micro_batches, dtp_schedule_name(plan->schedule));
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
	r = stage_speeds(o, plan, speed, err);
	if (r < 0)
		goto out_free_chain;
	po.speed = r ? speed : NULL;
	r = 0;
	printf("# %s: %d stages, micro-batch %d, M = %d, %s%s\n", o->plan, plan->num_stages,
	       plan->micro_batch, plan->micro_batches, dtp_schedule_name(plan->schedule),
	       plan->recompute ? ", recompute" : "");
	if (po.speed) {
		printf("# stages with more cores compute faster (times the smallest stage's speed):");
		for (int s = 0; s < plan->num_stages; s++)
			printf(" %d: x%.2f", s, speed[s]);
		printf("\n");
	}
	r = dtp_partition_report(stdout, plan, &p, chain, &po, o->trace || o->metrics ? &meas : NULL,
				 err);
	if (!r)
		r = report_placement(o, plan, err);
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

/* plan --from FILE --stages K: FILE split again over K stages */
static int cmd_replan(const struct opts *o, struct dtp_err *err)
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

int main(int argc, char **argv)
{
	struct opts o = { .batch = 32, .micro_batches = 4, .reps = 5, .optim = DTP_OPTIM_ADAMW,
			  .schedule = DTP_SCHEDULE_GPIPE };
	struct dtp_err err = { 0 };
	struct dtp_model_spec spec;
	struct dtp_topo_map topos = { 0 };
	const char *cmd;
	int r;

	if (argc < 2)
		return bad("%s", "missing command: profile, plan or report");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage, stdout);
		return DTP_EXIT_OK;
	}
	if (strcmp(cmd, "profile") && strcmp(cmd, "plan") && strcmp(cmd, "report"))
		return bad("unknown command '%s': use profile, plan or report", cmd);
	o.topos = &topos;
	r = parse_opts(argc - 1, argv + 1, &o);
	if (r) {
		dtp_topo_map_free(&topos);
		return r;
	}
	if (optind + 1 < argc)
		return bad("unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(cmd, "report") == 0) {
		r = cmd_report(&o, &err);
	} else if (strcmp(cmd, "plan") == 0 && o.from) {
		r = cmd_replan(&o, &err);
	} else if (!o.model) {
		return bad("%s needs --model SPEC (e.g. mlp:784-1024-10)", cmd);
	} else {
		r = dtp_model_spec_parse(o.model, &spec, &err);
		if (!r)
			r = strcmp(cmd, "profile") == 0 ? cmd_profile(&o, &spec, &err)
							: cmd_plan(&o, &spec, &err);
	}
	dtp_topo_map_free(&topos);
	if (r) {
		fprintf(stderr, "dtpipe-partition: error: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	return DTP_EXIT_OK;
}
