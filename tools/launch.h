/* The parts of dtpipe's local launcher (dtpipe-launch.c): starting the stages
 * (launch-start.c), supervising them (launch-supervise.c) and turning how they
 * ended into one exit status (launch-status.c). Internal to tools/dtpipe. */
#ifndef DTP_TOOLS_LAUNCH_H
#define DTP_TOOLS_LAUNCH_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "partition/place.h"
#include "partition/plan.h"

#define DTP_LAUNCH_OUT_BUF 4096

struct dtp_launch_stage {
	pid_t pid;                      /* 0 until started */
	int out_fd, err_fd;             /* read ends of its stdout, stderr; -1 once closed */
	int reaped;
	int wstatus;                    /* waitpid's status once reaped */
	char out_buf[DTP_LAUNCH_OUT_BUF], err_buf[DTP_LAUNCH_OUT_BUF];
	size_t out_len, err_len;
	int placed;                     /* cores is this stage's cpulist on this machine */
	char cores[DTP_CPULIST_MAX];
	int threads;                    /* OPENBLAS_NUM_THREADS for it */
};

struct dtp_launch {
	int num_stages;                 /* in the plan */
	int started;                    /* stages 0..started-1 have a process */
	struct dtp_launch_stage *st;
	struct dtp_topo *topo;          /* NULL: do not pin */
	pid_t self;                     /* the launcher, the stages' parent */
	sigset_t old_mask;              /* the mask before the launcher blocked its signals */
	int sfd;                        /* signalfd: SIGCHLD and the user's signals */
	int bar;                        /* a '\r' progress line is on the terminal */
	uint64_t term_at;               /* when the echo's grace ends, 0: not running */
	uint64_t kill_at;               /* when to SIGKILL the stages left, 0: not */
	/* how it ended (launch-status.c) */
	int failed;                     /* the first stage that failed, -1: none */
	int echo;                       /* the first that exited 1 (maybe an echo of the
					 * cause) while the others are given time, -1 */
	int interrupted;                /* the user's signal, 0: none */
	int aborted;                    /* the stages were told to abort (a failure, a
					 * second signal, SIGHUP), not to stop at a step's end */
	int ckpt;                       /* the run has a checkpoint directory */
	int broken;                     /* the launcher itself failed (start, poll) */
	long last_step;                 /* the newest "step N" a stage printed, -1: none */
};

/* the signals the launcher reads from its signalfd instead of dying of them:
 * SIGCHLD, SIGHUP and the stop signals (base/preempt.h) */
void dtp_launch_sigset(sigset_t *set);

/* launch-start.c: place each stage (cores, threads) and start stage s as
 * `argv --stage s --job-key key [--progress]`, its output on two pipes. A
 * started stage gets SIGKILL when the launcher dies. */
int dtp_launch_place(struct dtp_launch *l, const struct dtp_plan *plan, int threads_opt,
		     struct dtp_err *err);
int dtp_launch_start(struct dtp_launch *l, int s, int argc, char **argv,
		     unsigned long long key, int progress, struct dtp_err *err);

/* launch-supervise.c: forward the stages' output until every stage has
 * exited and its pipes are drained; stop the others when one fails or the
 * user interrupts. */
void dtp_launch_supervise(struct dtp_launch *l);
void dtp_launch_kill_live(struct dtp_launch *l, int sig);
/* Abort the stages still running (SIGTERM relayed as an abort,
 * base/preempt.h), SIGKILL to those left after a grace. */
void dtp_launch_stop(struct dtp_launch *l);

/* launch-elastic.c: the cores this process may run on (sched_getaffinity),
 * and the plan split again over them for a restart (--elastic) */
#define DTP_LAUNCH_MAX_CPUS 1024
struct dtp_launch_cpus {
	int n;
	int cpu[DTP_LAUNCH_MAX_CPUS];
	char list[DTP_LAUNCH_MAX_CPUS * 6];     /* "0,1,5" */
};
int dtp_launch_cpus(struct dtp_launch_cpus *c, struct dtp_err *err);
int dtp_launch_cpus_equal(const struct dtp_launch_cpus *a, const struct dtp_launch_cpus *b);
/* `in` split over as many stages as cpus hold at `threads` each (1 ..
 * its units), each pinned to its share; out is the new plan, plan_fd a
 * memfd holding its text for the stages (--plan /proc/self/fd/N) */
int dtp_launch_replan(const struct dtp_plan *in, const struct dtp_launch_cpus *cpus, int threads,
		      struct dtp_plan *out, int *plan_fd, struct dtp_err *err);

/* launch-status.c */
/* Whether a stage that ended with waitpid status wstatus succeeded; if not,
 * say how it ended ("failed (exit status 2)", "was killed by signal SIGKILL"). */
int dtp_launch_stage_ok(int wstatus);
/* Whether a stage stopped on request (a stop signal, base/preempt.h): it
 * exited 75 after a checkpoint, or 128 + the signal without one. */
int dtp_launch_stage_stopped(int wstatus);
/* Whether a stage died of a stop signal (its second: the user aborted). */
int dtp_launch_stage_aborted(int wstatus);
void dtp_launch_report_end(int s, int wstatus);
/* The user's signal sig arrived: say so (once); stop: the stages were asked
 * to stop at the step's end (with a checkpoint when ckpt), else to abort. */
void dtp_launch_report_interrupt(int sig, int stop, int ckpt);
/* The job's exit status (base/exit.h) from how the stages ended. */
int dtp_launch_status(const struct dtp_launch *l);

#endif
