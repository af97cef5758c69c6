/* Internal to src/rdma: the message engine shared by the byte-stream
 * transports (tcp, shm). It keeps the caller-owned send and receive queues of
 * one link, frames tensors (link.h: 24-byte header + payload), checks every
 * header against the posted receive before touching the payload, and makes
 * progress either in the caller (inside wait/test) or, while no caller is
 * waiting on this link, in a progress thread of its own: so a link completes
 * its requests without anyone driving another link.
 *
 * A transport provides non-blocking byte I/O and a way to block. */
#ifndef DTP_RDMA_STREAM_H
#define DTP_RDMA_STREAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rdma/link.h"

struct dtp_stream_io {
	/* non-blocking: bytes moved (> 0), 0 when it would block, or -errno
	 * (-ECONNRESET: the peer closed; -ETIMEDOUT: the peer stopped answering) */
	ssize_t (*writev)(void *ctx, const struct iovec *iov, int n);
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	/* Block until the stream may be readable (rd) / writable (wr), or until
	 * kicked (thread == 1: the progress thread is calling), or timeout_ms
	 * (< 0: no limit). Spurious returns are fine. 0, or -ECONNRESET when the
	 * transport finds the peer dead while waiting. */
	int (*block)(void *ctx, int rd, int wr, int timeout_ms, int thread);
	/* wake the progress thread out of block() */
	void (*kick)(void *ctx);
	/* Optional (shm), both under the stream's lock. advertise: tell the
	 * sender where the receive posted as the seq-th of this direction goes
	 * (1: into memory the peer maps, 0: through the stream or already
	 * routed, -EAGAIN: no room yet, ask again later). Every receive is
	 * advertised, in order. place: route the seq-th send, in order, once:
	 * 1: copied straight into the buffer the peer advertised for it (the
	 * frame then carries no payload), 0: send it through the stream,
	 * -EAGAIN: wait for the peer's advertisement (block(wr) wakes then),
	 * other -errno: the link failed. */
	int (*advertise)(void *ctx, uint32_t seq, void *buf, size_t cap, struct dtp_mr *mr);
	int (*place)(void *ctx, uint32_t seq, const void *buf, size_t len, struct dtp_mr *mr);
	/* Optional (shm), under the stream's lock: the caller waits for the
	 * seq-th receive (buf, cap), advertised into memory the peer maps and
	 * its header not read yet: do a share of the peer's work on it, e.g.
	 * copy a chunk of it. 1: did some (ask again), 0: nothing to do. */
	int (*help)(void *ctx, uint32_t seq, void *buf, size_t cap);
	/* Optional (shm): small messages (len <= fast_max) outside the stream,
	 * called under the stream's gate (below). fast_send: send the seq-th
	 * frame now, complete: 1, or 0 (no room: send it through the stream).
	 * fast_recv, for the seq-th receive whose header was not begun: 1
	 * received (*len set), 0 frame seq is in the stream (read it there),
	 * -EAGAIN not there yet, -EPROTO mismatch (err says so, as
	 * dtp_frame_check would). */
	int (*fast_send)(void *ctx, uint32_t seq, const struct dtp_tag *tag, const void *buf,
			 size_t len);
	int (*fast_recv)(void *ctx, uint32_t seq, const struct dtp_tag *want, void *buf,
			 size_t cap, size_t max_msg, const char *peer, size_t *len,
			 struct dtp_err *err);
	size_t fast_max;
	/* Optional: receives up to this many bytes never need the progress
	 * thread's help: their sender writes them whole into the transport's
	 * buffer without waiting for the receiver (shm: SHM_EAGER_MAX), so the
	 * caller's wait reads them. 0: unknown, every large receive is helped. */
	size_t eager_max;
};

/* A placed frame (the payload is already in the receiver's advertised
 * buffer): the frame header with this magic instead of DTP_FRAME_MAGIC and no
 * payload after it. Only a receive that was advertised accepts one. */
#define DTP_FRAME_MAGIC_PLACED 0x50505444u   /* "DTPP" */

/* receives at least this large get the progress thread's help */
#define DTP_STREAM_BIG_RX (64u << 10)
/* a caller waiting for an advertised receive at least this large asks
 * io->help for work, then passes rd = 2 to block(): the peer is copying it
 * into place (and may share the copy) */
