/* Whole-buffer writes (base/fdio.h). */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "base/fdio.h"

int dtp_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
