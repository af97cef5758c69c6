/* Errors for people: every failing call returns a negative errno and, when the
 * caller passed a struct dtp_err, a sentence that says what was wrong, where
 * (file:line, stage, peer) and what to do about it, and the error's class
 * (bad input, runtime failure, interrupted: base/exit.h), which decides the
 * tool's exit status. The class is set where the error is made. */
#ifndef DTP_BASE_ERR_H
#define DTP_BASE_ERR_H

#include <stddef.h>

#include "base/exit.h"

#define DTP_ERR_MSG_MAX 1024

struct dtp_err {
	int code;                   /* negative errno, 0 when nothing went wrong */
	enum dtp_err_class cls;     /* what kind of failure (exit status), NONE when code is 0 */
	char msg[DTP_ERR_MSG_MAX];  /* one or more sentences, no trailing newline */
};

/* Record an error and return `code` (a negative errno) so that callers can write
 * `return dtp_errf_input(err, -EINVAL, "%s:%d: ...", file, line);`.
 * With err == NULL the message goes to stderr instead. The class is said
 * where the error is made, by what it means, never derived from the errno:
 *   dtp_errf_input    what the user gave is wrong (options, plan, spec, data,
 *                     a path that cannot be opened or created, a checkpoint)
 *   dtp_errf_runtime  something failed while running (peer, protocol, I/O
 *                     mid-run, memory)
 *   dtp_errf_stopped  a stop signal ended the run (base/preempt.h): after a
 *                     checkpoint (resumable: DTP_ERRC_PREEMPTED) or without
 *                     one (DTP_ERRC_INTERRUPTED) */
int dtp_errf_input(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dtp_errf_runtime(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dtp_errf_stopped(struct dtp_err *err, int resumable, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Put context in front of an existing message ("plan.ini:12: " + msg); the
 * code and class stay. */
void dtp_err_prefix(struct dtp_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void dtp_err_clear(struct dtp_err *err);

/* Pass on an error another call made, code, class and message, and return
 * its code: `return dtp_err_copy(err, &inner);`. With dst == NULL the message
 * goes to stderr, as dtp_errf's does. */
int dtp_err_copy(struct dtp_err *dst, const struct dtp_err *src);

/* The class of a call that returned `code` and filled `err`: the class its
 * maker set; NONE for 0; a runtime failure when err is NULL or holds another
 * error than `code` (a bare code that no message describes). */
enum dtp_err_class dtp_err_class(const struct dtp_err *err, int code);

/* The exit status for a call that returned `code` and filled `err`
 * (base/exit.h): 0, 1, 2, 75, or 128 + the stop signal this process received
 * (dtp_preempt_requested) for an interruption. */
int dtp_err_exit(const struct dtp_err *err, int code);

#endif
