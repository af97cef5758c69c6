/* dtpipe-partition: profile a model's units on this machine, plan a balanced
 * pipeline (exact min-max split), and report a plan's predicted balance beside
 * what a dtpipe trace measured. See docs/man/dtpipe-partition.1. This file:
 * the options, the profile command and main; plan: partition-plan.c, report:
 * partition-report-cmd.c (gathering) and partition-report.c (the table). */
#include "config.h"
#include "tools/partition-opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

static const char usage[] =
	"usage: dtpipe-partition profile --model SPEC [--batch B] [--reps N] [--static]\n"
	"                        [--optimizer sgd|adamw] [--busy] [--precision fp32|bf16]\n"
	"                        [--fp32-matmul openblas|onednn]\n"
	"       dtpipe-partition plan --model SPEC --stages K [--batch B] [--micro-batches M]\n"
	"                        [--optimizer sgd|adamw] [--schedule gpipe|1f1b|zb-h1|zb-h2|interleaved|auto]\n"
	"                        [--precision fp32|bf16] [--fp32-matmul openblas|onednn]\n"
	"                        [--virtual-stages V] [--recompute]\n"
	"                        [--mem-cap SIZE] [--bandwidth GB/s] [--reps N] [--static]\n"
	"                        [--topology [HOST=]FILE.xml[,...]] [--split minmax|layers|params]\n"
	"                        [-o plan.ini]\n"
	"       dtpipe-partition plan --model SPEC --nodes N --cores-per-node C\n"
	"                        [--network ib-hdr|ib-ndr|roce-100|eth-25|GB/s,us]\n"
	"                        [--global-batch SAMPLES] [--node-mem SIZE] [--top N]\n"
	"                        [--shm-network GB/s,us] [--oversubscribe] [--overlap]\n"
	"                        [--no-shard-optimizer] [--no-zero-grads] [--busy] [...]\n"
	"       dtpipe-partition plan --from plan.ini --stages K [-o plan.ini]\n"
	"       dtpipe-partition report --plan plan.ini [--trace trace.json] [--metrics m.json]\n"
	"                        [--bandwidth GB/s]\n"
	"                        [--topology [HOST=]FILE.xml[,...]] [--reps N] [--static]\n"
	"                        [--svg timeline.svg] [--threads N] [--busy]\n"
	"\n"
	"  profile  time each unit's forward and backward at micro-batch size B on this\n"
	"           machine, and its per-step work (the --optimizer step, the gradients'\n"
	"           sum of squares for the norm, their zeroing), and print its parameter,\n"
	"           activation and stash bytes\n"
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
	"           (with --trace, the trace's last step under it); stages that share\n"
	"           cores (more stages than cores here) are simulated sharing them:\n"
	"           traced_ms is what --trace will show; --threads N: as dtpipe --threads\n"
	"  --virtual-stages V  (plan) cut K x V chunks, stage s holding chunks s, s + K, ...\n"
	"                 (schedule interleaved; --schedule interleaved alone takes V = 2)\n"
	"\n"
	"  --model SPEC   mlp:784-1024-10 or gpt:L=4,C=128,H=4,T=64,V=256\n"
	"  --precision    fp32 (default) or bf16: profile the units as a run in that\n"
	"                 precision builds them (bf16: matmuls on oneDNN, bf16 on the\n"
	"                 links), and plan writes [train] precision; report takes the plan's\n"
	"  --fp32-matmul  openblas (default) or onednn: the fp32 matmuls' backend\n"
	"                 (no effect in bf16); plan writes [model] fp32_matmul\n"
	"  --static       estimate times from FLOPs (10 GFLOP/s) instead of measuring; the\n"
	"                 FLOPs count matmuls only, so --precision changes their bytes\n"
	"                 (links, memory), not the times' ratios\n"
	"  --flops G      --static at G GFLOP/s (e.g. a rate measured with profile)\n"
	"  --topology     plan for nodes described by 'lstopo --of xml' files instead of\n"
	"                 this machine: FILE.xml for every host, or HOST=FILE.xml,... to\n"
	"                 spread the stages over those hosts in order (one node type each);\n"
	"                 cores next to each NIC go to the stages whose links leave the node\n"
	"  --shm-network  the link inside a node (default 10 GB/s, 1 us): e.g. GB/s and\n"
	"                 latency from a bare MPI_Allreduce here (scripts/bench-cluster-here.sh)\n"
	"  --oversubscribe  also layouts with up to 4 processes per core (they time-share)\n"
	"  --overlap      predict for [parallel] overlap = yes (default: no, blocking sums)\n"
	"  --no-shard-optimizer  predict and write [parallel] shard_optimizer = no (default:\n"
	"                 yes, ZeRO-1: each replica reduce-scatters the gradients, steps\n"
	"                 1/R of the optimizer and norm, then all-gathers the parameters)\n"
	"  --no-zero-grads  predict without the zeroing pass (the profile times it as\n"
	"                 --precision runs it: bf16 zeroes the embedding's gradients only)\n"
	"  --busy         also time every unit while another core runs the same unit\n"
	"                 (memory bandwidth and cache shared): the calibration of the\n"
	"                 slowdown when every core computes; needs 2 CPUs\n"
	"  --split        minmax (default: the slowest stage as fast as possible), or the\n"
	"                 baselines: layers (equal layers per stage, Megatron-LM's default),\n"
	"                 params (equal parameters, DeepSpeed's partition_method=parameters)\n"
	"  SIZE           bytes with K, M, G suffixes (binary): 512M\n"
	"Exit status: 0 ok, 2 bad input, 1 other failure.\n";

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

