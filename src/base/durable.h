/* Files that survive a crash: atomic replacement (a temporary file beside
 * the target, fsync, rename over the target, fsync of the directory), so that
 * a reader finds either the old file or the new one, complete, never a mix.
 * Full reads and writes are in base/fdio.h. */
#ifndef DTP_BASE_DURABLE_H
#define DTP_BASE_DURABLE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* fsync the directory `dir` (makes a rename or create in it durable) */
int dtp_fsync_dir(const char *dir, struct dtp_err *err);

struct dtp_atomic_file {
	int fd;                    /* write here; -1 when closed */
	char path[PATH_MAX];       /* the target */
	char tmp[PATH_MAX];        /* "<target>.tmp-<pid>", removed unless committed */
};
/* Create the temporary file for `path` (O_EXCL; a stale one of this pid is
 * replaced). Messages name the file and the system's reason. */
int dtp_atomic_open(struct dtp_atomic_file *f, const char *path, struct dtp_err *err);
/* fsync, close, rename over the target, fsync its directory. On failure the
 * temporary file is removed and the target is untouched. */
int dtp_atomic_commit(struct dtp_atomic_file *f, struct dtp_err *err);
/* close and remove the temporary file (after a failed write); safe to repeat */
void dtp_atomic_abort(struct dtp_atomic_file *f);
/* the three steps for a small file held in memory */
int dtp_write_file_atomic(const char *path, const void *p, size_t n, struct dtp_err *err);

#endif
