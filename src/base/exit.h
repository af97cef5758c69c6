/* The exit statuses of every dtpipe tool, defined once. A failure belongs to
 * a class, set where the error is made (struct dtp_err, base/err.h); the
 * class, not the errno value, decides the status:
 *
 *   0          success
 *   1          runtime failure: a stage or peer failed or was killed, a
 *              corrupt frame, out of memory, an I/O error
 *   2          bad input: options, plan, model spec, data, checkpoint
 *   128 + N    interrupted by the user's signal N and nothing else failed:
 *              130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP
 *
 * docs/architecture.md, `dtpipe --help` and dtpipe(1) list the same. */
#ifndef DTP_BASE_EXIT_H
#define DTP_BASE_EXIT_H

#include <signal.h>

enum dtp_err_class {
	DTP_ERRC_NONE = 0,      /* no error */
	DTP_ERRC_RUNTIME,       /* something failed while running */
	DTP_ERRC_INPUT,         /* what the user gave is wrong: fix it and rerun */
	DTP_ERRC_INTERRUPTED,   /* the user stopped the job */
};

#define DTP_EXIT_OK 0
#define DTP_EXIT_FAIL 1
#define DTP_EXIT_BADINPUT 2
/* stopped, resumable: a checkpoint was written (preemption; EX_TEMPFAIL) */
#define DTP_EXIT_PREEMPTED 75
#define DTP_EXIT_SIGNAL_BASE 128
#define DTP_EXIT_SIGINT (DTP_EXIT_SIGNAL_BASE + SIGINT)
#define DTP_EXIT_SIGTERM (DTP_EXIT_SIGNAL_BASE + SIGTERM)

/* The status of a run that ended with an error of class `cls` (DTP_ERRC_NONE:
 * success). `sig` is the user's signal for DTP_ERRC_INTERRUPTED (0: SIGINT)
 * and is ignored otherwise. */
static inline int dtp_exit_status(enum dtp_err_class cls, int sig)
{
	switch (cls) {
	case DTP_ERRC_NONE:
		return DTP_EXIT_OK;
	case DTP_ERRC_INPUT:
		return DTP_EXIT_BADINPUT;
	case DTP_ERRC_INTERRUPTED:
		return DTP_EXIT_SIGNAL_BASE + (sig > 0 ? sig : SIGINT);
	case DTP_ERRC_RUNTIME:
	default:
		return DTP_EXIT_FAIL;
	}
}

#endif
