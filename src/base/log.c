#include "config.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void dtp_log(enum dtp_log_level level, const char *fmt, ...)
{
	static const char *const tag[] = { "debug: ", "", "warning: ", "error: " };
	char line[2048];
	va_list ap;
	int n;

	if (level == DTP_LOG_DEBUG && !getenv("DTP_DEBUG"))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one fprintf per line so that lines from threads do not interleave */
	fprintf(stderr, "dtpipe: %s%s\n", tag[level], line);
}
