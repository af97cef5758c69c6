/* Heartbeats between neighbouring stages (heartbeat.h): one TCP connection
 * per neighbour, one thread that beats and listens. The main thread touches
 * two atomics (progress, waiting_on); what was heard sits behind a mutex. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rdma/heartbeat.h"
#include "rdma/sock.h"

struct hb_peer {
	int stage;
	int fd;                          /* -1 once closed */
	struct dtp_hb_state st;          /* under hb->mu */
	uint8_t in[DTP_HB_BYTES];        /* a beat being read */
	size_t in_len;
	uint8_t out[DTP_HB_BYTES];       /* a beat being written */
	size_t out_left;
};

struct dtp_hb {
	int self;
	int interval_ms;
	int n;
	struct hb_peer peers[DTP_HB_MAX_PEERS];
	int stop_fd;                     /* eventfd: dtp_hb_close wakes the thread */
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	_Atomic uint64_t progress;
	_Atomic int waiting_on;
};

void dtp_hb_pack(uint32_t from, uint64_t progress, int waiting_on, uint8_t out[DTP_HB_BYTES])
{
	dtp_put_le32(out, DTP_HB_MAGIC);
	dtp_put_le32(out + 4, from);
	dtp_put_le64(out + 8, progress);
	dtp_put_le32(out + 16, (uint32_t)waiting_on);
	dtp_put_le32(out + 20, 0);
}

int dtp_hb_unpack(const uint8_t in[DTP_HB_BYTES], uint32_t *from, uint64_t *progress,
		  int *waiting_on)
{
	int32_t w = (int32_t)dtp_le32(in + 16);

	if (dtp_le32(in) != DTP_HB_MAGIC || w < DTP_HB_BUSY_IO)
		return -EPROTO;
	*from = dtp_le32(in + 4);
	*progress = dtp_le64(in + 8);
	*waiting_on = w;
	return 0;
}

static void peer_closed(struct dtp_hb *hb, struct hb_peer *p, int e)
{
	pthread_mutex_lock(&hb->mu);
	p->st.closed = e;
	pthread_mutex_unlock(&hb->mu);
	close(p->fd);
	p->fd = -1;
}

/* write what is left of the current beat, or a new one */
static void beat(struct dtp_hb *hb, struct hb_peer *p, int fresh)
{
	ssize_t w;

	if (p->fd < 0)
		return;
	if (!p->out_left && fresh) {
		dtp_hb_pack((uint32_t)hb->self, atomic_load_explicit(&hb->progress, memory_order_relaxed),
			    atomic_load_explicit(&hb->waiting_on, memory_order_relaxed), p->out);
		p->out_left = DTP_HB_BYTES;
	}
	if (!p->out_left)
		return;
	w = send(p->fd, p->out + DTP_HB_BYTES - p->out_left, p->out_left, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w > 0)
		p->out_left -= (size_t)w;
	else if (w < 0 && errno != EAGAIN && errno != EINTR)
		peer_closed(hb, p, errno == EPIPE ? ECONNRESET : errno);
	/* EAGAIN: the connection is not draining (a cut link); the peer will
	 * notice the silence, and so will this side's reader */
}

static void hear(struct dtp_hb *hb, struct hb_peer *p)
{
	for (;;) {
		ssize_t got = recv(p->fd, p->in + p->in_len, DTP_HB_BYTES - p->in_len, MSG_DONTWAIT);
		uint64_t progress;
		uint32_t from;
		int waiting_on;

		if (got == 0) {
			peer_closed(hb, p, ECONNRESET);
			return;
		}
		if (got < 0) {
			if (errno != EAGAIN && errno != EINTR)
				peer_closed(hb, p, errno);
			return;
		}
		p->in_len += (size_t)got;
		if (p->in_len < DTP_HB_BYTES)
			continue;
		p->in_len = 0;
		if (dtp_hb_unpack(p->in, &from, &progress, &waiting_on) || from != (uint32_t)p->stage) {
			peer_closed(hb, p, EPROTO);
			return;
		}
		pthread_mutex_lock(&hb->mu);
		p->st.heard_ns = dtp_now_ns();
		if (progress != p->st.progress || waiting_on != p->st.waiting_on) {
			/* a stretch of work ends: the longest so far scales the
			 * hang bound (liveness.c) */
			if (p->st.waiting_on == -1 &&
			    p->st.heard_ns - p->st.since_ns > p->st.longest_ns)
				p->st.longest_ns = p->st.heard_ns - p->st.since_ns;
			p->st.since_ns = p->st.heard_ns;
		}
		p->st.progress = progress;
		p->st.waiting_on = waiting_on;
		pthread_mutex_unlock(&hb->mu);
	}
}

