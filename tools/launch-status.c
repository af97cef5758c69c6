/* How the job ended (launch.h): one message for the first stage that failed
 * or for the user's signal, and one exit status from the table in
 * base/exit.h. A stage that exits 2 found bad input; any other failure,
 * including a stage killed by a signal, is a runtime failure (1); the user's
 * SIGINT, SIGTERM or SIGHUP before any failure is an interruption (128 + N). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "launch.h"

/* "SIGKILL"; "signal 42" for one without a name */
static const char *signal_name(int sig, char buf[32])
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, 32, "SIG%s", abbrev);
	else
		snprintf(buf, 32, "signal %d", sig);
	return buf;
}

int dtp_launch_stage_ok(int wstatus)
{
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == DTP_EXIT_OK;
}

void dtp_launch_report_end(int s, int wstatus)
{
	char name[32];

	if (WIFSIGNALED(wstatus))
		fprintf(stderr, "dtpipe: stage %d was killed by signal %s: stopping the other stages\n",
			s, signal_name(WTERMSIG(wstatus), name));
	else
		fprintf(stderr, "dtpipe: stage %d failed (exit status %d): stopping the other stages\n",
			s, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

void dtp_launch_report_interrupt(int sig)
{
	char name[32];

	fprintf(stderr, "dtpipe: interrupted by %s: stopping the stages\n", signal_name(sig, name));
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
	return DTP_ERRC_RUNTIME;
}

int dtp_launch_status(const struct dtp_launch *l)
{
	enum dtp_err_class cls = DTP_ERRC_NONE;

	if (l->failed >= 0)
		cls = stage_class(&l->st[l->failed]);
	else if (l->broken)
		cls = DTP_ERRC_RUNTIME;
	else if (l->interrupted)
		return dtp_exit_status(DTP_ERRC_INTERRUPTED, l->interrupted);
	/* bad input on one stage (exit 2) is the cause of its neighbours' lost
	 * connections (exit 1), whichever exited first */
	for (int s = 0; s < l->started && cls == DTP_ERRC_RUNTIME; s++)
		if (l->st[s].reaped && stage_class(&l->st[s]) == DTP_ERRC_INPUT)
			cls = DTP_ERRC_INPUT;
	return dtp_exit_status(cls, 0);
}
