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
 * With err == NULL the message goes to stderr instead.
 *   dtp_errf_input    what the user gave is wrong (plan, spec, data, options)
 *   dtp_errf_runtime  something failed while running (peer, I/O, memory)
 *   dtp_errf          the class derived from the code (dtp_err_class_of_code);
 *                     kept while call sites move to the two above */
int dtp_errf(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dtp_errf_input(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dtp_errf_runtime(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put context in front of an existing message ("plan.ini:12: " + msg); the
 * code and class stay. */
void dtp_err_prefix(struct dtp_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void dtp_err_clear(struct dtp_err *err);

/* Pass on an error another call made, code, class and message, and return
 * its code: `return dtp_err_copy(err, &inner);`. With dst == NULL the message
 * goes to stderr, as dtp_errf's does. */
int dtp_err_copy(struct dtp_err *dst, const struct dtp_err *src);

/* The class an errno value suggests when the maker did not say: input for
 * EINVAL, EBADMSG, ENOENT, ERANGE, ENOEXEC, EISDIR, ENOTDIR, EOVERFLOW;
 * runtime for everything else, always for the transport's EPROTO (a corrupt
 * frame, a tag mismatch), ECONNRESET, EPIPE and ETIMEDOUT; NONE for 0. */
enum dtp_err_class dtp_err_class_of_code(int code);

/* The class of a call that returned `code` and filled `err`: the class its
 * maker set, else the one derived from the code (also when err is NULL or
 * holds another error than `code`). */
enum dtp_err_class dtp_err_class(const struct dtp_err *err, int code);

/* The exit status for a call that returned `code` and filled `err`
 * (base/exit.h): 0, 1 or 2. */
int dtp_err_exit(const struct dtp_err *err, int code);

/* The exit status from the code alone (dtp_err_class_of_code): for callers
 * that have no struct dtp_err; prefer dtp_err_exit. */
int dtp_exit_code(int code);

#endif
