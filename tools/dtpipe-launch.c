/* The local launcher and supervisor (see dtpipe-launch.h): place the stages,
 * start them (launch-start.c), supervise them (launch-supervise.c) and exit
 * with one status for the job (launch-status.c). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "dtpipe-launch.h"
#include "launch.h"

/* Take SIGCHLD and the user's signals through a signalfd from now on. */
static int block_signals(struct dtp_launch *l, struct dtp_err *err)
{
	sigset_t set;
	int r;

	dtp_launch_sigset(&set);
	if (sigprocmask(SIG_BLOCK, &set, &l->old_mask))
		return dtp_errf_runtime(err, -errno, "cannot block signals: %s", strerror(errno));
	l->sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (l->sfd < 0) {
		r = -errno;
		dtp_errf_runtime(err, r, "cannot watch the stages (signalfd: %s)", strerror(-r));
		goto restore_mask;
	}
	return 0;

restore_mask:
	sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
	return r;
}

static void unblock_signals(struct dtp_launch *l)
{
	close(l->sfd);
	l->sfd = -1;
	sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
}

static void start_all(struct dtp_launch *l, int argc, char **argv, unsigned salt)
{
	unsigned long long key = ((unsigned long long)l->self << 32) ^ (unsigned long long)time(NULL) ^
				 ((unsigned long long)salt << 20);
	struct dtp_err err = { 0 };

	/* what the launcher printed must not be repeated by the children */
	fflush(stdout);
	fflush(stderr);
	for (int s = 0; s < l->num_stages; s++) {
		if (dtp_launch_start(l, s, argc, argv, key, isatty(STDOUT_FILENO), &err)) {
			fprintf(stderr, "dtpipe: %s: stopping the stages started\n", err.msg);
			l->broken = 1;
			dtp_launch_stop(l);
			return;
		}
		l->started = s + 1;
	}
}

static int merge_trace(const struct dtp_launch_args *a, const struct dtp_plan *plan)
{
	struct dtp_err err = { 0 };
	int r = dtp_trace_merge(a->o.trace_path, plan->num_stages, &err);

	if (r) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	if (!a->o.quiet)
		printf("trace written to %s (open it in https://ui.perfetto.dev)\n", a->o.trace_path);
	return DTP_EXIT_OK;
}

/* how the stages ended, for the restart loop */
static void tell_end(const struct dtp_launch *l, struct dtp_launch_end *end)
{
	*end = (struct dtp_launch_end){ .failed = l->failed, .interrupted = l->interrupted,
					.broken = l->broken, .last_step = l->last_step };
	if (l->failed >= 0)
		end->wstatus = l->st[l->failed].wstatus;
	if (l->num_stages > 0)
		end->threads = l->st[0].threads;
	for (int s = 0; s < l->started; s++)
		if (l->st[s].reaped && WIFEXITED(l->st[s].wstatus) &&
		    WEXITSTATUS(l->st[s].wstatus) == DTP_EXIT_PREEMPTED)
			end->preempted = 1;
}

int dtp_launch_all(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv, unsigned salt, struct dtp_launch_end *end)
{
	struct dtp_launch l = { .num_stages = plan->num_stages, .sfd = -1, .failed = -1,
				  .echo = -1, .last_step = -1,
				  .ckpt = a->o.checkpoint_dir || plan->checkpoint_dir[0] };
	struct dtp_err err = { 0 };
	int status;

	if (end)
		*end = (struct dtp_launch_end){ .failed = -1, .last_step = -1 };
	l.self = getpid();
	l.st = calloc((size_t)l.num_stages, sizeof(*l.st));
	if (!l.st) {
		fprintf(stderr, "dtpipe: out of memory for %d stages\n", l.num_stages);
		return DTP_EXIT_FAIL;
	}
	for (int s = 0; s < l.num_stages; s++)
		l.st[s].out_fd = l.st[s].err_fd = -1;
	if (!a->no_bind && dtp_topo_load(NULL, &l.topo, &err))
		dtp_warn("cannot load the machine topology, stages will not be pinned: %s", err.msg);
	if (dtp_launch_place(&l, plan, a->threads, &err) ||
	    block_signals(&l, &err)) {
		fprintf(stderr, "dtpipe: %s\n", err.msg);
		status = dtp_err_exit(&err, err.code);
		goto destroy_topo;
	}
	start_all(&l, argc, argv, salt);
	dtp_launch_supervise(&l);
	unblock_signals(&l);
	status = dtp_launch_status(&l);
	if (status == DTP_EXIT_OK && a->o.trace_path)
		status = merge_trace(a, plan);
destroy_topo:
	if (end)
		tell_end(&l, end);
	if (l.topo)
		dtp_topo_destroy(l.topo);
	free(l.st);
	return status;
}
