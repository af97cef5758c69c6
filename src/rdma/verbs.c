/* The verbs transport (struct dtp_transport_ops dtp_verbs_ops): librdmacm
 * connection set-up (verbs_cm.c), one RC queue pair per link, the protocol
 * of verbs_proto.c, and who polls the CQ:
 *
 *  - a caller in wait() polls the CQ itself (WAIT_SPIN_NS at most), under a
 *    mutex nobody else takes meanwhile: one thread spins per process in a
 *    ping-pong, as perftest's do, and a completion reaches the caller with no
 *    thread hand-off and no wake-up;
 *  - the link's progress thread stays parked on a futex while a caller polls
 *    or has called into the link within the last PARK_NS, and drives the link
 *    otherwise (a request progresses while the caller computes or waits on
 *    another link: spin SPIN_NS, then block on the completion channel), or at
 *    once when a caller hands it over: wait() past its spin budget (the caller
 *    then sleeps on cv) or leaving with requests still queued for the peer;
 *  - cfg.verbs_blocking: callers never spin, the thread blocks at once. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/base.h"
#include "rdma/verbs.h"

#define SPIN_NS 200000u          /* progress thread: spin this long on an idle CQ, then block */
#define WAIT_SPIN_NS 10000000u   /* wait(): the caller polls the CQ itself this long (more
				  * than two 4 ms ticks of an emulated guest), then sleeps */
#define CLOSE_WAIT_NS 3000000000ull /* close(): wait this long at most for the BYE's completion */
#define PARK_NS 1000000u         /* the thread re-checks whether callers still drive the link */
#ifndef DTP_VERBS_YIELD_NS
#define DTP_VERBS_YIELD_NS 50000u /* wait(): past this, yield the CPU every 64 empty polls */
#endif

static struct dtp_verbs_link *vl(struct dtp_link *l)
{
	return (struct dtp_verbs_link *)l;
}

/* a connection event after set-up: the peer disconnected (closed or died) */
static void drain_cm_events(struct dtp_verbs_link *l)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(l->ch, &ev) == 0) {
		int type = ev->event;

		rdma_ack_cm_event(ev);
		if (type == RDMA_CM_EVENT_DISCONNECTED || type == RDMA_CM_EVENT_DEVICE_REMOVAL ||
		    type == RDMA_CM_EVENT_TIMEWAIT_EXIT) {
			pthread_mutex_lock(&l->mu);
			/* what the peer sent before it left is in the CQ: take it first */
			while (!l->q.fatal && dtp_vq_poll(&l->q) > 0)
				;
			dtp_vq_fail(&l->q, -ECONNRESET, "verbs link stage %d <-> stage %d: %s "
				    "disconnected (%s): it closed the link or died",
				    l->base.cfg.self_stage, l->base.cfg.peer_stage, l->peer_desc,
				    rdma_event_str(type));
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
		}
	}
}

static int poll_once(struct dtp_verbs_link *l)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = dtp_vq_poll(&l->q);
	if (n > 0 || l->q.fatal)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ask the progress thread to drive the link now (it may be parked) */
static void hand_over(struct dtp_verbs_link *l)
{
	__atomic_store_n(&l->handoff, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&l->unpark, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->parked, __ATOMIC_SEQ_CST))
		dtp_futex_wake(&l->unpark, 0);
}

/* a caller is in the link: the progress thread keeps off it for PARK_NS */
static void note_call(struct dtp_verbs_link *l)
{
	__atomic_add_fetch(&l->calls, 1, __ATOMIC_RELAXED);
}

