/* Unit tests for the wire formats: the handshake (hello) and the frame header
 * of the byte-stream transports, and the transport kind names. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "rdma/link.h"

static void base_cfg(struct dtp_link_config *c, int self, int peer)
{
	dtp_link_config_default(c);
	c->self_stage = self;
	c->peer_stage = peer;
	c->job_key = 0x0123456789abcdefull;
	c->plan_hash = 0xfedcba9876543210ull;
	c->port = 4242;
}

static void test_hello_layout_is_little_endian(void **state)
{
	struct dtp_link_config c;
	uint8_t b[DTP_HELLO_BYTES];

	(void)state;
	base_cfg(&c, 1, 0);
	dtp_hello_pack(&c, b);
	assert_int_equal(b[0], 0x49);   /* "DTPI" = 0x44545049, LE */
	assert_int_equal(b[3], 0x44);
	assert_int_equal(b[4], DTP_PROTO_VERSION);
	assert_int_equal(b[6], c.kind);     /* the transport this side chose */
	assert_int_equal(b[8], 0xef);
	assert_int_equal(b[15], 0x01);
	assert_int_equal(b[16], 1);     /* from stage */
	assert_int_equal(b[20], 0);     /* to stage */
	assert_int_equal(b[24], 0x10);
	assert_int_equal(b[31], 0xfe);
}

static void test_hello_roundtrip(void **state)
{
	struct dtp_link_config a, b;
	uint8_t buf[DTP_HELLO_BYTES];
	struct dtp_hello h;
	struct dtp_err err = { 0 };

	(void)state;
	base_cfg(&a, 1, 0);
	base_cfg(&b, 0, 1);
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), &h, &err), 0);
	assert_int_equal(h.from_stage, 1);
	assert_int_equal(h.to_stage, 0);
	assert_true(h.job_key == a.job_key && h.plan_hash == a.plan_hash);
}

/* each mismatch is refused, naming the field; the peers' configurations
 * differ: bad input (exit 2) */
static void test_hello_mismatches(void **state)
{
	struct dtp_link_config a, b;
	uint8_t buf[DTP_HELLO_BYTES];
	struct dtp_err err;
	struct dtp_hello h = { .magic = 77 };

	(void)state;
	base_cfg(&b, 0, 1);

	base_cfg(&a, 1, 0);
	a.job_key++;
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), &h, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "job key"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);
	assert_int_equal(h.magic, 77);   /* outputs untouched on failure */

	base_cfg(&a, 1, 0);
	a.plan_hash++;
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "plan hash"));
	assert_non_null(strstr(err.msg, "same plan file"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);

	base_cfg(&a, 2, 0);
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "stage 2"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);

	base_cfg(&a, 1, 0);
	dtp_hello_pack(&a, buf);
	buf[4] = 9;   /* version */
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "version 9"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);

	/* the two ends chose different transports for the link (auto resolved
	 * differently): refused, naming both */
	base_cfg(&a, 1, 0);
	a.kind = DTP_TRANSPORT_TCP;
	b.kind = DTP_TRANSPORT_SHM;
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "chose transport tcp"));
	assert_non_null(strstr(err.msg, "this side shm"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);
	base_cfg(&b, 0, 1);

	/* stages started with different precisions (1 = bf16, 0 = fp32) */
	base_cfg(&a, 1, 0);
	a.precision = 1;
	dtp_hello_pack(&a, buf);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "precision"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_BADINPUT);

	memcpy(buf, "GET / HTTP/1.1\r\nHost: x\r\n\r\n12345", DTP_HELLO_BYTES);
	assert_int_equal(dtp_hello_check(&b, buf, sizeof(buf), NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "magic"));
	/* a stranger on the port is no configuration of the user's */
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_FAIL);

	assert_int_equal(dtp_hello_check(&b, buf, 31, NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "31 bytes"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_FAIL);
}

static void test_frame_roundtrip(void **state)
{
	struct dtp_tag t = { 123456, 65535, DTP_MSG_GRAD };
	uint8_t h[DTP_FRAME_BYTES];
	struct dtp_frame f;
	struct dtp_err err;

	(void)state;
	dtp_frame_pack(42, &t, 1000, h);
	assert_int_equal(dtp_frame_check(h, 42, &t, 1000, 1 << 20, "peer", &f, &err), 0);
	assert_int_equal(f.seq, 42);
	assert_int_equal(f.len, 1000);
	assert_int_equal(f.tag.step, 123456);
	assert_int_equal(f.tag.micro, 65535);
	assert_int_equal(f.tag.kind, DTP_MSG_GRAD);
	dtp_frame_pack(0, &t, 0, h);   /* empty tensors are fine */
	assert_int_equal(dtp_frame_check(h, 0, &t, 0, 0, "peer", NULL, &err), 0);
}

