/* dtpipe's command line: the usage text, the options into struct
 * dtp_launch_args, and the checks of what they name before a run starts (a
 * plan read once from a stream, output files that can be written). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "partition/plan.h"
#include "pipeline/pipeline.h"
#include "rdma/transport.h"
#include "dtpipe-args.h"

void dtp_args_usage(FILE *f)
{
	fprintf(f,
"Usage: dtpipe [--plan PLAN.ini] [options]\n"
"Train a model with synchronous pipeline parallelism (GPipe or 1F1B), one\n"
"process per stage. Without a rank (--stage, or OMPI_COMM_WORLD_RANK, PMIX_RANK,\n"
"PMI_RANK, SLURM_PROCID) dtpipe launches every stage of the plan on this machine\n"
"and supervises them. Without --plan it trains the built-in default plan: a\n"
"4-stage mlp on Fashion-MNIST from data/fashion-mnist/{train,test} (make them with\n"
"`dtpipe-shard fashion-mnist --out data/fashion-mnist`).\n"
"\n"
"Options:\n"
"  -p, --plan FILE          stage plan (docs/plan-format.md); a pipe (--plan <(...)) is\n"
"                           read once and handed to the stages\n"
"  -s, --stage N            run only stage N (under a launcher: from its environment)\n"
"      --steps N            optimizer steps, 1..2147483647 (overrides the plan); with\n"
"                           --resume the total from the start of the run, so more\n"
"                           than the checkpoint's step\n"
"      --epochs N           epochs over the training set, 1..1048576 (when steps are\n"
"                           not given)\n"
"  -t, --transport KIND     auto, verbs, tcp or shm (default: the plan's, else auto)\n"
"      --metrics FILE       JSON lines: one per step, the evaluation, the end\n"
"      --trace FILE         Chrome trace-event JSON (open in ui.perfetto.dev)\n"
"      --checkpoint-dir DIR layout-free checkpoints (overrides the plan)\n"
"      --resume [DIR]       continue from the newest good checkpoint in DIR (or the\n"
"                           checkpoint directory) under any layout; bit-identical\n"
"                           for as many threads per stage as before (also on\n"
"                           others with OpenBLAS's own AVX-512 kernel, as tested)\n"
"      --resume-if-any [DIR] --resume when DIR holds a checkpoint, else start\n"
"                           afresh (a batch script that is requeued)\n"
"      --max-restarts N     after a stage fails (exit 1) or is killed by a signal the\n"
"                           user did not send, restart the whole job from the newest\n"
"                           complete checkpoint (from scratch while there is none), up\n"
"                           to N times (default: the plan's [checkpoint] max_restarts,\n"
"                           0); never after bad input (2), the user's signal or a\n"
"                           preemption (75)\n"
"      --elastic            a restart runs on the cores this process may use then\n"
"                           (taskset, cgroup): the model is split again over them,\n"
"                           as many threads per stage as before; bit-identical\n"
"      --nonfinite WHAT     a step whose loss or gradient norm is NaN or inf: stop (the\n"
"                           default: the run fails, exit status 1) or skip (no update\n"
"                           for that step, reported); overrides [train] nonfinite\n"
"      --mem-cap SIZE       per-stage memory cap (e.g. 512M): refuse to start when the\n"
"                           predicted arenas exceed it, stop when peak RSS does\n"
"      --threads N          OpenBLAS threads per stage (default: the stage's cores)\n"
"      --precision P        fp32 or bf16 (default: the plan's [train] precision)\n"
"      --fp32-matmul B      fp32 matmuls on openblas or onednn (default: the\n"
"                           plan's [model] fp32_matmul, else openblas)\n"
"      --data DIR           datasets DIR/train and DIR/test (overrides the plan)\n"
"      --heartbeat-ms N     beat to each neighbour stage every N ms (default: the\n"
"                           plan's [transport] heartbeat_ms, else 500)\n"
"      --peer-timeout-ms N  a neighbour silent for N ms has failed: it was killed,\n"
"                           stopped or cut off (default: the plan's, else 5000)\n"
"      --hang-timeout-ms N  a neighbour alive but without progress for N ms, waiting\n"
"                           on no other stage, is hung (default: the plan's, else 10000;\n"
"                           at least 4 x its longest op so far)\n"
"  -q, --quiet              no per-step lines\n"
"      --print-default-plan print the built-in plan and exit\n"
"      --merge-trace FILE   join the per-stage parts FILE.stage-N that stages started\n"
"                           by srun/mpirun leave into FILE, then exit\n"
"      --check-env          print what this host offers the job (RDMA devices, ports,\n"
"                           GIDs, locked-memory limit, MPI and Slurm, topology, each\n"
"                           local stage's cores and NIC, OpenBLAS) and every problem\n"
"                           seen, then exit: 0 the job can run, 1 it cannot, 2 bad plan\n"
"      --topology FILE.xml  with --check-env: place the stages on this hwloc XML\n"
"                           topology (lstopo --of xml) instead of this machine\n"
"  -h, --help               this text\n"
"  -V, --version            the version\n");
	fprintf(f,
"\n"
"SIGTERM, SIGINT or SIGUSR1 to the launcher or to any stage: every stage\n"
"finishes its step, writes a checkpoint and exits %d; a second signal aborts.\n"
"\n"
"Exit status (the launcher's is the job's):\n"
"  %-5d success\n"
"  %-5d runtime failure: a stage failed or was killed by a signal, a peer\n"
"        vanished, an I/O error, out of memory\n"
"  %-5d bad input: options, plan, model spec, data, checkpoint\n"
"  %-5d stopped, resumable: a stop signal, then a checkpoint (--resume)\n"
"  128+N interrupted by the user's signal N: %d SIGINT, %d SIGTERM, %d SIGHUP\n"
"        (also a stop signal when no checkpoint directory is configured)\n",
		DTP_EXIT_PREEMPTED, DTP_EXIT_OK, DTP_EXIT_FAIL, DTP_EXIT_BADINPUT,
		DTP_EXIT_PREEMPTED, DTP_EXIT_SIGINT, DTP_EXIT_SIGTERM,
		dtp_exit_status(DTP_ERRC_INTERRUPTED, SIGHUP));
}

enum {
	OPT_STEPS = 256, OPT_EPOCHS, OPT_METRICS, OPT_TRACE, OPT_CKPT, OPT_RESUME, OPT_MEMCAP,
	OPT_THREADS, OPT_DATA, OPT_DEFAULT_PLAN, OPT_JOB_KEY, OPT_PROGRESS, OPT_DUMP,
	OPT_NO_BIND, OPT_MERGE_TRACE, OPT_NONFINITE, OPT_PRECISION, OPT_FP32_MATMUL, OPT_HEARTBEAT,
	OPT_PEER_TIMEOUT, OPT_HANG_TIMEOUT, OPT_RESUME_IF_ANY, OPT_CHECK_ENV, OPT_TOPOLOGY,
	OPT_MAX_RESTARTS, OPT_ELASTIC,
};

static const struct option long_opts[] = {
	{ "plan", required_argument, NULL, 'p' },
	{ "stage", required_argument, NULL, 's' },
	{ "steps", required_argument, NULL, OPT_STEPS },
	{ "epochs", required_argument, NULL, OPT_EPOCHS },
	{ "transport", required_argument, NULL, 't' },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT },
	{ "resume", optional_argument, NULL, OPT_RESUME },
	{ "resume-if-any", optional_argument, NULL, OPT_RESUME_IF_ANY },
	{ "mem-cap", required_argument, NULL, OPT_MEMCAP },
	{ "nonfinite", required_argument, NULL, OPT_NONFINITE },
	{ "max-restarts", required_argument, NULL, OPT_MAX_RESTARTS },
	{ "elastic", no_argument, NULL, OPT_ELASTIC },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "precision", required_argument, NULL, OPT_PRECISION },
	{ "fp32-matmul", required_argument, NULL, OPT_FP32_MATMUL },
	{ "data", required_argument, NULL, OPT_DATA },
	{ "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT },
	{ "peer-timeout-ms", required_argument, NULL, OPT_PEER_TIMEOUT },
	{ "hang-timeout-ms", required_argument, NULL, OPT_HANG_TIMEOUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "print-default-plan", no_argument, NULL, OPT_DEFAULT_PLAN },
	{ "merge-trace", required_argument, NULL, OPT_MERGE_TRACE },
	{ "check-env", no_argument, NULL, OPT_CHECK_ENV },
	{ "topology", required_argument, NULL, OPT_TOPOLOGY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	/* internal: set by the supervisor for the stages it starts, or by tests */
	{ "job-key", required_argument, NULL, OPT_JOB_KEY },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "dump", required_argument, NULL, OPT_DUMP },
	{ "no-bind", no_argument, NULL, OPT_NO_BIND },
	{ NULL, 0, NULL, 0 },
};

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	if (dtp_parse_long(s, lo, hi, out)) {
		fprintf(stderr, "dtpipe: %s %s: expected an integer from %ld to %ld\n", opt, s, lo, hi);
		return -EINVAL;
	}
	return 0;
}

