/* Real-verbs test of the verbs transport (run in the Soft-RoCE VM by
 * tests/rxe/verbs-suite.sh, or on a host with an RDMA device): two processes,
 * stage 0 listens and stage 1 connects to --host, over librdmacm + RC QPs.
 *   exchange   many tensors of varied sizes (0 B .. 2 MiB) both ways at once,
 *              content checked, the listener starting late (connect retries);
 *              polled and blocking (completion channel) modes
 *   credits    2 slots, 12 sends posted before the receiver posts anything
 *   mismatch   tag / size mismatch -> -EPROTO on both sides, link still usable
 *   close      the peer closes mid-stream -> -ECONNRESET, not a hang
 *   refused    a stranger (wrong job key) is refused with a reason; the
 *              listener keeps listening and accepts the right peer
 *   eager      small tensors (<= DTP_VEAGER_MAX) interleaved with large ones,
 *              then 3 x DTP_VEAGER_SLOTS small ones before any receive is
 *              posted: contents checked, and the link's counters say each
 *              small one went as one eager SEND, the large ones by WRITE, the
 *              early ones waited in eager buffers and credits held the sender
 * usage: test_verbs_link [--host IP] [--port P] [--only NAME] */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "rdma/transport.h"
#include "rdma/verbs.h"           /* dtp_verbs_stats */

#define MAXSZ (2u << 20)
#define WIN 6
#define TMO 60000

static const struct dtp_transport_ops *ops = &dtp_verbs_ops;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } } while (0)

struct opts {
	char host[256];
	int port;
	int sync[2];                  /* a pipe between the children (run_pair) */
};

static void cfg_for(struct dtp_link_config *c, const struct opts *o, int stage, int port_off)
{
	memset(c, 0, sizeof(*c));
	c->kind = DTP_TRANSPORT_VERBS;
	c->self_stage = stage;
	c->peer_stage = 1 - stage;
	c->listen = stage == 0;
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	c->port = o->port + port_off;
	c->job_key = 0x1234abcdull;
	c->plan_hash = 0x9999ull;
	c->connect_timeout_ms = 30000;
	c->max_msg_bytes = MAXSZ;
	c->slots = 4;
	c->ib_port = -1;
	c->gid_index = getenv("RXE_GID_INDEX") ? atoi(getenv("RXE_GID_INDEX")) : -1;
}

static uint8_t pat(int from, int i, size_t j)
{
	return (uint8_t)(i * 131 + (int)(j * 7) + from * 17 + (int)(j >> 12));
}

static size_t size_of(int i)
{
	static const size_t s[] = { 0, 1, 7, 4096, 65536, 65537, 300000, 1u << 20, MAXSZ, 12345 };

	return s[i % (int)(sizeof(s) / sizeof(s[0]))];
}

static int open_link(struct dtp_link_config *c, struct dtp_link **l)
{
	struct dtp_err err = { 0 };
	int rc = ops->open(c, l, &err);

	if (rc)
		fprintf(stderr, "stage %d: open failed (%d): %s\n", c->self_stage, rc, err.msg);
	return rc;
}

struct arena {
	struct dtp_arena a;
	struct dtp_mr *mr;
};

static int arena_reg(struct dtp_link *l, struct arena *a, size_t bytes)
{
	struct dtp_err err = { 0 };

	if (dtp_arena_init(&a->a, bytes))
		return -ENOMEM;
	if (ops->reg(l, a->a.base, a->a.size, &a->mr, &err)) {
		fprintf(stderr, "reg: %s\n", err.msg);
		dtp_arena_release(&a->a);
		return -EIO;
	}
	return 0;
}

static void arena_free(struct dtp_link *l, struct arena *a)
{
	ops->dereg(l, a->mr);
	dtp_arena_release(&a->a);
}

