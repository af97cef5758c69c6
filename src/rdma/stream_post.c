/* Posting and completing the requests of a byte-stream link (stream.h):
 * isend, irecv, test and wait, their lock-free paths for small messages, the
 * link ops that call them, and registration. The engine they drive is
 * stream.c. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/stream_engine.h"

/* the lock-free paths spin this long for a small message (pause, then
 * sched_yield: the peer may need this core), then take the engine's path */
#define FAST_PAUSE_NS 2000u
#define FAST_SPIN_NS 50000u

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
	stream_complete(req, code);
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
	if (s->io->fast_send && len <= s->io->fast_max && stream_gate_try(s)) {
		if (!s->sq && !s->fail &&
		    s->io->fast_send(s->ctx, s->tx_seq, tag, buf, len) == 1) {
			s->tx_seq++;
			s->fast_tx++;
			stream_complete(req, 0);
			stream_gate_release(s);
			return 0;
		}
		stream_gate_release(s);
	}
	stream_lock(s);
	if (s->fail) {
		rc = post_refused(s, req, s->fail, NULL, err);
	} else {
		dtp_req_push(&s->sq, &s->sq_tail, req);
		if (s->sq == req)
			dtp_stream_tx_progress(s);   /* small tensors leave right here */
		dtp_stream_maybe_kick(s);
	}
	stream_unlock(s);
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
	stream_lock(s);
	if (s->fail) {
		rc = post_refused(s, req, s->fail, NULL, err);
	} else {
		s->rx_posted++;
		dtp_req_push(&s->rq, &s->rq_tail, req);
		if (thread_helps(s, req))
			s->big_rx++;
		dtp_stream_advertise(s);
		dtp_stream_maybe_kick(s);
	}
	stream_unlock(s);
	return rc;
}

/* The lock-free receive of the head receive `req` from io->fast_recv: 1 req
 * is complete, 0 not there yet, -1 take the engine's path (the gate is
 * taken, req is not the head receive, its frame is in the stream, ...). */
static int fast_recv(struct dtp_stream *s, struct dtp_req *req)
{
	int rc, ret = -1;

	if (stream_is_done(req))
		return 1;
	if (!stream_gate_try(s))
		return -1;
	/* not a receive advertised into shared memory: the peer copies its
	 * tensor into place (and wait() may share that copy, io->help) */
	if (s->rq == req && !s->rx_have_hdr && !s->rx_hdr_got && !s->fail &&
	    s->rx_advertised == s->rx_posted && ADVERTISED(req) != 1) {
		rc = s->io->fast_recv(s->ctx, s->rx_seq, &req->tag, req->buf, CAP(req),
				      s->max_msg, s->peer, &req->len, &s->fail_err);
		if (rc == 1) {
			s->fast_rx++;
			dtp_stream_pop_recv(s);
			ret = 1;
		} else if (rc == -EAGAIN) {
			ret = 0;
		} else if (rc < 0) {
			dtp_stream_fail_all(s, rc);
			ret = 1;
		}
	}
	stream_gate_release(s);
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
	stream_lock(s);
	*sent = s->fast_tx;
	*received = s->fast_rx;
	stream_unlock(s);
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
	if (stream_is_done(req) && req->status == 0) {
		*done = 1;
		return 0;
	}
	stream_lock(s);
	if (req->state != REQ_DONE)
		dtp_stream_progress(s);
	if (req->state == REQ_DONE)
		rc = finish(s, req, err);
	if (rc == 0)
		*done = req->state == REQ_DONE;
	stream_unlock(s);
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
	if (stream_is_done(req) && req->status == 0)
		return 0;
	stream_lock(s);
	s->callers++;
	for (;;) {
		int rd, wr, left = -1;

		if (req->state != REQ_DONE)
			dtp_stream_progress(s);
		if (req->state == REQ_DONE)
			break;
		if (timeout_ms >= 0) {
			uint64_t el;

			if (!t0)
				t0 = dtp_now_ns();
			el = (dtp_now_ns() - t0) / 1000000u;

			if (el >= (uint64_t)timeout_ms) {
				s->callers--;
				dtp_stream_maybe_kick(s);
				stream_unlock(s);
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
		stream_unlock(s);
		rc = s->io->block(s->ctx, rd, wr, left, 0);
		stream_lock(s);
		if (rc < 0)
			dtp_stream_fail_all(s, rc);
	}
	s->callers--;
	dtp_stream_maybe_kick(s);
	rc = finish(s, req, err);
	stream_unlock(s);
	return rc;
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