static void *progress_main(void *arg)
{
	struct dtp_verbs_link *l = arg;
	uint64_t idle_since = dtp_now_ns();
	unsigned spins = 0, seen = __atomic_load_n(&l->calls, __ATOMIC_RELAXED);
	int blocking = l->base.cfg.verbs_blocking;

	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pf[3] = {
			{ .fd = l->comp->fd, .events = POLLIN },
			{ .fd = l->ch->fd, .events = POLLIN },
			{ .fd = l->wake_fd, .events = POLLIN },
		};
		uint32_t u = __atomic_load_n(&l->unpark, __ATOMIC_SEQ_CST);
		int w = __atomic_load_n(&l->waiters, __ATOMIC_SEQ_CST);
		unsigned c = __atomic_load_n(&l->calls, __ATOMIC_RELAXED);
		struct ibv_cq *cq;
		void *ctx;

		/* park while a caller polls the CQ in wait(), or (unless it handed
		 * the link over) called into the link since we last looked: no
		 * second spinner on the CPU, the CQ or the mutex */
		if (!blocking && (w > 0 || (c != seen && !__atomic_load_n(&l->handoff, __ATOMIC_SEQ_CST)))) {
			if (w > 0)
				__atomic_store_n(&l->handoff, 0, __ATOMIC_SEQ_CST);
			seen = c;
			__atomic_store_n(&l->parked, 1, __ATOMIC_SEQ_CST);
			dtp_futex_wait(&l->unpark, u, PARK_NS, 0);
			__atomic_store_n(&l->parked, 0, __ATOMIC_SEQ_CST);
			idle_since = dtp_now_ns();
			continue;
		}
		if (poll_once(l) > 0) {
			idle_since = dtp_now_ns();
			continue;
		}
		if (!blocking && dtp_now_ns() - idle_since < SPIN_NS) {
			if ((++spins & 1023) == 0)
				drain_cm_events(l);
			continue;
		}
		/* block: arm the CQ, poll again to close the race, then sleep */
		if (l->api->req_notify_cq(l->cq, 0)) {
			pthread_mutex_lock(&l->mu);
			dtp_vq_fail(&l->q, -EIO, "verbs link stage %d <-> stage %d: ibv_req_notify_cq "
				    "failed: the device is gone", l->base.cfg.self_stage,
				    l->base.cfg.peer_stage);
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
			break;
		}
		if (poll_once(l) > 0) {
			idle_since = dtp_now_ns();
			continue;
		}
		if (poll(pf, 3, 1000) > 0) {
			if ((pf[0].revents & POLLIN) && l->api->get_cq_event(l->comp, &cq, &ctx) == 0)
				l->api->ack_cq_events(cq, 1);
			if (pf[1].revents & POLLIN)
				drain_cm_events(l);
			if (pf[2].revents & POLLIN) {
				uint64_t v;

				if (read(l->wake_fd, &v, sizeof(v)) < 0)
					v = 0;
			}
		}
		/* woken while a caller polls: it has the CQ (the top of the loop parks) */
		idle_since = dtp_now_ns();
	}
	return NULL;
}

static int verbs_open(const struct dtp_link_config *cfg, struct dtp_link **out, struct dtp_err *err)
{
	struct dtp_verbs_link *l;
	pthread_condattr_t ca;
	int rc;

	if (cfg->slots < 1)
		return dtp_errf_input(err, -EINVAL, "verbs link stage %d <-> stage %d: slots = %d, need >= 1",
				      cfg->self_stage, cfg->peer_stage, cfg->slots);
	l = calloc(1, sizeof(*l));
	if (!l)
		return dtp_errf_runtime(err, -ENOMEM, "verbs link: out of memory");
	l->base.ops = &dtp_verbs_ops;
	l->base.cfg = *cfg;
	l->api = &dtp_verbs_api_real;
	l->wake_fd = -1;
	l->print_stats = getenv("DTP_VERBS_STATS") && atoi(getenv("DTP_VERBS_STATS")) > 0;
	snprintf(l->peer_desc, sizeof(l->peer_desc), "peer stage %d (%s:%d)", cfg->peer_stage,
		 cfg->host, cfg->port);
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0) {
		rc = dtp_errf_runtime(err, -errno, "verbs link: eventfd: %s", strerror(errno));
		goto out_free;
	}
	rc = dtp_verbs_establish(l, err);
	if (rc)
		goto out_close_wake;
	rc = pthread_create(&l->thread, NULL, progress_main, l);
	if (rc) {
		rc = dtp_errf_runtime(err, -rc, "verbs link stage %d <-> stage %d: progress thread: %s",
				      cfg->self_stage, cfg->peer_stage, strerror(rc));
		goto out_teardown;
	}
	l->thread_started = 1;
	dtp_debug("verbs: stage %d connected to %s on %s (inline up to %u bytes)", cfg->self_stage,
		  l->peer_desc, ibv_get_device_name(l->id->verbs->device), l->q.max_inline);
	*out = (struct dtp_link *)l;
	return 0;

out_teardown:
	dtp_verbs_teardown(l);
out_close_wake:
	close(l->wake_fd);
out_free:
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
	return rc;
}