static void *hb_thread(void *arg)
{
	struct dtp_hb *hb = arg;
	uint64_t next = 0, interval = (uint64_t)hb->interval_ms * 1000000u;

	for (;;) {
		struct pollfd pfd[1 + DTP_HB_MAX_PEERS];
		struct hb_peer *who[1 + DTP_HB_MAX_PEERS];
		uint64_t now = dtp_now_ns();
		int n = 0, fresh = now >= next;

		if (fresh)
			next = now + interval;
		for (int i = 0; i < hb->n; i++)
			beat(hb, &hb->peers[i], fresh);
		pfd[n].fd = hb->stop_fd;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		for (int i = 0; i < hb->n; i++) {
			struct hb_peer *p = &hb->peers[i];

			if (p->fd < 0)
				continue;
			pfd[n].fd = p->fd;
			pfd[n].events = POLLIN | (p->out_left ? POLLOUT : 0);
			who[n++] = p;
		}
		if (poll(pfd, (nfds_t)n, dtp_ms_left(next)) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (int i = 1; i < n; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				hear(hb, who[i]);
	}
	return NULL;
}

static void close_peers(struct dtp_hb *hb)
{
	for (int i = 0; i < hb->n; i++)
		if (hb->peers[i].fd >= 0)
			close(hb->peers[i].fd);
}

int dtp_hb_open(const struct dtp_link_config *links, int n, int interval_ms,
		struct dtp_hb **out, struct dtp_err *err)
{
	struct dtp_hb *hb;
	sigset_t all, old;
	uint64_t now;
	int r;

	if (n < 0 || n > DTP_HB_MAX_PEERS || interval_ms < 1)
		return dtp_errf_runtime(err, -EINVAL, "heartbeats: %d peers every %d ms (internal error)",
					n, interval_ms);
	hb = calloc(1, sizeof(*hb));
	if (!hb)
		return dtp_errf_runtime(err, -ENOMEM, "heartbeats: out of memory");
	hb->self = n ? links[0].self_stage : -1;
	hb->interval_ms = interval_ms;
	atomic_init(&hb->progress, 0);
	atomic_init(&hb->waiting_on, -1);
	for (int i = 0; i < n; i++)
		hb->peers[i].fd = -1;
	for (int i = 0; i < n; i++) {
		struct dtp_link_config c = links[i];
		struct hb_peer *p = &hb->peers[i];

		c.kind = DTP_TRANSPORT_TCP;
		r = c.listen ? dtp_sock_accept_peer(&c, &p->fd, err) :
			       dtp_sock_connect_peer(&c, &p->fd, err);
		if (r) {
			dtp_err_prefix(err, "heartbeat connection to stage %d: ", c.peer_stage);
			goto out_peers;
		}
		hb->n = i + 1;
		p->stage = c.peer_stage;
		p->st.waiting_on = -1;
	}
	now = dtp_now_ns();
	for (int i = 0; i < n; i++)
		hb->peers[i].st.heard_ns = hb->peers[i].st.since_ns = now;
	hb->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (hb->stop_fd < 0) {
		r = dtp_errf_runtime(err, -errno, "heartbeats: eventfd: %s", strerror(errno));
		goto out_peers;
	}
	r = pthread_mutex_init(&hb->mu, NULL);
	if (r) {
		r = dtp_errf_runtime(err, -r, "heartbeats: mutex: %s", strerror(r));
		goto out_stop_fd;
	}
	/* the thread takes no signals: they stay the main thread's (it starts
	 * with the mask it is created with) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&hb->thread, NULL, hb_thread, hb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		r = dtp_errf_runtime(err, -r, "heartbeats: cannot start the thread: %s", strerror(r));
		goto out_mutex;
	}
	hb->running = 1;
	*out = hb;
	return 0;

out_mutex:
	pthread_mutex_destroy(&hb->mu);
out_stop_fd:
	close(hb->stop_fd);
out_peers:
	close_peers(hb);
	free(hb);
	return r;
}

void dtp_hb_progress(struct dtp_hb *hb)
{
	if (hb)
		atomic_fetch_add_explicit(&hb->progress, 1, memory_order_relaxed);
}

void dtp_hb_waiting(struct dtp_hb *hb, int stage)
{
	if (hb)
		atomic_store_explicit(&hb->waiting_on, stage, memory_order_relaxed);
}

int dtp_hb_peer(struct dtp_hb *hb, int stage, struct dtp_hb_state *out)
{
	for (int i = 0; hb && i < hb->n; i++)
		if (hb->peers[i].stage == stage) {
			pthread_mutex_lock(&hb->mu);
			*out = hb->peers[i].st;
			pthread_mutex_unlock(&hb->mu);
			return 0;
		}
	return -ENOENT;
}

void dtp_hb_close(struct dtp_hb *hb)
{
	uint64_t one = 1;

	if (!hb)
		return;
	if (hb->running) {
		if (write(hb->stop_fd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(hb->thread);
		pthread_join(hb->thread, NULL);
	}
	pthread_mutex_destroy(&hb->mu);
	close(hb->stop_fd);
	close_peers(hb);
	free(hb);
}