#define DTP_STREAM_SLEEP_RX (512u << 10)

/* Locking: `mu` serializes the engine; every holder of mu also holds `gate`,
 * a spin word, for as long (stream_lock()/stream_unlock(), stream_engine.h:
 * internal to stream.c and stream_post.c). The lock-free small
 * message paths (isend of a small tensor with nothing queued ahead, and
 * wait/test of the head receive) only try the gate, never block holding it,
 * and fall back to mu when it is taken: a progress thread or another caller
 * is then inside. The queues, sequence numbers, header state, `fail` and the
 * transport's slot counters are written only with the gate held. */
struct dtp_stream {
	pthread_mutex_t mu;
	_Atomic int gate;
	const struct dtp_stream_io *io;
	void *ctx;
	size_t max_msg;
	char peer[320];                /* "peer stage N (host:port)" */
	struct dtp_req *sq, *sq_tail;  /* sends, linked through priv[0] */
	struct dtp_req *rq, *rq_tail;  /* receives */
	uint32_t tx_seq, rx_seq;
	uint32_t rx_posted;            /* receives posted so far (the next one's seq) */
	uint32_t rx_advertised;        /* receives advertised so far (io->advertise) */
	int tx_route;                  /* head send: 0 not decided, 1 through the stream,
					  2 placed by io->place (header only) */
	uint8_t tx_hdr[DTP_FRAME_BYTES];
	size_t tx_off;                 /* bytes of the head send (header + payload) written */
	uint8_t rx_hdr[DTP_FRAME_BYTES];
	size_t rx_hdr_got;
	int rx_have_hdr;               /* the head receive's header passed the checks */
	size_t rx_off;                 /* payload bytes of the head receive */
	uint8_t *stage;                /* optional read-ahead for small frames */
	size_t stage_cap, stage_r, stage_w;
	int callers;                   /* callers inside wait() on this link */
	int big_rx;                    /* receives posted with cap >= DTP_STREAM_BIG_RX */
	int thr_rd, thr_wr;            /* what the progress thread is blocked on */
	int stop;
	uint64_t placed_tx, placed_rx; /* frames whose payload io->place moved */
	uint64_t fast_tx, fast_rx;     /* frames that went by io->fast_send/fast_recv */
	int fail;                      /* sticky: 0 or negative errno */
	struct dtp_err fail_err;
	pthread_t thr;
	int thr_started;
};

/* stage_cap 0: no read-ahead (shm); tcp uses it to read header and small
 * payloads in one system call. */
int dtp_stream_init(struct dtp_stream *s, const struct dtp_stream_io *io, void *ctx,
		    const struct dtp_link_config *cfg, size_t stage_cap, struct dtp_err *err);
int dtp_stream_start(struct dtp_stream *s, struct dtp_err *err);
/* stop and join the progress thread, free what init took */
void dtp_stream_fini(struct dtp_stream *s);

/* The links of the byte-stream transports (tcp, shm) start with these two
 * members, in this order (each checks it with a static assertion), so that
 * the engine serves their isend, irecv, test and wait directly: the
 * dtp_stream_link_* functions are those ops (transport.h; isend and irecv
 * check the buffer against mr here). */
struct dtp_stream_link {
	struct dtp_link_base base;
	struct dtp_stream st;
};
int dtp_stream_link_isend(struct dtp_link *l, const struct dtp_tag *tag, const void *buf,
			  size_t len, struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
int dtp_stream_link_irecv(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
			  struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
int dtp_stream_link_test(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err);
int dtp_stream_link_wait(struct dtp_link *l, struct dtp_req *req, int timeout_ms,
			 struct dtp_err *err);

/* frames of this stream that went by io->fast_send / io->fast_recv */
void dtp_stream_fast_counts(struct dtp_stream *s, uint64_t *sent, uint64_t *received);

/* registration is bookkeeping only on tcp/shm */
int dtp_stream_reg(void *buf, size_t len, struct dtp_mr **out, struct dtp_err *err);
void dtp_stream_dereg(struct dtp_mr *mr);

#endif
