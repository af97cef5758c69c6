/* Facts about this process from /proc. */
#ifndef DTP_BASE_PROC_H
#define DTP_BASE_PROC_H

#include <stddef.h>

/* Peak resident set (VmHWM) in bytes; 0 when /proc cannot tell. */
size_t dtp_peak_rss(void);
/* Resident set now (VmRSS) in bytes; 0 when /proc cannot tell. */
size_t dtp_rss(void);

#endif
