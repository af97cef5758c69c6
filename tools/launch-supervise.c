/* Supervising the stages (launch.h): forward their output with a "[stage N] "
 * prefix, reap them, stop the others when one fails or the user interrupts
 * (SIGTERM relayed as an abort, then SIGKILL after a grace), until every
 * stage has exited and its pipes are drained. The user's first stop signal
 * (SIGTERM, SIGINT, SIGUSR1) is relayed to every stage as a stop at the
 * step's end (base/preempt.h): they checkpoint and exit 75 on their own. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"

#define KILL_GRACE_MS 3000
/* A stage that fails with 1 (a lost peer, usually) is often the echo of a
 * neighbour that found bad input (2) or was killed and is still on its way
 * out or not reaped yet: give the others this long to end on their own
 * before SIGTERM, so that the cause is the one reported and its status is
 * not lost to the signal. On a loaded machine a stage that refused its input
 * can take over a second to be reaped (1 s let a "mixes runs" refusal come
 * out as 1 now and then); its neighbours' lost links end them anyway, so the
 * grace only delays the SIGTERM to a stage that hangs. */
#define ECHO_GRACE_MS 5000
#define MS 1000000ull

void dtp_launch_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* the steps done that a line of the last stage's report says: "step N/T | ..."
 * or the progress bar's "[###...] N/T loss ..." (pipeline/report.c) */
static void note_step(const char *line, int n, long *last_step)
{
	char head[64];
	const char *bar;
	long step;

	/* a NUL-terminated copy of the line's start: sscanf reads to a NUL */
	snprintf(head, sizeof(head), "%.*s", n, line);
	bar = strchr(head, ']');
	if ((sscanf(head, "step %ld/", &step) == 1) ||
	    (head[0] == '[' && bar && sscanf(bar, "] %ld/", &step) == 1))
		if (step > *last_step)
			*last_step = step;
}

/* forward complete segments of buf: lines ending in '\n'; '\r'-ended ones
 * (a progress bar) are redrawn in place; the steps they report go to last_step */
static void forward(FILE *to, int stage, char *buf, size_t *len, int flush_all, int *bar,
		    long *last_step)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n' && buf[i] != '\r')
			continue;
		if (i > start) {
			if (to == stdout)
				note_step(buf + start, (int)(i - start), last_step);
			if (buf[i] == '\r') {
				fprintf(to, "\r[stage %d] %.*s", stage, (int)(i - start), buf + start);
				*bar = 1;
			} else {
				if (*bar)
					fputs("\r\033[K", to);
				*bar = 0;
				fprintf(to, "[stage %d] %.*s\n", stage, (int)(i - start), buf + start);
			}
		}
		start = i + 1;
	}
	if (start < *len && (flush_all || start == 0)) {
		if (*len == DTP_LAUNCH_OUT_BUF || flush_all) {
			fprintf(to, "[stage %d] %.*s\n", stage, (int)(*len - start), buf + start);
			start = *len;
		}
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	fflush(to);
}