/* n messages each way in windows of WIN, both sides sending and receiving */
static int exchange(const struct opts *o, int stage, int port_off, int n, int blocking)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct arena sa, ra;
	struct dtp_req sr[WIN], rr[WIN];
	struct dtp_err err;
	int i, k, rc;

	cfg_for(&c, o, stage, port_off);
	c.verbs_blocking = blocking;
	if (stage == 0 && !blocking)
		usleep(700 * 1000);           /* the connector starts first and must retry */
	if (open_link(&c, &l))
		return 1;
	CHECK(arena_reg(l, &sa, WIN * (size_t)MAXSZ) == 0 && arena_reg(l, &ra, WIN * (size_t)MAXSZ) == 0,
	      "registering 2 x %u bytes", WIN * MAXSZ);
	for (i = 0; i < n; i += WIN) {
		int w = n - i < WIN ? n - i : WIN;

		for (k = 0; k < w; k++) {
			struct dtp_tag t = { (uint32_t)(i + k), (uint16_t)k, DTP_MSG_ACT };
			char *rb = ra.a.base + (size_t)k * MAXSZ;

			memset(rb, 0xee, MAXSZ);
			CHECK(ops->irecv(l, &t, rb, MAXSZ, ra.mr, &rr[k], &err) == 0, "irecv");
		}
		for (k = 0; k < w; k++) {
			struct dtp_tag t = { (uint32_t)(i + k), (uint16_t)k, DTP_MSG_ACT };
			char *sb = sa.a.base + (size_t)k * MAXSZ;
			size_t len = size_of(i + k + stage), j;

			for (j = 0; j < len; j++)
				sb[j] = (char)pat(stage, i + k, j);
			CHECK(ops->isend(l, &t, sb, len, sa.mr, &sr[k], &err) == 0, "isend");
		}
		for (k = 0; k < w; k++) {
			size_t want = size_of(i + k + 1 - stage), j;
			const uint8_t *rb = (const uint8_t *)ra.a.base + (size_t)k * MAXSZ;

			rc = ops->wait(l, &sr[k], TMO, &err);
			CHECK(rc == 0, "stage %d send %d: %s", stage, i + k, err.msg);
			rc = ops->wait(l, &rr[k], TMO, &err);
			CHECK(rc == 0, "stage %d recv %d: %s", stage, i + k, err.msg);
			CHECK(rr[k].len == want, "stage %d recv %d: %zu bytes, want %zu", stage, i + k,
			      rr[k].len, want);
			for (j = 0; j < want; j++)
				CHECK(rb[j] == pat(1 - stage, i + k, j), "stage %d recv %d byte %zu: %u want %u",
				      stage, i + k, j, rb[j], pat(1 - stage, i + k, j));
			CHECK(want == MAXSZ || rb[want] == 0xee, "stage %d recv %d: wrote past %zu bytes",
			      stage, i + k, want);
		}
	}
	arena_free(l, &sa);
	arena_free(l, &ra);
	ops->close(l);
	printf("stage %d: exchange of %d tensors each way (%s) ok\n", stage, n,
	       blocking ? "blocking" : "polling");
	return 0;
}

/* 2 slots; the sender posts 12 sends before the receiver posts any receive */
static int credits(const struct opts *o, int stage, int port_off)
{
	enum { N = 12, SZ = 100000 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct arena a;
	struct dtp_req r[N];
	struct dtp_err err;
	int i, d, done = 0;

	cfg_for(&c, o, stage, port_off);
	c.slots = 2;
	if (open_link(&c, &l))
		return 1;
	CHECK(arena_reg(l, &a, (size_t)N * SZ) == 0, "reg");
	for (i = 0; i < N; i++) {
		struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };
		char *b = a.a.base + (size_t)i * SZ;

		if (stage == 1) {
			memset(b, i + 1, SZ);
			CHECK(ops->isend(l, &t, b, SZ, a.mr, &r[i], &err) == 0, "isend");
		}
	}
	if (stage == 1) {
		usleep(300 * 1000);           /* receiver is not posting yet: nothing may finish */
		for (i = 0; i < N; i++) {
			CHECK(ops->test(l, &r[i], &d, &err) == 0, "test: %s", err.msg);
			done += d;
		}
		CHECK(done == 0, "%d sends completed before any receive was posted", done);
		CHECK(write(o->sync[1], "k", 1) == 1, "cannot tell stage 0");
	} else {
		struct pollfd pf = { .fd = o->sync[0], .events = POLLIN };
		char k;

		/* post only once stage 1 has checked (60 s: a hang guard only) */
		CHECK(poll(&pf, 1, TMO) == 1 && read(o->sync[0], &k, 1) == 1,
		      "no word from stage 1 in %d ms", TMO);
		for (i = 0; i < N; i++) {
			struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };

			CHECK(ops->irecv(l, &t, a.a.base + (size_t)i * SZ, SZ, a.mr, &r[i], &err) == 0, "irecv");
		}
	}
	for (i = 0; i < N; i++) {
		CHECK(ops->wait(l, &r[i], TMO, &err) == 0, "stage %d req %d: %s", stage, i, err.msg);
		if (stage == 0) {
			const uint8_t *b = (const uint8_t *)a.a.base + (size_t)i * SZ;

			CHECK(r[i].len == SZ && b[0] == i + 1 && b[SZ - 1] == i + 1, "content of %d", i);
		}
	}
	arena_free(l, &a);
	ops->close(l);
	printf("stage %d: credits (%d tensors through 2 slots) ok\n", stage, N);
	return 0;
}