/* the header is checked against the posted receive before any payload */
static void test_frame_bounds(void **state)
{
	struct dtp_tag t = { 5, 2, DTP_MSG_ACT }, other = { 5, 3, DTP_MSG_ACT };
	uint8_t h[DTP_FRAME_BYTES];
	struct dtp_frame f = { .seq = 99 };
	struct dtp_err err;

	(void)state;
	dtp_frame_pack(0, &t, 4097, h);
	assert_int_equal(dtp_frame_check(h, 0, &t, 4096, 1 << 20, "peer stage 1", &f, &err),
			 -EPROTO);
	assert_non_null(strstr(err.msg, "4097"));
	assert_non_null(strstr(err.msg, "4096"));
	assert_int_equal(f.seq, 99);
	/* within the posted buffer but beyond the link's largest message */
	assert_int_equal(dtp_frame_check(h, 0, &t, 8192, 4096, "p", NULL, &err), -EPROTO);
	/* a huge length that would wrap a size_t sum */
	dtp_frame_pack(0, &t, UINT64_MAX, h);
	assert_int_equal(dtp_frame_check(h, 0, &t, SIZE_MAX, SIZE_MAX - 1, "p", NULL, &err),
			 -EPROTO);
	/* tag mismatch names both tags and the peer */
	dtp_frame_pack(0, &t, 10, h);
	assert_int_equal(dtp_frame_check(h, 0, &other, 4096, 4096, "peer stage 1", NULL, &err),
			 -EPROTO);
	assert_non_null(strstr(err.msg, "micro 2"));
	assert_non_null(strstr(err.msg, "micro 3"));
	assert_non_null(strstr(err.msg, "peer stage 1"));
	/* a corrupt frame or a tag mismatch is a runtime failure, never bad input */
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_FAIL);
	/* sequence */
	assert_int_equal(dtp_frame_check(h, 1, &t, 4096, 4096, "p", NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "sequence"));
	assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_FAIL);
	/* magic: any single corrupted byte of the magic is caught */
	for (int i = 0; i < 4; i++) {
		uint8_t c[DTP_FRAME_BYTES];

		memcpy(c, h, sizeof(c));
		c[i] ^= 0x20;
		assert_int_equal(dtp_frame_check(c, 0, &t, 4096, 4096, "p", NULL, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "corrupt"));
		assert_int_equal(dtp_err_exit(&err, -EPROTO), DTP_EXIT_FAIL);
	}
}

static void test_kind_names(void **state)
{
	enum dtp_transport_kind k;

	(void)state;
	const char *names[] = { "auto", "verbs", "tcp", "shm" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(dtp_transport_kind_parse(names[i], &k), 0);
		assert_string_equal(dtp_transport_kind_name(k), names[i]);
	}
	k = DTP_TRANSPORT_TCP;
	assert_int_equal(dtp_transport_kind_parse("ib", &k), -EINVAL);
	assert_int_equal(dtp_transport_kind_parse("", &k), -EINVAL);
	assert_int_equal(k, DTP_TRANSPORT_TCP);
}

static void test_host_is_local(void **state)
{
	(void)state;
	assert_true(dtp_link_host_is_local("127.0.0.1"));
	assert_true(dtp_link_host_is_local("localhost"));
	/* TEST-NET-1 (RFC 5737) is never assigned to this machine */
	assert_false(dtp_link_host_is_local("192.0.2.1"));
	assert_false(dtp_link_host_is_local("no-such-host.invalid"));
}

/* auto: verbs when an RDMA device is present, else shm for this host, else tcp */
static void test_auto_resolution(void **state)
{
	struct dtp_link_config c;
	enum dtp_transport_kind here, there;

	(void)state;
	dtp_link_config_default(&c);
	assert_int_equal(c.kind, DTP_TRANSPORT_AUTO);
	snprintf(c.host, sizeof(c.host), "127.0.0.1");
	here = dtp_transport_resolve(&c);
	snprintf(c.host, sizeof(c.host), "192.0.2.1");
	there = dtp_transport_resolve(&c);
	if (here == DTP_TRANSPORT_VERBS) {
		assert_int_equal(there, DTP_TRANSPORT_VERBS);
	} else {
		assert_int_equal(here, DTP_TRANSPORT_SHM);
		assert_int_equal(there, DTP_TRANSPORT_TCP);
	}
	if (here != DTP_TRANSPORT_VERBS) {
		/* the listener on this host whose peer connects from elsewhere must
		 * choose what that peer chooses (tcp), not shm: both ends agree */
		snprintf(c.host, sizeof(c.host), "127.0.0.1");
		snprintf(c.connect_host, sizeof(c.connect_host), "192.0.2.7");
		assert_int_equal(dtp_transport_resolve(&c), DTP_TRANSPORT_TCP);
		snprintf(c.host, sizeof(c.host), "192.0.2.1");
		snprintf(c.connect_host, sizeof(c.connect_host), "localhost");
		assert_int_equal(dtp_transport_resolve(&c), DTP_TRANSPORT_TCP);
		snprintf(c.host, sizeof(c.host), "localhost");
		assert_int_equal(dtp_transport_resolve(&c), DTP_TRANSPORT_SHM);
		c.connect_host[0] = '\0';
	}
	c.kind = DTP_TRANSPORT_TCP;   /* an explicit kind is kept */
	snprintf(c.host, sizeof(c.host), "127.0.0.1");
	assert_int_equal(dtp_transport_resolve(&c), DTP_TRANSPORT_TCP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_layout_is_little_endian),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_mismatches),
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_bounds),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_host_is_local),
		cmocka_unit_test(test_auto_resolution),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
