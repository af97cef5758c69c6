/* The shm transport, for two stages on one host: a byte ring per direction in
 * a shared mapping carries the frames of stream.c; and a tensor received into
 * memory both processes map (dtp_link_alloc) is copied once, by the sender
 * straight into the receive buffer the receiver advertised, the ring then
 * carrying only its header.
 *
 * Rendezvous on the plan's host:port: a TCP connection (sock.c) carries the
 * handshake, then the name of a file under /dev/shm that the listener created;
 * the connector maps it and says so, and the listener removes the name. The
 * connection stays open as the liveness signal: when it closes, the peer is
 * gone. Waiting spins a bounded time, then sleeps on a futex in the mapping.
 * docs/wire-protocol.md describes the layout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rdma/shm.h"
#include "rdma/sock.h"

void dtp_shm_ring_bell(struct shm_side *s)
{
	atomic_fetch_add(&s->bell, 1);
	if (atomic_load(&s->sleepers))
		dtp_futex_wake(&s->bell, 1);
}

/* n bytes between the ring at stream position pos and flat memory, wrapping */
static void ring_copy(char *ring, uint64_t pos, char *flat, size_t n, int into_ring)
{
	size_t off = (size_t)(pos & (SHM_RING - 1)), first = SHM_RING - off;

	if (first > n)
		first = n;
	memcpy(into_ring ? ring + off : flat, into_ring ? flat : ring + off, first);
	memcpy(into_ring ? ring : flat + first, into_ring ? flat + first : ring, n - first);
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
			/* the consumer's tail only when the last one we read leaves
			 * too little room: it is a cache line the consumer writes */
			size_t space = SHM_RING - (size_t)(head - t->tx_tail), c = iov[i].iov_len - off;

			if (space < c && space < SHM_CHUNK) {
				t->tx_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
				space = SHM_RING - (size_t)(head - t->tx_tail);
			}
			if (space == 0)
				goto out;
			if (c > space)
				c = space;
			if (c > SHM_CHUNK)
				c = SHM_CHUNK;
			ring_copy(t->tx_data, head, (char *)iov[i].iov_base + off, c, 1);
			head += c;
			off += c;
			done += c;
			atomic_store_explicit(&r->head, head, memory_order_release);
			dtp_shm_ring_bell(&t->ctrl->side[!t->me]);
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
		ring_copy(t->rx_data, tail, (char *)buf + done, c, 0);
		tail += c;
		done += c;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
		dtp_shm_ring_bell(&t->ctrl->side[!t->me]);
	}
	return (ssize_t)done;
}

static int ready(struct dtp_shm_link *t, int rd, int wr)
{
	struct shm_ring *in = &t->ctrl->ring[!t->me], *out = &t->ctrl->ring[t->me];
	uint32_t want = atomic_load_explicit(&t->need_advert, memory_order_relaxed);

	if (rd && (atomic_load_explicit(&in->head, memory_order_acquire) !=
		   atomic_load_explicit(&in->tail, memory_order_relaxed) || dtp_shm_fast_ready(t)))
		return 1;
	if (want && wr)    /* a send waits for its receive to be posted */
		return atomic_load_explicit(&t->ctrl->advert[t->me][(want - 1) % SHM_ADVERTS].seq1,
					    memory_order_acquire) == want;
	if (wr && atomic_load_explicit(&out->head, memory_order_relaxed) -
		  atomic_load_explicit(&out->tail, memory_order_acquire) < SHM_RING)
		return 1;
	return 0;
}

