#include "config.h"
#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dtp_errf(struct dtp_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	} else {
		fputs("dtpipe: error: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
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
		err->msg[0] = '\0';
	}
}

int dtp_exit_code(int code)
{
	if (code == 0)
		return DTP_EXIT_OK;
	switch (-code) {
	case EINVAL: case EBADMSG: case ENOENT: case EPROTO: case ERANGE:
	case ENOEXEC: case EISDIR: case ENOTDIR: case EOVERFLOW:
		return DTP_EXIT_BADINPUT;
	default:
		return DTP_EXIT_FAIL;
	}
}
