/* The message engine of the byte-stream transports (stream.h): queues,
 * framing, header checks, and progress by the caller or a progress thread. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/stream.h"

enum { REQ_PENDING = 1, REQ_DONE = 2 };

/* the lock-free paths spin this long for a small message (pause, then
 * sched_yield: the peer may need this core), then take the engine's path */
#define FAST_PAUSE_NS 2000u
#define FAST_SPIN_NS 50000u

static int gate_try(struct dtp_stream *s)
{
	int z = 0;

	return atomic_compare_exchange_strong_explicit(&s->gate, &z, 1, memory_order_acquire,
						       memory_order_relaxed);
}

static void gate_release(struct dtp_stream *s)
{
	atomic_store_explicit(&s->gate, 0, memory_order_release);
}

/* mu, then the gate: a lock-free path holds it for a copy of at most
 * io->fast_max bytes and never blocks */
static void lock(struct dtp_stream *s)
{
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; !gate_try(s); i++) {
		if (i < 64)
			dtp_cpu_pause();
		else
			sched_yield();
	}
}

static void unlock(struct dtp_stream *s)
{
	gate_release(s);
	pthread_mutex_unlock(&s->mu);
}

#define CAP(r) ((r)->priv[1])
#define IS_RECV(r) ((r)->priv[2])
#define ADVERTISED(r) ((r)->priv[3])   /* 0 not yet, 1 into shared memory, 2 not */
/* a receive the progress thread helps with: large, and not one the peer
 * writes straight into its buffer (which needs nobody's help) */
#define THREAD_HELPS(r) (CAP(r) >= DTP_STREAM_BIG_RX && ADVERTISED(r) != 1)

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
		lock(s);
		s->stop = 1;
		unlock(s);
		s->io->kick(s->ctx);
		pthread_join(s->thr, NULL);
		s->thr_started = 0;
	}
	pthread_mutex_destroy(&s->mu);
	free(s->stage);
	s->stage = NULL;
}

/* state last, released: the lock-free wait/test read it without the lock */
static void complete(struct dtp_req *r, int status)
{
	r->status = status;
	__atomic_store_n(&r->state, REQ_DONE, __ATOMIC_RELEASE);
}

static int is_done(const struct dtp_req *r)
{
	return __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == REQ_DONE;
}

static void fail_all(struct dtp_stream *s, int code)
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
		complete(r, s->fail);
	}
	for (r = s->rq; r; r = n) {
		n = dtp_req_next(r);
		complete(r, s->fail);
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
	complete(r, 0);
}

static void tx_progress(struct dtp_stream *s)
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
				fail_all(s, placed);
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
			fail_all(s, (int)got);
			return;
		}
		s->tx_off += (size_t)got;
		if (s->tx_off == DTP_FRAME_BYTES + (s->tx_route == 2 ? 0 : r->len))
			pop_send(s);
	}
}

static void pop_recv(struct dtp_stream *s)
{
	struct dtp_req *r = dtp_req_pop(&s->rq, &s->rq_tail);

	s->rx_have_hdr = 0;
	s->rx_hdr_got = 0;
	s->rx_off = 0;
	s->rx_seq++;
	if (THREAD_HELPS(r))
		s->big_rx--;
	complete(r, 0);
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

/* io->advertise the posted receives not advertised yet, in order */
static void advertise(struct dtp_stream *s)
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
		if (rc == 1 && THREAD_HELPS(r))
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
		advertise(s);
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
					pop_recv(s);
					continue;
				}
				if (rc == -EAGAIN)
					return;
				if (rc < 0) {
					fail_all(s, rc);
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
				fail_all(s, -EPROTO);
				return;
			}
			if (dtp_frame_check(s->rx_hdr, s->rx_seq, &r->tag, CAP(r), s->max_msg,
					    s->peer, &f, &s->fail_err) < 0) {
				fail_all(s, -EPROTO);
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
			pop_recv(s);
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
			fail_all(s, (int)got);
		return;
	}
}

static void progress(struct dtp_stream *s)
{
	tx_progress(s);
	rx_progress(s);
}

/* Wake the progress thread if it does not already block on what is pending
 * and the pending work needs it: a send that did not leave at once, or a
 * receive large enough that its sender may wait for us. Small receives are
 * left to the caller's wait (their senders complete into the kernel's or the
 * ring's buffer), which keeps a thread wake-up off the ping-pong path. */
