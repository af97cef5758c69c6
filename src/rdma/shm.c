/* The shm transport, for two stages on one host: a byte ring per direction in
 * a shared mapping, tensors framed by the engine in stream.c and streamed
 * through the ring in chunks, so that the sender's copy in and the receiver's
 * copy out overlap.
 *
 * Rendezvous on the plan's host:port: a TCP connection (sock.c) carries the
 * handshake, then the name of a file under /dev/shm that the listener created;
 * the connector maps it and says so, and the listener removes the name. The
 * connection stays open as the liveness signal: when it closes, the peer is
 * gone. Waiting spins a bounded time, then sleeps on a futex in the mapping. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rdma/stream.h"

#define SHM_MAGIC 0x4d485344u          /* "DSHM" */
#define SHM_RING (4u << 20)            /* bytes per direction, a power of two */
#define SHM_CHUNK (256u << 10)         /* publish progress every chunk */
#define SHM_PAUSE_NS 2000u             /* spin with pause, then ... */
#define SHM_SPIN_NS 50000u             /* ... spin with sched_yield, then sleep */
#define SHM_SLEEP_MS 100               /* liveness check period while asleep */
#define SHM_DATA_OFF 4096u

struct shm_side {                      /* one per process, own cache line */
	_Alignas(64) _Atomic uint32_t bell;   /* futex word: bumped on every event */
	_Atomic uint32_t sleepers;
	_Atomic uint32_t closed;
};

struct shm_ring {
	_Alignas(64) _Atomic uint64_t head;   /* bytes produced */
	_Alignas(64) _Atomic uint64_t tail;   /* bytes consumed */
};

struct shm_ctrl {
	uint32_t magic;
	uint32_t ring_bytes;
	struct shm_side side[2];           /* 0: the listener, 1: the connector */
	struct shm_ring ring[2];           /* ring[i] carries side i's sends */
};

struct dtp_shm_link {
	struct dtp_link_base base;
	struct dtp_stream st;
	int fd;                            /* the rendezvous connection: liveness */
	int me;
	struct shm_ctrl *ctrl;
	size_t map_bytes;
	char *tx_data, *rx_data;
	_Atomic uint32_t kick;             /* private futex for the progress thread */
	uint32_t kick_seen;                /* the thread's last look at kick */
};

_Static_assert(sizeof(struct shm_ctrl) <= SHM_DATA_OFF, "control block fits a page");
/* the layout docs/wire-protocol.md describes */
_Static_assert(offsetof(struct shm_ctrl, side) == 64 && sizeof(struct shm_side) == 64 &&
	       offsetof(struct shm_ctrl, ring) == 192 && sizeof(struct shm_ring) == 128,
	       "shm layout as documented");

