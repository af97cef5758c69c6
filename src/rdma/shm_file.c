/* The shared-memory files of the shm transport: the segment the two stages
 * share (created by the listener under /dev/shm and handed over the
 * rendezvous connection), and the peer's shared buffers (dtp_link_alloc
 * memory) mapped through /proc/<pid>/fd. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rdma/shm.h"
#include "rdma/sock.h"

/* Segment names: SEG_DIR "dtpipe-<listener pid>-s<self>-s<peer>-<stamp>". */
#define SEG_DIR "/dev/shm/"
#define SEG_PREFIX "dtpipe-"

/* Remove the segments of this link's earlier listeners that died before
 * their peer mapped (and so removed) the segment: those whose creating
 * process no longer exists. */
static void remove_orphans(const struct dtp_link_config *cfg)
{
	DIR *d = opendir(SEG_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid, a, b, n = 0;
		char path[sizeof(SEG_DIR) + 256];

		if (sscanf(de->d_name, SEG_PREFIX "%d-s%d-s%d-%*x%n", &pid, &a, &b, &n) != 3 ||
		    n == 0 || de->d_name[n] || a != cfg->self_stage || b != cfg->peer_stage ||
		    pid <= 0 || pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), SEG_DIR "%s", de->d_name);
		if (unlink(path) == 0)
			dtp_debug("stage %d: removed %s, left by a listener that died before its "
				  "peer mapped it", cfg->self_stage, path);
	}
	closedir(d);
}

int dtp_shm_share_segment(int fd, const struct dtp_link_config *cfg, size_t bytes,
			   const void *head, size_t head_len, void **map_out, struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	char name[128];
	uint8_t len, ack = 0;
	void *map = MAP_FAILED;
	int sfd, rc;

	remove_orphans(cfg);
	snprintf(name, sizeof(name), SEG_DIR SEG_PREFIX "%d-s%d-s%d-%llx", (int)getpid(),
		 cfg->self_stage, cfg->peer_stage, (unsigned long long)(dtp_now_ns() & 0xffffffffffull));
	sfd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sfd < 0)
		return dtp_errf_runtime(err, -errno, "stage %d: cannot create %s: %s; is /dev/shm mounted "
					"and writable?", cfg->self_stage, name, strerror(errno));
	if (ftruncate(sfd, (off_t)bytes) < 0) {
		rc = dtp_errf_runtime(err, -errno, "stage %d: cannot size %s to %zu bytes: %s (is "
				      "/dev/shm full?)", cfg->self_stage, name, bytes, strerror(errno));
		goto out_unlink;
	}
	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (map == MAP_FAILED) {
		rc = dtp_errf_runtime(err, -errno, "stage %d: mmap %s: %s", cfg->self_stage, name,
				      strerror(errno));
		goto out_unlink;
	}
	memcpy(map, head, head_len);
	len = (uint8_t)strlen(name);
	rc = dtp_sock_write_full(fd, &len, 1, deadline);
	if (rc == 0)
		rc = dtp_sock_write_full(fd, name, len, deadline);
	if (rc == 0)
		rc = dtp_sock_read_full(fd, &ack, 1, deadline);
	if (rc == 0 && ack != 1)
		rc = -EPROTO;
	if (rc) {
		rc = dtp_errf_runtime(err, rc, "stage %d: stage %d could not map the shared segment %s "
				      "(%s): is it on this host?", cfg->self_stage, cfg->peer_stage, name,
				      strerror(-rc));
		munmap(map, bytes);
	} else {
		*map_out = map;
	}
out_unlink:
	unlink(name);            /* the connector removed it already, once it had it open */
	close(sfd);
	return rc;
}