int dtp_args_parse(int argc, char **argv, struct dtp_launch_args *a)
{
	long v;
	int c;

	dtp_stage_opts_default(&a->o);
	a->stage_opt = -1;
	a->threads = 0;
	a->max_restarts = -1;
	while ((c = getopt_long(argc, argv, "p:s:t:qhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p': a->plan_path = optarg; break;
		case 's':
			if (parse_long("--stage", optarg, 0, DTP_MAX_STAGES - 1, &v))
				return -EINVAL;
			a->stage_opt = (int)v;
			break;
		case OPT_STEPS:
			if (parse_long("--steps", optarg, 1, DTP_MAX_STEPS, &v))
				return -EINVAL;
			a->o.steps = v;
			break;
		case OPT_EPOCHS:
			if (parse_long("--epochs", optarg, 1, DTP_MAX_EPOCHS, &v))
				return -EINVAL;
			a->o.epochs = (int)v;
			break;
		case 't': {
			enum dtp_transport_kind k;

			if (dtp_transport_kind_parse(optarg, &k)) {
				fprintf(stderr, "dtpipe: --transport %s: use auto, verbs, tcp or shm\n",
					optarg);
				return -EINVAL;
			}
			a->o.transport = k;
			a->transport_given = 1;
			break;
		}
		case OPT_METRICS: a->o.metrics_path = optarg; break;
		case OPT_TRACE: a->o.trace_path = optarg; break;
		case OPT_CKPT:
			if (a->o.checkpoint_dir && strcmp(optarg, a->o.checkpoint_dir)) {
				fprintf(stderr, "dtpipe: --checkpoint-dir %s and %s differ: give one\n",
					optarg, a->o.checkpoint_dir);
				return -EINVAL;
			}
			a->o.checkpoint_dir = optarg;
			break;
		case OPT_RESUME:
		case OPT_RESUME_IF_ANY: {
			const char *name = c == OPT_RESUME ? "--resume" : "--resume-if-any";
			int how = c == OPT_RESUME ? DTP_RESUME : DTP_RESUME_IF_ANY;

			/* --resume=DIR, --resume DIR, or --resume alone */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			if (optarg && a->o.checkpoint_dir && strcmp(optarg, a->o.checkpoint_dir)) {
				fprintf(stderr, "dtpipe: %s %s and --checkpoint-dir %s differ: give one\n",
					name, optarg, a->o.checkpoint_dir);
				return -EINVAL;
			}
			if (a->o.resume && a->o.resume != how) {
				fprintf(stderr, "dtpipe: --resume and --resume-if-any: give one\n");
				return -EINVAL;
			}
			if (optarg)
				a->o.checkpoint_dir = optarg;
			a->o.resume = how;
			break;
		}
		case OPT_MEMCAP:
			if (dtp_parse_size(optarg, &a->o.mem_cap) || a->o.mem_cap == 0) {
				fprintf(stderr, "dtpipe: --mem-cap %s: expected a size such as 512M or 2G\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_NONFINITE: {
			int skip;

			if (dtp_nonfinite_parse(optarg, &skip)) {
				fprintf(stderr, "dtpipe: --nonfinite %s: use stop or skip\n", optarg);
				return -EINVAL;
			}
			a->o.nonfinite = skip ? 2 : 1;
			break;
		}
		case OPT_MAX_RESTARTS:
			if (parse_long("--max-restarts", optarg, 0, 1 << 20, &v))
				return -EINVAL;
			a->max_restarts = (int)v;
			break;
		case OPT_ELASTIC: a->elastic = 1; break;
		case OPT_THREADS:
			if (parse_long("--threads", optarg, 1, 4096, &v))
				return -EINVAL;
			a->threads = (int)v;
			break;
		case OPT_DATA: a->o.data_dir = optarg; break;
		case OPT_HEARTBEAT:
			if (parse_long("--heartbeat-ms", optarg, 10, 1 << 30, &v))
				return -EINVAL;
			a->o.heartbeat_ms = (int)v;
			break;
		case OPT_PEER_TIMEOUT:
			if (parse_long("--peer-timeout-ms", optarg, 20, 1 << 30, &v))
				return -EINVAL;
			a->o.peer_timeout_ms = (int)v;
			break;
		case OPT_HANG_TIMEOUT:
			if (parse_long("--hang-timeout-ms", optarg, 20, 1 << 30, &v))
				return -EINVAL;
			a->o.hang_timeout_ms = (int)v;
			break;
		case OPT_PRECISION: {
			enum dtp_precision pr;
			struct dtp_err e;

			if (dtp_precision_parse(optarg, &pr, &e)) {
				fprintf(stderr, "dtpipe: --precision: %s\n", e.msg);
				return -EINVAL;
			}
			a->o.precision = (int)pr;
			break;
		}
		case OPT_FP32_MATMUL: {
			enum dtp_fp32_matmul fb;
			struct dtp_err e;

			if (dtp_fp32_matmul_parse(optarg, &fb, &e) || dtp_fp32_matmul_check(fb, &e)) {
				fprintf(stderr, "dtpipe: --fp32-matmul: %s\n", e.msg);
				return -EINVAL;
			}
			a->o.fp32_matmul = (int)fb;
			break;
		}
		case 'q': a->o.quiet = 1; break;
		case OPT_DEFAULT_PLAN: a->print_default = 1; break;
		case 'h': a->help = 1; break;
		case 'V': a->version = 1; break;
		case OPT_JOB_KEY: a->o.job_key = strtoull(optarg, NULL, 0); break;
		case OPT_PROGRESS: a->o.progress = 1; break;
		case OPT_DUMP: a->o.dump_dir = optarg; break;
		case OPT_NO_BIND: a->no_bind = 1; break;
		case OPT_MERGE_TRACE: a->merge_trace = optarg; break;
		case OPT_CHECK_ENV: a->check_env = 1; break;
		case OPT_TOPOLOGY: a->topology = optarg; break;
		default:
			fprintf(stderr, "Try 'dtpipe --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dtpipe: unexpected argument '%s'; try 'dtpipe --help'\n", argv[optind]);
		return -EINVAL;
	}
	if (a->topology && !a->check_env) {
		fprintf(stderr, "dtpipe: --topology goes with --check-env (dtpipe-partition plans for "
			"other machines); try 'dtpipe --help'\n");
		return -EINVAL;
	}
	return 0;
}

#define PLAN_STREAM_MAX (1 << 20)
/* how long a pipe may wait for its writer to open it and write, seconds */
#define PLAN_FIFO_WAIT_S 5

int dtp_args_plan_once(struct dtp_launch_args *a, int argc, char **argv, char *arg, size_t len,
		       struct dtp_err *err)
{
	const char *path = a->plan_path;
	struct stat st;
	char *text;
	size_t got = 0;
	ssize_t n;
	int fd, mfd, pre, argi = 0;

	if (!path || stat(path, &st) != 0 || S_ISREG(st.st_mode))
		return 0;   /* the loader names a missing file */
	if (S_ISDIR(st.st_mode)) {
		return dtp_errf_input(err, -EISDIR,
				      "--plan %s: is a directory: give the plan file (an INI file, docs/plan-format.md)",
				      path);
	}
	/* non-blocking: a FIFO nobody writes to reads as empty instead of hanging */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		return dtp_errf_input(err, -errno, "--plan %s: cannot open the plan: %s", path,
				      strerror(errno));
	}
	/* a pipe's writer may start beside us and open it after we do (a read
	 * then would see no writer yet, and EOF): wait a while for its first
	 * bytes, or its end */
	if (S_ISFIFO(st.st_mode)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		while (poll(&pf, 1, PLAN_FIFO_WAIT_S * 1000) < 0 && errno == EINTR)
			;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	text = malloc(PLAN_STREAM_MAX);
	if (!text) {
		close(fd);
		return dtp_errf_runtime(err, -ENOMEM, "--plan %s: out of memory to read it", path);
	}
	while (got < PLAN_STREAM_MAX && (n = read(fd, text + got, PLAN_STREAM_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got == 0 || got == PLAN_STREAM_MAX) {
		char why[64] = "a stream of 1 MiB or more is no plan";

		free(text);
		if (got == 0 && S_ISFIFO(st.st_mode))
			snprintf(why, sizeof(why), "empty (nothing was written to it within %d s)",
				 PLAN_FIFO_WAIT_S);
		else if (got == 0)
			snprintf(why, sizeof(why), "empty (nothing was written to it)");
		return dtp_errf_input(err, -EINVAL,
				      "--plan %s: %s: give the plan file (an INI file, docs/plan-format.md)",
				      path, why);
	}
	/* inherited by the stages (no MFD_CLOEXEC) */
	mfd = memfd_create("dtpipe-plan", 0);
	if (mfd < 0 || write(mfd, text, got) != (ssize_t)got) {
		int r = dtp_errf_runtime(err, -EIO, "--plan %s: cannot keep the plan for the stages: %s",
					 path, strerror(errno));

		free(text);
		if (mfd >= 0)
			close(mfd);
		return r;
	}
	free(text);
	/* the element that holds the argument: "--plan=", "-p" or nothing before it */
	for (int i = 1; i < argc; i++)
		if (a->plan_path >= argv[i] && a->plan_path < argv[i] + strlen(argv[i]))
			argi = i;
	pre = argi ? (int)(a->plan_path - argv[argi]) : 0;
	snprintf(arg, len, "%.*s/proc/self/fd/%d", pre, argi ? argv[argi] : "", mfd);
	if (argi)
		argv[argi] = arg;
	a->plan_path = arg + pre;
	return 0;
}

int dtp_args_check_output(const char *opt, const char *path, struct dtp_err *err)
{
	char dir[4096];
	const char *slash;
	struct stat st;

	if (!path)
		return 0;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			return dtp_errf_input(err, -EISDIR, "%s %s: is a directory: give a file name", opt,
					      path);
		}
		if (access(path, W_OK) != 0) {
			return dtp_errf_input(err, -errno, "%s %s: cannot write it: %s", opt, path,
					      strerror(errno));
		}
		return 0;
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
		return dtp_errf_input(err, -EINVAL, "%s %s: cannot create it: %s %s", opt, path, dir,
				      stat(dir, &st) != 0 ? "does not exist" :
				      !S_ISDIR(st.st_mode) ? "is not a directory" : "is not writable");
	}
	return 0;
}