static int parse_opts(int argc, char **argv, struct dtp_tool_opts *o)
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
		{ "threads", required_argument, NULL, 'j' },
		{ "shm-network", required_argument, NULL, 'H' },
		{ "oversubscribe", no_argument, NULL, 'U' },
		{ "overlap", no_argument, NULL, 'L' },
		{ "busy", no_argument, NULL, 'B' },
		{ "shard-optimizer", no_argument, NULL, 'Z' },
		{ "no-shard-optimizer", no_argument, NULL, 'X' },
		{ "no-zero-grads", no_argument, NULL, 'z' },
		{ "precision", required_argument, NULL, 'Q' },
		{ "fp32-matmul", required_argument, NULL, 'q' },
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
				return bad("--schedule '%s': use gpipe, 1f1b, zb-h1, zb-h2, interleaved or auto", optarg);
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
		case 'U': o->cluster.co.oversubscribe = 1; break;
		case 'L': o->cluster.co.overlap = 1; break;
		case 'B': o->busy = 1; break;
		case 'Z': o->cluster.co.shard_optimizer = 1; break;
		case 'X': o->cluster.co.shard_optimizer = 0; break;
		case 'z': o->cluster.co.no_zero_grads = 1; break;
		case 'Q':
		case 'q': {
			struct dtp_err err = { 0 };
			int r = c == 'Q' ? dtp_precision_parse(optarg, &o->precision, &err) :
					   dtp_fp32_matmul_parse(optarg, &o->fp32_matmul, &err);

			/* and whether this build can run it: dtpipe's message */
			if (!r)
				r = c == 'Q' ? dtp_precision_check(o->precision, &err) :
					       dtp_fp32_matmul_check(o->fp32_matmul, &err);
			if (r) {
				fprintf(stderr, "dtpipe-partition: error: --%s: %s\n",
					c == 'Q' ? "precision" : "fp32-matmul", err.msg);
				return DTP_EXIT_BADINPUT;
			}
			o->precision_given = 1;
			break;
		}
		case 'H': {
			struct dtp_err err = { 0 };

			if (dtp_network_parse(optarg, &o->cluster.co.shm, &err)) {
				fprintf(stderr, "dtpipe-partition: error: --shm-network: %s\n", err.msg);
				return dtp_err_exit(&err, err.code);
			}
			break;
		}
		case 'j':
			if (to_int(optarg, 1, &o->threads))
				return bad("--threads '%s': give BLAS threads per stage, >= 1", optarg);
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

int dtp_tool_get_profile(const struct dtp_model_spec *spec, const struct dtp_tool_opts *o,
			 struct dtp_profile *p, struct dtp_err *err)
{
	int r;

	if (!o->is_static) {
		struct dtp_profile_opts po = { .reps = o->reps, .optim = o->optim, .busy = o->busy,
					       .precision = o->precision,
					       .fp32_matmul = o->fp32_matmul };

		return dtp_profile_measure(spec, o->batch, &po, p, err);
	}
	r = dtp_profile_static(spec, o->batch, p, err);
	if (r)
		return r;
	r = dtp_profile_set_precision(p, o->precision, o->fp32_matmul, err);
	if (r) {
		dtp_profile_free(p);
		return r;
	}
	dtp_profile_time_from_flops(p, o->flops > 0 ? o->flops : DTP_STATIC_FLOPS);
	return 0;
}

const char *dtp_tool_precision_name(const struct dtp_profile *p)
{
	if (p->precision == DTP_PRECISION_FP32 && p->fp32_matmul == DTP_FP32_MATMUL_ONEDNN)
		return "fp32, matmuls on oneDNN";
	return dtp_precision_name(p->precision);
}

static double mib(size_t b)
{
	return (double)b / (1 << 20);
}

static int cmd_profile(const struct dtp_tool_opts *o, const struct dtp_model_spec *spec,
		       struct dtp_err *err)
{
	struct dtp_profile p;
	double tf = 0, tb = 0, to = 0, tn = 0, tz = 0, bf = 0;
	int r = dtp_tool_get_profile(spec, o, &p, err);

