/* The transport suite: the same cases on every transport.
 *
 *   test_transport --transport tcp|shm|verbs [--host H] [--port P] [--case NAME]
 *
 * Each case forks stage 0 (listener) and stage 1 (connector) and runs under a
 * time limit; a case fails on any wrong byte, tag, status or message, on a
 * child's non-zero exit, or on a hang. Prints one line per case and
 * "N passed, N failed"; exits non-zero on any failure. Loopback only. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/parse.h"
#include "rdma/transport.h"
#include "transport_suite.h"

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void cfg_for(const struct env *e, struct dtp_link_config *c)
{
	dtp_link_config_default(c);
	c->kind = e->kind;
	c->self_stage = e->stage;
	c->peer_stage = !e->stage;
	c->listen = e->stage == 0;
	snprintf(c->host, sizeof(c->host), "%s", e->host);
	c->port = e->port;
	c->job_key = 0x6a6f626b6579ull;
	c->plan_hash = 0x706c616e68617368ull;
	c->connect_timeout_ms = 15000;
	c->max_msg_bytes = MAX_MSG;
	c->slots = 4;
}

int open_link(const struct env *e, const struct dtp_link_config *c, struct dtp_link **l)
{
	struct dtp_err err = { 0 };
	int rc = dtp_link_open(c, l, &err);

	if (rc)
		fprintf(stderr, "  stage %d: open failed (%d): %s\n", e->stage, rc, err.msg);
	return rc;
}

/* one byte through the side pipes, to order the two stages */
void signal_peer(const struct env *e)
{
	char b = 1;

	if (write(e->stage ? e->from_peer[1] : e->to_peer[1], &b, 1) != 1)
		perror("signal_peer");
}

int wait_peer(const struct env *e, int ms)
{
	struct pollfd p = { .fd = e->stage ? e->to_peer[0] : e->from_peer[0], .events = POLLIN };
	char b;

	if (poll(&p, 1, ms) != 1 || read(p.fd, &b, 1) != 1)
		return -1;
	return 0;
}

void fill(void *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *p = buf;

	for (size_t i = 0; i < n; i++) {
		if ((i & 7) == 0)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (unsigned char)(x >> (8 * (i & 7)));
	}
}

int same(const void *buf, size_t n, uint64_t seed, void *scratch)
{
	fill(scratch, n, seed);
	return memcmp(buf, scratch, n) == 0;
}

const size_t sizes[NSIZES] = {
	1, 0, 7, 64, 1000, 4096, 65536 + 3, 300000, 1u << 20, (3u << 20) + 5, 8u << 20, 24, 23,
};

