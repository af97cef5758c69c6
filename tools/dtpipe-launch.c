/* The local launcher and supervisor (see dtpipe-launch.h). Each stage is this
 * same program re-executed with --stage N, pinned to its cores and with
 * OPENBLAS_NUM_THREADS set before exec (so OpenBLAS's threads start pinned). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "partition/place.h"
#include "dtpipe-launch.h"

#define KILL_GRACE_MS 3000
/* A stage that fails with 1 (a lost peer, usually) is often the echo of a
 * neighbour that found bad input (2) and is still on its way out: give the
 * others this long to exit on their own before SIGTERM, so that the cause's
 * status is not lost to the signal. */
#define ECHO_GRACE_MS 1000

struct child {
	pid_t pid;
	int out_fd, err_fd;     /* -1 once closed */
	int status;             /* exit status once reaped */
	int reaped;
	char out_buf[4096], err_buf[4096];
	size_t out_len, err_len;
	char cores[DTP_CPULIST_MAX];
	int threads;
};

/* forward complete segments of buf: lines ending in '\n'; '\r'-ended ones
 * (a progress bar) are redrawn in place */
static void forward(FILE *to, int stage, char *buf, size_t *len, int flush_all, int *bar)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n' && buf[i] != '\r')
			continue;
		if (i > start) {
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
		if (*len == sizeof(((struct child *)0)->out_buf) || flush_all) {
			fprintf(to, "[stage %d] %.*s\n", stage, (int)(*len - start), buf + start);
			start = *len;
		}
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	fflush(to);
}

static int drain(int *fd, FILE *to, int stage, char *buf, size_t *len, size_t cap, int *bar)
{
	ssize_t n = read(*fd, buf + *len, cap - *len);

	if (n > 0) {
		*len += (size_t)n;
		forward(to, stage, buf, len, 0, bar);
		return 1;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	forward(to, stage, buf, len, 1, bar);
	close(*fd);
	*fd = -1;
	return 0;
}

static void kill_live(struct child *c, int K, int sig)
{
	for (int s = 0; s < K; s++)
		if (!c[s].reaped && c[s].pid > 0)
			kill(c[s].pid, sig);
}

static char **child_argv(int argc, char **argv, int stage, unsigned long long key, int progress,
			 char *stage_buf, char *key_buf)
{
	char **v = calloc((size_t)argc + 8, sizeof(char *));
	int n = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < argc; i++)
		v[n++] = argv[i];
	snprintf(stage_buf, 16, "%d", stage);
	snprintf(key_buf, 32, "%llu", key);
	v[n++] = "--stage";
	v[n++] = stage_buf;
	v[n++] = "--job-key";
	v[n++] = key_buf;
	if (progress)
		v[n++] = "--progress";
	v[n] = NULL;
	return v;
}

static int start_child(struct child *c, int stage, char **av, const sigset_t *old,
		       struct dtp_topo *topo, int bind)
{
	int out[2], errp[2];
	char nthreads[16];

	if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		struct dtp_bind_info bi;
		struct dtp_err err = { 0 };

		dup2(out[1], STDOUT_FILENO);
		dup2(errp[1], STDERR_FILENO);
		sigprocmask(SIG_SETMASK, old, NULL);
		/* pin before exec: OpenBLAS's threads are born on the stage's cores */
		if (bind && topo && dtp_place_bind(topo, c->cores, &bi, &err))
			fprintf(stderr, "dtpipe: stage %d: cannot bind to cores %s: %s\n", stage,
				c->cores, err.msg);
		snprintf(nthreads, sizeof(nthreads), "%d", c->threads);
		setenv("OPENBLAS_NUM_THREADS", nthreads, 1);
		execv("/proc/self/exe", av);
		execvp(av[0], av);
		fprintf(stderr, "dtpipe: cannot start stage %d: %s\n", stage, strerror(errno));
		_exit(DTP_EXIT_FAIL);
	}
	close(out[1]);
	close(errp[1]);
	c->out_fd = out[0];
	c->err_fd = errp[0];
	(void)stage;
	return 0;
}

static int exit_status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return DTP_EXIT_FAIL;
}

