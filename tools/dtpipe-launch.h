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
	int max_restarts;        /* --max-restarts N (-1: the plan's [checkpoint] max_restarts) */
	int elastic;             /* --elastic: a restart re-plans over the cores left */
	int print_default, help, version;
	int check_env;               /* --check-env: report on this host and exit */
	const char *topology;        /* --topology FILE.xml (with --check-env) */
};

/* How one launch of the job ended, beside its exit status: the first stage
 * that failed and its waitpid status, the user's signal, the newest step a
 * stage reported (for the restart's message). */
struct dtp_launch_end {
	int failed;              /* the first stage that failed, -1: none */
	int wstatus;             /* its waitpid status */
	int interrupted;         /* the user's signal, 0: none */
	int broken;              /* the launcher itself failed (start, poll) */
	long last_step;          /* the newest "step N" a stage printed, -1: none */
	int preempted;           /* a stage exited DTP_EXIT_PREEMPTED */
	int threads;             /* BLAS threads of stage 0 (every stage's, for --elastic) */
};

/* Returns the exit status for dtpipe (base/exit.h): 0; 2 when a stage found
 * bad input; 1 when a stage failed otherwise or was killed by a signal; 75
 * when a stop signal made every stage checkpoint and exit 75; 128 + N when
 * the user's signal N (SIGINT, SIGTERM, SIGHUP) stopped the job otherwise.
 * `salt` makes each attempt's job key its own; `end` (or NULL) says how it
 * ended. */
int dtp_launch_all(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv, unsigned salt, struct dtp_launch_end *end);

/* launch-restart.c: dtp_launch_all, and after a failure that a restart can
 * mend (a stage's runtime failure or its death by a signal the user did not
 * send) the whole job again from the newest complete checkpoint, up to
 * --max-restarts times; with --elastic over the cores this process may run
 * on now (launch-elastic.c). The status is the last attempt's. */
int dtp_launch_job(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv);

/* [parallel] replicas > 1 on one machine (launch-mpi.c): exec mpirun with
 * the R x K ranks of the plan running this program with the same arguments.
 * Returns only on failure (-errno, err says why: no MPI in this build, a plan
 * from a pipe, mpirun missing). */
int dtp_launch_mpirun(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		      char **argv, struct dtp_err *err);

#endif
