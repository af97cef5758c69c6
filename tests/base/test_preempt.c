/* Stopping on request (base/preempt.h): the first stop signal is recorded,
 * a second one sent directly kills the process with it, the launcher's relay
 * of the same request does not count twice, the launcher's abort kills at
 * once; and the statuses (base/exit.h): 75 after a checkpoint, 128 + the
 * signal without one. Each case runs in a child: the handlers are
 * process-wide. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"

/* in a child: wait (bounded) until the handler recorded a stop */
static int wait_requested(void)
{
	for (int i = 0; i < 10000 && !dtp_preempt_requested(); i++)
		usleep(1000);
	return dtp_preempt_requested();
}

/* fork; the child runs fn and exits with its return value */
static pid_t child(int (*fn)(int), int fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(fd));
	return pid;
}

static int wait_child(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_statuses(void **state)
{
	struct dtp_err e = { 0 };

	(void)state;
	assert_int_equal(DTP_EXIT_PREEMPTED, 75);
	assert_int_equal(dtp_exit_status(DTP_ERRC_PREEMPTED, SIGTERM), 75);
	assert_int_equal(dtp_errf_stopped(&e, 1, -EINTR, "stopped"), -EINTR);
	assert_int_equal(e.cls, DTP_ERRC_PREEMPTED);
	assert_int_equal(dtp_err_exit(&e, -EINTR), 75);
	dtp_errf_stopped(&e, 0, -EINTR, "stopped, nothing saved");
	assert_int_equal(e.cls, DTP_ERRC_INTERRUPTED);
	/* no stop signal in this process: SIGINT's status */
	assert_int_equal(dtp_preempt_requested(), 0);
	assert_int_equal(dtp_err_exit(&e, -EINTR), DTP_EXIT_SIGINT);
	assert_true(dtp_preempt_is_stop_signal(SIGTERM) && dtp_preempt_is_stop_signal(SIGINT) &&
		    dtp_preempt_is_stop_signal(SIGUSR1));
	assert_false(dtp_preempt_is_stop_signal(SIGHUP) || dtp_preempt_is_stop_signal(SIGKILL));
}

/* SIGUSR1 is recorded and the process goes on; the status without a
 * checkpoint is 128 + SIGUSR1; a second signal (SIGTERM) kills it */
static int direct_twice(int fd)
{
	struct dtp_err e = { 0 };

	(void)fd;
	if (dtp_preempt_install(NULL))
		return 10;
	kill(getpid(), SIGUSR1);
	if (wait_requested() != SIGUSR1)
		return 11;
	dtp_errf_stopped(&e, 0, -EINTR, "stopped");
	if (dtp_err_exit(&e, -EINTR) != DTP_EXIT_SIGNAL_BASE + SIGUSR1)
		return 12;
	kill(getpid(), SIGTERM);
	sleep(10);                  /* not reached: SIGTERM kills */
	return 13;
}

static void test_second_direct_signal_kills(void **state)
{
	int st = wait_child(child(direct_twice, -1));

	(void)state;
	if (WIFEXITED(st))
		fail_msg("the child exited %d instead of dying of SIGTERM", WEXITSTATUS(st));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
}

/* the launcher (the parent) relays SIGINT as a stop; the same Ctrl-C also
 * reaches the child directly: still one request, the child lives on; then
 * the launcher's abort kills it */
static int relayed_then_direct(int fd)
{
	char c = 'r';

	if (dtp_preempt_install(NULL))
		return 20;
	if (write(fd, &c, 1) != 1)
		return 21;
	if (wait_requested() != SIGINT)
		return 22;
	kill(getpid(), SIGINT);
	c = 'd';
	if (write(fd, &c, 1) != 1)
		return 23;
	sleep(10);                  /* until the abort */
	return 24;
}

static void test_relay_counts_once_and_abort_kills(void **state)
{
	int p[2], st;
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = child(relayed_then_direct, p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'r');
	assert_int_equal(dtp_preempt_relay(pid, SIGINT, DTP_PREEMPT_STOP), 0);
	assert_int_equal(read(p[0], &c, 1), 1);     /* alive after the direct SIGINT */
	assert_int_equal(c, 'd');
	assert_int_equal(dtp_preempt_relay(pid, SIGTERM, DTP_PREEMPT_ABORT), 0);
	st = wait_child(pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
	close(p[0]);
	close(p[1]);
	/* the stage is gone */
	assert_int_equal(dtp_preempt_relay(pid, SIGTERM, DTP_PREEMPT_STOP), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_second_direct_signal_kills),
		cmocka_unit_test(test_relay_counts_once_and_abort_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
