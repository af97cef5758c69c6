/* Stopping on request (preemption). SIGTERM (scancel, a batch system's
 * warning), SIGINT (Ctrl-C) or SIGUSR1 (Slurm's --signal=USR1@T) ask a stage
 * to finish its step; the stages agree on the stop at the step's end (the
 * control messages, pipeline/ctrl.c), write a checkpoint and exit
 * DTP_EXIT_PREEMPTED (base/exit.h). A second request aborts at once: the
 * process dies of the signal, as it would without a handler.
 *
 * The local launcher relays a signal it receives to its stages with
 * sigqueue() and a value that says what it means (stop at the step's end, or
 * abort now). A terminal's Ctrl-C reaches the launcher and its stages alike
 * (one process group), and scancel signals every process of a job: a stage
 * counts the launcher's relay apart from the signals sent to it directly, so
 * one request that reaches it both ways is still one request.
 *
 * The handler's state is the one global mutable state of this file, and all
 * a handler may touch: two lock-free atomic ints (the first stop signal;
 * whether one came directly), set by the handler, read by
 * dtp_preempt_requested(). Nothing else here keeps state. */
#ifndef DTP_BASE_PREEMPT_H
#define DTP_BASE_PREEMPT_H

#include <signal.h>
#include <sys/types.h>

#include "base/err.h"

/* what a relayed signal means (its sigqueue value) */
enum dtp_preempt_how {
	DTP_PREEMPT_STOP = 1,       /* finish the step, checkpoint, exit 75 */
	DTP_PREEMPT_ABORT = 2,      /* die of the signal now */
};

/* "SIGTERM"; "signal 42" for one without a name; buf has 32 bytes */
const char *dtp_signal_name(int sig, char *buf);

/* the signals that ask for a stop: SIGTERM, SIGINT, SIGUSR1 */
void dtp_preempt_sigset(sigset_t *set);
int dtp_preempt_is_stop_signal(int sig);

/* Install the handlers of the stop signals in this process (a stage).
 * Blocking system calls are restarted (SA_RESTART); the waits that are not
 * (poll, futex) already loop. -errno (runtime) when sigaction fails. */
int dtp_preempt_install(struct dtp_err *err);

/* The first stop signal this process received, 0: none (or no handler). */
int dtp_preempt_requested(void);

/* The launcher: send signal `sig` to its stage `pid`, meaning `how`. 0 or
 * -errno (ESRCH: the stage is gone). */
int dtp_preempt_relay(pid_t pid, int sig, enum dtp_preempt_how how);

#endif
