/* Whole-buffer reads and writes on a file descriptor: EINTR and short counts
 * retried. The one home for these loops (base/durable.h builds on them). */
#ifndef DTP_BASE_FDIO_H
#define DTP_BASE_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* 0 or -errno. A write that makes no progress (a full device that reports 0)
 * gives -EIO; a read that meets the end of the file first gives -EBADMSG. */
int dtp_write_all(int fd, const void *buf, size_t n);
int dtp_read_all(int fd, void *buf, size_t n);
/* the same at byte offset off; the file position is left alone */
int dtp_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
int dtp_pread_all(int fd, void *buf, size_t n, uint64_t off);

#endif
