/* Heartbeats (rdma/heartbeat.h): the beat's bytes, and two real ends over
 * loopback: what one side's main thread reports (progress, the stage it waits
 * on) reaches the other, and a side that closes is seen as closed. The waits
 * below are hang guards, not timings. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "rdma/heartbeat.h"
#include "loopback.h"

static void test_beat_bytes(void **state)
{
	uint8_t b[DTP_HB_BYTES];
	uint64_t progress;
	uint32_t from;
	int waiting;

	(void)state;
	dtp_hb_pack(3, 0x0102030405060708ull, 2, b);
	assert_int_equal(dtp_le32(b), DTP_HB_MAGIC);
	assert_int_equal(dtp_le32(b + 4), 3);
	assert_true(dtp_le64(b + 8) == 0x0102030405060708ull);
	assert_int_equal(dtp_le32(b + 20), 0);
	assert_int_equal(dtp_hb_unpack(b, &from, &progress, &waiting), 0);
	assert_int_equal(from, 3);
	assert_true(progress == 0x0102030405060708ull);
	assert_int_equal(waiting, 2);
	dtp_hb_pack(3, 7, -1, b);
	assert_int_equal(dtp_hb_unpack(b, &from, &progress, &waiting), 0);
	assert_int_equal(waiting, -1);
	dtp_hb_pack(3, 7, DTP_HB_BUSY_IO, b);
	assert_int_equal(dtp_hb_unpack(b, &from, &progress, &waiting), 0);
	assert_int_equal(waiting, DTP_HB_BUSY_IO);
	/* a stage number below DTP_HB_BUSY_IO, or another magic: not a beat */
	dtp_put_le32(b + 16, (uint32_t)-3);
	assert_int_equal(dtp_hb_unpack(b, &from, &progress, &waiting), -EPROTO);
	dtp_hb_pack(3, 7, -1, b);
	b[0] ^= 1;
	assert_int_equal(dtp_hb_unpack(b, &from, &progress, &waiting), -EPROTO);
}

struct opener {
	struct dtp_link_config cfg;
	struct dtp_hb *hb;
	struct dtp_err err;
	int rc;
};

static void *open_side(void *arg)
{
	struct opener *o = arg;

	o->rc = dtp_hb_open(&o->cfg, 1, 20, &o->hb, &o->err);
	return NULL;
}

/* poll stage 0's view of stage 1 until `done` holds (10 s: a hang guard) */
static int heard(struct dtp_hb *hb, struct dtp_hb_state *s, int (*done)(const struct dtp_hb_state *))
{
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = { 0, 10 * 1000000 };

		assert_int_equal(dtp_hb_peer(hb, 1, s), 0);
		if (done(s))
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int is_waiting(const struct dtp_hb_state *s)
{
	return s->progress == 3 && s->waiting_on == 0;
}

static int is_working(const struct dtp_hb_state *s)
{
	return s->progress == 4 && s->waiting_on == -1;
}

static int is_worked_more(const struct dtp_hb_state *s)
{
	return s->progress == 5;
}

static int is_in_io(const struct dtp_hb_state *s)
{
	return s->waiting_on == DTP_HB_BUSY_IO;
}

static int is_closed(const struct dtp_hb_state *s)
{
	return s->closed != 0;
}

static void test_two_ends(void **state)
{
	struct opener a = { 0 }, b = { 0 };
	struct dtp_hb_state s;
	pthread_t t;
	uint64_t since;
	int port = loopback_free_port();

	(void)state;
	loopback_cfg(&a.cfg, DTP_TRANSPORT_SHM, 0, port);   /* the heartbeats ignore the kind */
	loopback_cfg(&b.cfg, DTP_TRANSPORT_SHM, 1, port);
	assert_int_equal(pthread_create(&t, NULL, open_side, &a), 0);
	open_side(&b);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(dtp_hb_peer(a.hb, 5, &s), -ENOENT);

	/* stage 1 works three times, then waits on stage 0 */
	for (int i = 0; i < 3; i++)
		dtp_hb_progress(b.hb);
	dtp_hb_waiting(b.hb, 0);
	assert_true(heard(a.hb, &s, is_waiting));
	assert_int_equal(s.closed, 0);
	assert_true(s.since_ns > 0 && s.heard_ns >= s.since_ns);
	since = s.since_ns;
	/* unchanged beats keep arriving without moving `since` */
	{
		uint64_t first = s.heard_ns;

		for (int i = 0; i < 1000 && s.heard_ns == first; i++) {
			struct timespec ts = { 0, 10 * 1000000 };

			nanosleep(&ts, NULL);
			assert_int_equal(dtp_hb_peer(a.hb, 1, &s), 0);
		}
		assert_true(s.heard_ns > first);
		assert_true(s.since_ns == since);
	}
	dtp_hb_progress(b.hb);
	dtp_hb_waiting(b.hb, -1);
	assert_true(heard(a.hb, &s, is_working));
	assert_true(s.since_ns > since);
	/* it works 300 ms before its next mark: stage 0 heard the last one before
	 * the 300 ms began and this one after they ended, so the longest stretch
	 * of work it records (the hang bound's scale) is at least that */
	{
		struct timespec ts = { 0, 300 * 1000000 };

		nanosleep(&ts, NULL);
	}
	dtp_hb_progress(b.hb);
	assert_true(heard(a.hb, &s, is_worked_more));
	assert_true(s.longest_ns >= 300ull * 1000000);
	/* checkpoint I/O is announced as such */
	dtp_hb_waiting(b.hb, DTP_HB_BUSY_IO);
	assert_true(heard(a.hb, &s, is_in_io));

	/* stage 1 goes away: stage 0 sees its connection closed */
	dtp_hb_close(b.hb);
	assert_true(heard(a.hb, &s, is_closed));
	assert_int_equal(s.closed, ECONNRESET);
	dtp_hb_close(a.hb);
	dtp_hb_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_beat_bytes),
		cmocka_unit_test(test_two_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