/* a wrong tag, then a too-large tensor: -EPROTO both sides; then a good one */
static int mismatch(const struct opts *o, int stage, int port_off)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct arena a;
	struct dtp_req r;
	struct dtp_err err;
	struct dtp_tag want = { 1, 2, DTP_MSG_ACT }, sent = { 1, 3, DTP_MSG_ACT };
	int rc;

	cfg_for(&c, o, stage, port_off);
	if (open_link(&c, &l))
		return 1;
	CHECK(arena_reg(l, &a, 8192) == 0, "reg");
	if (stage == 0)
		CHECK(ops->irecv(l, &want, a.a.base, 4096, a.mr, &r, &err) == 0, "irecv");
	else
		CHECK(ops->isend(l, &sent, a.a.base, 64, a.mr, &r, &err) == 0, "isend");
	rc = ops->wait(l, &r, TMO, &err);
	if (stage == 0) {            /* the receiver fails, naming both tags; the send completes */
		CHECK(rc == -EPROTO, "stage 0: tag mismatch gave %d (%s), want -EPROTO", rc, err.msg);
		CHECK(strstr(err.msg, "micro 2") && strstr(err.msg, "micro 3"), "message names both tags: %s", err.msg);
		printf("stage 0: tag mismatch -> %s\n", err.msg);
	} else {
		CHECK(rc == 0, "stage 1: the mismatched send gave %d (%s)", rc, err.msg);
	}
	if (stage == 0)
		CHECK(ops->irecv(l, &want, a.a.base, 100, a.mr, &r, &err) == 0, "irecv");
	else
		CHECK(ops->isend(l, &want, a.a.base, 101, a.mr, &r, &err) == 0, "isend");
	rc = ops->wait(l, &r, TMO, &err);
	CHECK(rc == (stage == 0 ? -EPROTO : 0), "stage %d: size mismatch gave %d", stage, rc);
	CHECK(stage == 1 || (strstr(err.msg, "101 bytes") && strstr(err.msg, "100 bytes")),
	      "message names both sizes: %s", err.msg);
	if (stage == 0)
		CHECK(ops->irecv(l, &want, a.a.base, 100, a.mr, &r, &err) == 0, "irecv");
	else
		CHECK(ops->isend(l, &want, a.a.base, 100, a.mr, &r, &err) == 0, "isend");
	rc = ops->wait(l, &r, TMO, &err);
	CHECK(rc == 0 && r.len == 100, "stage %d: the link is usable after a mismatch: %s", stage, err.msg);
	arena_free(l, &a);
	ops->close(l);
	printf("stage %d: mismatch ok\n", stage);
	return 0;
}