	if (r)
		return r;
	printf("# %s profile, micro-batch %d, %s%s; per-step work of %s%s\n", o->model, o->batch,
	       dtp_tool_precision_name(&p),
	       o->is_static ? " (static: from FLOPs, whatever the precision; no per-step work)" : "",
	       o->optim == DTP_OPTIM_ADAMW ? "adamw" : "sgd",
	       p.busy_measured ? "; busy: beside a core running the same unit" : "");
	if (!o->is_static) {    /* the times are this core's (src/base/cpuid.h) */
		struct dtp_cpu_ident id;
		char cpu[256];

		dtp_cpu_ident(&id);
		printf("# measured on %s\n", dtp_cpu_ident_str(&id, cpu, sizeof(cpu)));
	}
	printf("%4s %-12s %12s %10s %10s %10s %10s %10s %10s %8s %9s %9s %9s %7s", "unit", "name",
	       "params", "fwd_ms", "bwd_ms", "in_MiB", "out_MiB", "link_MiB", "save_MiB", "GFLOP/s",
	       "optim_ms", "norm_ms", "zero_ms", "B/bwd");
	if (p.busy_measured)
		printf(" %11s %11s %13s", "fwd_busy_ms", "bwd_busy_ms", "optim_busy_ms");
	printf("\n");
	for (int u = 0; u < p.n_units; u++) {
		const struct dtp_unit_cost *c = &p.units[u];
		double t = c->fwd_s + c->bwd_s, hb, hw;

		dtp_unit_bwd_halves(c, &hb, &hw);
		printf("%4d %-12s %12zu %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %8.2f %9.3f %9.3f "
		       "%9.3f %7.2f", u, c->name, c->params, c->fwd_s * 1e3, c->bwd_s * 1e3,
		       mib(c->in_bytes), mib(c->out_bytes), mib(c->link_bytes), mib(c->save_bytes),
		       t > 0 ? 3 * c->fwd_flops / t * 1e-9 : 0.0, c->step.optim_s * 1e3,
		       c->step.norm_s * 1e3, c->step.zero_s * 1e3, c->bwd_s > 0 ? hb / c->bwd_s : 0.5);
		if (p.busy_measured)
			printf(" %11.3f %11.3f %13.3f", c->fwd_busy_s * 1e3, c->bwd_busy_s * 1e3,
			       c->step_busy.optim_s * 1e3);
		printf("\n");
		tf += c->fwd_s;
		tb += c->bwd_s;
		to += c->step.optim_s;
		tn += c->step.norm_s;
		tz += c->step.zero_s;
		bf += c->fwd_busy_s + c->bwd_busy_s;
	}
	printf("%4s %-12s %12zu %10.3f %10.3f %10s %10s %10s %10s %8s %9.3f %9.3f %9.3f\n", "all",
	       "", dtp_model_num_params(spec), tf * 1e3, tb * 1e3, "", "", "", "", "", to * 1e3,
	       tn * 1e3, tz * 1e3);
	if (p.busy_measured && tf + tb > 0)
		printf("# beside a busy core: forward + backward x%.3f; sharing a CPU with the same "
		       "unit: x%.3f of twice alone\n", bf / (tf + tb),
		       dtp_profile_share_penalty(&p, 0, p.n_units));
	dtp_profile_free(&p);
	return 0;
}

int main(int argc, char **argv)
{
	struct dtp_tool_opts o = { .batch = 32, .micro_batches = 4, .reps = 5, .optim = DTP_OPTIM_ADAMW,
			  .schedule = DTP_SCHEDULE_GPIPE,
			  .cluster.co.shard_optimizer = 1 /* the plan's default */ };
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
	/* the plan says what it runs in: one home for it */
	if (o.precision_given && (strcmp(cmd, "report") == 0 || o.from)) {
		dtp_topo_map_free(&topos);
		return bad("%s takes the plan's [train] precision and [model] fp32_matmul: "
			   "--precision and --fp32-matmul are for profile and plan --model",
			   strcmp(cmd, "report") == 0 ? "report" : "plan --from");
	}
	if (strcmp(cmd, "report") == 0) {
		r = dtp_tool_cmd_report(&o, &err);
	} else if (strcmp(cmd, "plan") == 0 && o.from) {
		r = dtp_tool_cmd_replan(&o, &err);
	} else if (!o.model) {
		return bad("%s needs --model SPEC (e.g. mlp:784-1024-10)", cmd);
	} else {
		r = dtp_model_spec_parse(o.model, &spec, &err);
		if (!r)
			r = strcmp(cmd, "profile") == 0 ? cmd_profile(&o, &spec, &err)
							: dtp_tool_cmd_plan(&o, &spec, &err);
	}
	dtp_topo_map_free(&topos);
	if (r) {
		fprintf(stderr, "dtpipe-partition: error: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	return DTP_EXIT_OK;
}
