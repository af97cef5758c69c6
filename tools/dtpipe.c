/* dtpipe: train a model with synchronous pipeline parallelism.
 *
 * With a rank (--stage N, or the launcher's environment) this process runs
 * that stage; with none it launches every stage of the plan on this machine
 * and supervises them (dtpipe-launch.c). Without --plan it runs the embedded
 * default plan (examples/fashion-mnist.ini). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "partition/place.h"
#include "partition/plan.h"
#include "pipeline/pipeline.h"
#include "rdma/bootstrap.h"
#include "rdma/dp.h"
#include "rdma/transport.h"
#include "check-env.h"
#include "dtpipe-args.h"
#include "dtpipe-launch.h"
#include "tools/default-plan.h"

static int load_plan(const struct dtp_launch_args *a, struct dtp_plan *plan, struct dtp_err *err)
{
	if (a->plan_path)
		return dtp_plan_load(a->plan_path, plan, err);
	return dtp_plan_parse_string(dtp_default_plan_text, "<default plan: examples/fashion-mnist.ini>",
				     plan, err);
}

/* With replicas, a rank whose stage names no cores takes its share of the
 * node among all the job's ranks there (local_rank of local_size). */
static int place_replica(struct dtp_topo *topo, const struct dtp_plan *plan, int stage,
			 struct dtp_dp *dp, char *cores, char *nic, int *shared,
			 struct dtp_err *err)
{
	char (*lists)[DTP_CPULIST_MAX];
	int lr, ls, r;

	r = dtp_place_stage(topo, plan, stage, cores, nic, shared, err);
	if (r || plan->stages[stage].cores[0])
		return r;
	dtp_dp_node(dp, &lr, &ls);
	lists = calloc((size_t)ls, sizeof(*lists));
	if (!lists)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	r = dtp_place_split(topo, ls, lists, shared, err);
	if (r == 0)
		snprintf(cores, DTP_CPULIST_MAX, "%s", lists[lr]);
	free(lists);
	return r;
}

/* Pin this stage to its cores and size OpenBLAS's pool to them. */
static int place_self(const struct dtp_launch_args *a, const struct dtp_plan *plan, int stage,
		      struct dtp_err *err)
{
	struct dtp_topo *topo;
	struct dtp_bind_info bi;
	char cores[DTP_CPULIST_MAX], nic[DTP_NIC_MAX];
	int shared, r, threads = a->threads;

	if (!a->no_bind) {
		r = dtp_topo_load(NULL, &topo, err);
		if (r)
			return r;
		if (a->o.dp)
			r = place_replica(topo, plan, stage, a->o.dp, cores, nic, &shared, err);
		else
			r = dtp_place_stage(topo, plan, stage, cores, nic, &shared, err);
		if (r == 0)
			r = dtp_place_bind(topo, cores, &bi, err);
		dtp_topo_destroy(topo);
		if (r)
			return r;
		if (threads <= 0)
			threads = bi.n_pus;
		dtp_debug("stage %d: bound to cores %s%s, nic %s", stage, cores,
			  shared ? " (shared)" : "", nic[0] ? nic : "-");
	}
	dtp_blas_set_threads(threads);
	return 0;
}

static int run_stage(struct dtp_launch_args *a, const struct dtp_plan *plan, int stage)
{
	struct dtp_err err = { 0 };
	const char *key;
	int r;

	r = place_self(a, plan, stage, &err);
	if (r) {
		fprintf(stderr, "dtpipe: stage %d: %s\n", stage, err.msg);
		return dtp_err_exit(&err, r);
	}
	if (!a->o.job_key && (key = getenv("DTP_JOB_KEY")))
		a->o.job_key = strtoull(key, NULL, 0);
	if (!a->o.job_key && (key = getenv("SLURM_JOB_ID")))
		a->o.job_key = strtoull(key, NULL, 10);
	a->o.stage = stage;
	/* SIGTERM, SIGINT, SIGUSR1: stop after this step (base/preempt.h) */
	r = dtp_preempt_install(&err);
	if (r == 0)
		r = dtp_stage_run(plan, &a->o, &err);
	if (r) {
		enum dtp_err_class cls = dtp_err_class(&err, r);

		/* a stop on request: every stage ends alike, the last one says it */
		if ((cls != DTP_ERRC_PREEMPTED && cls != DTP_ERRC_INTERRUPTED) ||
		    stage == plan->num_stages - 1)
			fprintf(stderr, "dtpipe: stage %d: %s\n", stage, err.msg);
		return dtp_err_exit(&err, r);
	}
	return 0;
}