/* many tensors of varied sizes, both directions at once, several rounds */
static int case_many_sizes(struct env *e)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req sr[NSIZES], rr[NSIZES];
	struct dtp_err err;
	char *sbuf = malloc(MAX_MSG), *rbuf = malloc((size_t)MAX_MSG * 2), *scratch = malloc(MAX_MSG);
	size_t off[NSIZES], o = 0;

	cfg_for(e, &c);
	if (!sbuf || !rbuf || !scratch || open_link(e, &c, &l))
		return 1;
	if (e->kind == DTP_TRANSPORT_SHM && e->stage == 0) {
		/* the listener's segment name is gone once the link is up */
		char pat[64];
		glob_t g;

		snprintf(pat, sizeof(pat), "/dev/shm/dtpipe-%d-*", (int)getpid());
		CHECK(glob(pat, 0, NULL, &g) == GLOB_NOMATCH, "%s left behind", pat);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		off[i] = o;
		o += sizes[i];
	}
	for (uint32_t round = 0; round < 3; round++) {
		char *sp = sbuf;

		for (size_t i = 0; i < NSIZES; i++) {
			struct dtp_tag rt = { round, (uint16_t)i, DTP_MSG_ACT + (uint16_t)!e->stage };

			CHECK(dtp_link_irecv(l, &rt, rbuf + 2 * off[i], 2 * sizes[i] + 1, NULL,
					     &rr[i], &err) == 0, "irecv %zu", i);
		}
		for (size_t i = 0; i < NSIZES; i++) {
			struct dtp_tag st = { round, (uint16_t)i, DTP_MSG_ACT + (uint16_t)e->stage };
			size_t n = sizes[i] < MAX_MSG - (size_t)(sp - sbuf) ? sizes[i] : 0;

			fill(sp, n, (uint64_t)e->stage << 32 | round << 16 | i);
			CHECK(dtp_link_isend(l, &st, sp, n, NULL, &sr[i], &err) == 0, "isend %zu", i);
			sp += n;
		}
		for (size_t i = 0; i < NSIZES; i++) {
			uint64_t seed = (uint64_t)!e->stage << 32 | round << 16 | i;

			CHECK(dtp_link_wait(l, &rr[i], 20000, &err) == 0, "recv %zu: %s", i, err.msg);
			CHECK(rr[i].len == sizes[i], "recv %zu: %zu bytes, expected %zu", i,
			      rr[i].len, sizes[i]);
			CHECK(rr[i].tag.micro == i && rr[i].tag.step == round, "recv %zu: tag", i);
			CHECK(same(rbuf + 2 * off[i], sizes[i], seed, scratch),
			      "recv %zu (%zu bytes, round %u): content differs", i, sizes[i], round);
		}
		for (size_t i = 0; i < NSIZES; i++)
			CHECK(dtp_link_wait(l, &sr[i], 20000, &err) == 0, "send %zu: %s", i, err.msg);
	}
	dtp_link_close(l);
	free(sbuf);
	free(rbuf);
	free(scratch);
	return 0;
}

/* more sends in flight than slots; the receiver is slow, then catches up */
static int case_credits(struct env *e)
{
	enum { N = 24, SZ = 1 << 20 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req[N];
	struct dtp_err err;
	char *buf = malloc((size_t)N * SZ), *scratch = malloc(SZ);

	cfg_for(e, &c);
	c.slots = 2;
	if (!buf || !scratch || open_link(e, &c, &l))
		return 1;
	if (e->stage == 0) {
		int pending = 0;

		for (int i = 0; i < N; i++) {
			struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };

			fill(buf + (size_t)i * SZ, SZ, 1000 + (uint64_t)i);
			CHECK(dtp_link_isend(l, &t, buf + (size_t)i * SZ, SZ, NULL, &req[i], &err) == 0,
			      "isend %d", i);
		}
		msleep(200);
		for (int i = 0; i < N; i++) {
			int done = 0;

			CHECK(dtp_link_test(l, &req[i], &done, &err) == 0, "test %d: %s", i, err.msg);
			pending += !done;
		}
		/* 24 MiB cannot all sit in buffers and slots while nobody receives */
		CHECK(pending > 0, "all %d sends completed with no receive posted", N);
		signal_peer(e);
		for (int i = 0; i < N; i++)
			CHECK(dtp_link_wait(l, &req[i], 20000, &err) == 0, "send %d: %s", i, err.msg);
	} else {
		CHECK(wait_peer(e, 20000) == 0, "no go from stage 0");
		for (int i = 0; i < N; i++) {
			struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };

			if (i % 4 == 0)
				msleep(10);   /* slow receiver */
			CHECK(dtp_link_irecv(l, &t, buf, SZ, NULL, &req[0], &err) == 0, "irecv %d", i);
			CHECK(dtp_link_wait(l, &req[0], 20000, &err) == 0, "recv %d: %s", i, err.msg);
			CHECK(req[0].len == SZ && same(buf, SZ, 1000 + (uint64_t)i, scratch),
			      "recv %d: wrong length or content", i);
		}
	}
	dtp_link_close(l);
	free(buf);
	free(scratch);
	return 0;
}

