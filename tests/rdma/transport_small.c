/* The transport suite's case about small messages (on shm: the slots of
 * docs/wire-protocol.md "Small messages", beside the ring). It runs on every
 * transport and checks length, tag and content of every message; on shm it
 * prints how many went by slot (which path is timing, not behaviour). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "transport_suite.h"

/* around the cache lines of a slot, its limit (4096) and above; and large
 * tensors between them (through the ring, or placed) */
#define NSMALL 24
static const size_t small_sizes[NSMALL] = {
	0, 1, 47, 48, 49, 63, 64, 65, 111, 112, 113, 127, 128, 129, 1000, 4095, 4096, 4097,
	300000, 7, 16384, 0, (1u << 20) + 3, 24,
};
#define SLOT_MAX 4096u

/* the order of round r: a fixed permutation, not the tag order */
static size_t perm(size_t i, uint32_t r)
{
	return (i * 7 + r * 5) % NSMALL;
}

static uint64_t seed_of(int from, uint32_t r, size_t i)
{
	return (uint64_t)from << 40 | (uint64_t)r << 16 | i;
}

/* Bursts both ways with tags out of posting order, waited for in another
 * order than posted; then more small sends than the slots hold, posted
 * before the peer posts any receive, with large ones among them; then a
 * ping-pong of small and large tensors. Every payload is content-checked. */
/* messages that went by the small-message path on l (dtp_link_stats) */
static void small_counts(struct dtp_link *l, uint64_t *sent, uint64_t *received)
{
	struct dtp_link_stats st;

	dtp_link_stats(l, &st);
	*sent = st.small_sent;
	*received = st.small_recv;
}