/* One rank of an R x K job started by mpirun or srun --mpi=pmix: stage
 * rank % K of replica rank / K. A rank that fails ends the whole job
 * (MPI_Abort with its status), so no rank waits on it in a collective. */
static int run_rank(struct dtp_launch_args *a, const struct dtp_plan *plan)
{
	struct dtp_err err = { 0 };
	struct dtp_dp *dp;
	const char *key;
	uint64_t k = a->o.job_key;
	int r, status;

	r = dtp_dp_open(plan->replicas, plan->num_stages, &dp, &err);
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	/* world rank 0's job key for all (the handshake refuses other jobs) */
	if (!k && (key = getenv("DTP_JOB_KEY")))
		k = strtoull(key, NULL, 0);
	if (!k && (key = getenv("SLURM_JOB_ID")))
		k = strtoull(key, NULL, 10);
	if (!k && dtp_dp_world_rank(dp) == 0)
		k = ((uint64_t)getpid() << 32) ^ dtp_now_ns();
	r = dtp_dp_bcast_u64(dp, &k, &err);
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		dtp_dp_abort(dp, dtp_err_exit(&err, r));
	}
	a->o.job_key = k;
	a->o.dp = dp;
	/* a measured run (--metrics) ends with the gradient sums' benchmark line;
	 * decided from the command line, which every rank shares */
	a->o.measure_reduce = a->o.metrics_path != NULL;
	if (dtp_dp_replica(dp) > 0) {
		/* replica 0 reports, writes the metrics, trace and dumps */
		a->o.quiet = 1;
		a->o.progress = 0;
		a->o.metrics_path = a->o.trace_path = a->o.dump_dir = NULL;
	}
	status = run_stage(a, plan, dtp_dp_stage(dp));
	fflush(stdout);
	fflush(stderr);
	/* stopped on request: every rank stopped after the same step (ctrl.c),
	 * and replica 0 may still be writing the checkpoint, so all wait for all
	 * before leaving (an abort would kill the writers) */
	if (status == DTP_EXIT_PREEMPTED && dtp_dp_barrier(dp, &err) == 0) {
		dtp_dp_close(dp);
		return status;
	}
	if (status)
		dtp_dp_abort(dp, status);
	dtp_dp_close(dp);
	return status;
}

/* [parallel] replicas > 1: under an MPI launcher each process is one rank;
 * started alone, dtpipe starts the job through mpirun. */
static int run_replicated(struct dtp_launch_args *a, const struct dtp_plan *plan,
			  enum dtp_rank_source src, int argc, char **argv)
{
	struct dtp_err err = { 0 };
	int r;