static int verbs_reg(struct dtp_link *link, void *buf, size_t len, struct dtp_mr **out,
		     struct dtp_err *err)
{
	struct dtp_verbs_link *l = vl(link);
	const struct dtp_link_config *c = &l->base.cfg;
	size_t need = l->reg_bytes + len + dtp_vq_ctrl_bytes(c->slots);
	struct rlimit rl;
	struct dtp_mr *m;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    need > rl.rlim_cur && geteuid() != 0)
		return dtp_errf_runtime(err, -ENOMEM, "verbs link stage %d <-> stage %d: registering %zu bytes "
					"needs %zu bytes of locked memory, RLIMIT_MEMLOCK is %llu: raise it to "
					"at least %zu bytes (`ulimit -l %zu` in KiB, or 'memlock' in "
					"/etc/security/limits.conf, or LimitMEMLOCK= for a systemd unit)",
					c->self_stage, c->peer_stage, len, need,
					(unsigned long long)rl.rlim_cur, need, (need + 1023) / 1024);
	m = calloc(1, sizeof(*m));
	if (!m)
		return dtp_errf_runtime(err, -ENOMEM, "verbs link: out of memory");
	m->ibv = l->api->reg_mr(l->pd, buf, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!m->ibv) {
		int e = errno ? errno : ENOMEM;

		free(m);
		return dtp_errf_runtime(err, -e, "verbs link stage %d <-> stage %d: ibv_reg_mr of %zu bytes "
					"at %p: %s%s%zu bytes (`ulimit -l %zu`, or 'memlock' in "
					"/etc/security/limits.conf)", c->self_stage, c->peer_stage, len, buf,
					strerror(e), e == ENOMEM || e == EPERM || e == EAGAIN ?
					": the locked-memory limit is probably too low; raise RLIMIT_MEMLOCK to at least " :
					"; locked memory needed: ", need, (need + 1023) / 1024);
	}
	m->base = buf;
	m->len = len;
	pthread_mutex_lock(&l->mu);
	m->next = l->mrs;
	l->mrs = m;
	l->reg_bytes += len;
	pthread_mutex_unlock(&l->mu);
	*out = m;
	return 0;
}

static void verbs_dereg(struct dtp_link *link, struct dtp_mr *m)
{
	struct dtp_verbs_link *l = vl(link);

	struct dtp_mr **p;

	if (!m)
		return;
	pthread_mutex_lock(&l->mu);
	for (p = &l->mrs; *p; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			break;
		}
	}
	l->reg_bytes -= m->len;
	pthread_mutex_unlock(&l->mu);
	l->api->dereg_mr(m->ibv);
	free(m);
}

static int check_buf(struct dtp_verbs_link *l, const char *op, const void *buf, size_t len,
		     const struct dtp_mr *m, struct dtp_err *err)
{
	const char *p = buf;

	if (!m || p < m->base || len > m->len || (size_t)(p - m->base) > m->len - len)
		return dtp_errf_runtime(err, -EINVAL, "verbs link stage %d <-> %s: %s of %zu bytes at %p: "
					"the buffer is not inside the registered region passed with it (use "
					"dtp_link_reg)", l->base.cfg.self_stage, l->peer_desc, op, len, buf);
	if (len > UINT32_MAX)
		return dtp_errf_runtime(err, -EMSGSIZE, "verbs link stage %d <-> %s: %s of %zu bytes: at "
					"most 4 GiB - 1 per tensor", l->base.cfg.self_stage, l->peer_desc,
					op, len);
	return 0;
}

static struct dtp_mr *find_mr(struct dtp_verbs_link *l, const void *buf, size_t len)
{
	const char *p = buf;
	struct dtp_mr *m;

	pthread_mutex_lock(&l->mu);
	for (m = l->mrs; m; m = m->next)
		if (p >= m->base && len <= m->len && (size_t)(p - m->base) <= m->len - len)
			break;
	pthread_mutex_unlock(&l->mu);
	return m;
}

/* the key for buf: from the region passed or the link's regions; else (slow
 * path, for callers that registered nothing) a registration for this request
 * only, released when it completes */
static int buf_key(struct dtp_verbs_link *l, const char *op, const void *buf, size_t len,
		   struct dtp_mr **mr, struct ibv_mr **tmp, uint32_t *key, int remote,
		   struct dtp_err *err)
{
	int rc;

