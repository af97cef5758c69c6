/* Starting the stages (launch.h): each stage is this same program re-executed
 * with --stage N, pinned to its cores and with OPENBLAS_NUM_THREADS set before
 * exec (so OpenBLAS's threads start pinned), and tied to the launcher's life:
 * if the launcher dies (SIGKILL, SIGHUP, SIGPIPE into a closed `head`), the
 * kernel sends the stage SIGKILL (PR_SET_PDEATHSIG), so no stage trains on
 * as an orphan. Stages started by srun or mpirun never come through here:
 * their own launcher governs them. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "launch.h"

int dtp_launch_place(struct dtp_launch *l, const struct dtp_plan *plan, int threads_opt,
		     struct dtp_err *err)
{
	char nic[DTP_NIC_MAX];
	int shared, r;

	for (int s = 0; s < l->num_stages; s++) {
		struct dtp_launch_stage *st = &l->st[s];

		st->threads = threads_opt > 0 ? threads_opt : 1;
		if (!l->topo)
			continue;
		/* e.g. a plan for another machine: one message, nothing started */
		r = dtp_place_stage(l->topo, plan, s, st->cores, nic, &shared, err);
		if (r) {
			dtp_err_prefix(err, "stage %d: ", s);
			return r;
		}
		st->placed = 1;
		if (threads_opt <= 0 && dtp_cpulist_count(st->cores) > 0)
			st->threads = dtp_cpulist_count(st->cores);
	}
	return 0;
}

/* argv + --stage s --job-key key [--progress]; NULL when out of memory */
static char **stage_argv(int argc, char **argv, int s, unsigned long long key, int progress,
			 char stage_buf[16], char key_buf[32])
{
	char **v = calloc((size_t)argc + 6, sizeof(char *));
	int n = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < argc; i++)
		v[n++] = argv[i];
	snprintf(stage_buf, 16, "%d", s);
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

static void __attribute__((noreturn)) child_fail(int s, const char *what)
{
	fprintf(stderr, "dtpipe: cannot start stage %d: %s: %s\n", s, what, strerror(errno));
	_exit(DTP_EXIT_FAIL);
}

/* In the child, between fork and exec. */
static void __attribute__((noreturn)) exec_stage(const struct dtp_launch *l, int s, char **av,
						 int out_w, int err_w)
{
	const struct dtp_launch_stage *st = &l->st[s];
	struct dtp_bind_info bi;
	struct dtp_err err = { 0 };
	char nthreads[16];

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		child_fail(s, "prctl(PR_SET_PDEATHSIG)");
	/* the launcher died before prctl took effect: nobody would reap us */
	if (getppid() != l->self)
		_exit(DTP_EXIT_FAIL);
	if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
		child_fail(s, "dup2");
	if (sigprocmask(SIG_SETMASK, &l->old_mask, NULL) != 0)
		child_fail(s, "sigprocmask");
	/* pin before exec: OpenBLAS's threads are born on the stage's cores */
	if (l->topo && st->placed && dtp_place_bind(l->topo, st->cores, &bi, &err))
		fprintf(stderr, "dtpipe: stage %d: cannot bind to cores %s: %s\n", s, st->cores,
			err.msg);
	snprintf(nthreads, sizeof(nthreads), "%d", st->threads);
	if (setenv("OPENBLAS_NUM_THREADS", nthreads, 1) != 0)
		child_fail(s, "setenv");
	execv("/proc/self/exe", av);
	execvp(av[0], av);
	child_fail(s, av[0]);
}

int dtp_launch_start(struct dtp_launch *l, int s, int argc, char **argv,
		     unsigned long long key, int progress, struct dtp_err *err)
{
	struct dtp_launch_stage *st = &l->st[s];
	char stage_buf[16], key_buf[32];
	int out[2], errp[2], r;
	char **av;
	pid_t pid;

	av = stage_argv(argc, argv, s, key, progress, stage_buf, key_buf);
	if (!av)
		return dtp_errf_runtime(err, -ENOMEM, "cannot start stage %d: out of memory", s);
	if (pipe2(out, O_CLOEXEC)) {
		r = -errno;
		dtp_errf_runtime(err, r, "cannot start stage %d: pipe: %s", s, strerror(-r));
		goto free_argv;
	}
	if (pipe2(errp, O_CLOEXEC)) {
		r = -errno;
		dtp_errf_runtime(err, r, "cannot start stage %d: pipe: %s", s, strerror(-r));
		goto close_out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		dtp_errf_runtime(err, r, "cannot start stage %d: fork: %s", s, strerror(-r));
		goto close_err;
	}
	if (pid == 0)
		exec_stage(l, s, av, out[1], errp[1]);
	free(av);
	close(out[1]);
	close(errp[1]);
	st->pid = pid;
	st->out_fd = out[0];
	st->err_fd = errp[0];
	return 0;

close_err:
	close(errp[0]);
	close(errp[1]);
close_out:
	close(out[0]);
	close(out[1]);
free_argv:
	free(av);
	return r;
}