	if (src == DTP_RANK_OPTION) {
		fprintf(stderr, "dtpipe: --stage: %s has [parallel] replicas = %d: its ranks are started by mpirun or srun --mpi=pmix (or by dtpipe --plan alone), not one by one\n",
			plan->path, plan->replicas);
		return DTP_EXIT_BADINPUT;
	}
	if (!dtp_dp_built()) {
		struct dtp_dp *none;

		r = dtp_dp_open(plan->replicas, plan->num_stages, &none, &err);
		fprintf(stderr, "dtpipe: %s: %s\n", plan->path, err.msg);
		return dtp_err_exit(&err, r);
	}
	if (src == DTP_RANK_NONE && !dtp_dp_launched()) {
		if (dtp_plan_warnings(plan)[0])
			fputs(dtp_plan_warnings(plan), stderr);
		r = dtp_launch_mpirun(a, plan, argc, argv, &err);
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	if (!dtp_dp_launched()) {
		fprintf(stderr, "dtpipe: %s has [parallel] replicas = %d, and this process was started without MPI (%s is set, but no PMIx or Open MPI rank): start the job with srun --mpi=pmix -n %d or mpirun -np %d\n",
			plan->path, plan->replicas, dtp_rank_source_name(src),
			plan->replicas * plan->num_stages, plan->replicas * plan->num_stages);
		return DTP_EXIT_BADINPUT;
	}
	return run_rank(a, plan);
}

int main(int argc, char **argv)
{
	struct dtp_launch_args a = { 0 };
	struct dtp_err err = { 0 };
	struct dtp_plan *plan;
	enum dtp_rank_source src;
	char plan_arg[DTP_PLAN_PATH_MAX + 64], why[600];
	int r, rank, status;

	if (dtp_args_parse(argc, argv, &a))
		return DTP_EXIT_BADINPUT;
	if (a.help) {
		dtp_args_usage(stdout);
		return 0;
	}
	if (a.version) {
		printf("dtpipe %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (a.print_default) {
		fputs(dtp_default_plan_text, stdout);
		return 0;
	}
	if (a.check_env)
		return dtp_check_env(a.plan_path, a.topology);
	r = dtp_args_plan_once(&a, argc, argv, plan_arg, sizeof(plan_arg), &err);
	if (r == 0 && !a.merge_trace)
		r = dtp_args_check_output("--metrics", a.o.metrics_path, &err);
	if (r == 0 && !a.merge_trace)
		r = dtp_args_check_output("--trace", a.o.trace_path, &err);
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	plan = malloc(sizeof(*plan));
	if (!plan)
		return DTP_EXIT_FAIL;
	r = load_plan(&a, plan, &err);
	/* schedule = auto: every process picks the same, from the model's FLOPs,
	 * for the plan as the command line changes it (--mem-cap, --transport) */
	if (r == 0) {
		dtp_run_apply_overrides(plan, &a.o);
		r = dtp_plan_resolve_schedule(plan, why, sizeof(why), &err);
	}
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		free(plan);
		return dtp_err_exit(&err, r);
	}
	if (a.merge_trace) {
		r = dtp_trace_merge(a.merge_trace, plan->num_stages, &err);
		if (r)
			fprintf(stderr, "dtpipe: %s\n", err.msg);
		else
			printf("trace written to %s (open it in https://ui.perfetto.dev)\n", a.merge_trace);
		free(plan);
		return dtp_err_exit(&err, r);
	}
	r = dtp_rank_detect(a.stage_opt, &rank, &src, &err);
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		free(plan);
		return DTP_EXIT_BADINPUT;
	}
	/* said once: by the launcher, or by stage 0 of an srun/mpirun job */
	if (why[0] && (src == DTP_RANK_NONE || (rank == 0 && src != DTP_RANK_OPTION)))
		fprintf(stderr, "dtpipe: %s\n", why);
	if (plan->replicas > 1) {
		status = run_replicated(&a, plan, src, argc, argv);
	} else if (src == DTP_RANK_NONE) {
		if (dtp_plan_warnings(plan)[0])
			fputs(dtp_plan_warnings(plan), stderr);
		status = dtp_launch_job(&a, plan, argc, argv);
	} else if (rank >= plan->num_stages) {
		fprintf(stderr, "dtpipe: stage %d (from %s) does not exist: %s has stages 0..%d\n",
			rank, dtp_rank_source_name(src), plan->path, plan->num_stages - 1);
		status = DTP_EXIT_BADINPUT;
	} else {
		status = run_stage(&a, plan, rank);
	}
	free(plan);
	return status;
}

