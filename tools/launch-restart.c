/* Automatic recovery (dtpipe-launch.h): run the job; when it failed in a way
 * a restart can mend, run the whole job again from the newest complete
 * checkpoint (--resume DIR; from scratch while there is none), up to
 * --max-restarts times, saying what failed and what it does:
 *
 *   dtpipe: stage 2 was killed by SIGKILL at step ~40; restart 1/3 from checkpoint step-00000030
 *
 * A restart mends a runtime failure: a stage that exited 1 (a lost peer, an
 * I/O error) or was killed by a signal the user did not send (SIGKILL from the
 * OOM killer or a person's kill -9, SIGSEGV, SIGBUS...). It does not mend bad
 * input (exit 2: the same input fails again), the user's signal (the launcher
 * was interrupted, or a stage died of SIGINT, SIGTERM or SIGHUP: the user or
 * the batch system stops the job), a stage stopped as resumable (exit 75,
 * preemption: the batch system requeues it) or a launcher that itself failed.
 * With --elastic a restart also re-plans over the cores left
 * (launch-elastic.c). Every attempt is a fresh launch: new processes, new job
 * key, the same ports. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "dtpipe-launch.h"
#include "launch.h"

#define ARG_MAX_LEN (DTP_PLAN_PATH_MAX + 32)

/* whether a restart can mend the attempt that ended so */
static int restartable(int status, const struct dtp_launch_end *e)
{
	if (status != DTP_EXIT_FAIL || e->failed < 0 || e->interrupted || e->broken || e->preempted)
		return 0;
	if (WIFSIGNALED(e->wstatus)) {
		int sig = WTERMSIG(e->wstatus);

		return sig != SIGINT && sig != SIGTERM && sig != SIGHUP;
	}
	return WIFEXITED(e->wstatus) && WEXITSTATUS(e->wstatus) == DTP_EXIT_FAIL;
}

/* "stage 2 was killed by SIGKILL at step ~40" */
static void describe(const struct dtp_launch_end *e, char *buf, size_t len)
{
	size_t n;

	if (WIFSIGNALED(e->wstatus))
		n = (size_t)snprintf(buf, len, "stage %d was killed by SIG%s", e->failed,
				     sigabbrev_np(WTERMSIG(e->wstatus)) ? sigabbrev_np(WTERMSIG(e->wstatus)) : "?");
	else
		n = (size_t)snprintf(buf, len, "stage %d failed (exit status %d)", e->failed,
				     WEXITSTATUS(e->wstatus));
	if (e->last_step >= 0 && n < len)
		snprintf(buf + n, len - n, " at step ~%ld", e->last_step);
}

struct restart {
	const struct dtp_launch_args *a;
	const char *ckdir;                 /* "" or NULL: the run writes no checkpoints */
	int elastic;
	struct dtp_launch_cpus cpus;       /* the cores of the last attempt (--elastic) */
	struct dtp_plan *replanned;        /* the plan of the last re-plan, NULL: none yet */
	int plan_fd;                       /* its memfd, -1: none */
	char resume_arg[ARG_MAX_LEN];      /* "--resume-if-any=DIR" */
	char plan_arg[64];                 /* "--plan=/proc/self/fd/N" */
};

/* --elastic: when the cores changed, split again over those left. 1 when the
 * plan changed, 0 when not, or a negative errno (the message said why). */
static int maybe_replan(struct restart *rs, const struct dtp_plan *plan, int threads)
{
	struct dtp_launch_cpus now;
	struct dtp_err err = { 0 };
	struct dtp_plan *next;
	int fd, r;

	r = dtp_launch_cpus(&now, &err);
	if (r == 0 && dtp_launch_cpus_equal(&now, &rs->cpus))
		return 0;
	next = malloc(sizeof(*next));
	if (!next)
		r = dtp_errf_runtime(&err, -ENOMEM, "--elastic: out of memory for a new plan");
	if (r == 0)
		r = dtp_launch_replan(plan, &now, threads, next, &fd, &err);
	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		free(next);
		return r;
	}
	fprintf(stderr, "dtpipe: --elastic: this process may run on %d core%s now (%s), %d before: "
		"%d stage%s of %d thread%s each, units",
		now.n, now.n == 1 ? "" : "s", now.list, rs->cpus.n, next->num_stages,
		next->num_stages == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
	for (int s = 0; s < next->num_stages; s++)
		fprintf(stderr, " %d-%d", next->stages[s].first_unit, next->stages[s].last_unit - 1);
	fprintf(stderr, " (min-max split)\n");
	rs->cpus = now;
	free(rs->replanned);
	rs->replanned = next;
	if (rs->plan_fd >= 0)
		close(rs->plan_fd);
	rs->plan_fd = fd;
	snprintf(rs->plan_arg, sizeof(rs->plan_arg), "--plan=/proc/self/fd/%d", fd);
	return 1;
}

