/* Whole-buffer reads and writes (base/fdio.h). */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "base/fdio.h"

/* The one retry loop: all n bytes read or written, at off when positioned (then
 * the file position is left alone), else at the file position. A call that
 * makes no progress ends it: -EIO for a write (a full device that reports 0),
 * -EBADMSG for a read (the file ends first). */
static int xfer_all(int fd, char *p, size_t n, uint64_t off, int positioned, int writing)
{
	while (n) {
		ssize_t got;

		if (writing)
			got = positioned ? pwrite(fd, p, n, (off_t)off) : write(fd, p, n);
		else
			got = positioned ? pread(fd, p, n, (off_t)off) : read(fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return writing ? -EIO : -EBADMSG;
		p += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

int dtp_write_all(int fd, const void *buf, size_t n)
{
	return xfer_all(fd, (char *)buf, n, 0, 0, 1);
}

int dtp_read_all(int fd, void *buf, size_t n)
{
	return xfer_all(fd, buf, n, 0, 0, 0);
}

int dtp_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	return xfer_all(fd, (char *)buf, n, off, 1, 1);
}

int dtp_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	return xfer_all(fd, buf, n, off, 1, 0);
}