/* read what the stage wrote on fd; at its end forward the rest and close it */
static void drain(int *fd, FILE *to, int stage, char *buf, size_t *len, int *bar,
		  long *last_step)
{
	ssize_t n = read(*fd, buf + *len, DTP_LAUNCH_OUT_BUF - *len);

	if (n > 0) {
		*len += (size_t)n;
		forward(to, stage, buf, len, 0, bar, last_step);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	forward(to, stage, buf, len, 1, bar, last_step);
	close(*fd);
	*fd = -1;
}

void dtp_launch_kill_live(struct dtp_launch *l, int sig)
{
	for (int s = 0; s < l->started; s++)
		if (!l->st[s].reaped && l->st[s].pid > 0)
			kill(l->st[s].pid, sig);
}

/* the user's first stop signal: every stage stops at the step's end */
static void relay_stop(struct dtp_launch *l, int sig)
{
	for (int s = 0; s < l->started; s++)
		if (!l->st[s].reaped && l->st[s].pid > 0)
			dtp_preempt_relay(l->st[s].pid, sig, DTP_PREEMPT_STOP);
}

void dtp_launch_stop(struct dtp_launch *l)
{
	l->aborted = 1;
	for (int s = 0; s < l->started; s++)
		if (!l->st[s].reaped && l->st[s].pid > 0)
			dtp_preempt_relay(l->st[s].pid, SIGTERM, DTP_PREEMPT_ABORT);
	if (!l->kill_at)
		l->kill_at = dtp_now_ns() + KILL_GRACE_MS * MS;
}

/* stage s is the first that failed: say how, stop the others */
static void declare_failed(struct dtp_launch *l, int s)
{
	l->failed = s;
	l->echo = -1;
	l->term_at = 0;
	dtp_launch_report_end(s, l->st[s].wstatus);
	dtp_launch_stop(l);
}

static void reap(struct dtp_launch *l)
{
	for (;;) {
		int wst, s;
		pid_t pid = waitpid(-1, &wst, WNOHANG);

		if (pid <= 0)
			return;
		for (s = 0; s < l->started && l->st[s].pid != pid; s++)
			;
		if (s == l->started)
			continue;
		l->st[s].reaped = 1;
		l->st[s].wstatus = wst;
		/* after the first failure or the user's signal the others' ends are
		 * echoes; a stage that stopped on request is not a failure: every
		 * stage stops at the same step's end */
		if (l->failed >= 0 || l->interrupted || l->broken || dtp_launch_stage_ok(wst) ||
		    dtp_launch_stage_stopped(wst))
			continue;
		/* a stop signal killed it (its second, or one that came before it
		 * could stop cleanly): the user aborts the job */
		if (dtp_launch_stage_aborted(wst)) {
			char name[32];

			l->interrupted = WTERMSIG(wst);
			fprintf(stderr, "dtpipe: interrupted: stage %d was stopped at once by %s: aborting the other stages\n",
				s, dtp_signal_name(l->interrupted, name));
			dtp_launch_stop(l);
			continue;
		}
		if (WIFEXITED(wst) && WEXITSTATUS(wst) == DTP_EXIT_FAIL) {
			/* maybe the echo of a cause still on its way: wait for it */
			if (l->echo < 0) {
				l->echo = s;
				l->term_at = dtp_now_ns() + ECHO_GRACE_MS * MS;
			}
			continue;
		}
		declare_failed(l, s);
	}
}

static void on_signal(struct dtp_launch *l)
{
	struct signalfd_siginfo si;
	ssize_t n = read(l->sfd, &si, sizeof(si));

	if (n != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGCHLD) {
		reap(l);
		return;
	}
	if (l->echo >= 0)
		declare_failed(l, l->echo);
	/* the first stop signal while the job runs: stop at the step's end */
	if (!l->interrupted && l->failed < 0 && !l->broken && !l->aborted &&
	    dtp_preempt_is_stop_signal((int)si.ssi_signo)) {
		l->interrupted = (int)si.ssi_signo;
		dtp_launch_report_interrupt(l->interrupted, 1, l->ckpt);
		relay_stop(l, l->interrupted);
		return;
	}
	if (!l->interrupted && l->failed < 0 && !l->broken)
		dtp_launch_report_interrupt((int)si.ssi_signo, 0, l->ckpt);
	else if (l->interrupted && !l->aborted)
		fprintf(stderr, "dtpipe: a second signal: aborting the stages now, without a checkpoint\n");
	if (!l->interrupted)
		l->interrupted = (int)si.ssi_signo;
	dtp_launch_stop(l);
}

/* poll itself failed: nothing can be forwarded any more; kill and reap */
static void give_up(struct dtp_launch *l, int e)
{
	fprintf(stderr, "dtpipe: cannot watch the stages (poll: %s): stopping them\n", strerror(e));
	l->broken = 1;
	dtp_launch_kill_live(l, SIGKILL);
	for (int s = 0; s < l->started; s++) {
		struct dtp_launch_stage *st = &l->st[s];

		while (!st->reaped && st->pid > 0) {
			if (waitpid(st->pid, &st->wstatus, 0) == st->pid || errno != EINTR)
				st->reaped = 1;
		}
		if (st->out_fd >= 0)
			close(st->out_fd);
		if (st->err_fd >= 0)
			close(st->err_fd);
		st->out_fd = st->err_fd = -1;
	}
}

static int build_pollset(struct dtp_launch *l, struct pollfd *pf, int *live)
{
	int n = 0;

	*live = 0;
	for (int s = 0; s < l->started; s++) {
		if (l->st[s].out_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = l->st[s].out_fd, .events = POLLIN };
		if (l->st[s].err_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = l->st[s].err_fd, .events = POLLIN };
		*live += !l->st[s].reaped;
	}
	return n;
}

static int poll_timeout_ms(const struct dtp_launch *l)
{
	uint64_t now, at;

	if (!l->kill_at && !l->term_at)
		return -1;
	now = dtp_now_ns();
	at = l->term_at ? l->term_at : l->kill_at;
	return now >= at ? 0 : (int)((at - now) / MS) + 1;
}

static void escalate(struct dtp_launch *l)
{
	if (l->term_at && dtp_now_ns() >= l->term_at) {
		l->term_at = 0;
		if (l->echo >= 0)
			declare_failed(l, l->echo);
	}
	if (l->kill_at && dtp_now_ns() >= l->kill_at) {
		dtp_launch_kill_live(l, SIGKILL);
		l->kill_at = 0;
	}
}

static void forward_ready(struct dtp_launch *l, const struct pollfd *pf, int n)
{
	for (int i = 0; i < n; i++) {
		if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int s = 0; s < l->started; s++) {
			struct dtp_launch_stage *st = &l->st[s];

			if (pf[i].fd == st->out_fd)
				drain(&st->out_fd, stdout, s, st->out_buf, &st->out_len, &l->bar,
				      &l->last_step);
			else if (pf[i].fd == st->err_fd)
				drain(&st->err_fd, stderr, s, st->err_buf, &st->err_len, &l->bar,
				      &l->last_step);
		}
	}
}

void dtp_launch_supervise(struct dtp_launch *l)
{
	/* two pipes per stage and the signalfd */
	struct pollfd pf[2 * DTP_MAX_STAGES + 1];
	int live, n;

	for (;;) {
		n = build_pollset(l, pf, &live);
		if (!live && n == 0) {
			if (l->echo >= 0)
				declare_failed(l, l->echo);
			return;
		}
		pf[n] = (struct pollfd){ .fd = l->sfd, .events = POLLIN };
		if (poll(pf, (nfds_t)n + 1, poll_timeout_ms(l)) < 0) {
			if (errno == EINTR)
				continue;
			give_up(l, errno);
			return;
		}
		escalate(l);
		forward_ready(l, pf, n);
		if (pf[n].revents & POLLIN)
			on_signal(l);
	}
}