/* stage 1 dies mid-stream; stage 0 must see -ECONNRESET naming it, no hang */
static int case_peer_close(struct env *e)
{
	enum { SZ = 1 << 20 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req;
	struct dtp_err err = { 0 };
	char *buf = malloc(SZ);
	int rc = 0, i;

	cfg_for(e, &c);
	if (!buf || open_link(e, &c, &l))
		return 1;
	if (e->stage == 1) {
		struct dtp_tag t = { 0, 0, DTP_MSG_ACT };

		for (i = 0; i < 2; i++) {
			t.micro = (uint16_t)i;
			CHECK(dtp_link_irecv(l, &t, buf, SZ, NULL, &req, &err) == 0, "irecv");
			CHECK(dtp_link_wait(l, &req, 20000, &err) == 0, "recv %d: %s", i, err.msg);
		}
		_exit(0);   /* die without closing anything */
	}
	for (i = 0; i < 1000; i++) {
		struct dtp_tag t = { 0, (uint16_t)i, DTP_MSG_ACT };

		rc = dtp_link_isend(l, &t, buf, SZ, NULL, &req, &err);
		if (rc == 0)
			rc = dtp_link_wait(l, &req, 20000, &err);
		if (rc)
			break;
	}
	CHECK(rc == -ECONNRESET, "sends after the peer died: rc %d after %d sends: %s", rc, i,
	      err.msg);
	CHECK(strstr(err.msg, "peer stage 1"), "message does not name the peer: %s", err.msg);
	/* a receive on the dead link fails the same way, at once */
	{
		struct dtp_tag t = { 1, 0, DTP_MSG_GRAD };

		dtp_link_irecv(l, &t, buf, SZ, NULL, &req, &err);
		rc = dtp_link_wait(l, &req, 20000, &err);
		CHECK(rc == -ECONNRESET, "receive on a dead link: rc %d: %s", rc, err.msg);
	}
	/* a post refused by the transport says why, naming the peer: on the
	 * dead link (at the post or at the wait), and outside its region */
	{
		struct dtp_tag t = { 2, 0, DTP_MSG_ACT };
		struct dtp_mr *mr;

		dtp_err_clear(&err);
		rc = dtp_link_isend(l, &t, buf, 64, NULL, &req, &err);
		if (rc == 0)
			rc = dtp_link_wait(l, &req, 20000, &err);
		CHECK(rc == -ECONNRESET && strstr(err.msg, "peer stage 1"),
		      "send posted on a dead link: rc %d, message: '%s'", rc, err.msg);
		CHECK(dtp_link_reg(l, buf, 4096, &mr, &err) == 0, "reg: %s", err.msg);
		dtp_err_clear(&err);
		rc = dtp_link_isend(l, &t, buf + 8192, 64, mr, &req, &err);
		CHECK(rc == -EINVAL && strstr(err.msg, "registered region") &&
		      strstr(err.msg, "peer stage 1"),
		      "send outside its registered region: rc %d, message: '%s'", rc, err.msg);
		dtp_err_clear(&err);
		rc = dtp_link_irecv(l, &t, buf + 8192, 64, mr, &req, &err);
		CHECK(rc == -EINVAL && strstr(err.msg, "registered region"),
		      "receive outside its registered region: rc %d, message: '%s'", rc, err.msg);
		dtp_link_dereg(l, mr);
	}
	dtp_link_close(l);
	free(buf);
	return 0;
}

/* wrong job key, then wrong plan hash: refused with the reason; then the real
 * peer connects and the job proceeds */
static int case_refused(struct env *e)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req;
	struct dtp_err err = { 0 };
	char msg[16] = "hello";

	cfg_for(e, &c);
	if (e->stage == 1) {
		struct dtp_link_config bad = c;

		bad.job_key ^= 1;
		CHECK(dtp_link_open(&bad, &l, &err) == -EPROTO, "wrong job key was not refused");
		CHECK(strstr(err.msg, "job key"), "refusal does not say 'job key': %s", err.msg);
		fprintf(stderr, "  stage 1 (expected): %s\n", err.msg);
		bad = c;
		bad.plan_hash ^= 2;
		CHECK(dtp_link_open(&bad, &l, &err) == -EPROTO, "wrong plan hash was not refused");
		CHECK(strstr(err.msg, "plan hash"), "refusal does not say 'plan hash': %s", err.msg);
		bad = c;
		bad.self_stage = 5;
		CHECK(dtp_link_open(&bad, &l, &err) == -EPROTO, "wrong stage was not refused");
	}
	if (open_link(e, &c, &l))
		return 1;
	{
		struct dtp_tag t = { 3, 1, DTP_MSG_CTRL };

		if (e->stage == 0) {
			CHECK(dtp_link_isend(l, &t, msg, sizeof(msg), NULL, &req, &err) == 0, "isend");
		} else {
			memset(msg, 0, sizeof(msg));
			CHECK(dtp_link_irecv(l, &t, msg, sizeof(msg), NULL, &req, &err) == 0, "irecv");
		}
		CHECK(dtp_link_wait(l, &req, 20000, &err) == 0, "after refusals: %s", err.msg);
		CHECK(strcmp(msg, "hello") == 0, "wrong content after refusals");
	}
	dtp_link_close(l);
	return 0;
}