static void futex_wait(_Atomic uint32_t *w, uint32_t v, int ms, int shared)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	syscall(SYS_futex, w, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, v, ms < 0 ? NULL : &ts,
		NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int shared)
{
	syscall(SYS_futex, w, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void ring_bell(struct shm_side *s)
{
	atomic_fetch_add(&s->bell, 1);
	if (atomic_load(&s->sleepers))
		futex_wake(&s->bell, 1);
}

static void copy_in(char *ring, uint64_t pos, const char *src, size_t n)
{
	size_t off = (size_t)(pos & (SHM_RING - 1)), first = SHM_RING - off;

	if (first > n)
		first = n;
	memcpy(ring + off, src, first);
	memcpy(ring, src + first, n - first);
}

static void copy_out(const char *ring, uint64_t pos, char *dst, size_t n)
{
	size_t off = (size_t)(pos & (SHM_RING - 1)), first = SHM_RING - off;

	if (first > n)
		first = n;
	memcpy(dst, ring + off, first);
	memcpy(dst + first, ring, n - first);
}

static ssize_t shm_writev(void *ctx, const struct iovec *iov, int n)
{
	struct dtp_shm_link *t = ctx;
	struct shm_ring *r = &t->ctrl->ring[t->me];
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t done = 0;

	for (int i = 0; i < n; i++) {
		size_t off = 0;

		while (off < iov[i].iov_len) {
			uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
			size_t space = SHM_RING - (size_t)(head - tail), c = iov[i].iov_len - off;

			if (space == 0)
				goto out;
			if (c > space)
				c = space;
			if (c > SHM_CHUNK)
				c = SHM_CHUNK;
			copy_in(t->tx_data, head, (const char *)iov[i].iov_base + off, c);
			head += c;
			off += c;
			done += c;
			atomic_store_explicit(&r->head, head, memory_order_release);
			ring_bell(&t->ctrl->side[!t->me]);
		}
	}
out:
	return (ssize_t)done;
}

static ssize_t shm_read(void *ctx, void *buf, size_t n)
{
	struct dtp_shm_link *t = ctx;
	struct shm_ring *r = &t->ctrl->ring[!t->me];
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t done = 0;

	while (done < n) {
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		size_t avail = (size_t)(head - tail), c = n - done;

		if (avail == 0)
			break;
		if (c > avail)
			c = avail;
		if (c > SHM_CHUNK)
			c = SHM_CHUNK;
		copy_out(t->rx_data, tail, (char *)buf + done, c);
		tail += c;
		done += c;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
		ring_bell(&t->ctrl->side[!t->me]);
	}
	return (ssize_t)done;
}

static int ready(struct dtp_shm_link *t, int rd, int wr)
{
	struct shm_ring *in = &t->ctrl->ring[!t->me], *out = &t->ctrl->ring[t->me];

	if (rd && atomic_load_explicit(&in->head, memory_order_acquire) !=
		  atomic_load_explicit(&in->tail, memory_order_relaxed))
		return 1;
	if (wr && atomic_load_explicit(&out->head, memory_order_relaxed) -
		  atomic_load_explicit(&out->tail, memory_order_acquire) < SHM_RING)
		return 1;
	return 0;
}

/* the peer closed its link, exited or was killed */
static int peer_gone(struct dtp_shm_link *t)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN };

	if (atomic_load(&t->ctrl->side[!t->me].closed))
		return 1;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

static int shm_block(void *ctx, int rd, int wr, int timeout_ms, int thread)
{
	struct dtp_shm_link *t = ctx;
	struct shm_side *me = &t->ctrl->side[t->me];
	uint64_t t0 = dtp_now_ns();
	uint32_t bell;
	int ms = SHM_SLEEP_MS;

	uint32_t k = atomic_load(&t->kick);

	if (thread) {
		if (k != t->kick_seen) {      /* kicked since the last look */
			t->kick_seen = k;
			return 0;
		}
		if (!rd && !wr) {             /* idle: sleep until kicked */
			futex_wait(&t->kick, k, -1, 0);
			return 0;
		}
	}
	if (!thread) {
		do {
			if (ready(t, rd, wr))
				return 0;
			/* on a busy machine the peer may need this core to answer */
			if (dtp_now_ns() - t0 < SHM_PAUSE_NS)
				__builtin_ia32_pause();
			else
				sched_yield();
		} while (dtp_now_ns() - t0 < SHM_SPIN_NS);
	}
	atomic_fetch_add(&me->sleepers, 1);
	bell = atomic_load(&me->bell);
	if (!ready(t, rd, wr) && !peer_gone(t) && !(thread && atomic_load(&t->kick) != k)) {
		if (timeout_ms >= 0 && timeout_ms < ms)
			ms = timeout_ms;
		futex_wait(&me->bell, bell, ms, 1);
	}
	atomic_fetch_sub(&me->sleepers, 1);
	if (!ready(t, rd, wr) && peer_gone(t))
		return -ECONNRESET;
	return 0;
}

static void shm_kick(void *ctx)
{
	struct dtp_shm_link *t = ctx;

	atomic_fetch_add(&t->kick, 1);
	futex_wake(&t->kick, 0);
	ring_bell(&t->ctrl->side[t->me]);
}

static const struct dtp_stream_io shm_io = {
	.writev = shm_writev,
	.read = shm_read,
	.block = shm_block,
	.kick = shm_kick,
};

/* listener: create and size the segment, send its name, wait for "mapped" */
static int share_segment(struct dtp_shm_link *t, const struct dtp_link_config *cfg,
			 struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	char name[128];
	uint8_t len, ack = 0;
	int fd, rc;

	snprintf(name, sizeof(name), "/dev/shm/dtpipe-%d-s%d-s%d-%llx", (int)getpid(),
		 cfg->self_stage, cfg->peer_stage, (unsigned long long)(dtp_now_ns() & 0xffffffffffull));
	fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return dtp_errf(err, -errno, "stage %d: cannot create %s: %s; is /dev/shm mounted "
				"and writable?", cfg->self_stage, name, strerror(errno));
	if (ftruncate(fd, (off_t)t->map_bytes) < 0) {
		rc = dtp_errf(err, -errno, "stage %d: cannot size %s to %zu bytes: %s (is "
			      "/dev/shm full?)", cfg->self_stage, name, t->map_bytes, strerror(errno));
		goto out_unlink;
	}
	t->ctrl = mmap(NULL, t->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t->ctrl == MAP_FAILED) {
		t->ctrl = NULL;
		rc = dtp_errf(err, -errno, "stage %d: mmap %s: %s", cfg->self_stage, name,
			      strerror(errno));
		goto out_unlink;
	}
	t->ctrl->magic = SHM_MAGIC;
	t->ctrl->ring_bytes = SHM_RING;
	len = (uint8_t)strlen(name);
	rc = dtp_sock_write_full(t->fd, &len, 1, deadline);
	if (rc == 0)
		rc = dtp_sock_write_full(t->fd, name, len, deadline);
	if (rc == 0)
		rc = dtp_sock_read_full(t->fd, &ack, 1, deadline);
	if (rc == 0 && ack != 1)
		rc = -EPROTO;
	if (rc)
		rc = dtp_errf(err, rc, "stage %d: stage %d could not map the shared segment %s "
			      "(%s): is it on this host?", cfg->self_stage, cfg->peer_stage, name,
			      strerror(-rc));
out_unlink:
	unlink(name);
	close(fd);
	return rc;
}

/* connector: map the segment the listener named, then acknowledge */
static int map_segment(struct dtp_shm_link *t, const struct dtp_link_config *cfg,
		       struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	char name[256];
	uint8_t len = 0, ack = 1;
	int fd, rc;

	rc = dtp_sock_read_full(t->fd, &len, 1, deadline);
	if (rc == 0)
		rc = dtp_sock_read_full(t->fd, name, len, deadline);
	if (rc)
		return dtp_errf(err, rc, "stage %d: stage %d at %s:%d did not send the name of "
				"its shared segment (%s)", cfg->self_stage, cfg->peer_stage,
				cfg->host, cfg->port, strerror(-rc));
	name[len] = 0;
	if (strncmp(name, "/dev/shm/dtpipe-", 16) != 0 || strstr(name, ".."))
		return dtp_errf(err, -EPROTO, "stage %d: stage %d named a shared segment "
				"outside /dev/shm/dtpipe-*: refusing", cfg->self_stage,
				cfg->peer_stage);
	fd = open(name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return dtp_errf(err, -errno, "stage %d: cannot open %s from stage %d: %s; the "
				"shm transport needs both stages on one host (use tcp otherwise)",
				cfg->self_stage, name, cfg->peer_stage, strerror(errno));
	t->ctrl = mmap(NULL, t->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t->ctrl == MAP_FAILED) {
		t->ctrl = NULL;
		return dtp_errf(err, -errno, "stage %d: mmap %s: %s", cfg->self_stage, name,
				strerror(errno));
	}
	if (t->ctrl->magic != SHM_MAGIC || t->ctrl->ring_bytes != SHM_RING)
		return dtp_errf(err, -EPROTO, "stage %d: the shared segment of stage %d has "
				"another layout: run the same dtpipe build on both stages",
				cfg->self_stage, cfg->peer_stage);
	return dtp_sock_write_full(t->fd, &ack, 1, deadline);
}

static int shm_open_link(const struct dtp_link_config *cfg, struct dtp_link **out,
			 struct dtp_err *err)
{
	struct dtp_shm_link *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return dtp_errf(err, -ENOMEM, "stage %d: no memory for a link", cfg->self_stage);
	t->base.ops = &dtp_shm_ops;
	t->base.cfg = *cfg;
	t->me = cfg->listen ? 0 : 1;
	t->map_bytes = SHM_DATA_OFF + 2 * (size_t)SHM_RING;
	rc = dtp_stream_init(&t->st, &shm_io, t, cfg, 0, err);
	if (rc)
		goto out_free;
	rc = cfg->listen ? dtp_sock_accept_peer(cfg, &t->fd, err)
			 : dtp_sock_connect_peer(cfg, &t->fd, err);
	if (rc)
		goto out_fini;
	rc = cfg->listen ? share_segment(t, cfg, err) : map_segment(t, cfg, err);
	if (rc)
		goto out_unmap;
	t->tx_data = (char *)t->ctrl + SHM_DATA_OFF + (size_t)t->me * SHM_RING;
	t->rx_data = (char *)t->ctrl + SHM_DATA_OFF + (size_t)!t->me * SHM_RING;
	rc = dtp_stream_start(&t->st, err);
	if (rc)
		goto out_unmap;
	*out = (struct dtp_link *)(void *)t;
	return 0;
out_unmap:
	if (t->ctrl)
		munmap(t->ctrl, t->map_bytes);
	close(t->fd);
out_fini:
	dtp_stream_fini(&t->st);
out_free:
	free(t);
	return rc;
}

static struct dtp_shm_link *shm_of(struct dtp_link *l)
{
	return (struct dtp_shm_link *)(void *)l;
}

static int shm_reg(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out,
		   struct dtp_err *err)
{
	return dtp_stream_reg(buf, len, out, err);
}

static void shm_dereg(struct dtp_link *l, struct dtp_mr *mr)
{
	dtp_stream_dereg(mr);
}

static int shm_isend(struct dtp_link *l, const struct dtp_tag *tag, const void *buf,
		     size_t len, struct dtp_mr *mr, struct dtp_req *req)
{
	if (dtp_stream_mr_covers(mr, buf, len))
		return -EINVAL;
	req->mr = mr;
	return dtp_stream_isend(&shm_of(l)->st, tag, buf, len, req);
}

static int shm_irecv(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
		     struct dtp_mr *mr, struct dtp_req *req)
{
	if (dtp_stream_mr_covers(mr, buf, cap))
		return -EINVAL;
	req->mr = mr;
	return dtp_stream_irecv(&shm_of(l)->st, tag, buf, cap, req);
}

static int shm_test(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err)
{
	return dtp_stream_test(&shm_of(l)->st, req, done, err);
}

static int shm_wait(struct dtp_link *l, struct dtp_req *req, int timeout_ms,
		    struct dtp_err *err)
{
	return dtp_stream_wait(&shm_of(l)->st, req, timeout_ms, err);
}

static void shm_close(struct dtp_link *l)
{
	struct dtp_shm_link *t = shm_of(l);

	dtp_stream_fini(&t->st);
	atomic_store(&t->ctrl->side[t->me].closed, 1);
	ring_bell(&t->ctrl->side[!t->me]);
	munmap(t->ctrl, t->map_bytes);
	close(t->fd);
	free(t);
}

const struct dtp_transport_ops dtp_shm_ops = {
	.name = "shm",
	.open = shm_open_link,
	.reg = shm_reg,
	.dereg = shm_dereg,
	.isend = shm_isend,
	.irecv = shm_irecv,
	.test = shm_test,
	.wait = shm_wait,
	.close = shm_close,
};
