/* The message engine of the byte-stream transports (stream.h): the link's
 * queues, framing (headers written, read and checked against the head
 * receive), and progress by the caller or the progress thread. Posting and
 * completing requests, with their lock-free paths, is stream_post.c. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/stream_engine.h"

int dtp_stream_init(struct dtp_stream *s, const struct dtp_stream_io *io, void *ctx,
		    const struct dtp_link_config *cfg, size_t stage_cap, struct dtp_err *err)
{
	memset(s, 0, sizeof(*s));
	s->io = io;
	s->ctx = ctx;
	s->max_msg = cfg->max_msg_bytes;
	dtp_link_peer_desc(cfg, s->peer, sizeof(s->peer));
	if (stage_cap) {
		s->stage = malloc(stage_cap);
		if (!s->stage)
			return dtp_errf_runtime(err, -ENOMEM, "stage %d: no memory for a link buffer",
						cfg->self_stage);
		s->stage_cap = stage_cap;
	}
	pthread_mutex_init(&s->mu, NULL);
	return 0;
}

static void *progress_thread(void *arg);

int dtp_stream_start(struct dtp_stream *s, struct dtp_err *err)
{
	int rc = pthread_create(&s->thr, NULL, progress_thread, s);

	if (rc)
		return dtp_errf_runtime(err, -rc, "%s: cannot start the link's progress thread: %s",
					s->peer, strerror(rc));
	s->thr_started = 1;
	return 0;
}

void dtp_stream_fini(struct dtp_stream *s)
{
	if (s->thr_started) {
		stream_lock(s);
		s->stop = 1;
		stream_unlock(s);
		s->io->kick(s->ctx);
		pthread_join(s->thr, NULL);
		s->thr_started = 0;
	}
	pthread_mutex_destroy(&s->mu);
	free(s->stage);
	s->stage = NULL;
}

void dtp_stream_fail_all(struct dtp_stream *s, int code)
{
	struct dtp_req *r, *n;

	if (!s->fail) {
		s->fail = code;
		if (code == -ECONNRESET)
			dtp_errf_runtime(&s->fail_err, code, "%s closed the connection", s->peer);
		else if (code == -ETIMEDOUT)
			dtp_errf_runtime(&s->fail_err, -ECONNRESET,
					 "%s stopped answering (no acknowledgement within the TCP "
					 "user timeout): its host is down or unreachable", s->peer);
		else if (code != -EPROTO)
			dtp_errf_runtime(&s->fail_err, code, "%s: link I/O failed: %s", s->peer,
					 strerror(-code));
		if (code == -ETIMEDOUT)
			s->fail = -ECONNRESET;
	}
	for (r = s->sq; r; r = n) {
		n = dtp_req_next(r);
		stream_complete(r, s->fail);
	}
	for (r = s->rq; r; r = n) {
		n = dtp_req_next(r);
		stream_complete(r, s->fail);
	}
	s->sq = s->sq_tail = s->rq = s->rq_tail = NULL;
	s->big_rx = 0;
}

static void pop_send(struct dtp_stream *s)
{
	struct dtp_req *r = dtp_req_pop(&s->sq, &s->sq_tail);

	s->tx_off = 0;
	s->tx_route = 0;
	s->tx_seq++;
	stream_complete(r, 0);
}

void dtp_stream_tx_progress(struct dtp_stream *s)
{
	while (s->sq && !s->fail) {
		struct dtp_req *r = s->sq;
		struct iovec iov[2];
		int n = 0;
		ssize_t got;

		if (s->tx_route == 0 && s->io->fast_send && r->len <= s->io->fast_max &&
		    s->io->fast_send(s->ctx, s->tx_seq, &r->tag, r->buf, r->len) == 1) {
			s->fast_tx++;
			pop_send(s);
			continue;
		}
		if (s->tx_route == 0) {
			int placed = s->io->place ? s->io->place(s->ctx, s->tx_seq, r->buf, r->len,
								 r->mr) : 0;

			if (placed == -EAGAIN)
				return;       /* the receiver has not posted it yet */
			if (placed < 0) {
				dtp_stream_fail_all(s, placed);
				return;
			}

			dtp_frame_pack(s->tx_seq, &r->tag, r->len, s->tx_hdr);
			s->tx_route = placed ? 2 : 1;
			s->placed_tx += placed == 1;
			if (placed) {         /* the payload is in the peer's buffer already */
				uint32_t m = DTP_FRAME_MAGIC_PLACED;

				for (int i = 0; i < 4; i++)
					s->tx_hdr[i] = (uint8_t)(m >> (8 * i));
			}
		}
		if (s->tx_off < DTP_FRAME_BYTES) {
			iov[n].iov_base = s->tx_hdr + s->tx_off;
			iov[n++].iov_len = DTP_FRAME_BYTES - s->tx_off;
			if (r->len && s->tx_route == 1) {
				iov[n].iov_base = r->buf;
				iov[n++].iov_len = r->len;
			}
		} else {
			iov[n].iov_base = (char *)r->buf + (s->tx_off - DTP_FRAME_BYTES);
			iov[n++].iov_len = r->len - (s->tx_off - DTP_FRAME_BYTES);
		}
		got = s->io->writev(s->ctx, iov, n);
		if (got == 0)
			return;
		if (got < 0) {
			dtp_stream_fail_all(s, (int)got);
			return;
		}
		s->tx_off += (size_t)got;
		if (s->tx_off == DTP_FRAME_BYTES + (s->tx_route == 2 ? 0 : r->len))
			pop_send(s);
	}
}

