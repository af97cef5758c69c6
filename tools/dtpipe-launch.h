/* dtpipe's local launcher: start every stage of a plan on this machine as a
 * child process, forward their output with a "[stage N] " prefix, and stop
 * the rest when one fails. */
#ifndef DTP_TOOLS_DTPIPE_LAUNCH_H
#define DTP_TOOLS_DTPIPE_LAUNCH_H

#include "partition/plan.h"
#include "pipeline/pipeline.h"

struct dtp_launch_args {
	struct dtp_stage_opts o;
	const char *plan_path;
	int stage_opt;           /* --stage, -1 if not given */
	int threads;             /* --threads, 0 = the stage's cores */
	int transport_given;
	int no_bind;
	const char *merge_trace;     /* --merge-trace FILE: join FILE.stage-N and exit */
	int print_default, help, version;
	int check_env;               /* --check-env: report on this host and exit */
	const char *topology;        /* --topology FILE.xml (with --check-env) */
};

/* Returns the exit status for dtpipe (base/exit.h): 0; 2 when a stage found
 * bad input; 1 when a stage failed otherwise or was killed by a signal; 75
 * when a stop signal made every stage checkpoint and exit 75; 128 + N when
 * the user's signal N (SIGINT, SIGTERM, SIGHUP) stopped the job otherwise. */
int dtp_launch_all(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv);

/* [parallel] replicas > 1 on one machine (launch-mpi.c): exec mpirun with
 * the R x K ranks of the plan running this program with the same arguments.
 * Returns only on failure (-errno, err says why: no MPI in this build, a plan
 * from a pipe, mpirun missing). */
int dtp_launch_mpirun(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		      char **argv, struct dtp_err *err);

#endif