/* the listener alone, with a short deadline, after refusing a stranger:
 * -ETIMEDOUT that mentions the refusal */
static int case_listener_deadline(struct env *e)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_err err = { 0 };
	int rc;

	cfg_for(e, &c);
	if (e->stage == 1) {
		struct dtp_link_config bad = c;

		bad.plan_hash ^= 4;
		rc = dtp_link_open(&bad, &l, &err);
		CHECK(rc == -EPROTO, "wrong plan hash: rc %d", rc);
		return 0;
	}
	/* long enough for the refused peer to be scheduled on a busy machine */
	c.connect_timeout_ms = 10000;
	rc = dtp_link_open(&c, &l, &err);
	CHECK(rc == -ETIMEDOUT, "listener: rc %d, expected -ETIMEDOUT: %s", rc, err.msg);
	CHECK(strstr(err.msg, "stage 1") && strstr(err.msg, "refused"),
	      "listener's message names neither the stage nor the refusal: %s", err.msg);
	fprintf(stderr, "  stage 0 (expected): %s\n", err.msg);
	return 0;
}

static int tcp_connect_retry(const struct env *e, int ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)e->port) };

	inet_pton(AF_INET, e->host, &a.sin_addr);
	for (int t = 0; t < ms; t += 20) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		msleep(20);
	}
	return -1;
}

/* strangers reach the port first (garbage, and one that says nothing); the
 * real peer then connects and the job proceeds */
static int case_stranger(struct env *e)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req;
	struct dtp_err err = { 0 };
	uint64_t v = 0;

	cfg_for(e, &c);
	if (e->stage == 1 && e->kind != DTP_TRANSPORT_VERBS) {
		static const char junk[] = "GET / HTTP/1.0\r\n\r\n0123456789abcdef0123456789abcdef";
		int fd = tcp_connect_retry(e, 10000), quiet;
		char b;

		CHECK(fd >= 0, "stranger could not connect");
		CHECK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "stranger write");
		/* the listener hangs up on it without an answer */
		CHECK(read(fd, &b, 1) <= 0, "the listener answered a stranger");
		close(fd);
		quiet = tcp_connect_retry(e, 10000);   /* this one never speaks */
		CHECK(quiet >= 0, "quiet stranger could not connect");
		if (open_link(e, &c, &l))
			return 1;
		close(quiet);
	} else if (open_link(e, &c, &l)) {
		return 1;
	}
	{
		struct dtp_tag t = { 9, 9, DTP_MSG_CTRL };

		if (e->stage == 0) {
			v = 0xfeedfacecafebeefull;
			CHECK(dtp_link_isend(l, &t, &v, sizeof(v), NULL, &req, &err) == 0, "isend");
		} else {
			CHECK(dtp_link_irecv(l, &t, &v, sizeof(v), NULL, &req, &err) == 0, "irecv");
		}
		CHECK(dtp_link_wait(l, &req, 20000, &err) == 0, "after strangers: %s", err.msg);
		CHECK(v == 0xfeedfacecafebeefull, "wrong content after strangers");
	}
	dtp_link_close(l);
	return 0;
}