	*tmp = NULL;
	if (!*mr)
		*mr = find_mr(l, buf, len);
	if (*mr) {
		rc = check_buf(l, op, buf, len, *mr, err);
		if (rc)
			return rc;
		*key = remote ? (*mr)->ibv->rkey : (*mr)->ibv->lkey;
		return 0;
	}
	rc = check_buf(l, op, buf, len, &(struct dtp_mr){ .base = (char *)(uintptr_t)buf, .len = len },
		       err);
	if (rc)
		return rc;
	*key = 0;
	if (len <= DTP_VEAGER_MAX)
		return 0;        /* eager: copied through the link's own buffers, no key needed */
	*tmp = l->api->reg_mr(l->pd, (void *)(uintptr_t)buf, len,
			      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!*tmp) {
		int e = errno ? errno : ENOMEM;

		return dtp_errf_runtime(err, -e, "verbs link stage %d <-> %s: %s of %zu bytes at %p: the "
					"buffer is in no registered region and registering it failed (%s): "
					"register buffers once with dtp_link_reg and raise RLIMIT_MEMLOCK "
					"(ulimit -l) to cover them", l->base.cfg.self_stage, l->peer_desc, op,
					len, buf, strerror(e));
	}
	if (!l->warned_unreg) {
		l->warned_unreg = 1;
		dtp_debug("verbs: stage %d: %s of an unregistered buffer: registering it for this "
			  "message only (slow path; register buffers once with dtp_link_reg)",
			  l->base.cfg.self_stage, op);
	}
	*key = remote ? (*tmp)->rkey : (*tmp)->lkey;
	return 0;
}

/* isend (is_send) or irecv: the buffer's key, then the request to the matcher */
static int post(struct dtp_link *link, int is_send, const struct dtp_tag *tag, void *buf,
		size_t len, struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	struct dtp_verbs_link *l = vl(link);
	struct ibv_mr *tmp;
	uint32_t key;
	int rc = buf_key(l, is_send ? "isend" : "irecv", buf, len, &mr, &tmp, &key, !is_send, err);

	if (rc)
		return rc;
	note_call(l);
	req->mr = mr;
	pthread_mutex_lock(&l->mu);
	if (is_send)
		dtp_vq_isend(&l->q, tag, buf, len, key, tmp, req);
	else
		dtp_vq_irecv(&l->q, tag, buf, len, key, tmp, req);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

static int verbs_isend(struct dtp_link *link, const struct dtp_tag *tag, const void *buf,
		       size_t len, struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return post(link, 1, tag, (void *)(uintptr_t)buf, len, mr, req, err);
}

static int verbs_irecv(struct dtp_link *link, const struct dtp_tag *tag, void *buf, size_t cap,
		       struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err)
{
	return post(link, 0, tag, buf, cap, mr, req, err);
}

static int finish(struct dtp_verbs_link *l, struct dtp_req *req, struct dtp_err *err)
{
	int rc = 0;

	if (req->status < 0) {
		pthread_mutex_lock(&l->mu);
		rc = dtp_vq_req_err(&l->q, req, err);
		pthread_mutex_unlock(&l->mu);
	}
	return rc;
}

static int verbs_test(struct dtp_link *link, struct dtp_req *req, int *done, struct dtp_err *err)
{
	if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) != DTP_VREQ_DONE) {
		note_call(vl(link));
		poll_once(vl(link));
		if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) != DTP_VREQ_DONE) {
			*done = 0;
			return 0;
		}
	}
	*done = 1;
	return finish(vl(link), req, err);
}

/* polling mode: poll the CQ until req is done, for WAIT_SPIN_NS at most (and
 * not past the deadline); the progress thread is parked meanwhile, so the
 * mutex taken per poll is not contended */
static void wait_spin(struct dtp_verbs_link *l, struct dtp_req *req, uint64_t t0, uint64_t deadline)
{
	unsigned n = 0;

	__atomic_add_fetch(&l->waiters, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) != DTP_VREQ_DONE) {
		uint64_t now;

		if (poll_once(l) > 0 || (++n & 63))
			continue;
		if ((n & 4095) == 0)
			drain_cm_events(l);      /* the peer's disconnect fails req */
		now = dtp_now_ns();
		if (now - t0 >= WAIT_SPIN_NS || now >= deadline)
			break;
		/* the completion is late: the peer (or the kernel's rxe work) may be
		 * waiting for this CPU, as two processes on one CPU take turns only at
		 * a scheduler tick otherwise; on an idle CPU this returns at once */
		if (now - t0 >= DTP_VERBS_YIELD_NS)
			sched_yield();
	}
	__atomic_sub_fetch(&l->waiters, 1, __ATOMIC_SEQ_CST);
}