/* say what failed and what happens next; set the resume argument. 0, or a
 * negative errno when the job cannot go on. */
static int prepare(struct restart *rs, const struct dtp_plan *plan, const struct dtp_launch_end *e,
		   int attempt, int max)
{
	char what[128], from[64] = "from scratch (no checkpoint yet)";
	struct dtp_err err = { 0 };
	long step;
	int r;

	describe(e, what, sizeof(what));
	rs->resume_arg[0] = '\0';
	if (rs->ckdir && rs->ckdir[0]) {
		r = dtp_checkpoint_newest(rs->ckdir, &step, &err);
		if (r == 0) {
			snprintf(from, sizeof(from), "from checkpoint step-%08ld", step);
			/* --resume-if-any: a checkpoint of the run's last step (a stage
			 * killed while the run was ending) then ends the run, not
			 * refused as "nothing to train"; a user's --resume stays */
			snprintf(rs->resume_arg, sizeof(rs->resume_arg), "%s=%s",
				 rs->a->o.resume == DTP_RESUME ? "--resume" : "--resume-if-any",
				 rs->ckdir);
		} else if (r != -ENOENT) {
			fprintf(stderr, "dtpipe: %s; cannot restart: %s\n", what, err.msg);
			return r;
		}
	}
	fprintf(stderr, "dtpipe: %s; restart %d/%d %s\n", what, attempt, max, from);
	if (rs->elastic) {
		r = maybe_replan(rs, rs->replanned ? rs->replanned : plan, e->threads);
		if (r < 0)
			return r;
	}
	return 0;
}

int dtp_launch_job(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv)
{
	int max = a->max_restarts >= 0 ? a->max_restarts : plan->max_restarts;
	struct restart rs = { .a = a, .elastic = a->elastic || plan->elastic, .plan_fd = -1 };
	struct dtp_launch_args args = *a;
	struct dtp_launch_end end;
	struct dtp_err err = { 0 };
	char **av;
	int status, n;

	if (max <= 0)
		return dtp_launch_all(a, plan, argc, argv, 0, NULL);
	rs.ckdir = a->o.checkpoint_dir ? a->o.checkpoint_dir : plan->checkpoint_dir;
	if (rs.elastic && dtp_launch_cpus(&rs.cpus, &err)) {
		fprintf(stderr, "dtpipe: --elastic: %s\n", err.msg);
		return dtp_err_exit(&err, err.code);
	}
	/* argv, then --resume=DIR and --plan=FD when a restart needs them (a later
	 * option overrides an earlier one) */
	av = calloc((size_t)argc + 3, sizeof(*av));
	if (!av) {
		fprintf(stderr, "dtpipe: out of memory\n");
		return DTP_EXIT_FAIL;
	}
	memcpy(av, argv, sizeof(*av) * (size_t)argc);
	for (int attempt = 0;; attempt++) {
		const struct dtp_plan *cur = rs.replanned ? rs.replanned : plan;

		n = argc;
		if (rs.resume_arg[0])
			av[n++] = rs.resume_arg;
		if (rs.replanned) {
			av[n++] = rs.plan_arg;
			/* every stage keeps the threads it had: bit-identical sums */
			args.threads = end.threads;
		}
		av[n] = NULL;
		status = dtp_launch_all(&args, cur, n, av, (unsigned)attempt, &end);
		if (!restartable(status, &end))
			break;
		if (attempt == max) {
			fprintf(stderr, "dtpipe: no restart left (%d of %d used): the job failed\n", max,
				max);
			break;
		}
		if (prepare(&rs, plan, &end, attempt + 1, max))
			break;
	}
	free(rs.replanned);
	if (rs.plan_fd >= 0)
		close(rs.plan_fd);
	free(av);
	return status;
}