void dtp_stream_pop_recv(struct dtp_stream *s)
{
	struct dtp_req *r = dtp_req_pop(&s->rq, &s->rq_tail);

	s->rx_have_hdr = 0;
	s->rx_hdr_got = 0;
	s->rx_off = 0;
	s->rx_seq++;
	if (thread_helps(s, r))
		s->big_rx--;
	stream_complete(r, 0);
}

/* move up to n staged bytes to dst; how many */
static size_t unstage(struct dtp_stream *s, void *dst, size_t n)
{
	size_t have = s->stage_w - s->stage_r;

	if (n > have)
		n = have;
	memcpy(dst, s->stage + s->stage_r, n);
	s->stage_r += n;
	return n;
}

/* read more into the (empty) read-ahead buffer: 1 progress, 0 would block, <0 error */
static ssize_t restage(struct dtp_stream *s)
{
	ssize_t got;

	s->stage_r = s->stage_w = 0;
	got = s->io->read(s->ctx, s->stage, s->stage_cap);
	if (got > 0)
		s->stage_w = (size_t)got;
	return got;
}

void dtp_stream_advertise(struct dtp_stream *s)
{
	struct dtp_req *r = s->rq;

	if (!s->io->advertise) {
		s->rx_advertised = s->rx_posted;
		return;
	}
	if ((int32_t)(s->rx_advertised - s->rx_seq) < 0)
		s->rx_advertised = s->rx_seq;    /* completed before we got to them */
	for (uint32_t i = s->rx_seq; r && i != s->rx_advertised; i++)
		r = dtp_req_next(r);
	for (; r; r = dtp_req_next(r)) {
		int rc = s->io->advertise(s->ctx, s->rx_advertised, r->buf, CAP(r), r->mr);

		if (rc < 0)
			return;
		if (rc == 1 && thread_helps(s, r))
			s->big_rx--;
		ADVERTISED(r) = rc == 1 ? 1 : 2;
		s->rx_advertised++;
	}
}

/* A placed frame's header: turn its magic into the ordinary one for the
 * checks and say whether it was placed. */
static int take_placed_magic(uint8_t hdr[DTP_FRAME_BYTES])
{
	uint32_t m = dtp_le32(hdr);

	if (m != DTP_FRAME_MAGIC_PLACED)
		return 0;
	dtp_put_le32(hdr, DTP_FRAME_MAGIC);
	return 1;
}

