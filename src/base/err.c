#include "config.h"
#include "base/err.h"
#include "base/preempt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int verrf(struct dtp_err *err, enum dtp_err_class cls, int code, const char *fmt,
		 va_list ap)
{
	if (err) {
		err->code = code;
		err->cls = code ? cls : DTP_ERRC_NONE;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	} else {
		fputs("dtpipe: error: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	return code;
}

int dtp_errf_input(struct dtp_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, DTP_ERRC_INPUT, code, fmt, ap);
	va_end(ap);
	return code;
}

int dtp_errf_runtime(struct dtp_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, DTP_ERRC_RUNTIME, code, fmt, ap);
	va_end(ap);
	return code;
}

int dtp_errf_stopped(struct dtp_err *err, int resumable, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, resumable ? DTP_ERRC_PREEMPTED : DTP_ERRC_INTERRUPTED, code, fmt, ap);
	va_end(ap);
	return code;
}

void dtp_err_prefix(struct dtp_err *err, const char *fmt, ...)
{
	char head[DTP_ERR_MSG_MAX];
	size_t hl, bl;
	va_list ap;
	int n;

	if (!err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	hl = strlen(head);
	bl = strnlen(err->msg, sizeof(err->msg) - 1);
	if (hl > sizeof(err->msg) - 1)
		hl = sizeof(err->msg) - 1;
	if (hl + bl > sizeof(err->msg) - 1)
		bl = sizeof(err->msg) - 1 - hl;
	memmove(err->msg + hl, err->msg, bl);
	memcpy(err->msg, head, hl);
	err->msg[hl + bl] = '\0';
}

void dtp_err_clear(struct dtp_err *err)
{
	if (err) {
		err->code = 0;
		err->cls = DTP_ERRC_NONE;
		err->msg[0] = '\0';
	}
}

int dtp_err_copy(struct dtp_err *dst, const struct dtp_err *src)
{
	if (!dst)
		fprintf(stderr, "dtpipe: error: %s\n", src->msg);
	else if (dst != src)
		*dst = *src;
	return src->code;
}

enum dtp_err_class dtp_err_class(const struct dtp_err *err, int code)
{
	if (code == 0)
		return DTP_ERRC_NONE;
	if (err && err->code == code && err->cls != DTP_ERRC_NONE)
		return err->cls;
	return DTP_ERRC_RUNTIME;
}

int dtp_err_exit(const struct dtp_err *err, int code)
{
	return dtp_exit_status(dtp_err_class(err, code), dtp_preempt_requested());
}
