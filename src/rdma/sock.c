/* How two stages find each other: TCP connection set-up and the handshake,
 * for the tcp transport and the shm rendezvous (the lower stage listens and
 * refuses strangers while it keeps waiting for its real peer; the higher
 * stage connects with retries). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rdma/sock.h"

#define SOCK_BUF_BYTES (4 << 20)
#define HELLO_WAIT_MS 2000          /* a connection must say hello within this */
#define USER_TIMEOUT_MS 10000       /* unacknowledged data: peer host is gone */

static void set_buffers(int fd)
{
	int v = SOCK_BUF_BYTES;

	/* the FORCE variants pass the rmem_max/wmem_max caps when privileged */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/* after the handshake: low latency, and a dead peer found in bounded time */
static void tune(int fd)
{
	int one = 1, idle = 5, intvl = 1, cnt = 5;
	unsigned ut = USER_TIMEOUT_MS;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
}

/* the whole of buf, read (writing 0) or written, by the deadline */
static int xfer_full(int fd, char *p, size_t n, uint64_t deadline_ns, int writing)
{
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
		ssize_t got;
		int left = dtp_ms_left(deadline_ns);

		if (left == 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
		got = writing ? send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
			      : recv(fd, p, n, MSG_DONTWAIT);
		if (got == 0 && !writing)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int dtp_sock_read_full(int fd, void *buf, size_t n, uint64_t deadline_ns)
{
	return xfer_full(fd, buf, n, deadline_ns, 0);
}

int dtp_sock_write_full(int fd, const void *buf, size_t n, uint64_t deadline_ns)
{
	return xfer_full(fd, (char *)(uintptr_t)buf, n, deadline_ns, 1);
}

static int resolve(const struct dtp_link_config *cfg, int passive, struct addrinfo **res,
		   struct dtp_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", cfg->port);
	rc = getaddrinfo(cfg->host, port, &hints, res);
	if (rc)
		return dtp_errf_input(err, -EHOSTUNREACH,
				      "stage %d: cannot resolve the address %s:%d of the link to stage "
				      "%d: %s; fix the host in the plan", cfg->self_stage, cfg->host,
				      cfg->port, cfg->peer_stage, gai_strerror(rc));
	return 0;
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	snprintf(buf, len, "%s:%d", ip, port);
}

static int open_listener(const struct dtp_link_config *cfg, int *out, struct dtp_err *err)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, rc, e = 0;

	rc = resolve(cfg, 1, &res, err);
	if (rc)
		return rc;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		set_buffers(fd);   /* inherited by the accepted socket */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 8) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return dtp_errf_runtime(err, -e,
					"stage %d: cannot listen on %s:%d for stage %d: %s; %s",
					cfg->self_stage, cfg->host, cfg->port, cfg->peer_stage, strerror(e),
					e == EADDRINUSE ? "another program (or an old run) holds the port: "
					"stop it or choose another port in the plan" :
					"is this host's address right in the plan?");
	*out = fd;
	return 0;
}

int dtp_sock_accept_peer(const struct dtp_link_config *cfg, int *fd_out, struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	uint8_t mine[DTP_HELLO_REPLY_BYTES], theirs[DTP_HELLO_BYTES];
	char last[512] = "";
	int lfd = -1, rc, refused = 0;

	rc = open_listener(cfg, &lfd, err);
	if (rc)
		return rc;
	dtp_hello_pack(cfg, mine);
	for (;;) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct dtp_err why;
		char who[80];
		uint64_t hello_deadline;
		int fd, left = dtp_ms_left(deadline);

		if (left == 0) {
			rc = dtp_errf_runtime(err, -ETIMEDOUT,
					      "stage %d: stage %d did not connect to %s:%d within %d ms%s%s; "
					      "start it, or check the host:port it was given",
					      cfg->self_stage, cfg->peer_stage, cfg->host, cfg->port,
					      cfg->connect_timeout_ms,
					      refused ? " (refused a stranger: " : "", refused ? last : "");
			goto out_close_lfd;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		addr_str(&ss, who, sizeof(who));
		hello_deadline = dtp_now_ns() + (uint64_t)HELLO_WAIT_MS * 1000000u;
		if (hello_deadline > deadline)
			hello_deadline = deadline;
		rc = dtp_sock_read_full(fd, theirs, sizeof(theirs), hello_deadline);
		if (rc == 0)
			rc = dtp_hello_check(cfg, theirs, sizeof(theirs), NULL, &why);
		else
			dtp_errf_runtime(&why, rc, "it sent no complete handshake (%s)",
					 rc == -ETIMEDOUT ? "nothing for 2 s" : "closed early");
		/* our status goes back to anything that speaks the protocol */
		if (rc == 0 || dtp_le32(theirs) == DTP_PROTO_MAGIC) {
			uint32_t st = rc ? EPROTO : 0;

			dtp_put_le32(mine + DTP_HELLO_BYTES, st);
			if (dtp_sock_write_full(fd, mine, sizeof(mine), hello_deadline) < 0 && rc == 0)
				rc = dtp_errf_runtime(&why, -ECONNRESET, "it hung up during the handshake");
		}
		if (rc == 0) {
			tune(fd);
			*fd_out = fd;
			goto out_close_lfd;
		}
		refused++;
		snprintf(last, sizeof(last), "%s: %.400s)", who, why.msg);
		dtp_warn("stage %d: refused a connection from %s on %s:%d: %s; still waiting "
			 "for stage %d", cfg->self_stage, who, cfg->host, cfg->port, why.msg,
			 cfg->peer_stage);
		close(fd);
	}
out_close_lfd:
	close(lfd);
	return rc;
}

static int connect_once(const struct addrinfo *ai, uint64_t deadline, int *out)
{
	struct pollfd pfd;
	int fd, e = 0;
	socklen_t el = sizeof(e);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	set_buffers(fd);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto out_close_fd;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, dtp_ms_left(deadline)) <= 0) {
			e = ETIMEDOUT;
			goto out_close_fd;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e)
			goto out_close_fd;
	}
	/* back to blocking; the engine and the helpers use MSG_DONTWAIT */
	if (fcntl(fd, F_SETFL, 0) < 0) {
		e = errno;
		goto out_close_fd;
	}
	*out = fd;
	return 0;
