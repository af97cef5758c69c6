/* How the job ended (launch.h): one message for the first stage that failed
 * or for the user's signal, and one exit status from the table in
 * base/exit.h. A stage that exits 2 found bad input; any other failure,
 * including a stage killed by a signal, is a runtime failure (1); the user's
 * SIGINT, SIGTERM or SIGHUP before any failure is an interruption (128 + N);
 * a stop signal after which every stage wrote its checkpoint and exited 75
 * is a stop (75), and a job whose every stage succeeded succeeded (0). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "launch.h"

int dtp_launch_stage_ok(int wstatus)
{
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == DTP_EXIT_OK;
}

int dtp_launch_stage_stopped(int wstatus)
{
	int st = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;

	return st == DTP_EXIT_PREEMPTED ||
	       (st > DTP_EXIT_SIGNAL_BASE && dtp_preempt_is_stop_signal(st - DTP_EXIT_SIGNAL_BASE));
}

int dtp_launch_stage_aborted(int wstatus)
{
	return WIFSIGNALED(wstatus) && dtp_preempt_is_stop_signal(WTERMSIG(wstatus));
}

void dtp_launch_report_end(int s, int wstatus)
{
	char name[32];

	if (WIFSIGNALED(wstatus))
		fprintf(stderr, "dtpipe: stage %d was killed by signal %s: stopping the other stages\n",
			s, dtp_signal_name(WTERMSIG(wstatus), name));
	else
		fprintf(stderr, "dtpipe: stage %d failed (exit status %d): stopping the other stages\n",
			s, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

void dtp_launch_report_interrupt(int sig, int stop, int ckpt)
{
	char name[32];

	if (!stop)
		fprintf(stderr, "dtpipe: interrupted by %s: stopping the stages\n",
			dtp_signal_name(sig, name));
	else if (ckpt)
		fprintf(stderr, "dtpipe: interrupted by %s: every stage finishes its step and writes a checkpoint, then the job exits %d (resume with --resume); a second signal aborts at once\n",
			dtp_signal_name(sig, name), DTP_EXIT_PREEMPTED);
	else
		fprintf(stderr, "dtpipe: interrupted by %s: every stage stops after its step; no checkpoint directory is configured, so nothing is saved; a second signal aborts at once\n",
			dtp_signal_name(sig, name));
}

/* the class of one stage's end */
static enum dtp_err_class stage_class(const struct dtp_launch_stage *st)
{
	if (!st->reaped)
		return DTP_ERRC_RUNTIME;
	if (WIFEXITED(st->wstatus) && WEXITSTATUS(st->wstatus) == DTP_EXIT_OK)
		return DTP_ERRC_NONE;
	if (WIFEXITED(st->wstatus) && WEXITSTATUS(st->wstatus) == DTP_EXIT_BADINPUT)
		return DTP_ERRC_INPUT;
	if (WIFEXITED(st->wstatus) && WEXITSTATUS(st->wstatus) == DTP_EXIT_PREEMPTED)
		return DTP_ERRC_PREEMPTED;
	return DTP_ERRC_RUNTIME;
}

/* every stage ended with class cls (and all were started) */
static int all_ended(const struct dtp_launch *l, enum dtp_err_class cls)
{
	if (l->started < l->num_stages)
		return 0;
	for (int s = 0; s < l->started; s++)
		if (stage_class(&l->st[s]) != cls)
			return 0;
	return 1;
}

/* the stop signal of a stage that stopped without a checkpoint (128 + N), 0 */
static int stopped_signal(const struct dtp_launch *l)
{
	for (int s = 0; s < l->started; s++) {
		const struct dtp_launch_stage *st = &l->st[s];

		if (st->reaped && dtp_launch_stage_stopped(st->wstatus) &&
		    WEXITSTATUS(st->wstatus) > DTP_EXIT_SIGNAL_BASE)
			return WEXITSTATUS(st->wstatus) - DTP_EXIT_SIGNAL_BASE;
	}
	return 0;
}

int dtp_launch_status(const struct dtp_launch *l)
{
	enum dtp_err_class cls = DTP_ERRC_NONE;

	if (l->failed >= 0)
		cls = stage_class(&l->st[l->failed]);
	else if (l->broken)
		cls = DTP_ERRC_RUNTIME;
	else if (all_ended(l, DTP_ERRC_NONE))    /* a stop came after the last step */
		return DTP_EXIT_OK;
	else if (all_ended(l, DTP_ERRC_PREEMPTED))
		return DTP_EXIT_PREEMPTED;
	else if (l->interrupted)
		return dtp_exit_status(DTP_ERRC_INTERRUPTED, l->interrupted);
	else if (stopped_signal(l))
		return dtp_exit_status(DTP_ERRC_INTERRUPTED, stopped_signal(l));
	/* bad input on one stage (exit 2) is the cause of its neighbours' lost
	 * connections (exit 1), whichever exited first */
	for (int s = 0; s < l->started && cls == DTP_ERRC_RUNTIME; s++)
		if (l->st[s].reaped && stage_class(&l->st[s]) == DTP_ERRC_INPUT)
			cls = DTP_ERRC_INPUT;
	return dtp_exit_status(cls, 0);
}
