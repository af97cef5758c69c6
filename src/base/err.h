/* Errors for people: every failing call returns a negative errno and, when the
 * caller passed a struct dtp_err, a sentence that says what was wrong, where
 * (file:line, stage, peer) and what to do about it. */
#ifndef DTP_BASE_ERR_H
#define DTP_BASE_ERR_H

#include <stddef.h>

#define DTP_ERR_MSG_MAX 1024

struct dtp_err {
	int code;                   /* negative errno, 0 when nothing went wrong */
	char msg[DTP_ERR_MSG_MAX];  /* one or more sentences, no trailing newline */
};

/* Exit statuses of the tools: 2 for bad input (plan, spec, data, options),
 * 1 for everything else (a peer died, out of memory, I/O error). */
#define DTP_EXIT_OK 0
#define DTP_EXIT_FAIL 1
#define DTP_EXIT_BADINPUT 2

/* Record an error and return `code` (a negative errno) so that callers can write
 * `return dtp_errf(err, -EINVAL, "%s:%d: ...", file, line);`.
 * With err == NULL the message goes to stderr instead. */
int dtp_errf(struct dtp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put context in front of an existing message ("plan.ini:12: " + msg). */
void dtp_err_prefix(struct dtp_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void dtp_err_clear(struct dtp_err *err);

/* 2 for codes that mean bad input (EINVAL, EBADMSG, ENOENT, EPROTO, ERANGE,
 * ENOEXEC, EISDIR, ENOTDIR, EOVERFLOW), 1 otherwise, 0 for 0. */
int dtp_exit_code(int code);

#endif
