/* Whole-buffer writes to a file descriptor. */
#ifndef DTP_BASE_FDIO_H
#define DTP_BASE_FDIO_H

#include <stddef.h>

/* Write all n bytes, retrying short writes and EINTR. 0, -errno, or -EIO when
 * write() makes no progress (a full device that reports 0). */
int dtp_write_all(int fd, const void *buf, size_t n);

#endif