/* the peer closed its link, exited or was killed */
int dtp_shm_peer_gone(struct dtp_shm_link *t)
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
	uint64_t t0;
	uint32_t bell;
	int ms = SHM_SLEEP_MS;

	uint32_t k = atomic_load(&t->kick);

	if (thread) {
		if (k != t->kick_seen) {      /* kicked since the last look */
			t->kick_seen = k;
			return 0;
		}
		if (!rd && !wr) {             /* idle: sleep until kicked */
			dtp_futex_wait(&t->kick, k, -1, 0);
			return 0;
		}
	}
	if (!thread) {
		/* rd == 2: the peer copies our head receive into place; its copy
		 * may be ours to share (dtp_shm_help) */
		if (ready(t, rd, wr))
			return 0;
		t0 = dtp_now_ns();
		do {
			if (ready(t, rd, wr) || (rd == 2 && dtp_shm_job_open(t)))
				return 0;
			/* on a busy machine the peer may need this core to answer */
			if (dtp_now_ns() - t0 < SHM_PAUSE_NS)
				dtp_cpu_pause();
			else
				sched_yield();
		} while (dtp_now_ns() - t0 < (rd == 2 ? SHM_HELP_SPIN_NS : SHM_SPIN_NS));
	}
	atomic_fetch_add(&me->sleepers, 1);
	bell = atomic_load(&me->bell);
	if (!ready(t, rd, wr) && !(rd == 2 && dtp_shm_job_open(t)) && !dtp_shm_peer_gone(t) && !(thread && atomic_load(&t->kick) != k)) {
		uint64_t since = atomic_load(&t->advert_since);

		if (timeout_ms >= 0 && timeout_ms < ms)
			ms = timeout_ms;
		if (wr && since) {         /* wake when the send stops waiting */
			uint64_t end = since + SHM_ADVERT_WAIT_NS, now = dtp_now_ns();
			int left = now >= end ? 0 : (int)((end - now) / 1000000u) + 1;

			if (left < ms)
				ms = left;
		}
		dtp_futex_wait(&me->bell, bell, ms < 0 ? -1 : (int64_t)ms * 1000000, 1);
	}
	atomic_fetch_sub(&me->sleepers, 1);
	if (!ready(t, rd, wr) && dtp_shm_peer_gone(t))
		return -ECONNRESET;
	return 0;
}

static void shm_kick(void *ctx)
{
	struct dtp_shm_link *t = ctx;

	atomic_fetch_add(&t->kick, 1);
	dtp_futex_wake(&t->kick, 0);
	dtp_shm_ring_bell(&t->ctrl->side[t->me]);
}


static struct dtp_shm_link *shm_of(struct dtp_link *l)
{
	return (struct dtp_shm_link *)(void *)l;
}

/* ops->alloc: a memfd both processes map */
static int shm_alloc(struct dtp_link *l, size_t len, void **buf, struct dtp_mr **out,
		     struct dtp_err *err)
{
	struct dtp_shm_link *t = shm_of(l);
	size_t size = dtp_align_up(len ? len : 1, DTP_PAGE);
	struct dtp_mr *mr;
	struct stat sb;
	void *map;
	int fd, rc;

	fd = memfd_create("dtpipe-shm", MFD_CLOEXEC);
	if (fd < 0)
		return dtp_errf_runtime(err, -errno, "stage %d: memfd_create: %s",
					t->base.cfg.self_stage, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0 || fstat(fd, &sb) < 0) {
		rc = dtp_errf_runtime(err, -errno, "stage %d: cannot size a %zu-byte shared buffer: %s",
				      t->base.cfg.self_stage, size, strerror(errno));
		goto out_close;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = dtp_errf_runtime(err, -errno, "stage %d: cannot map a %zu-byte shared buffer: %s",
				      t->base.cfg.self_stage, size, strerror(errno));
		goto out_close;
	}
	rc = dtp_stream_reg(map, len, &mr, err);
	if (rc)
		goto out_unmap;
	mr->shm_fd = fd;
	mr->shm_map = map;
	mr->shm_map_len = size;
	rc = dtp_shm_region_publish(t, fd, &sb, mr, err);
	if (rc)
		goto out_dereg;
	*buf = map;
	*out = mr;
	return 0;
out_dereg:
	dtp_stream_dereg(mr);
out_unmap:
	munmap(map, size);
out_close:
	close(fd);
	return rc;
}

static void shm_free(struct dtp_link *l, void *buf, struct dtp_mr *mr)
{
	struct dtp_shm_link *t = shm_of(l);

	(void)buf;
	dtp_shm_region_unpublish(t, mr);
	if (mr->shm_fd >= 0) {
		munmap(mr->shm_map, mr->shm_map_len);
		close(mr->shm_fd);
	}
	dtp_stream_dereg(mr);
}

static const struct dtp_stream_io shm_io = {
	.writev = shm_writev,
	.read = shm_read,
	.block = shm_block,
	.kick = shm_kick,
	.advertise = dtp_shm_advertise,
	.place = dtp_shm_place,
	.help = dtp_shm_help,
	.fast_send = dtp_shm_fast_send,
	.fast_recv = dtp_shm_fast_recv,
	.fast_max = SHM_FAST_MAX,
	.eager_max = SHM_EAGER_MAX,
};