int dtp_launch_all(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		   char **argv)
{
	int K = plan->num_stages, live, failed = -1, status = 0, sfd, bar = 0, shared;
	struct child *c = calloc((size_t)K, sizeof(*c));
	struct pollfd *pf = calloc((size_t)K * 2 + 1, sizeof(*pf));
	unsigned long long key = ((unsigned long long)getpid() << 32) ^ (unsigned long long)time(NULL);
	struct dtp_topo *topo = NULL;
	struct dtp_err err = { 0 };
	char nic[DTP_NIC_MAX], stage_buf[16], key_buf[32];
	sigset_t mask, old;
	uint64_t kill_at = 0, term_at = 0;

	if (!c || !pf) {
		free(c);
		free(pf);
		return DTP_EXIT_FAIL;
	}
	if (!a->no_bind && dtp_topo_load(NULL, &topo, &err))
		dtp_warn("cannot load the machine topology, stages will not be pinned: %s", err.msg);
	for (int s = 0; s < K; s++) {
		c[s].out_fd = c[s].err_fd = -1;
		c[s].threads = a->threads > 0 ? a->threads : 1;
		if (topo && dtp_place_stage(topo, plan, s, c[s].cores, nic, &shared, &err) == 0) {
			int n = dtp_cpulist_count(c[s].cores);

			if (a->threads <= 0 && n > 0)
				c[s].threads = n;
		} else if (topo) {
			/* e.g. a plan for another machine: one message, nothing started */
			fprintf(stderr, "dtpipe: stage %d: %s\n", s, err.msg);
			dtp_topo_destroy(topo);
			free(pf);
			free(c);
			return dtp_exit_code(err.code);
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	fflush(stdout);
	fflush(stderr);
	for (int s = 0; s < K; s++) {
		char **av = child_argv(argc, argv, s, key, isatty(STDOUT_FILENO), stage_buf, key_buf);
		int r = av ? start_child(&c[s], s, av, &old, topo, !a->no_bind) : -ENOMEM;

		free(av);
		if (r) {
			fprintf(stderr, "dtpipe: cannot start stage %d: %s\n", s, strerror(-r));
			kill_live(c, s, SIGTERM);
			failed = s;
			status = DTP_EXIT_FAIL;
			K = s;
			break;
		}
	}

	for (;;) {
		int n = 0, timeout = -1;
		struct signalfd_siginfo si;

		live = 0;
		for (int s = 0; s < K; s++) {
			if (c[s].out_fd >= 0)
				pf[n++] = (struct pollfd){ .fd = c[s].out_fd, .events = POLLIN };
			if (c[s].err_fd >= 0)
				pf[n++] = (struct pollfd){ .fd = c[s].err_fd, .events = POLLIN };
			live += !c[s].reaped;
		}
		if (!live && n == 0)
			break;
		pf[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (kill_at || term_at) {
			uint64_t now = dtp_now_ns(), at = term_at ? term_at : kill_at;

			timeout = now >= at ? 0 : (int)((at - now) / 1000000) + 1;
		}
		if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if (term_at && dtp_now_ns() >= term_at) {
			kill_live(c, K, SIGTERM);
			term_at = 0;
			kill_at = dtp_now_ns() + KILL_GRACE_MS * 1000000ull;
		}
		if (kill_at && dtp_now_ns() >= kill_at) {
			kill_live(c, K, SIGKILL);
			kill_at = 0;
		}
		for (int s = 0; s < K; s++) {
			for (int i = 0; i < n - 1; i++) {
				if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (pf[i].fd == c[s].out_fd && c[s].out_fd >= 0)
					drain(&c[s].out_fd, stdout, s, c[s].out_buf, &c[s].out_len,
					      sizeof(c[s].out_buf), &bar);
				else if (pf[i].fd == c[s].err_fd && c[s].err_fd >= 0)
					drain(&c[s].err_fd, stderr, s, c[s].err_buf, &c[s].err_len,
					      sizeof(c[s].err_buf), &bar);
			}
		}
		if (!(pf[n - 1].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			kill_live(c, K, SIGTERM);
			if (!status)
				status = 128 + (int)si.ssi_signo;
			if (!kill_at)
				kill_at = dtp_now_ns() + KILL_GRACE_MS * 1000000ull;
			continue;
		}
		for (;;) {
			int wst;
			pid_t pid = waitpid(-1, &wst, WNOHANG);

			if (pid <= 0)
				break;
			for (int s = 0; s < K; s++) {
				if (c[s].pid != pid)
					continue;
				c[s].reaped = 1;
				c[s].status = exit_status_of(wst);
				if (c[s].status != 0 && failed < 0) {
					failed = s;
					status = c[s].status;
					fprintf(stderr, "dtpipe: stage %d failed (exit status %d): stopping the other stages\n",
						s, c[s].status);
					if (c[s].status == DTP_EXIT_FAIL) {
						term_at = dtp_now_ns() + ECHO_GRACE_MS * 1000000ull;
					} else {
						kill_live(c, K, SIGTERM);
						kill_at = dtp_now_ns() + KILL_GRACE_MS * 1000000ull;
					}
				}
			}
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sfd);
	/* bad input on one stage (exit 2) is the cause of its neighbours' lost
	 * connections (exit 1), whichever exited first */
	for (int s = 0; s < K && status == DTP_EXIT_FAIL; s++)
		if (c[s].reaped && c[s].status == DTP_EXIT_BADINPUT)
			status = DTP_EXIT_BADINPUT;
	if (topo)
		dtp_topo_destroy(topo);
	if (status == 0 && a->o.trace_path) {
		if (dtp_trace_merge(a->o.trace_path, plan->num_stages, &err)) {
			fprintf(stderr, "dtpipe: %s\n", err.msg);
			status = DTP_EXIT_FAIL;
		} else if (!a->o.quiet) {
			printf("trace written to %s (open it in https://ui.perfetto.dev)\n",
			       a->o.trace_path);
		}
	}
	free(pf);
	free(c);
	return status;
}