/* stage 1 sends 3 tensors and closes; stage 0's 4th receive fails, no hang */
static int peer_close(const struct opts *o, int stage, int port_off)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct arena a;
	struct dtp_req r;
	struct dtp_err err;
	int i, rc;

	cfg_for(&c, o, stage, port_off);
	if (open_link(&c, &l))
		return 1;
	CHECK(arena_reg(l, &a, 65536) == 0, "reg");
	for (i = 0; i < 4; i++) {
		struct dtp_tag t = { (uint32_t)i, 0, DTP_MSG_ACT };

		if (stage == 1 && i == 3)
			break;
		if (stage == 0)
			CHECK(ops->irecv(l, &t, a.a.base, 65536, a.mr, &r, &err) == 0, "irecv");
		else
			CHECK(ops->isend(l, &t, a.a.base, 65536, a.mr, &r, &err) == 0, "isend");
		rc = ops->wait(l, &r, TMO, &err);
		if (i < 3)
			CHECK(rc == 0, "stage %d msg %d: %s", stage, i, err.msg);
		else
			CHECK(rc == -ECONNRESET && strstr(err.msg, "stage 1"),
			      "stage 0: receive after the peer closed gave %d (%s), want -ECONNRESET", rc, err.msg);
	}
	if (stage == 0) {
		printf("stage 0: peer closed mid-stream -> %s\n", err.msg);
		/* and a send after that fails at once */
		CHECK(ops->isend(l, &(struct dtp_tag){ 9, 0, DTP_MSG_ACT }, a.a.base, 8, a.mr, &r, &err) == 0, "isend");
		CHECK(ops->wait(l, &r, TMO, &err) == -ECONNRESET, "send after close");
	}
	arena_free(l, &a);
	ops->close(l);
	printf("stage %d: peer close ok\n", stage);
	return 0;
}

/* stage 0 listens; a stranger (stage 1, wrong job key) is refused; then the
 * right stage 1 connects (stage argument 2 = the stranger) */
static int refused(const struct opts *o, int stage, int port_off)
{
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_err err = { 0 };
	int rc;

	cfg_for(&c, o, stage == 2 ? 1 : stage, port_off);
	if (stage == 2) {
		c.job_key ^= 0xff;
		c.connect_timeout_ms = 20000;
		rc = ops->open(&c, &l, &err);
		CHECK(rc == -EPROTO, "stranger: open gave %d (%s), want -EPROTO", rc, err.msg);
		CHECK(strstr(err.msg, "refused") && strstr(err.msg, "job key"), "reason: %s", err.msg);
		printf("stranger: %s\n", err.msg);
		CHECK(write(o->sync[1], "k", 1) == 1, "cannot tell stage 1");
		return 0;
	}
	if (stage == 1) {       /* after the stranger was refused (TMO: a hang guard only) */
		struct pollfd pf = { .fd = o->sync[0], .events = POLLIN };
		char k;

		CHECK(poll(&pf, 1, TMO) == 1 && read(o->sync[0], &k, 1) == 1,
		      "no word from the stranger in %d ms", TMO);
	}
	if (open_link(&c, &l))
		return 1;
	ops->close(l);
	printf("stage %d: accepted the right peer after refusing a stranger\n", stage);
	return 0;
}

static void pat_fill(char *b, size_t n, int from, int i)
{
	for (size_t j = 0; j < n; j++)
		b[j] = (char)pat(from, i, j);
}

static int pat_ok(const char *b, size_t n, int from, int i)
{
	for (size_t j = 0; j < n; j++)
		if ((uint8_t)b[j] != pat(from, i, j))
			return 0;
	return 1;
}