static void rx_progress(struct dtp_stream *s)
{
	if (s->rx_advertised != s->rx_posted)
		dtp_stream_advertise(s);
	while (s->rq && !s->fail) {
		struct dtp_req *r = s->rq;
		ssize_t got;
		int placed;

		if (!s->rx_have_hdr) {
			size_t need = DTP_FRAME_BYTES - s->rx_hdr_got;
			struct dtp_frame f;

			if (s->rx_hdr_got == 0 && s->io->fast_recv) {
				int rc = s->io->fast_recv(s->ctx, s->rx_seq, &r->tag, r->buf, CAP(r),
							  s->max_msg, s->peer, &r->len,
							  &s->fail_err);

				if (rc == 1) {
					s->fast_rx++;
					dtp_stream_pop_recv(s);
					continue;
				}
				if (rc == -EAGAIN)
					return;
				if (rc < 0) {
					dtp_stream_fail_all(s, rc);
					return;
				}
			}

			if (s->stage)
				s->rx_hdr_got += unstage(s, s->rx_hdr + s->rx_hdr_got, need);
			need = DTP_FRAME_BYTES - s->rx_hdr_got;
			if (need) {
				got = s->stage ? restage(s)
					       : s->io->read(s->ctx, s->rx_hdr + s->rx_hdr_got, need);
				if (got <= 0)
					goto io_result;
				if (!s->stage)
					s->rx_hdr_got += (size_t)got;
				continue;
			}
			placed = take_placed_magic(s->rx_hdr);
			if (placed && ADVERTISED(r) != 1) {
				dtp_errf_runtime(&s->fail_err, -EPROTO, "%s: frame %u placed its payload "
						 "into a receive that was never advertised: protocol "
						 "error (mixed dtpipe builds?)", s->peer, s->rx_seq);
				dtp_stream_fail_all(s, -EPROTO);
				return;
			}
			if (dtp_frame_check(s->rx_hdr, s->rx_seq, &r->tag, CAP(r), s->max_msg,
					    s->peer, &f, &s->fail_err) < 0) {
				dtp_stream_fail_all(s, -EPROTO);
				return;
			}
			r->len = f.len;
			s->rx_have_hdr = 1;
			s->rx_off = placed ? r->len : 0;
			s->placed_rx += (uint64_t)placed;
		}
		if (s->stage)
			s->rx_off += unstage(s, (char *)r->buf + s->rx_off, r->len - s->rx_off);
		if (s->rx_off == r->len) {
			dtp_stream_pop_recv(s);
			continue;
		}
		if (s->stage && r->len - s->rx_off < s->stage_cap / 2) {
			got = restage(s);
		} else {
			got = s->io->read(s->ctx, (char *)r->buf + s->rx_off, r->len - s->rx_off);
			if (got > 0)
				s->rx_off += (size_t)got;
		}
		if (got > 0)
			continue;
io_result:
		if (got < 0)
			dtp_stream_fail_all(s, (int)got);
		return;
	}
}

void dtp_stream_progress(struct dtp_stream *s)
{
	dtp_stream_tx_progress(s);
	rx_progress(s);
}

/* Wake the progress thread if it does not already block on what is pending
 * and the pending work needs it: a send that did not leave at once, or a
 * receive large enough that its sender may wait for us. Small receives are
 * left to the caller's wait (their senders complete into the kernel's or the
 * ring's buffer), which keeps a thread wake-up off the ping-pong path. */
void dtp_stream_maybe_kick(struct dtp_stream *s)
{
	int rd = s->big_rx > 0, wr = s->sq != NULL;

	if (s->callers == 0 && ((rd && !s->thr_rd) || (wr && !s->thr_wr))) {
		s->thr_rd |= rd;
		s->thr_wr |= wr;
		s->io->kick(s->ctx);
	}
}

static void *progress_thread(void *arg)
{
	struct dtp_stream *s = arg;

	stream_lock(s);
	while (!s->stop) {
		int rd = 0, wr = 0, rc;

		if (s->callers == 0 && !s->fail) {
			dtp_stream_progress(s);
			/* small receives are left to the caller (see maybe_kick) */
			rd = s->big_rx > 0;
			wr = s->sq != NULL;
		}
		s->thr_rd = rd;
		s->thr_wr = wr;
		stream_unlock(s);
		rc = s->io->block(s->ctx, rd, wr, -1, 1);
		stream_lock(s);
		if (rc < 0 && (rd || wr))
			dtp_stream_fail_all(s, rc);
	}
	stream_unlock(s);
	return NULL;
}