int dtp_shm_map_segment(int fd, const struct dtp_link_config *cfg, size_t bytes,
			 const void *head, size_t head_len, void **map_out, struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	char name[256];
	uint8_t len = 0, ack = 1;
	void *map;
	int sfd, rc;

	rc = dtp_sock_read_full(fd, &len, 1, deadline);
	if (rc == 0)
		rc = dtp_sock_read_full(fd, name, len, deadline);
	if (rc)
		return dtp_errf_runtime(err, rc, "stage %d: stage %d at %s:%d did not send the name of "
					"its shared segment (%s)", cfg->self_stage, cfg->peer_stage,
					cfg->host, cfg->port, strerror(-rc));
	name[len] = 0;
	if (strncmp(name, SEG_DIR SEG_PREFIX, strlen(SEG_DIR SEG_PREFIX)) != 0 || strstr(name, "..") ||
	    strchr(name + strlen(SEG_DIR), '/'))
		return dtp_errf_runtime(err, -EPROTO, "stage %d: stage %d named a shared segment "
					"outside /dev/shm/dtpipe-*: refusing", cfg->self_stage,
					cfg->peer_stage);
	sfd = open(name, O_RDWR | O_CLOEXEC);
	if (sfd < 0)
		return dtp_errf_runtime(err, -errno, "stage %d: cannot open %s from stage %d: %s; the "
					"shm transport needs both stages on one host (use tcp otherwise)",
					cfg->self_stage, name, cfg->peer_stage, strerror(errno));
	/* both ends hold it now: remove the name at once, so that no file is left
	 * in /dev/shm whichever side dies from here on (the listener's own
	 * unlink after our acknowledgement then finds nothing) */
	unlink(name);
	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	close(sfd);
	if (map == MAP_FAILED)
		return dtp_errf_runtime(err, -errno, "stage %d: mmap %s: %s", cfg->self_stage, name,
					strerror(errno));
	if (memcmp(map, head, head_len) != 0) {
		munmap(map, bytes);
		return dtp_errf_runtime(err, -EPROTO, "stage %d: the shared segment of stage %d has "
					"another layout: run the same dtpipe build on both stages",
					cfg->self_stage, cfg->peer_stage);
	}
	rc = dtp_sock_write_full(fd, &ack, 1, deadline);
	if (rc) {
		munmap(map, bytes);
		return dtp_errf_runtime(err, rc, "stage %d: stage %d went away during the shm rendezvous",
					cfg->self_stage, cfg->peer_stage);
	}
	*map_out = map;
	return 0;
}

/* ---- shared files of the peer (shm one-copy buffers) ---- */

const char *dtp_shm_map_peer_file(int pid, int fd, uint64_t ino, uint64_t dev, size_t size,
				  void **map_out)
{
	char path[64];
	struct stat sb;
	void *map;
	int pfd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	pfd = open(path, O_RDWR | O_CLOEXEC);
	if (pfd < 0)
		return strerror(errno);
	if (fstat(pfd, &sb) < 0 || (uint64_t)sb.st_ino != ino || (uint64_t)sb.st_dev != dev ||
	    (uint64_t)sb.st_size < size) {
		close(pfd);
		return "another file (does the peer run in another PID namespace?)";
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, pfd, 0);
	close(pfd);
	if (map == MAP_FAILED)
		return strerror(errno);
	*map_out = map;
	return NULL;
}

int dtp_shm_find_shared_file(const void *buf, size_t len, int *fd_out, struct stat *sb,
			     uint64_t *off)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], perms[8] = "";
	unsigned long lo = 0, hi, ino = 0;
	unsigned long long foff = 0;
	unsigned maj = 0, min = 0;
	int found = 0, fd = -1;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %lu", &lo, &hi, perms, &foff, &maj, &min,
			   &ino) == 7 && (uintptr_t)buf >= lo && (uintptr_t)buf + len <= hi)
			found = perms[3] == 's' && ino != 0;
	fclose(f);
	if (!found)
		return -1;
	for (int i = 3; i < 1024 && fd < 0; i++)
		if (fstat(i, sb) == 0 && (unsigned long)sb->st_ino == ino &&
		    major(sb->st_dev) == maj && minor(sb->st_dev) == min)
			fd = i;
	if (fd < 0)
		return -1;
	*fd_out = fd;
	*off = foff + ((uintptr_t)buf - lo);
	return 0;
}