/* a tag or a size the receiver did not post: -EPROTO naming both tags */
static int case_tag_mismatch(struct env *e)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req;
	struct dtp_err err = { 0 };
	char buf[256] = { 0 };
	int rc;

	cfg_for(e, &c);
	for (int sub = 0; sub < 2; sub++) {
		struct dtp_tag sent = { 4, 1, DTP_MSG_ACT }, want = { 4, sub ? 1 : 2, DTP_MSG_ACT };

		if (open_link(e, &c, &l))
			return 1;
		if (e->stage == 0) {
			CHECK(dtp_link_isend(l, &sent, buf, sub ? 200 : 100, NULL, &req, &err) == 0, "isend");
			CHECK(dtp_link_wait(l, &req, 20000, &err) == 0, "send: %s", err.msg);
			CHECK(wait_peer(e, 20000) == 0, "stage 1 did not report");
		} else {
			CHECK(dtp_link_irecv(l, &want, buf, 100, NULL, &req, &err) == 0, "irecv");
			rc = dtp_link_wait(l, &req, 20000, &err);
			CHECK(rc == -EPROTO, "%s mismatch: rc %d, expected -EPROTO", sub ? "size" : "tag", rc);
			if (sub == 0)
				CHECK(strstr(err.msg, "micro 1") && strstr(err.msg, "micro 2"),
				      "message does not name both tags: %s", err.msg);
			else
				CHECK(strstr(err.msg, "200") && strstr(err.msg, "100"),
				      "message does not name both sizes: %s", err.msg);
			fprintf(stderr, "  stage 1 (expected): %s\n", err.msg);
			signal_peer(e);
		}
		dtp_link_close(l);
	}
	return 0;
}

/* a large send completes while its sender blocks on something else entirely
 * (here: a pipe the receiver writes only after it got everything) */