static int shm_open_link(const struct dtp_link_config *cfg, struct dtp_link **out,
			 struct dtp_err *err)
{
	struct dtp_shm_link *t = calloc(1, sizeof(*t));
	struct { uint32_t magic, ring_bytes; } head;
	void *map;
	int rc;

	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: no memory for a link", cfg->self_stage);
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
	head.magic = SHM_MAGIC;
	head.ring_bytes = SHM_RING;
	rc = cfg->listen ? dtp_shm_share_segment(t->fd, cfg, t->map_bytes, &head, 8, &map, err)
			 : dtp_shm_map_segment(t->fd, cfg, t->map_bytes, &head, 8, &map, err);
	if (rc)
		goto out_close;
	t->ctrl = map;
	t->tx_data = (char *)t->ctrl + SHM_DATA_OFF + (size_t)t->me * SHM_RING;
	t->rx_data = (char *)t->ctrl + SHM_DATA_OFF + (size_t)!t->me * SHM_RING;
	t->fast_tx = (struct shm_fast *)(void *)((char *)t->ctrl + SHM_FAST_OFF +
						 (size_t)t->me * SHM_FAST_AREA);
	t->fast_rx = (struct shm_fast *)(void *)((char *)t->ctrl + SHM_FAST_OFF +
						 (size_t)!t->me * SHM_FAST_AREA);
	rc = dtp_stream_start(&t->st, err);
	if (rc)
		goto out_unmap;
	*out = (struct dtp_link *)(void *)t;
	return 0;
out_unmap:
	munmap(t->ctrl, t->map_bytes);
out_close:
	close(t->fd);
out_fini:
	dtp_stream_fini(&t->st);
out_free:
	free(t);
	return rc;
}

/* bookkeeping, and sharing with the peer when buf is in a shared file */
static int shm_reg(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out,
		   struct dtp_err *err)
{
	struct dtp_mr *mr;
	struct dtp_err full;          /* no room to share it: private is fine */
	struct stat sb;
	uint64_t off;
	int fd, rc = dtp_stream_reg(buf, len, &mr, err);

	if (rc)
		return rc;
	if (len >= SHM_PLACE_MIN && dtp_shm_find_shared_file(buf, len, &fd, &sb, &off) == 0 &&
	    dtp_shm_region_publish(shm_of(l), fd, &sb, mr, &full) == 0)
		mr->shm_off = off;
	*out = mr;
	return 0;
}

static void shm_dereg(struct dtp_link *l, struct dtp_mr *mr)
{
	dtp_shm_region_unpublish(shm_of(l), mr);
	dtp_stream_dereg(mr);
}

static void shm_close(struct dtp_link *l)
{
	struct dtp_shm_link *t = shm_of(l);

	dtp_stream_fini(&t->st);
	atomic_store(&t->ctrl->side[t->me].closed, 1);
	dtp_shm_ring_bell(&t->ctrl->side[!t->me]);
	dtp_shm_unmap_peers(t);
	munmap(t->ctrl, t->map_bytes);
	close(t->fd);
	free(t);
}

static void shm_stats(struct dtp_link *l, struct dtp_link_stats *out)
{
	struct dtp_shm_link *t = shm_of(l);

	dtp_stream_fast_counts(&t->st, &out->small_sent, &out->small_recv);
	pthread_mutex_lock(&t->st.mu);
	out->placed_sent = t->st.placed_tx;
	out->placed_recv = t->st.placed_rx;
	out->helped_chunks = t->helped;
	pthread_mutex_unlock(&t->st.mu);
}

_Static_assert(offsetof(struct dtp_shm_link, base) == offsetof(struct dtp_stream_link, base) &&
	       offsetof(struct dtp_shm_link, st) == offsetof(struct dtp_stream_link, st),
	       "the engine serves this link's requests (stream.h)");

const struct dtp_transport_ops dtp_shm_ops = {
	.name = "shm",
	.open = shm_open_link,
	.reg = shm_reg,
	.dereg = shm_dereg,
	.isend = dtp_stream_link_isend,
	.irecv = dtp_stream_link_irecv,
	.test = dtp_stream_link_test,
	.wait = dtp_stream_link_wait,
	.close = shm_close,
	.alloc = shm_alloc,
	.free = shm_free,
	.stats = shm_stats,
};

size_t dtp_shm_link_resident_bytes(void)
{
	return SHM_DATA_OFF + 2 * (size_t)SHM_RING;
}
