/* Atomic replacement of a file (durable.h). */
#include "config.h"
#include "base/durable.h"
#include "base/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int dtp_fsync_dir(const char *dir, struct dtp_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return dtp_errf_runtime(err, -errno, "cannot open directory %s to sync it: %s", dir,
					strerror(errno));
	if (fsync(fd) != 0)
		r = dtp_errf_runtime(err, -errno, "cannot sync directory %s: %s", dir, strerror(errno));
	close(fd);
	return r;
}

/* the directory part of path ("." when there is none) */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

int dtp_atomic_open(struct dtp_atomic_file *f, const char *path, struct dtp_err *err)
{
	f->fd = -1;
	f->tmp[0] = '\0';
	if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >= sizeof(f->path) ||
	    (size_t)snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-%ld", path, (long)getpid()) >=
		    sizeof(f->tmp)) {
		f->tmp[0] = '\0';
		return dtp_errf_input(err, -ENAMETOOLONG, "file name too long: %s", path);
	}
	unlink(f->tmp);   /* left by an earlier process with our pid that died mid-write */
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (f->fd < 0) {
		int e = errno;

		f->tmp[0] = '\0';
		return dtp_errf_input(err, -e, "cannot create %s.tmp-%ld: %s", path, (long)getpid(),
				      strerror(e));
	}
	return 0;
}

void dtp_atomic_abort(struct dtp_atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0])
		unlink(f->tmp);
	f->tmp[0] = '\0';
}

int dtp_atomic_commit(struct dtp_atomic_file *f, struct dtp_err *err)
{
	char dir[PATH_MAX];
	int r;

	if (fsync(f->fd) != 0) {
		r = dtp_errf_runtime(err, -errno, "cannot write %s: fsync: %s", f->tmp, strerror(errno));
		goto out_abort;
	}
	r = close(f->fd);
	f->fd = -1;
	if (r != 0) {
		r = dtp_errf_runtime(err, -errno, "cannot write %s: close: %s", f->tmp, strerror(errno));
		goto out_abort;
	}
	if (rename(f->tmp, f->path) != 0) {
		r = dtp_errf_runtime(err, -errno, "cannot rename %s to %s: %s", f->tmp, f->path,
				     strerror(errno));
		goto out_abort;
	}
	f->tmp[0] = '\0';
	dir_of(f->path, dir, sizeof(dir));
	return dtp_fsync_dir(dir, err);
out_abort:
	dtp_atomic_abort(f);
	return r;
}

int dtp_write_file_atomic(const char *path, const void *p, size_t n, struct dtp_err *err)
{
	struct dtp_atomic_file f;
	int r = dtp_atomic_open(&f, path, err);

	if (r)
		return r;
	r = dtp_pwrite_all(f.fd, p, n, 0);
	if (r) {
		dtp_atomic_abort(&f);
		return dtp_errf_runtime(err, r, "cannot write %s: %s", path, strerror(-r));
	}
	return dtp_atomic_commit(&f, err);
}
