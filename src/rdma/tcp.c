/* The tcp transport: one TCP connection per link (sock.c sets it up and runs
 * the handshake), tensors framed by the engine in stream.c. The kernel's
 * socket buffers are the credits: a sender that runs ahead of the receiver
 * waits in the kernel, never overruns it. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rdma/sock.h"
#include "rdma/stream.h"

#define TCP_READAHEAD (64 << 10)
/* While the rest of a large payload is on its way, poll wakes the reader only
 * once this much of it is queued (SO_RCVLOWAT): one wake-up and one large copy
 * per MiB instead of one per few segments (the A/B is in docs/benchmarks.md,
 * "Transport"). Far below the 8 MiB receive buffer,
 * and since Linux 5.10 poll also reports readable when the window closes. */
#define TCP_LOWAT_MAX (1 << 20)

struct dtp_tcp_link {
	struct dtp_link_base base;
	struct dtp_stream st;
	int fd;
	int evfd;        /* kicks the progress thread */
	int lowat;       /* the SO_RCVLOWAT now set on fd */
};

static ssize_t tcp_writev(void *ctx, const struct iovec *iov, int n)
{
	struct dtp_tcp_link *t = ctx;
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	ssize_t put = sendmsg(t->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (put >= 0)
		return put;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return errno == EPIPE ? -ECONNRESET : -errno;
}

static ssize_t tcp_read(void *ctx, void *buf, size_t n)
{
	struct dtp_tcp_link *t = ctx;
	ssize_t got = recv(t->fd, buf, n, MSG_DONTWAIT);
	size_t rest = got > 0 ? n - (size_t)got : n;
	int want = rest <= TCP_READAHEAD ? 1 : rest > TCP_LOWAT_MAX ? TCP_LOWAT_MAX : (int)rest;

	/* a header or a small payload next: wake at the first byte again */
	if (want != t->lowat && setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
		t->lowat = want;
	if (got > 0)
		return got;
	if (got == 0)
		return -ECONNRESET;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return errno == EPIPE ? -ECONNRESET : -errno;
}

static int tcp_block(void *ctx, int rd, int wr, int timeout_ms, int thread)
{
	struct dtp_tcp_link *t = ctx;
	struct pollfd p[2];
	int n = 0;

	if (rd || wr) {
		p[n].fd = t->fd;
		p[n++].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
	}
	if (thread) {
		p[n].fd = t->evfd;
		p[n++].events = POLLIN;
	}
	if (poll(p, (nfds_t)n, timeout_ms) > 0 && thread && (p[n - 1].revents & POLLIN)) {
		uint64_t v;

		if (read(t->evfd, &v, sizeof(v)) < 0)
			return 0;
	}
	return 0;
}

static void tcp_kick(void *ctx)
{
	struct dtp_tcp_link *t = ctx;
	uint64_t one = 1;

	if (write(t->evfd, &one, sizeof(one)) < 0)
		return;   /* the counter is full: the thread is awake anyway */
}

static const struct dtp_stream_io tcp_io = {
	.writev = tcp_writev,
	.read = tcp_read,
	.block = tcp_block,
	.kick = tcp_kick,
};

static int tcp_open(const struct dtp_link_config *cfg, struct dtp_link **out, struct dtp_err *err)
{
	struct dtp_tcp_link *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: no memory for a link", cfg->self_stage);
	t->base.ops = &dtp_tcp_ops;
	t->base.cfg = *cfg;
	t->lowat = 1;    /* the kernel's default */
	t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->evfd < 0) {
		rc = dtp_errf_runtime(err, -errno, "stage %d: eventfd: %s", cfg->self_stage, strerror(errno));
		goto out_free;
	}
	rc = dtp_stream_init(&t->st, &tcp_io, t, cfg, TCP_READAHEAD, err);
	if (rc)
		goto out_close_evfd;
	rc = cfg->listen ? dtp_sock_accept_peer(cfg, &t->fd, err)
			 : dtp_sock_connect_peer(cfg, &t->fd, err);
	if (rc)
		goto out_fini;
	rc = dtp_stream_start(&t->st, err);
	if (rc)
		goto out_close_fd;
	*out = (struct dtp_link *)(void *)t;
	return 0;
out_close_fd:
	close(t->fd);
out_fini:
	dtp_stream_fini(&t->st);
out_close_evfd:
	close(t->evfd);
out_free:
	free(t);
	return rc;
}

static struct dtp_tcp_link *tcp_of(struct dtp_link *l)
{
	return (struct dtp_tcp_link *)(void *)l;
}

static int tcp_reg(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out,
		   struct dtp_err *err)
{
	return dtp_stream_reg(buf, len, out, err);
}

static void tcp_dereg(struct dtp_link *l, struct dtp_mr *mr)
{
	dtp_stream_dereg(mr);
}

static void tcp_close(struct dtp_link *l)
{
	struct dtp_tcp_link *t = tcp_of(l);

	dtp_stream_fini(&t->st);
	close(t->fd);
	close(t->evfd);
	free(t);
}

_Static_assert(offsetof(struct dtp_tcp_link, base) == offsetof(struct dtp_stream_link, base) &&
	       offsetof(struct dtp_tcp_link, st) == offsetof(struct dtp_stream_link, st),
	       "the engine serves this link's requests (stream.h)");

const struct dtp_transport_ops dtp_tcp_ops = {
	.name = "tcp",
	.open = tcp_open,
	.reg = tcp_reg,
	.dereg = tcp_dereg,
	.isend = dtp_stream_link_isend,
	.irecv = dtp_stream_link_irecv,
	.test = dtp_stream_link_test,
	.wait = dtp_stream_link_wait,
	.close = tcp_close,
};