int case_small_messages(struct env *e)
{
	enum { ROUNDS = 4, BURST = 200, PINGS = 300 };
	struct dtp_link_config c;
	struct dtp_link *l;
	struct dtp_req sr[BURST], rr[BURST];
	struct dtp_err err;
	size_t off[BURST], o = 0;
	char *sbuf = NULL, *rbuf = NULL, *scratch = malloc(2u << 20);
	uint64_t ftx0 = 0, frx0 = 0, ftx = 0, frx = 0, small = 0;
	int rc = 1;

	cfg_for(e, &c);
	for (size_t i = 0; i < BURST; i++) {
		off[i] = o;
		o += small_sizes[i % NSMALL] + 1;
	}
	sbuf = malloc(o);
	rbuf = malloc(o);
	if (!sbuf || !rbuf || !scratch || open_link(e, &c, &l))
		goto out;
	/* 1: bursts, both directions at once */
	for (uint32_t r = 0; r < ROUNDS; r++) {
		for (size_t k = 0; k < NSMALL; k++) {
			size_t i = perm(k, r);
			struct dtp_tag t = { r, (uint16_t)(100 + i), DTP_MSG_ACT + (uint16_t)!e->stage };

			CHECK(dtp_link_irecv(l, &t, rbuf + off[i], small_sizes[i] + (r & 1), NULL,
					     &rr[i], &err) == 0, "irecv %zu", i);
		}
		for (size_t k = 0; k < NSMALL; k++) {
			size_t i = perm(k, r);
			struct dtp_tag t = { r, (uint16_t)(100 + i), DTP_MSG_ACT + (uint16_t)e->stage };

			fill(sbuf + off[i], small_sizes[i], seed_of(e->stage, r, i));
			CHECK(dtp_link_isend(l, &t, sbuf + off[i], small_sizes[i], NULL, &sr[i], &err) == 0,
			      "isend %zu", i);
		}
		for (size_t k = 0; k < NSMALL; k++) {
			/* odd rounds: the last posted first */
			size_t i = perm(r & 1 ? NSMALL - 1 - k : k, r);

			CHECK(dtp_link_wait(l, &rr[i], 20000, &err) == 0, "round %u recv %zu: %s", r,
			      i, err.msg);
			CHECK(rr[i].len == small_sizes[i] && rr[i].tag.micro == 100 + i,
			      "round %u recv %zu: %zu bytes, expected %zu", r, i, rr[i].len,
			      small_sizes[i]);
			CHECK(same(rbuf + off[i], small_sizes[i], seed_of(!e->stage, r, i), scratch),
			      "round %u recv %zu (%zu bytes): content differs", r, i, small_sizes[i]);
		}
		for (size_t i = 0; i < NSMALL; i++)
			CHECK(dtp_link_wait(l, &sr[i], 20000, &err) == 0, "send %zu: %s", i, err.msg);
	}
	/* 2: BURST sends before the peer posts a receive (more than the slots) */
	for (size_t i = 0; i < BURST; i++) {
		struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };

		fill(sbuf + off[i], small_sizes[i % NSMALL], seed_of(e->stage, 9, i));
		CHECK(dtp_link_isend(l, &t, sbuf + off[i], small_sizes[i % NSMALL], NULL,
				     &sr[i], &err) == 0, "isend %zu", i);
	}
	signal_peer(e);
	CHECK(wait_peer(e, 20000) == 0, "the peer did not send");
	for (size_t i = 0; i < BURST; i++) {
		struct dtp_tag t = { 7, (uint16_t)i, DTP_MSG_GRAD };

		CHECK(dtp_link_irecv(l, &t, rbuf + off[i], small_sizes[i % NSMALL], NULL,
				     &rr[i], &err) == 0, "irecv %zu", i);
	}
	for (size_t i = 0; i < BURST; i++) {
		size_t n = small_sizes[i % NSMALL];

		CHECK(dtp_link_wait(l, &rr[i], 20000, &err) == 0, "burst recv %zu: %s", i, err.msg);
		CHECK(rr[i].len == n && same(rbuf + off[i], n, seed_of(!e->stage, 9, i), scratch),
		      "burst recv %zu (%zu bytes): length or content differs", i, n);
	}
	for (size_t i = 0; i < BURST; i++)
		CHECK(dtp_link_wait(l, &sr[i], 20000, &err) == 0, "send %zu: %s", i, err.msg);
	/* 3: ping-pong, stage 1 first (on shm, small tensors go by slot when one is free) */
	if (e->kind == DTP_TRANSPORT_SHM)
		small_counts(l, &ftx0, &frx0);
	for (uint32_t p = 0; p < PINGS; p++) {
		size_t i = p % NSMALL, n = small_sizes[i];
		struct dtp_tag t = { 1000 + p, (uint16_t)i, DTP_MSG_CTRL };

		small += n <= SLOT_MAX;
		for (int turn = 0; turn < 2; turn++) {
			if ((turn == 0) == (e->stage == 1)) {
				fill(sbuf, n, seed_of(e->stage, p, i));
				CHECK(dtp_link_isend(l, &t, sbuf, n, NULL, &sr[0], &err) == 0, "isend");
				CHECK(dtp_link_wait(l, &sr[0], 20000, &err) == 0, "ping send %u: %s",
				      p, err.msg);
			} else {
				CHECK(dtp_link_irecv(l, &t, rbuf, n, NULL, &rr[0], &err) == 0, "irecv");
				CHECK(dtp_link_wait(l, &rr[0], 20000, &err) == 0, "ping recv %u: %s",
				      p, err.msg);
				CHECK(rr[0].len == n && same(rbuf, n, seed_of(!e->stage, p, i), scratch),
				      "ping %u (%zu bytes): length or content differs", p, n);
			}
		}
	}
	/* which path a message took depends on timing (a busy machine sends some
	 * small ones through the ring): printed for the curious, never checked */
	if (e->kind == DTP_TRANSPORT_SHM) {
		small_counts(l, &ftx, &frx);
		printf("stage %d: slots: %llu sent / %llu received in the bursts, %llu / %llu of %llu small in the ping-pong (not checked)\n",
		       e->stage, (unsigned long long)ftx0, (unsigned long long)frx0,
		       (unsigned long long)(ftx - ftx0), (unsigned long long)(frx - frx0),
		       (unsigned long long)small);
	}
	dtp_link_close(l);
	rc = 0;
out:
	free(sbuf);
	free(rbuf);
	free(scratch);
	return rc;
}