static void maybe_kick(struct dtp_stream *s)
{
	int rd = s->big_rx > 0, wr = s->sq != NULL;

	if (s->callers == 0 && ((rd && !s->thr_rd) || (wr && !s->thr_wr))) {
		s->thr_rd |= rd;
		s->thr_wr |= wr;
		s->io->kick(s->ctx);
	}
}

/* The link's failure into err, which says code: its own error, class and all,
 * or, when the request failed with another code, the same message as a
 * runtime failure (every maker of fail_err is one: a lost or corrupt link). */
static int pass_failure(const struct dtp_stream *s, int code, struct dtp_err *err)
{
	if (!err)
		return code;
	if (s->fail_err.code == code)
		return dtp_err_copy(err, &s->fail_err);
	return dtp_errf_runtime(err, code, "%s", s->fail_err.msg);
}

/* A post refused: the request completes with `code`; err says why, naming
 * the peer and the tag; why NULL: the link has failed (under the lock), err
 * gets the failure's own message. */
static int post_refused(struct dtp_stream *s, struct dtp_req *req, int code, const char *why,
			struct dtp_err *err)
{
	complete(req, code);
	if (!why) {
		return pass_failure(s, code, err);
	}
	return dtp_errf_runtime(err, code, "%s: cannot %s tag (step %u, micro %u, kind %u) of %zu bytes: %s",
				s->peer, IS_RECV(req) ? "receive" : "send", req->tag.step,
				req->tag.micro, req->tag.kind, (size_t)(IS_RECV(req) ? CAP(req) : req->len), why);
}

/* the buffer [buf, buf + len) must lie inside mr (mr NULL: no check) */
static const char *check_post(const struct dtp_stream *s, const struct dtp_mr *mr,
			      const void *buf, size_t len, int *code)
{
	const char *p = buf;

	*code = -EINVAL;
	if (mr && (p < mr->base || len > mr->len || (size_t)(p - mr->base) > mr->len - len))
		return "the buffer is not inside the registered region passed with it "
		       "(register it with dtp_link_reg or dtp_link_alloc)";
	*code = -EMSGSIZE;
	if (len > s->max_msg)
		return "larger than the link's largest message (max_msg_bytes)";
	*code = 0;
	return NULL;
}

static int stream_isend(struct dtp_stream *s, const struct dtp_tag *tag, const void *buf,
			size_t len, struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	const char *why;
	int rc = 0;

	req->state = REQ_PENDING;
	req->status = 0;
	req->tag = *tag;
	req->len = len;
	req->buf = (void *)buf;
	req->mr = mr;
	IS_RECV(req) = 0;
	why = check_post(s, mr, buf, len, &rc);
	if (why)
		return post_refused(s, req, rc, why, err);
	/* a small tensor with nothing queued ahead of it leaves without the
	 * lock when the gate is free (nobody else is inside the engine) */
	if (s->io->fast_send && len <= s->io->fast_max && gate_try(s)) {
		if (!s->sq && !s->fail &&
		    s->io->fast_send(s->ctx, s->tx_seq, tag, buf, len) == 1) {
			s->tx_seq++;
			s->fast_tx++;
			complete(req, 0);
			gate_release(s);
			return 0;
		}
		gate_release(s);
	}
	lock(s);
	if (s->fail) {
		rc = post_refused(s, req, s->fail, NULL, err);
	} else {
		dtp_req_push(&s->sq, &s->sq_tail, req);
		if (s->sq == req)
			tx_progress(s);   /* small tensors leave right here */
		maybe_kick(s);
	}
	unlock(s);
	return rc;
}

static int stream_irecv(struct dtp_stream *s, const struct dtp_tag *tag, void *buf, size_t cap,
			struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	const char *why;
	int rc = 0;

	req->state = REQ_PENDING;
	req->status = 0;
	req->tag = *tag;
	req->len = 0;
	req->buf = buf;
	req->mr = mr;
	CAP(req) = cap;
	IS_RECV(req) = 1;
	ADVERTISED(req) = 0;
	/* a receive larger than max_msg is fine: the frame's length is checked */
	why = check_post(s, mr, buf, cap, &rc);
	if (why && rc != -EMSGSIZE)
		return post_refused(s, req, rc, why, err);
	rc = 0;
	lock(s);
	if (s->fail) {
		rc = post_refused(s, req, s->fail, NULL, err);
	} else {
		s->rx_posted++;
		dtp_req_push(&s->rq, &s->rq_tail, req);
		if (THREAD_HELPS(req))
			s->big_rx++;
		advertise(s);
		maybe_kick(s);
	}
	unlock(s);
	return rc;
}