static int eager(const struct opts *o, int stage, int port_off)
{
	static const size_t sz[] = { 8, 4097, 0, 64, 65536, 1, 1024, 89, 1025, 88 };
	enum { NS = 10, NSMALL = 7, ROUNDS = 4, NLATE = 3 * DTP_VEAGER_SLOTS, STRIDE = 1 << 17 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct arena a;
	struct dtp_req sr[NLATE], rr[NS];
	struct dtp_vq_stats st;
	struct dtp_err err;
	int i, k, rc;

	cfg_for(&c, o, stage, port_off);
	if (open_link(&c, &l))
		return 1;
	CHECK(arena_reg(l, &a, 2 * (size_t)NLATE * STRIDE) == 0, "registering");
	/* both ways at once: receives first, capacities exact or larger */
	for (int round = 0; round < ROUNDS; round++) {
		for (k = 0; k < NS; k++) {
			struct dtp_tag t = { (uint32_t)round, (uint16_t)k, DTP_MSG_ACT };
			size_t cap = (k + round) % 2 ? sz[k] : 2 * sz[k] + 1;
			char *rb = a.a.base + (size_t)(NLATE + k) * STRIDE;

			memset(rb, 0xee, STRIDE);
			CHECK(ops->irecv(l, &t, rb, cap, a.mr, &rr[k], &err) == 0, "irecv");
		}
		for (k = 0; k < NS; k++) {
			struct dtp_tag t = { (uint32_t)round, (uint16_t)k, DTP_MSG_ACT };
			char *sb = a.a.base + (size_t)k * STRIDE;

			pat_fill(sb, sz[k], stage, round * NS + k);
			CHECK(ops->isend(l, &t, sb, sz[k], a.mr, &sr[k], &err) == 0, "isend");
		}
		for (k = 0; k < NS; k++) {
			const char *rb = a.a.base + (size_t)(NLATE + k) * STRIDE;

			rc = ops->wait(l, &rr[k], TMO, &err);
			CHECK(rc == 0, "stage %d recv %d.%d: %s", stage, round, k, err.msg);
			CHECK(rr[k].len == sz[k] && pat_ok(rb, sz[k], 1 - stage, round * NS + k) &&
			      (uint8_t)rb[sz[k]] == 0xee, "stage %d recv %d.%d (%zu bytes): got %zu "
			      "bytes or wrong content", stage, round, k, sz[k], rr[k].len);
			CHECK(ops->wait(l, &sr[k], TMO, &err) == 0, "send: %s", err.msg);
		}
	}
	/* stage 1 sends NLATE small tensors before stage 0 posts a receive */
	if (stage == 1) {
		for (i = 0; i < NLATE; i++) {
			struct dtp_tag t = { 100, (uint16_t)i, DTP_MSG_GRAD };
			char *sb = a.a.base + (size_t)i * STRIDE;

			pat_fill(sb, (size_t)(i * 83 % 1000) + 1, 1, 1000 + i);
			CHECK(ops->isend(l, &t, sb, (size_t)(i * 83 % 1000) + 1, a.mr, &sr[i], &err) == 0,
			      "isend");
		}
		for (i = 0; i < NLATE; i++)
			CHECK(ops->wait(l, &sr[i], TMO, &err) == 0, "late send %d: %s", i, err.msg);
	} else {
		/* the sender's DTP_VEAGER_SLOTS credits run out: what arrives waits
		 * in eager buffers, the rest stays at the sender; every credit is
		 * then in a held buffer or owed back (not yet returned: fewer than
		 * a batch were consumed since the last return) */
		uint64_t recv0;

		for (i = 0; i < TMO / 10; i++) {
			dtp_verbs_stats(l, &st);
			if (st.held_now + st.owed_now == DTP_VEAGER_SLOTS)
				break;
			usleep(10000);
		}
		CHECK(st.held_now + st.owed_now == DTP_VEAGER_SLOTS && st.held_now > 0,
		      "%llu eager messages held, %llu credits owed: expected %u in all",
		      (unsigned long long)st.held_now, (unsigned long long)st.owed_now,
		      DTP_VEAGER_SLOTS);
		recv0 = st.eager_recv;
		usleep(200000);
		dtp_verbs_stats(l, &st);
		CHECK(st.held_now + st.owed_now == DTP_VEAGER_SLOTS && st.eager_recv == recv0,
		      "the sender overran its %u eager credits (%llu held, %llu owed)",
		      DTP_VEAGER_SLOTS, (unsigned long long)st.held_now,
		      (unsigned long long)st.owed_now);
		for (i = 0; i < NLATE; i++) {
			struct dtp_tag t = { 100, (uint16_t)i, DTP_MSG_GRAD };
			size_t n = (size_t)(i * 83 % 1000) + 1;
			char *rb = a.a.base + (size_t)(NLATE + i % 2) * STRIDE;

			CHECK(ops->irecv(l, &t, rb, 1000, a.mr, &rr[0], &err) == 0, "irecv");
			CHECK(ops->wait(l, &rr[0], TMO, &err) == 0, "late recv %d: %s", i, err.msg);
			CHECK(rr[0].len == n && pat_ok(rb, n, 1, 1000 + i), "late recv %d: %zu bytes "
			      "(want %zu) or wrong content", i, rr[0].len, n);
		}
	}
	dtp_verbs_stats(l, &st);
	printf("stage %d: eager sent %llu received %llu (held %llu), rendezvous sent %llu received "
	       "%llu, adv %llu (stale %llu), rts %llu, credit msgs %llu\n", stage,
	       (unsigned long long)st.eager_sent, (unsigned long long)st.eager_recv,
	       (unsigned long long)st.eager_held, (unsigned long long)st.rndv_sent,
	       (unsigned long long)st.rndv_recv, (unsigned long long)st.adv_sent,
	       (unsigned long long)st.adv_stale, (unsigned long long)st.rts_sent,
	       (unsigned long long)st.credit_sent);
	CHECK(st.eager_sent == ROUNDS * NSMALL + (stage ? NLATE : 0) && st.rndv_sent == ROUNDS * (NS - NSMALL),
	      "stage %d: sent %llu eager, %llu by WRITE", stage, (unsigned long long)st.eager_sent,
	      (unsigned long long)st.rndv_sent);
	CHECK(st.eager_recv == ROUNDS * NSMALL + (stage ? 0 : NLATE) && st.rndv_recv == ROUNDS * (NS - NSMALL),
	      "stage %d: received %llu eager, %llu by WRITE", stage,
	      (unsigned long long)st.eager_recv, (unsigned long long)st.rndv_recv);
	/* stage 0 had nothing to send back in the late phase: CREDITs */
	CHECK(stage || st.credit_sent >= (NLATE - DTP_VEAGER_SLOTS) / DTP_VEAGER_BATCH,
	      "stage 0 sent %llu CREDITs", (unsigned long long)st.credit_sent);
	arena_free(l, &a);
	ops->close(l);
	printf("stage %d: eager path ok\n", stage);
	return 0;
}

/* Every stage runs in a fresh child: librdmacm caches the device context per
 * process, and a uverbs file inherited across fork() is refused (EACCES). */
static int run_pair(const char *name, int (*fn)(const struct opts *, int, int), const struct opts *o,
		    int port_off, int stranger)
{
	int roles[3] = { 0, 1, 2 }, n = stranger ? 3 : 2, k, st, fail = 0;
	struct opts po = *o;
	pid_t kid[3];

	if (pipe(po.sync))
		return 1;
	o = &po;
	fflush(stdout);
	for (k = 0; k < n; k++) {
		kid[k] = fork();
		if (kid[k] < 0) {
			close(po.sync[0]);
			close(po.sync[1]);
			return 1;
		}
		if (kid[k] == 0)
			_exit(fn(o, roles[k], port_off));
	}
	close(po.sync[0]);
	close(po.sync[1]);
	for (k = 0; k < n; k++)
		if (waitpid(kid[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			fail = 1;
	printf("%s %s\n", fail ? "FAIL:" : "PASS:", name);
	fflush(stdout);
	return fail;
}

static int exch_poll(const struct opts *o, int s, int p) { return exchange(o, s, p, 40, 0); }
static int exch_block(const struct opts *o, int s, int p) { return exchange(o, s, p, 20, 1); }

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' },
		{ "only", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
	struct opts o = { .port = 18515 };
	const char *only = NULL;
	int c, fail = 0;

	snprintf(o.host, sizeof(o.host), "%s", getenv("RXE_IP") ? getenv("RXE_IP") : "127.0.0.1");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h': snprintf(o.host, sizeof(o.host), "%s", optarg); break;
		case 'p': o.port = atoi(optarg); break;
		case 'o': only = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--host IP] [--port P] [--only NAME]\n", argv[0]);
			return 2;
		}
	}
#define RUN(name, fn, off, str) if (!only || !strcmp(only, name)) fail |= run_pair(name, fn, &o, off, str)
	RUN("exchange", exch_poll, 0, 0);
	RUN("exchange-blocking", exch_block, 1, 0);
	RUN("credits", credits, 2, 0);
	RUN("mismatch", mismatch, 3, 0);
	RUN("close", peer_close, 4, 0);
	RUN("refused", refused, 5, 1);
	RUN("eager", eager, 6, 0);
	printf("test_verbs_link: %s\n", fail ? "FAIL" : "PASS");
	return fail;
}