out_close_fd:
	close(fd);
	return -e;
}

int dtp_sock_connect_peer(const struct dtp_link_config *cfg, int *fd_out, struct dtp_err *err)
{
	uint64_t deadline = dtp_now_ns() + (uint64_t)cfg->connect_timeout_ms * 1000000u;
	uint8_t mine[DTP_HELLO_BYTES], reply[DTP_HELLO_REPLY_BYTES];
	struct addrinfo *res, *ai;
	int rc, fd = -1, last = 0, tries = 0;

	rc = resolve(cfg, 0, &res, err);
	if (rc)
		return rc;
	dtp_hello_pack(cfg, mine);
	while (dtp_ms_left(deadline) > 0) {
		uint32_t st;
		struct dtp_err why;

		for (ai = res; ai; ai = ai->ai_next) {
			last = connect_once(ai, deadline, &fd);
			if (last == 0)
				break;
		}
		tries++;
		if (last) {
			struct timespec ts = { 0, 20 * 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		rc = dtp_sock_write_full(fd, mine, sizeof(mine), deadline);
		if (rc == 0)
			rc = dtp_sock_read_full(fd, reply, sizeof(reply), deadline);
		if (rc) {      /* the listener hung up: not ours yet, or restarting */
			last = rc;
			close(fd);
			continue;
		}
		st = dtp_le32(reply + DTP_HELLO_BYTES);
		rc = dtp_hello_check(cfg, reply, DTP_HELLO_BYTES, NULL, &why);
		if (rc == 0 && st != 0)
			rc = dtp_errf_runtime(&why, -EPROTO, "stage %d: the listener refused the handshake "
					      "(status %u)", cfg->self_stage, st);
		if (rc) {
			close(fd);
			rc = dtp_errf_runtime(err, -EPROTO, "%s (refused by %s:%d)", why.msg,
					      cfg->host, cfg->port);
			goto out_free;
		}
		tune(fd);
		*fd_out = fd;
		goto out_free;
	}
	rc = dtp_errf_runtime(err, -ETIMEDOUT,
			      "stage %d: could not connect to stage %d at %s:%d within %d ms (%d tries, "
			      "last error: %s); start stage %d, or check the host:port in the plan",
			      cfg->self_stage, cfg->peer_stage, cfg->host, cfg->port,
			      cfg->connect_timeout_ms, tries, strerror(last ? -last : ETIMEDOUT),
			      cfg->peer_stage);
out_free:
	freeaddrinfo(res);
	return rc;
}