/* The lock-free receive of the head receive `req` from io->fast_recv: 1 req
 * is complete, 0 not there yet, -1 take the engine's path (the gate is
 * taken, req is not the head receive, its frame is in the stream, ...). */
static int fast_recv(struct dtp_stream *s, struct dtp_req *req)
{
	int rc, ret = -1;

	if (is_done(req))
		return 1;
	if (!gate_try(s))
		return -1;
	/* not a receive advertised into shared memory: the peer copies its
	 * tensor into place (and wait() may share that copy, io->help) */
	if (s->rq == req && !s->rx_have_hdr && !s->rx_hdr_got && !s->fail &&
	    s->rx_advertised == s->rx_posted && ADVERTISED(req) != 1) {
		rc = s->io->fast_recv(s->ctx, s->rx_seq, &req->tag, req->buf, CAP(req),
				      s->max_msg, s->peer, &req->len, &s->fail_err);
		if (rc == 1) {
			s->fast_rx++;
			pop_recv(s);
			ret = 1;
		} else if (rc == -EAGAIN) {
			ret = 0;
		} else if (rc < 0) {
			fail_all(s, rc);
			ret = 1;
		}
	}
	gate_release(s);
	return ret;
}

/* wait()'s lock-free start: spin on the head receive's slot up to
 * FAST_SPIN_NS (less when timeout_ms says so); 1 complete, else 0 */
static int fast_wait(struct dtp_stream *s, struct dtp_req *req, int timeout_ms)
{
	uint64_t t0 = 0, el = 0, lim = FAST_SPIN_NS;
	int rc;

	if (timeout_ms >= 0 && (uint64_t)timeout_ms * 1000000u < lim)
		lim = (uint64_t)timeout_ms * 1000000u;
	for (unsigned i = 0;; i++) {
		rc = fast_recv(s, req);
		if (rc)
			return rc > 0;
		if ((i & 15) == 0) {
			uint64_t now = dtp_now_ns();

			if (!t0)
				t0 = now;
			el = now - t0;
			if (el >= lim)
				return 0;
		}
		if (el < FAST_PAUSE_NS)
			dtp_cpu_pause();
		else
			sched_yield();
	}
}

void dtp_stream_fast_counts(struct dtp_stream *s, uint64_t *sent, uint64_t *received)
{
	lock(s);
	*sent = s->fast_tx;
	*received = s->fast_rx;
	unlock(s);
}

static int finish(struct dtp_stream *s, struct dtp_req *req, struct dtp_err *err)
{
	if (req->status < 0)
		pass_failure(s, req->status, err);
	return req->status;
}

static int stream_test(struct dtp_stream *s, struct dtp_req *req, int *done, struct dtp_err *err)
{
	int rc = 0;

	if (IS_RECV(req) && s->io->fast_recv && fast_recv(s, req) == 1 && req->status == 0) {
		*done = 1;
		return 0;
	}
	if (is_done(req) && req->status == 0) {
		*done = 1;
		return 0;
	}
	lock(s);
	if (req->state != REQ_DONE)
		progress(s);
	if (req->state == REQ_DONE)
		rc = finish(s, req, err);
	if (rc == 0)
		*done = req->state == REQ_DONE;
	unlock(s);
	return rc;
}

static int stream_wait(struct dtp_stream *s, struct dtp_req *req, int timeout_ms,
		       struct dtp_err *err)
{
	uint64_t t0 = 0;     /* read once the request did not complete at once */
	int rc;