static int verbs_wait(struct dtp_link *link, struct dtp_req *req, int timeout_ms, struct dtp_err *err)
{
	struct dtp_verbs_link *l = vl(link);
	uint64_t t0, deadline;
	struct timespec ts;
	int rc = 0, queued;

	if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) == DTP_VREQ_DONE)
		return finish(l, req, err);
	note_call(l);
	t0 = dtp_now_ns();
	deadline = timeout_ms < 0 ? UINT64_MAX : t0 + (uint64_t)timeout_ms * 1000000u;
	if (!l->base.cfg.verbs_blocking)
		wait_spin(l, req, t0, deadline);
	if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) == DTP_VREQ_DONE) {
		/* requests still queued for the peer need the thread if this
		 * caller now goes away (to compute, or to another link) */
		pthread_mutex_lock(&l->mu);
		queued = dtp_vq_queued(&l->q);
		pthread_mutex_unlock(&l->mu);
		if (queued)
			hand_over(l);
		return finish(l, req, err);
	}
	/* not imminent: the progress thread takes the CQ, we sleep on cv */
	hand_over(l);
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	pthread_mutex_lock(&l->mu);
	while (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) != DTP_VREQ_DONE) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&l->cv, &l->mu);
		} else if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT &&
			   __atomic_load_n(&req->state, __ATOMIC_ACQUIRE) != DTP_VREQ_DONE) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (rc)
		return dtp_errf_runtime(err, rc, "verbs link stage %d <-> %s: timed out after %d ms waiting to "
					"%s tag (step %u, micro %u, kind %u): the peer is stalled or dead",
					l->base.cfg.self_stage, l->peer_desc, timeout_ms,
					(req->priv[3] & 1u) ? "send" : "receive", req->tag.step,
					req->tag.micro, req->tag.kind);
	return finish(l, req, err);
}

void dtp_verbs_stats(struct dtp_link *link, struct dtp_vq_stats *out)
{
	struct dtp_verbs_link *l = vl(link);

	pthread_mutex_lock(&l->mu);
	*out = l->q.st;
	out->held_now = l->q.held_n;
	out->owed_now = l->q.unreturned;
	pthread_mutex_unlock(&l->mu);
}

static void verbs_link_stats(struct dtp_link *link, struct dtp_link_stats *out)
{
	struct dtp_vq_stats st;

	dtp_verbs_stats(link, &st);
	out->small_sent = st.eager_sent;
	out->small_recv = st.eager_recv;
	out->placed_sent = st.rndv_sent;
	out->placed_recv = st.rndv_recv;
}

static void print_stats(struct dtp_verbs_link *l)
{
	const struct dtp_vq_stats *st = &l->q.st;

	fprintf(stderr, "verbs stats: stage %d <-> stage %d: eager sent %llu received %llu (held "
		"%llu), rendezvous sent %llu received %llu, adv sent %llu stale %llu, rts %llu, "
		"credit msgs %llu\n", l->base.cfg.self_stage, l->base.cfg.peer_stage,
		(unsigned long long)st->eager_sent, (unsigned long long)st->eager_recv,
		(unsigned long long)st->eager_held, (unsigned long long)st->rndv_sent,
		(unsigned long long)st->rndv_recv, (unsigned long long)st->adv_sent,
		(unsigned long long)st->adv_stale, (unsigned long long)st->rts_sent,
		(unsigned long long)st->credit_sent);
}

static void verbs_close(struct dtp_link *link)
{
	struct dtp_verbs_link *l = vl(link);
	uint64_t t0, v = 1;

	if (!l)
		return;
	/* tell the peer (so its pending requests fail at once), and wait for the
	 * BYE's completion: sends complete in order, so eager sends (done for
	 * their caller once posted) have then reached the peer too, before the
	 * queue pair and their staging buffers go. A dead peer fails the BYE
	 * (retry exceeded) and ends the wait; CLOSE_WAIT_NS bounds the rest. */
	hand_over(l);                /* the thread polls for the BYE's completion */
	pthread_mutex_lock(&l->mu);
	dtp_vq_send_bye(&l->q);
	t0 = dtp_now_ns();
	while (!l->q.fatal && !l->q.bye_done && dtp_now_ns() - t0 < CLOSE_WAIT_NS) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	pthread_mutex_unlock(&l->mu);
	if (l->thread_started) {
		__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
		hand_over(l);
		if (write(l->wake_fd, &v, sizeof(v)) < 0)
			dtp_debug("verbs: waking the progress thread: %s", strerror(errno));
		pthread_join(l->thread, NULL);
	}
	if (l->print_stats)
		print_stats(l);
	if (l->id)
		rdma_disconnect(l->id);
	dtp_verbs_teardown(l);
	close(l->wake_fd);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

const struct dtp_transport_ops dtp_verbs_ops = {
	.name = "verbs",
	.open = verbs_open,
	.reg = verbs_reg,
	.dereg = verbs_dereg,
	.isend = verbs_isend,
	.irecv = verbs_irecv,
	.test = verbs_test,
	.wait = verbs_wait,
	.close = verbs_close,
	.stats = verbs_link_stats,
};