static int case_progress(struct env *e)
{
	enum { SZ = 12 << 20 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req req;
	struct dtp_err err = { 0 };
	char *buf = malloc(SZ), *scratch = malloc(SZ);
	struct dtp_tag t = { 11, 3, DTP_MSG_ACT };

	cfg_for(e, &c);
	if (!buf || !scratch || open_link(e, &c, &l))
		return 1;
	if (e->stage == 0) {
		fill(buf, SZ, 77);
		CHECK(dtp_link_isend(l, &t, buf, SZ, NULL, &req, &err) == 0, "isend");
		CHECK(wait_peer(e, 20000) == 0, "stage 1 never got the tensor while stage 0 "
		      "did not drive the link: no independent progress");
		CHECK(dtp_link_wait(l, &req, 0, &err) == 0, "send not complete: %s", err.msg);
	} else {
		CHECK(dtp_link_irecv(l, &t, buf, SZ, NULL, &req, &err) == 0, "irecv");
		CHECK(dtp_link_wait(l, &req, 20000, &err) == 0, "recv: %s", err.msg);
		CHECK(same(buf, SZ, 77, scratch), "content differs");
		signal_peer(e);
	}
	dtp_link_close(l);
	free(buf);
	free(scratch);
	return 0;
}

struct tcase {
	const char *name;
	int (*fn)(struct env *e);
};

static const struct tcase cases[] = {
	{ "many_sizes_both_directions", case_many_sizes },
	{ "small_messages_slots_and_ring", case_small_messages },
	{ "link_alloc_one_copy", case_link_alloc },
	{ "alloc_shared_on_second_link_then_peer_dies", case_alloc_second_link },
	{ "eager_sends_beside_shared_buffers", case_eager_beside_shared },
	{ "shared_copy_large_tensors", case_shared_copy },
	{ "credit_exhaustion_and_recovery", case_credits },
	{ "peer_close_mid_stream", case_peer_close },
	{ "refused_handshake", case_refused },
	{ "listener_deadline_after_refusal", case_listener_deadline },
	{ "stranger_first", case_stranger },
	{ "tag_and_size_mismatch", case_tag_mismatch },
	{ "independent_progress", case_progress },
};

static int free_port(const char *host)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	inet_pton(AF_INET, host, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* CASE_LIMIT_S, or DTP_TEST_CASE_LIMIT_S when it is a number of seconds */
static int case_limit_s(void)
{
	const char *v = getenv("DTP_TEST_CASE_LIMIT_S");
	long n;

	return v && dtp_parse_long(v, 1, 86399, &n) == 0 ? (int)n : CASE_LIMIT_S;
}

/* run one case in two children; 0 when both exit 0 within the limit */
static int run_case(const struct env *base, const struct tcase *tc)
{
	pid_t pid[2];
	int status[2] = { -1, -1 }, left = 2, limit = case_limit_s();
	struct env e = *base;
	time_t t0 = time(NULL);

	if (!e.port)
		e.port = free_port(e.host);
	if (pipe(e.to_peer) || pipe(e.from_peer))
		return -1;
	fflush(NULL);
	for (int s = 0; s < 2; s++) {
		pid[s] = fork();
		if (pid[s] == 0) {
			alarm((unsigned)limit + 5);
			e.stage = s;
			_exit(tc->fn(&e) ? 1 : 0);
		}
	}
	close(e.to_peer[0]);
	close(e.to_peer[1]);
	close(e.from_peer[0]);
	close(e.from_peer[1]);
	while (left) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p == 0) {
			if (time(NULL) - t0 > limit) {
				fprintf(stderr, "  %s: over %d s, killing both stages\n", tc->name,
					limit);
				for (int s = 0; s < 2; s++)
					if (status[s] == -1)
						kill(pid[s], SIGKILL);
			}
			msleep(10);
			continue;
		}
		if (p < 0)
			break;
		for (int s = 0; s < 2; s++)
			if (p == pid[s]) {
				status[s] = st;
				left--;
			}
	}
	for (int s = 0; s < 2; s++)
		if (!WIFEXITED(status[s]) || WEXITSTATUS(status[s]) != 0) {
			fprintf(stderr, "  stage %d %s %d\n", s,
				WIFSIGNALED(status[s]) ? "killed by signal" : "exited",
				WIFSIGNALED(status[s]) ? WTERMSIG(status[s]) : WEXITSTATUS(status[s]));
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct env e = { .kind = DTP_TRANSPORT_TCP, .host = "127.0.0.1" };
	const char *only = NULL;
	int passed = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--transport") && i + 1 < argc) {
			if (dtp_transport_kind_parse(argv[++i], &e.kind)) {
				fprintf(stderr, "unknown transport '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
			snprintf(e.host, sizeof(e.host), "%s", argv[++i]);
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			e.port = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--case") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr, "usage: %s --transport tcp|shm|verbs [--host H] [--port P] "
				"[--case NAME]\n", argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	printf("[==========] transport %s on %s\n", dtp_transport_kind_name(e.kind), e.host);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env ce = e;

		if (only && strcmp(only, cases[i].name))
			continue;
		if (e.port)
			ce.port = e.port + (int)i;
		printf("[ RUN      ] %s\n", cases[i].name);
		fflush(stdout);
		if (run_case(&ce, &cases[i]) == 0) {
			printf("[       OK ] %s\n", cases[i].name);
			passed++;
		} else {
			printf("[  FAILED  ] %s\n", cases[i].name);
			failed++;
		}
		fflush(stdout);
	}
	printf("[==========] %d passed, %d failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
}
