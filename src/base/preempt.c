/* Stopping on request (preempt.h): the stop signals' handler and the
 * launcher's relay. */
#include "config.h"
#include "base/preempt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The handler's state (the only global mutable state here; see preempt.h).
 * Written only by the handler. Lock-free atomics (async-signal-safe): two
 * signals can run the handler at once on two of the process's threads, and
 * exactly one of them must be the second. */
static atomic_int stop_sig;     /* the first stop signal, 0: none */
static atomic_int direct_seen;  /* a stop signal not relayed by the launcher */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the handler needs lock-free atomics");

static const int stop_signals[] = { SIGTERM, SIGINT, SIGUSR1 };
#define N_STOP ((int)(sizeof(stop_signals) / sizeof(stop_signals[0])))

const char *dtp_signal_name(int sig, char *buf)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, 32, "SIG%s", abbrev);
	else
		snprintf(buf, 32, "signal %d", sig);
	return buf;
}

void dtp_preempt_sigset(sigset_t *set)
{
	sigemptyset(set);
	for (int i = 0; i < N_STOP; i++)
		sigaddset(set, stop_signals[i]);
}

int dtp_preempt_is_stop_signal(int sig)
{
	for (int i = 0; i < N_STOP; i++)
		if (stop_signals[i] == sig)
			return 1;
	return 0;
}

/* Die of sig: its default action once the handler returns (the signal is
 * blocked while the handler runs, so raise() leaves it pending until then). */
static void abort_now(int sig, int say)
{
	static const char msg[] =
		"dtpipe: a second stop signal: aborting now, without a checkpoint\n";
	struct sigaction dfl;
	ssize_t w;

	if (say)
		w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

/* async-signal-safe: getppid, write, sigaction, raise; errno kept */
static void on_stop(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, none = 0;
	int queued = si && si->si_code == SI_QUEUE;
	int relayed = queued && si->si_pid == getppid() &&
		      si->si_value.sival_int == DTP_PREEMPT_STOP;

	(void)uc;
	if (queued && si->si_value.sival_int == DTP_PREEMPT_ABORT)
		abort_now(sig, 0);         /* the launcher stops the job: it says why */
	/* the launcher relays one request once; of the direct ones, the second aborts */
	else if (!relayed && atomic_exchange(&direct_seen, 1))
		abort_now(sig, 1);
	atomic_compare_exchange_strong(&stop_sig, &none, sig);
	errno = saved;
}

int dtp_preempt_install(struct dtp_err *err)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_stop;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	/* one handler at a time: the flags change in one place */
	dtp_preempt_sigset(&sa.sa_mask);
	for (int i = 0; i < N_STOP; i++)
		if (sigaction(stop_signals[i], &sa, NULL) != 0)
			return dtp_errf_runtime(err, -errno, "cannot install the handler of signal %d: %s",
						stop_signals[i], strerror(errno));
	return 0;
}

int dtp_preempt_requested(void)
{
	return atomic_load(&stop_sig);
}

int dtp_preempt_relay(pid_t pid, int sig, enum dtp_preempt_how how)
{
	union sigval v = { .sival_int = (int)how };

	return sigqueue(pid, sig, v) == 0 ? 0 : -errno;
}