	if (IS_RECV(req) && s->io->fast_recv && fast_wait(s, req, timeout_ms) &&
	    req->status == 0)
		return 0;
	if (is_done(req) && req->status == 0)
		return 0;
	lock(s);
	s->callers++;
	for (;;) {
		int rd, wr, left = -1;

		if (req->state != REQ_DONE)
			progress(s);
		if (req->state == REQ_DONE)
			break;
		if (timeout_ms >= 0) {
			uint64_t el;

			if (!t0)
				t0 = dtp_now_ns();
			el = (dtp_now_ns() - t0) / 1000000u;

			if (el >= (uint64_t)timeout_ms) {
				s->callers--;
				maybe_kick(s);
				unlock(s);
				return dtp_errf_runtime(err, -ETIMEDOUT,
							"%s: %s of tag (step %u, micro %u, kind %u) "
							"not complete within %d ms: the peer is slow, "
							"stuck or runs another schedule", s->peer,
							IS_RECV(req) ? "receive" : "send",
							req->tag.step, req->tag.micro, req->tag.kind,
							timeout_ms);
			}
			left = timeout_ms - (int)el;
		}
		rd = s->rq != NULL;
		/* the peer copies a large tensor straight into place: share the
		 * copy if it lets us */
		if (rd && !s->rx_have_hdr && ADVERTISED(s->rq) == 1 &&
		    CAP(s->rq) >= DTP_STREAM_SLEEP_RX) {
			rd = 2;
			if (s->io->help && s->io->help(s->ctx, s->rx_seq, s->rq->buf, CAP(s->rq)))
				continue;
		}
		wr = s->sq != NULL;
		unlock(s);
		rc = s->io->block(s->ctx, rd, wr, left, 0);
		lock(s);
		if (rc < 0)
			fail_all(s, rc);
	}
	s->callers--;
	maybe_kick(s);
	rc = finish(s, req, err);
	unlock(s);
	return rc;
}

static void *progress_thread(void *arg)
{
	struct dtp_stream *s = arg;

	lock(s);
	while (!s->stop) {
		int rd = 0, wr = 0, rc;

		if (s->callers == 0 && !s->fail) {
			progress(s);
			/* small receives are left to the caller (see maybe_kick) */
			rd = s->big_rx > 0;
			wr = s->sq != NULL;
		}
		s->thr_rd = rd;
		s->thr_wr = wr;
		unlock(s);
		rc = s->io->block(s->ctx, rd, wr, -1, 1);
		lock(s);
		if (rc < 0 && (rd || wr))
			fail_all(s, rc);
	}
	unlock(s);
	return NULL;
}

int dtp_stream_reg(void *buf, size_t len, struct dtp_mr **out, struct dtp_err *err)
{
	struct dtp_mr *mr = malloc(sizeof(*mr));

	if (!mr)
		return dtp_errf_runtime(err, -ENOMEM, "no memory to register a buffer");
	memset(mr, 0, sizeof(*mr));
	mr->base = buf;
	mr->len = len;
	mr->shm_slot = -1;
	mr->shm_fd = -1;
	*out = mr;
	return 0;
}

void dtp_stream_dereg(struct dtp_mr *mr)
{
	free(mr);
}

/* dtp_link_alloc/free (transport.h): the transport's own allocator when it
 * has one, else aligned memory and an ordinary registration. (Generic code,
 * kept with the tcp/shm registration helpers in this file.) */
int dtp_link_alloc(struct dtp_link *l, size_t len, void **buf, struct dtp_mr **mr,
		   struct dtp_err *err)
{
	const struct dtp_link_base *b = (const struct dtp_link_base *)(const void *)l;
	void *p;
	int rc;

	if (b->ops->alloc)
		return b->ops->alloc(l, len, buf, mr, err);
	p = dtp_alloc_aligned(len, DTP_PAGE);
	if (!p)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: no memory for a %zu-byte link buffer",
					b->cfg.self_stage, len);
	rc = dtp_link_reg(l, p, len, mr, err);
	if (rc) {
		dtp_free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

void dtp_link_free(struct dtp_link *l, void *buf, struct dtp_mr *mr)
{
	const struct dtp_link_base *b = (const struct dtp_link_base *)(const void *)l;

	if (b->ops->free) {
		b->ops->free(l, buf, mr);
		return;
	}
	dtp_link_dereg(l, mr);
	dtp_free(buf);
}

static struct dtp_stream *stream_of(struct dtp_link *l)
{
	return &((struct dtp_stream_link *)(void *)l)->st;
}

int dtp_stream_link_isend(struct dtp_link *l, const struct dtp_tag *tag, const void *buf,
			  size_t len, struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return stream_isend(stream_of(l), tag, buf, len, mr, req, err);
}

int dtp_stream_link_irecv(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
			  struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return stream_irecv(stream_of(l), tag, buf, cap, mr, req, err);
}

int dtp_stream_link_test(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err)
{
	return stream_test(stream_of(l), req, done, err);
}

int dtp_stream_link_wait(struct dtp_link *l, struct dtp_req *req, int timeout_ms,
			 struct dtp_err *err)
{
	return stream_wait(stream_of(l), req, timeout_ms, err);
}
