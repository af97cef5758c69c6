/* Logging to stderr. The supervisor puts the "[stage N]" prefix on each line it
 * forwards, so messages here carry none. Debug lines appear when DTP_DEBUG is set
 * in the environment (read on each call: no global state). */
#ifndef DTP_BASE_LOG_H
#define DTP_BASE_LOG_H

enum dtp_log_level { DTP_LOG_DEBUG, DTP_LOG_INFO, DTP_LOG_WARN, DTP_LOG_ERROR };

void dtp_log(enum dtp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define dtp_debug(...) dtp_log(DTP_LOG_DEBUG, __VA_ARGS__)
#define dtp_info(...)  dtp_log(DTP_LOG_INFO, __VA_ARGS__)
#define dtp_warn(...)  dtp_log(DTP_LOG_WARN, __VA_ARGS__)
#define dtp_error(...) dtp_log(DTP_LOG_ERROR, __VA_ARGS__)

#endif
