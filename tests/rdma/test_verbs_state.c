/* Unit test of the verbs protocol state machine (src/rdma/verbs_proto.c,
 * verbs_match.c) driven through struct dtp_verbs_api by fakes: the fakes
 * record what would be posted and the test feeds the work completions a NIC
 * would produce. Real verbs run in tests/rxe (Soft-RoCE VM); this tests only
 * the state machine: the eager path (credits, messages before their irecv,
 * interleaving with rendezvous), rendezvous credits, advertisement order,
 * error completions, mismatches. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rdma/verbs_proto.h"

struct fake {
	struct ibv_qp qp;
	struct ibv_cq cq;
	struct ibv_pd pd;
	struct ibv_mr mr;
	int nsend;
	struct ibv_send_wr send[64];
	struct ibv_sge sge[64];
	uint8_t data[64][DTP_VRBUF_BYTES];   /* what a SEND carried */
	int nrecv;               /* receive work requests posted */
	int nrecv_calls;         /* post_recv calls (a chain is one) */
	uint64_t recv_id[256];
	int fail_send;           /* errno returned by post_send when nonzero */
	int ndereg;              /* deregistrations other than the control buffers */
	int nwc, wcpos;
	struct ibv_wc wc[16];
};

#define FAKE_OF(p, member) ((struct fake *)((char *)(p) - offsetof(struct fake, member)))

static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fake *f = FAKE_OF(qp, qp);

	if (f->fail_send) {
		*bad = wr;
		return f->fail_send;
	}
	assert_true(f->nsend < 64);
	f->send[f->nsend] = *wr;
	if (wr->num_sge) {
		f->sge[f->nsend] = wr->sg_list[0];
		assert_true(wr->opcode != IBV_WR_SEND || wr->sg_list[0].length <= DTP_VRBUF_BYTES);
		if (wr->opcode == IBV_WR_SEND)
			memcpy(f->data[f->nsend], (void *)(uintptr_t)wr->sg_list[0].addr,
			       wr->sg_list[0].length);
	}
	f->nsend++;
	return 0;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fake *f = FAKE_OF(qp, qp);

	f->nrecv_calls++;
	for (; wr; wr = wr->next) {
		assert_int_equal(wr->num_sge, 1);
		assert_true(wr->sg_list[0].length >= DTP_VMSG_WIRE);
		f->recv_id[f->nrecv++ % 256] = wr->wr_id;
	}
	return 0;
}

static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake *f = FAKE_OF(cq, cq);
	int k = 0;

	while (k < n && f->wcpos < f->nwc)
		wc[k++] = f->wc[f->wcpos++];
	return k;
}

static int f_req_notify(struct ibv_cq *cq, int s) { return 0; }
static int f_get_ev(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx) { return -1; }
static void f_ack(struct ibv_cq *cq, unsigned int n) { }

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct fake *f = FAKE_OF(pd, pd);

	f->mr.addr = addr;
	f->mr.length = len;
	f->mr.lkey = 0x1111;
	return &f->mr;
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	if (mr->lkey == 0x5555)
		FAKE_OF(mr->pd, pd)->ndereg++;
	return 0;
}

static const struct dtp_verbs_api fake_api = {
	.post_send = f_post_send, .post_recv = f_post_recv, .poll_cq = f_poll_cq,
	.req_notify_cq = f_req_notify, .get_cq_event = f_get_ev, .ack_cq_events = f_ack,
	.reg_mr = f_reg_mr, .dereg_mr = f_dereg_mr,
};

struct fixture {
	struct fake f;
	struct dtp_vq q;
};

static int setup_slots(void **state, int slots)
{
	struct fixture *x = test_calloc(1, sizeof(*x));
	struct dtp_err err;

	assert_non_null(x);
	assert_int_equal(dtp_vq_init(&x->q, &fake_api, &x->f.pd, &x->f.qp, &x->f.cq, slots, 0, 1, &err), 0);
	assert_int_equal(dtp_vq_start(&x->q, &err), 0);
	assert_int_equal(x->f.nrecv, dtp_vq_rq_depth(slots));
	assert_true(dtp_vq_rq_depth(slots) >= 2 * slots + 2 + dtp_vq_rq_batch(slots));
	*state = x;
	return 0;
}

static int setup2(void **state) { return setup_slots(state, 2); }

static int teardown(void **state)
{
	struct fixture *x = *state;

	dtp_vq_destroy(&x->q);
	test_free(x);
	return 0;
}

/* the peer's control message arrives in receive buffer idx */
static void deliver_msg(struct fixture *x, uint32_t idx, const struct dtp_vmsg *m)
{
	struct ibv_wc wc = { .wr_id = DTP_VWR(DTP_VWR_RECV, idx), .status = IBV_WC_SUCCESS,
			     .opcode = IBV_WC_RECV, .byte_len = DTP_VMSG_WIRE };

	dtp_vmsg_pack(m, dtp_vq_rbuf(&x->q, idx));
	dtp_vq_handle_wc(&x->q, &wc);
}

/* the peer's eager message seq (len bytes of payload p) arrives in buffer idx */
static void deliver_eager(struct fixture *x, uint32_t idx, uint32_t seq, const struct dtp_tag *t,
			  const void *p, uint32_t len, uint16_t credits)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_EAGER, .seq = seq, .len = len, .tag = *t,
			      .credits = credits };
	struct ibv_wc wc = { .wr_id = DTP_VWR(DTP_VWR_RECV, idx), .status = IBV_WC_SUCCESS,
			     .opcode = IBV_WC_RECV, .byte_len = DTP_VMSG_WIRE + len };

	dtp_vmsg_pack(&m, dtp_vq_rbuf(&x->q, idx));
	memcpy(dtp_vq_rbuf(&x->q, idx) + DTP_VMSG_WIRE, p, len);
	dtp_vq_handle_wc(&x->q, &wc);
}

static void deliver_adv(struct fixture *x, uint32_t seq, uint64_t addr, uint64_t cap,
			const struct dtp_tag *t)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_ADV, .seq = seq, .addr = addr, .len = cap,
			      .rkey = 0xabc0 + seq, .tag = *t };

	deliver_msg(x, seq % 6, &m);
}

static void deliver_data(struct fixture *x, uint32_t seq, uint16_t micro, uint32_t len)
{
	struct ibv_wc wc = { .wr_id = DTP_VWR(DTP_VWR_RECV, 5), .status = IBV_WC_SUCCESS,
			     .opcode = IBV_WC_RECV_RDMA_WITH_IMM, .byte_len = len,
			     .imm_data = htonl(dtp_vimm_encode(seq, micro)) };

	dtp_vq_handle_wc(&x->q, &wc);
}

static void complete_send(struct fixture *x, int i, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = x->f.send[i].wr_id, .status = st, .opcode = IBV_WC_RDMA_WRITE };

	dtp_vq_handle_wc(&x->q, &wc);
}

static int done(const struct dtp_req *r) { return r->state == DTP_VREQ_DONE; }

static void test_vmsg_roundtrip(void **state)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_ADV, .seq = 0x01020304, .addr = 0x1122334455667788ull,
			      .len = 1ull << 33, .rkey = 0xdeadbeef, .tag = { 7, 3, DTP_MSG_GRAD } }, o;
	uint8_t b[DTP_VMSG_WIRE];

	dtp_vmsg_pack(&m, b);
	assert_int_equal(b[0], 1);                 /* little endian on the wire */
	assert_int_equal(b[4], 0x04);
	assert_int_equal(dtp_vmsg_unpack(b, sizeof(b), &o), 0);
	assert_int_equal(o.seq, m.seq);
	assert_true(o.addr == m.addr && o.len == m.len && o.rkey == m.rkey);
	assert_true(o.tag.step == 7 && o.tag.micro == 3 && o.tag.kind == DTP_MSG_GRAD);
	assert_int_equal(dtp_vmsg_unpack(b, DTP_VMSG_WIRE - 1, &o), -EPROTO);
	b[0] = 9;
	assert_int_equal(dtp_vmsg_unpack(b, sizeof(b), &o), -EPROTO);
}

/* sizes: BIG goes by rendezvous (ADV + WRITE), anything up to DTP_VEAGER_MAX eager */
#define BIG (DTP_VEAGER_MAX + 1)
static char big[4][2 * BIG];     /* the fakes never touch WRITE buffers */

static struct dtp_vmsg sent_msg(struct fixture *x, int i)
{
	struct dtp_vmsg m;

	assert_int_equal(x->f.send[i].opcode, IBV_WR_SEND);
	assert_int_equal(dtp_vmsg_unpack(x->f.data[i], x->f.sge[i].length, &m), 0);
	return m;
}

/* complete every staged SEND posted so far (frees the staging buffers) */
static void complete_staged(struct fixture *x)
{
	for (int i = 0; i < x->f.nsend; i++)
		if (DTP_VWR_KIND(x->f.send[i].wr_id) == DTP_VWR_STAGED && x->f.send[i].imm_data != 1) {
			complete_send(x, i, IBV_WC_SUCCESS);
			x->f.send[i].imm_data = 1;       /* marks it done here */
		}
}

/* receiver: only `slots` advertisements outstanding; a payload frees a credit */
static void test_recv_credits(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };
	struct dtp_req r[3];
	struct dtp_vmsg m;
	int i;

	for (i = 0; i < 3; i++) {
		t.micro = (uint16_t)i;
		dtp_vq_irecv(&x->q, &t, big[i], BIG, 0x77, NULL, &r[i]);
	}
	assert_int_equal(x->f.nsend, 2);           /* credits exhausted: the third waits */
	for (i = 0; i < 2; i++) {
		m = sent_msg(x, i);
		assert_int_equal(m.type, DTP_VMSG_ADV);
		assert_int_equal(m.seq, (uint32_t)i);
		assert_true(m.addr == (uintptr_t)big[i] && m.len == BIG && m.rkey == 0x77);
		assert_int_equal(m.tag.micro, i);
		complete_send(x, i, IBV_WC_SUCCESS);   /* the ADV's SEND completes */
	}
	deliver_data(x, 0, 0, 40);
	assert_true(done(&r[0]));
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[0].len, 40);
	assert_false(done(&r[1]));
	assert_int_equal(x->f.nsend, 3);           /* credit recovered: third advertised */
	m = sent_msg(x, 2);
	assert_int_equal(m.seq, 2);
	assert_true(m.addr == (uintptr_t)big[2]);
	deliver_data(x, 1, 1, 0);
	deliver_data(x, 2, 2, BIG);
	assert_true(done(&r[1]) && done(&r[2]));
	assert_int_equal(r[1].len, 0);
	assert_int_equal(r[2].len, BIG);
	assert_int_equal(x->q.fatal, 0);
	/* consumed receive buffers go back in batches of rq_batch (2 here), one
	 * post_recv call each: two reposted, one waits for the next */
	assert_int_equal(x->f.nrecv, dtp_vq_rq_depth(2) + 2);
	assert_int_equal(x->q.nrepost, 1);
}

/* receiver: the peer's WRITE may come back before our ADV's SEND completes;
 * no more than `slots` ADV SENDs are ever in flight (the send queue and the
 * ADV buffers are sized for that). Found by tests/fuzz/fuzz_verbs. */
static void test_recv_adv_waits_for_send_completion(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };
	struct dtp_req r[3];
	int i;

	for (i = 0; i < 3; i++)
		dtp_vq_irecv(&x->q, &t, big[i], BIG, 0x77, NULL, &r[i]);
	assert_int_equal(x->f.nsend, 2);
	deliver_data(x, 0, 0, 40);
	assert_true(done(&r[0]));
	assert_int_equal(x->f.nsend, 2);           /* ADV credit back, both SENDs in flight */
	complete_send(x, 0, IBV_WC_SUCCESS);
	assert_int_equal(x->f.nsend, 3);           /* now the third is advertised */
	assert_int_equal(sent_msg(x, 2).seq, 2);
	assert_int_equal(x->q.fatal, 0);
}

/* every consumed receive buffer is re-posted, rq_batch at a time in one
 * chained call, and at least what the peer may have in flight stays posted */
static void test_recv_repost_batched(void **state)
{
	struct fixture *x = *state;
	int depth = dtp_vq_rq_depth(2), batch = dtp_vq_rq_batch(2), i;
	int calls0 = x->f.nrecv_calls;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };
	struct dtp_req r;

	assert_true(batch > 1);
	for (i = 0; i < 3 * depth; i++) {
		struct ibv_wc wc = { .wr_id = DTP_VWR(DTP_VWR_RECV, (uint32_t)(i % depth)),
				     .status = IBV_WC_SUCCESS, .opcode = IBV_WC_RECV_RDMA_WITH_IMM,
				     .byte_len = 8, .imm_data = htonl(dtp_vimm_encode((uint32_t)i, 0)) };
		int consumed = i + 1, reposted = consumed / batch * batch;

		x->f.nsend = 0;                  /* its ADV: not what this test looks at */
		dtp_vq_irecv(&x->q, &t, big[0], BIG, 0x77, NULL, &r);
		complete_send(x, 0, IBV_WC_SUCCESS);
		dtp_vq_handle_wc(&x->q, &wc);
		assert_true(done(&r));
		assert_int_equal(r.status, 0);
		assert_int_equal(x->f.nrecv, depth + reposted);
		assert_int_equal(x->f.nrecv_calls, calls0 + consumed / batch);
		assert_true(depth - (consumed - reposted) >=
			    2 * 2 + 2 + (int)(DTP_VEAGER_SLOTS + DTP_VEAGER_SLOTS / DTP_VEAGER_BATCH));
	}
	/* the chain names the buffers consumed, in order */
	for (i = 0; i < batch; i++)
		assert_true(x->f.recv_id[(depth + i) % 256] == DTP_VWR(DTP_VWR_RECV, (uint32_t)i));
	assert_int_equal(x->q.fatal, 0);
}

/* sender: large payloads wait for advertisements, consume them in order */
static void test_send_credits_in_order(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 5, 0, DTP_MSG_GRAD };
	struct dtp_req s[3];
	int i;

	for (i = 0; i < 3; i++) {
		t.micro = (uint16_t)(10 + i);
		dtp_vq_isend(&x->q, &t, big[i], BIG + (size_t)i, 0x2222, NULL, &s[i]);
	}
	/* nothing advertised yet: no payload, one RTS for message 0 */
	assert_int_equal(x->f.nsend, 1);
	assert_int_equal(sent_msg(x, 0).type, DTP_VMSG_RTS);
	assert_int_equal(sent_msg(x, 0).len, BIG);
	/* each ADV: its WRITE, then the RTS of the next message (no ADV yet):
	 * [0] RTS 0, [1] WRITE 0, [2] RTS 1, [3] WRITE 1, [4] RTS 2 */
	for (i = 0; i < 2; i++) {
		t.micro = (uint16_t)(10 + i);
		deliver_adv(x, (uint32_t)i, 0x1000u * (i + 1), 2 * BIG, &t);
		assert_int_equal(x->f.nsend, 3 + 2 * i);
	}
	for (i = 0; i < 2; i++) {
		struct ibv_send_wr *w = &x->f.send[1 + 2 * i];

		assert_int_equal(w->opcode, IBV_WR_RDMA_WRITE_WITH_IMM);
		assert_true(w->wr.rdma.remote_addr == 0x1000u * (uint64_t)(i + 1));
		assert_int_equal(w->wr.rdma.rkey, 0xabc0 + i);
		assert_int_equal(ntohl(w->imm_data), dtp_vimm_encode((uint32_t)i, (uint16_t)(10 + i)));
		assert_int_equal(x->f.sge[1 + 2 * i].length, BIG + i);
		assert_int_equal(x->f.sge[1 + 2 * i].lkey, 0x2222);
		assert_true(x->f.sge[1 + 2 * i].addr == (uintptr_t)big[i]);
		assert_int_equal(sent_msg(x, 2 + 2 * i).type, DTP_VMSG_RTS);
		assert_int_equal(sent_msg(x, 2 + 2 * i).seq, (uint32_t)i + 1);
	}
	assert_int_equal(x->q.st.rts_sent, 3);      /* once per message */
	assert_false(done(&s[0]));
	complete_send(x, 1, IBV_WC_SUCCESS);
	assert_true(done(&s[0]));
	assert_int_equal(s[0].status, 0);
	t.micro = 12;
	deliver_adv(x, 2, 0x3000, 2 * BIG, &t);
	assert_int_equal(x->f.nsend, 6);
	assert_true(x->f.send[5].wr.rdma.remote_addr == 0x3000);
	complete_send(x, 3, IBV_WC_SUCCESS);
	complete_send(x, 5, IBV_WC_SUCCESS);
	assert_true(done(&s[1]) && done(&s[2]));
	assert_int_equal(x->q.fatal, 0);
}

/* The race behind the CI failure "timed out waiting to send tag (step 7,
 * micro 1, kind 2)" in test_verbs_link's credits case: the receiver returns a
 * credit (advertisement n + slots) as soon as payload n lands, and that SEND
 * can reach us before the acknowledgement of our WRITE n does (busy host,
 * Soft-RoCE). WRITE n is still in flight in slot n % slots; the WRITE for
 * n + slots must not be posted into the same slot (it overwrote the request
 * of WRITE n, whose completion then finished the wrong request and left the
 * other one pending forever). It is posted when WRITE n completes. */
static void test_credit_before_write_completion(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 7, 0, DTP_MSG_GRAD };
	struct dtp_req s[4];
	int i, w0;

	for (i = 0; i < 2; i++) {
		t.micro = (uint16_t)i;
		deliver_adv(x, (uint32_t)i, 0x1000u * (i + 1), 2 * BIG, &t);
	}
	for (i = 0; i < 4; i++) {
		t.micro = (uint16_t)i;
		dtp_vq_isend(&x->q, &t, big[i], BIG, 0x2222, NULL, &s[i]);
	}
	w0 = 0;
	assert_int_equal(x->f.nsend, 3);            /* WRITE 0 and 1 in flight, RTS for 2 */
	assert_int_equal(sent_msg(x, 2).type, DTP_VMSG_RTS);
	/* payload 0 and 1 landed; both credits come back before either ack */
	t.micro = 2;
	deliver_adv(x, 2, 0x3000, 2 * BIG, &t);
	t.micro = 3;
	deliver_adv(x, 3, 0x4000, 2 * BIG, &t);
	assert_int_equal(x->q.fatal, 0);
	assert_int_equal(x->f.nsend, 3);            /* slots 0 and 1 still busy: nothing more */
	assert_false(done(&s[0]) || done(&s[1]) || done(&s[2]) || done(&s[3]));
	/* the acks arrive (in post order, as on any RC queue pair) */
	complete_send(x, w0, IBV_WC_SUCCESS);
	assert_true(done(&s[0]));
	assert_false(done(&s[1]) || done(&s[2]) || done(&s[3]));
	assert_int_equal(x->f.nsend, 4);            /* slot 0 free: WRITE 2 */
	complete_send(x, 1, IBV_WC_SUCCESS);
	assert_true(done(&s[1]));
	assert_int_equal(x->f.nsend, 5);            /* slot 1 free: WRITE 3 */
	for (i = 2; i < 4; i++) {
		assert_int_equal(x->f.send[i + 1].opcode, IBV_WR_RDMA_WRITE_WITH_IMM);
		assert_true(x->f.send[i + 1].wr.rdma.remote_addr == 0x1000u * (uint64_t)(i + 1));
		assert_int_equal(ntohl(x->f.send[i + 1].imm_data), dtp_vimm_encode((uint32_t)i, (uint16_t)i));
		assert_true(x->f.sge[i + 1].addr == (uintptr_t)big[i]);
	}
	assert_false(done(&s[2]) || done(&s[3]));   /* not before their own completions */
	complete_send(x, 3, IBV_WC_SUCCESS);
	assert_true(done(&s[2]));
	assert_false(done(&s[3]));
	complete_send(x, 4, IBV_WC_SUCCESS);
	for (i = 0; i < 4; i++) {
		assert_true(done(&s[i]));
		assert_int_equal(s[i].status, 0);
	}
	assert_int_equal(x->q.fatal, 0);
}

/* eager sends: one SEND each (header + payload, inline when it fits), the
 * isend done once posted, no ADV needed; credits run out after
 * DTP_VEAGER_SLOTS and come back by CREDIT or on any message */
static void test_eager_send_and_credits(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 3, 0, DTP_MSG_CTRL };
	struct dtp_req s[DTP_VEAGER_SLOTS + 2];
	struct dtp_vmsg m;
	char p[DTP_VEAGER_MAX];
	uint32_t i;

	for (i = 0; i < sizeof(p); i++)
		p[i] = (char)(i * 7 + 1);
	x->q.max_inline = 128;
	dtp_vq_isend(&x->q, &t, p, 8, 0, NULL, &s[0]);
	dtp_vq_isend(&x->q, &t, p, DTP_VEAGER_MAX, 0, NULL, &s[1]);
	assert_int_equal(x->f.nsend, 2);
	assert_true(x->f.send[0].send_flags & IBV_SEND_INLINE);       /* 40 + 8 bytes */
	assert_false(x->f.send[1].send_flags & IBV_SEND_INLINE);
	assert_int_equal(x->f.sge[1].length, DTP_VMSG_WIRE + DTP_VEAGER_MAX);
	for (i = 0; i < 2; i++) {
		m = sent_msg(x, (int)i);
		assert_int_equal(m.type, DTP_VMSG_EAGER);
		assert_int_equal(m.seq, i);
		assert_int_equal(m.len, i ? DTP_VEAGER_MAX : 8);
		assert_int_equal(memcmp(x->f.data[i] + DTP_VMSG_WIRE, p, m.len), 0);
		assert_true(done(&s[i]));
		assert_int_equal(s[i].status, 0);
	}
	for (i = 2; i < DTP_VEAGER_SLOTS + 2; i++) {
		t.micro = (uint16_t)i;
		dtp_vq_isend(&x->q, &t, p, i, 0, NULL, &s[i]);
	}
	/* 16 credits: messages 16 and 17 wait, the receiver has not said a word */
	assert_int_equal(x->f.nsend, (int)DTP_VEAGER_SLOTS);
	assert_int_equal(x->q.ecredits, 0);
	assert_false(done(&s[DTP_VEAGER_SLOTS]) || done(&s[DTP_VEAGER_SLOTS + 1]));
	complete_staged(x);
	assert_int_equal(x->f.nsend, (int)DTP_VEAGER_SLOTS);  /* completions are no credits */
	/* one credit piggybacked on an ADV from the peer: one more goes */
	m = (struct dtp_vmsg){ .type = DTP_VMSG_ADV, .seq = 0, .len = BIG, .credits = 1, .tag = t };
	deliver_msg(x, 2, &m);                   /* seq 0: stale, its message went eager */
	assert_int_equal(x->q.st.adv_stale, 1);
	assert_int_equal(x->f.nsend, (int)DTP_VEAGER_SLOTS + 1);
	assert_true(done(&s[DTP_VEAGER_SLOTS]));
	m = sent_msg(x, (int)DTP_VEAGER_SLOTS);
	assert_int_equal(m.seq, DTP_VEAGER_SLOTS);
	assert_int_equal(m.tag.micro, DTP_VEAGER_SLOTS);
	/* a CREDIT with a batch */
	m = (struct dtp_vmsg){ .type = DTP_VMSG_CREDIT, .credits = DTP_VEAGER_BATCH };
	deliver_msg(x, 3, &m);
	assert_true(done(&s[DTP_VEAGER_SLOTS + 1]));
	assert_int_equal(x->q.ecredits, DTP_VEAGER_BATCH - 1);
	assert_int_equal(x->q.st.eager_sent, DTP_VEAGER_SLOTS + 2);
	assert_int_equal(x->q.st.rndv_sent, 0);
	assert_int_equal(x->q.fatal, 0);
	/* more credits back than were out: a protocol error */
	m.credits = DTP_VEAGER_SLOTS;
	deliver_msg(x, 4, &m);
	assert_int_equal(x->q.fatal, -EPROTO);
	assert_non_null(strstr(x->q.ferr.msg, "eager credits"));
}

/* staged SENDs ask for a completion one in DTP_VSTAGE_SIGNAL; that
 * completion frees the staging buffers up to it; with credits to spare, a
 * full staging ring holds the next message until then */
static void test_eager_staging_ring(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 3, 0, DTP_MSG_CTRL };
	struct dtp_req s[DTP_VSTAGE + 2];
	struct dtp_vmsg credit = { .type = DTP_VMSG_CREDIT, .credits = DTP_VEAGER_SLOTS };
	char p[8] = { 0 };
	uint32_t i;

	for (i = 0; i < DTP_VSTAGE + 2; i++) {
		dtp_vq_isend(&x->q, &t, p, sizeof(p), 0, NULL, &s[i]);
		if (i == DTP_VEAGER_SLOTS - 1)
			deliver_msg(x, 0, &credit);  /* credits back, no completion yet */
		if (i == DTP_VSTAGE - 1)
			deliver_msg(x, 1, &credit);
	}
	assert_int_equal(x->f.nsend, (int)DTP_VSTAGE);   /* the ring is full */
	for (i = 0; i < DTP_VSTAGE; i++)
		assert_int_equal(!!(x->f.send[i].send_flags & IBV_SEND_SIGNALED),
				 i % DTP_VSTAGE_SIGNAL == DTP_VSTAGE_SIGNAL - 1);
	assert_false(done(&s[DTP_VSTAGE]));
	complete_send(x, (int)DTP_VSTAGE_SIGNAL - 1, IBV_WC_SUCCESS);   /* frees 0..7 */
	assert_int_equal(x->f.nsend, (int)DTP_VSTAGE + 2);
	assert_true(done(&s[DTP_VSTAGE]) && done(&s[DTP_VSTAGE + 1]));
	assert_int_equal(x->q.stage_posted - x->q.stage_done, DTP_VSTAGE - DTP_VSTAGE_SIGNAL + 2);
	assert_int_equal(x->q.fatal, 0);
}

/* eager messages that arrive before their irecv wait in their receive
 * buffer (not re-posted, credit not returned) until the irecv takes them;
 * consumed credits go back on our next message, or in a CREDIT per batch */
static void test_eager_before_irecv(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 2, 0, DTP_MSG_ACT };
	struct dtp_req r[DTP_VEAGER_BATCH + 1], s;
	char p[3][64], out[DTP_VEAGER_BATCH + 1][64];
	int nrecv0 = x->f.nrecv, i;
	struct dtp_vmsg m;

	for (i = 0; i < 3; i++)
		memset(p[i], 'a' + i, sizeof(p[i]));
	for (i = 0; i < 3; i++) {
		t.micro = (uint16_t)i;
		deliver_eager(x, (uint32_t)i, (uint32_t)i, &t, p[i], (uint32_t)(10 + i), 0);
	}
	assert_int_equal(x->q.held_n, 3);
	assert_int_equal(x->q.st.eager_held, 3);
	assert_int_equal(x->f.nrecv + x->q.nrepost, nrecv0);    /* their buffers stay taken */
	assert_int_equal(x->q.unreturned, 0);
	for (i = 0; i < 3; i++) {
		t.micro = (uint16_t)i;
		memset(out[i], 0, sizeof(out[i]));
		dtp_vq_irecv(&x->q, &t, out[i], sizeof(out[i]), 0, NULL, &r[i]);
		assert_true(done(&r[i]));                /* at once, from the held buffer */
		assert_int_equal(r[i].status, 0);
		assert_int_equal(r[i].len, 10 + i);
		assert_int_equal(memcmp(out[i], p[i], 10 + (size_t)i), 0);
		assert_int_equal(out[i][10 + i], 0);     /* nothing past the payload */
	}
	assert_int_equal(x->q.held_n, 0);
	assert_int_equal(x->q.unreturned, 3);
	assert_int_equal(x->f.nsend, 0);            /* small irecvs: no ADV, and < a batch */
	/* the credits ride on our next message */
	dtp_vq_isend(&x->q, &t, p[0], 5, 0, NULL, &s);
	m = sent_msg(x, 0);
	assert_int_equal(m.type, DTP_VMSG_EAGER);
	assert_int_equal(m.credits, 3);
	assert_int_equal(x->q.unreturned, 0);
	/* a batch consumed with nothing to send: a standalone CREDIT */
	for (i = 0; i < (int)DTP_VEAGER_BATCH; i++) {
		t.micro = (uint16_t)(3 + i);
		dtp_vq_irecv(&x->q, &t, out[i], sizeof(out[i]), 0, NULL, &r[i]);
		assert_false(done(&r[i]));
		deliver_eager(x, (uint32_t)(3 + i), (uint32_t)(3 + i), &t, p[1], 20, 0);
		assert_true(done(&r[i]));
		assert_int_equal(memcmp(out[i], p[1], 20), 0);
	}
	assert_int_equal(x->f.nsend, 2);
	m = sent_msg(x, 1);
	assert_int_equal(m.type, DTP_VMSG_CREDIT);
	assert_int_equal(m.credits, DTP_VEAGER_BATCH);
	assert_int_equal(x->q.st.credit_sent, 1);
	/* an eager message with the wrong tag fails its irecv, naming both */
	{
		struct dtp_tag want = { 2, 99, DTP_MSG_ACT };
		struct dtp_err err;

		dtp_vq_irecv(&x->q, &want, out[0], sizeof(out[0]), 0, NULL, &r[0]);
		deliver_eager(x, 0, 3 + DTP_VEAGER_BATCH, &t, p[2], 64, 0);
		assert_int_equal(r[0].status, -EPROTO);
		assert_int_equal(dtp_vq_req_err(&x->q, &r[0], &err), -EPROTO);
		assert_non_null(strstr(err.msg, "micro 99"));
		assert_non_null(strstr(err.msg, "micro 10"));
		/* and one too big for it */
		dtp_vq_irecv(&x->q, &t, out[0], 16, 0, NULL, &r[0]);
		deliver_eager(x, 1, 4 + DTP_VEAGER_BATCH, &t, p[2], 17, 0);
		assert_int_equal(r[0].status, -EPROTO);
		assert_int_equal(dtp_vq_req_err(&x->q, &r[0], &err), -EPROTO);
		assert_non_null(strstr(err.msg, "17 bytes"));
	}
	assert_int_equal(x->q.fatal, 0);
	/* out of order is a protocol error */
	deliver_eager(x, 2, 99, &t, p[0], 4, 0);
	assert_int_equal(x->q.fatal, -EPROTO);
}

/* the peer sent and closed before we posted: what it sent is still received
 * (as on tcp), then the close shows */
static void test_eager_held_across_bye(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 2, 5, DTP_MSG_ACT };
	struct dtp_vmsg bye = { .type = DTP_VMSG_BYE };
	struct dtp_req r[2];
	char p[16] = "late but whole", out[16];

	deliver_eager(x, 0, 0, &t, p, sizeof(p), 0);
	deliver_msg(x, 1, &bye);
	assert_int_equal(x->q.fatal, -ECONNRESET);
	dtp_vq_irecv(&x->q, &t, out, sizeof(out), 0, NULL, &r[0]);
	assert_true(done(&r[0]));
	assert_int_equal(r[0].status, 0);
	assert_int_equal(memcmp(out, p, sizeof(p)), 0);
	dtp_vq_irecv(&x->q, &t, out, sizeof(out), 0, NULL, &r[1]);
	assert_true(done(&r[1]));
	assert_int_equal(r[1].status, -ECONNRESET);
}

/* small and large messages interleaved, both directions of one link: each
 * side numbers them 0, 1, 2, ... whatever way they go, ADVs only for the
 * large receives, and the order on the wire is the posting order */
static void test_eager_interleaved_with_rendezvous(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 8, 0, DTP_MSG_ACT };
	struct dtp_req r[4], s[4];
	char small[2][32], out[2][32];
	struct dtp_vmsg m;
	int i;

	memset(small[0], 'x', 32);
	memset(small[1], 'y', 32);
	/* receiving: small, large, small, large */
	for (i = 0; i < 4; i++) {
		t.micro = (uint16_t)i;
		if (i % 2 == 0)
			dtp_vq_irecv(&x->q, &t, out[i / 2], 32, 0, NULL, &r[i]);
		else
			dtp_vq_irecv(&x->q, &t, big[i], BIG, 0x99, NULL, &r[i]);
	}
	assert_int_equal(x->f.nsend, 2);            /* ADV 1 and ADV 3 */
	assert_int_equal(sent_msg(x, 0).seq, 1);
	assert_int_equal(sent_msg(x, 1).seq, 3);
	t.micro = 0;
	deliver_eager(x, 0, 0, &t, small[0], 32, 0);
	assert_true(done(&r[0]));
	assert_false(done(&r[1]));
	deliver_data(x, 1, 1, BIG);
	assert_true(done(&r[1]));
	assert_int_equal(r[1].len, BIG);
	t.micro = 2;
	deliver_eager(x, 1, 2, &t, small[1], 31, 0);
	deliver_data(x, 3, 3, 100);
	for (i = 0; i < 4; i++)
		assert_int_equal(r[i].status, 0);
	assert_int_equal(memcmp(out[0], small[0], 32), 0);
	assert_int_equal(memcmp(out[1], small[1], 31), 0);
	assert_int_equal(r[3].len, 100);
	/* sending: small, large, small, large; the ADVs arrive late */
	x->f.nsend = 0;
	for (i = 0; i < 4; i++) {
		t.micro = (uint16_t)(20 + i);
		dtp_vq_isend(&x->q, &t, i % 2 ? big[i] : small[0], i % 2 ? BIG : 32, 0x2222, NULL, &s[i]);
	}
	/* EAGER 0, then RTS 1: message 2 waits behind 1 (order on the wire) */
	assert_int_equal(x->f.nsend, 2);
	assert_int_equal(sent_msg(x, 0).type, DTP_VMSG_EAGER);
	m = sent_msg(x, 1);
	assert_int_equal(m.type, DTP_VMSG_RTS);
	assert_int_equal(m.seq, 1);
	assert_true(done(&s[0]));
	assert_false(done(&s[2]));
	t.micro = 21;
	deliver_adv(x, 1, 0x1000, BIG, &t);
	/* WRITE 1, EAGER 2, RTS 3 */
	assert_int_equal(x->f.nsend, 5);
	assert_int_equal(x->f.send[2].opcode, IBV_WR_RDMA_WRITE_WITH_IMM);
	assert_int_equal(ntohl(x->f.send[2].imm_data), dtp_vimm_encode(1, 21));
	assert_int_equal(sent_msg(x, 3).type, DTP_VMSG_EAGER);
	assert_int_equal(sent_msg(x, 3).seq, 2);
	assert_true(done(&s[2]));
	assert_int_equal(sent_msg(x, 4).type, DTP_VMSG_RTS);
	assert_int_equal(sent_msg(x, 4).seq, 3);
	t.micro = 23;
	deliver_adv(x, 3, 0x3000, BIG, &t);
	assert_int_equal(x->f.nsend, 5);            /* slot 3 % 2 busy with WRITE 1 */
	complete_send(x, 2, IBV_WC_SUCCESS);
	assert_int_equal(x->f.nsend, 6);
	assert_int_equal(ntohl(x->f.send[5].imm_data), dtp_vimm_encode(3, 23));
	complete_send(x, 5, IBV_WC_SUCCESS);
	for (i = 0; i < 4; i++)
		assert_true(done(&s[i]) && s[i].status == 0);
	assert_int_equal(x->q.st.eager_sent, 2);
	assert_int_equal(x->q.st.rndv_sent, 2);
	assert_int_equal(x->q.st.eager_recv, 2);
	assert_int_equal(x->q.st.rndv_recv, 2);
	assert_int_equal(x->q.fatal, 0);
}

/* a receive larger than DTP_VEAGER_MAX is advertised, but a small payload
 * for it still goes eager: the receiver takes it (and the ADV's credit
 * back), the sender drops the ADV that comes late */
static void test_eager_into_advertised_irecv(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 4, 0, DTP_MSG_ACT };
	struct dtp_req r, r2, s;
	char p[100];

	memset(p, 'q', sizeof(p));
	dtp_vq_irecv(&x->q, &t, big[0], BIG, 0x77, NULL, &r);
	assert_int_equal(x->q.radv_out, 1);
	deliver_eager(x, 0, 0, &t, p, 100, 0);
	assert_true(done(&r));
	assert_int_equal(r.status, 0);
	assert_int_equal(r.len, 100);
	assert_int_equal(memcmp(big[0], p, 100), 0);
	assert_int_equal(x->q.radv_out, 0);
	dtp_vq_irecv(&x->q, &t, big[1], BIG, 0x77, NULL, &r2);
	deliver_data(x, 1, 0, BIG);                 /* the next one by WRITE */
	assert_true(done(&r2) && r2.status == 0);
	/* sender side */
	dtp_vq_isend(&x->q, &t, p, 100, 0, NULL, &s);
	assert_true(done(&s));
	deliver_adv(x, 0, 0x1000, BIG, &t);         /* for message 0, which went eager */
	assert_int_equal(x->q.st.adv_stale, 1);
	assert_int_equal(x->q.sadv_n, 0);
	assert_int_equal(x->q.fatal, 0);
}

/* a large payload for a receive posted as a small one: the RTS gets the
 * receive advertised anyway, the sender NACKs, both sides carry on */
static void test_rts_for_small_irecv(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 6, 1, DTP_MSG_ACT };
	struct dtp_vmsg rts = { .type = DTP_VMSG_RTS, .seq = 0, .len = 5000, .tag = t }, m;
	struct dtp_vmsg nack = { .type = DTP_VMSG_NACK, .seq = 0, .len = 5000, .tag = t };
	struct dtp_req r, r2, s, s2;
	struct dtp_err err;
	char out[100];

	/* receiver: irecv 0 is small (no ADV) */
	dtp_vq_irecv(&x->q, &t, out, sizeof(out), 0, NULL, &r);
	assert_int_equal(x->f.nsend, 0);
	deliver_msg(x, 0, &rts);
	assert_int_equal(x->f.nsend, 1);
	m = sent_msg(x, 0);
	assert_int_equal(m.type, DTP_VMSG_ADV);
	assert_int_equal(m.seq, 0);
	assert_int_equal(m.len, 100);
	assert_int_equal(m.credits, 1);             /* the RTS's credit rides along */
	deliver_msg(x, 1, &nack);
	assert_int_equal(r.status, -EPROTO);
	assert_int_equal(dtp_vq_req_err(&x->q, &r, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "5000 bytes"));
	assert_non_null(strstr(err.msg, "100 bytes"));
	assert_int_equal(x->q.radv_out, 0);
	/* an RTS before its irecv: the irecv is advertised when posted */
	rts.seq = 1;
	deliver_msg(x, 2, &rts);
	dtp_vq_irecv(&x->q, &t, out, sizeof(out), 0, NULL, &r2);
	assert_int_equal(x->f.nsend, 2);
	assert_int_equal(sent_msg(x, 1).seq, 1);
	/* sender: message 0 large, no ADV: RTS; then ADV 1 shows irecv 0 is small */
	dtp_vq_isend(&x->q, &t, big[0], BIG, 0x2222, NULL, &s);
	assert_int_equal(sent_msg(x, 2).type, DTP_VMSG_RTS);
	dtp_vq_isend(&x->q, &t, big[1], BIG, 0x2222, NULL, &s2);
	deliver_adv(x, 1, 0x2000, BIG, &t);
	assert_true(done(&s));                      /* the receiver's error, not ours */
	assert_int_equal(s.status, 0);
	m = sent_msg(x, 3);
	assert_int_equal(m.type, DTP_VMSG_NACK);
	assert_int_equal(m.seq, 0);
	assert_int_equal(m.flags, DTP_VMSG_F_EAGER);
	assert_int_equal(x->f.send[4].opcode, IBV_WR_RDMA_WRITE_WITH_IMM);   /* message 1 */
	deliver_adv(x, 0, 0x1000, 100, &t);          /* the answer to the RTS, late: dropped */
	assert_int_equal(x->q.st.adv_stale, 1);
	complete_send(x, 4, IBV_WC_SUCCESS);
	assert_true(done(&s2) && s2.status == 0);
	assert_int_equal(x->q.fatal, 0);
}

/* ADVs go out in order: one behind a later one (other than the answer to
 * our RTS) is a protocol error */
static void test_adv_out_of_order(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };
	struct dtp_req s;
	struct dtp_err err;

	deliver_adv(x, 2, 0x1000, BIG, &t);         /* irecvs 0 and 1 small: fine */
	assert_int_equal(x->q.fatal, 0);
	deliver_adv(x, 1, 0x2000, BIG, &t);
	assert_int_equal(x->q.fatal, -EPROTO);
	dtp_vq_isend(&x->q, &t, big[0], BIG, 1, NULL, &s);
	assert_true(done(&s));
	assert_int_equal(s.status, -EPROTO);
	assert_int_equal(x->f.nsend, 0);
	assert_int_equal(dtp_vq_req_err(&x->q, &s, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "advertisement 1"));
}

static void test_adv_overrun(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };

	deliver_adv(x, 0, 0x1000, BIG, &t);
	deliver_adv(x, 1, 0x2000, BIG, &t);
	assert_int_equal(x->q.fatal, 0);
	deliver_adv(x, 2, 0x3000, BIG, &t);         /* 3 unused > 2 credits */
	assert_int_equal(x->q.fatal, -EPROTO);
	assert_non_null(strstr(x->q.ferr.msg, "credits"));
}

static void check_hint(struct fixture *x, enum ibv_wc_status st, int code, const char *hint)
{
	struct dtp_tag t = { 3, 1, DTP_MSG_ACT };
	struct dtp_req s, r;
	struct dtp_err err;
	char b[8] = { 0 };

	dtp_vq_irecv(&x->q, &t, big[0], BIG, 1, NULL, &r);      /* pending in the other direction */
	deliver_adv(x, 0, 0x1000, BIG, &t);
	dtp_vq_isend(&x->q, &t, big[1], BIG, 1, NULL, &s);
	assert_int_equal(x->f.nsend, 2);            /* our ADV, then the WRITE */
	complete_send(x, 1, st);
	assert_int_equal(x->q.fatal, code);
	assert_true(done(&s) && done(&r));
	assert_int_equal(s.status, code);
	assert_int_equal(r.status, code);
	assert_int_equal(dtp_vq_req_err(&x->q, &s, &err), code);
	assert_non_null(strstr(err.msg, hint));
	assert_non_null(strstr(err.msg, ibv_wc_status_str(st)));
	/* the flush that follows does not replace the first error */
	{
		struct ibv_wc wc = { .wr_id = DTP_VWR(DTP_VWR_RECV, 0), .status = IBV_WC_WR_FLUSH_ERR };

		dtp_vq_handle_wc(&x->q, &wc);
		assert_int_equal(x->q.fatal, code);
		assert_non_null(strstr(x->q.ferr.msg, hint));
	}
	/* later requests fail at once with the same error */
	dtp_vq_isend(&x->q, &t, b, 8, 1, NULL, &s);
	assert_true(done(&s));
	assert_int_equal(s.status, code);
}

static void test_err_retry_exceeded(void **state)
{
	check_hint(*state, IBV_WC_RETRY_EXC_ERR, -EIO, "GID index is wrong");
	assert_non_null(strstr(dtp_vq_wc_hint(IBV_WC_RETRY_EXC_ERR), "dead"));
}

static void test_err_remote_access(void **state)
{
	check_hint(*state, IBV_WC_REM_ACCESS_ERR, -EIO, "remote write");
}

/* a SEND to a peer whose process died finds its QP in error: a reset link */
static void test_err_remote_op(void **state)
{
	check_hint(*state, IBV_WC_REM_OP_ERR, -ECONNRESET, "queue pair is in error");
}

/* an error completion of an eager SEND is fatal too */
static void test_err_eager_send(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 3, 1, DTP_MSG_ACT };
	struct dtp_req s, r;
	char b[8] = { 0 };

	dtp_vq_isend(&x->q, &t, b, 8, 0, NULL, &s);
	assert_true(done(&s));
	dtp_vq_irecv(&x->q, &t, b, 8, 0, NULL, &r);
	complete_send(x, 0, IBV_WC_RETRY_EXC_ERR);
	assert_int_equal(x->q.fatal, -EIO);
	assert_true(done(&r));
	assert_int_equal(r.status, -EIO);
	assert_non_null(strstr(x->q.ferr.msg, "eager SEND"));
}

static void test_tag_mismatch_sender(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag sent = { 4, 2, DTP_MSG_ACT }, want = { 4, 3, DTP_MSG_ACT };
	struct dtp_req s, s2;
	struct dtp_vmsg m;

	deliver_adv(x, 0, 0x1000, BIG, &want);
	dtp_vq_isend(&x->q, &sent, big[0], BIG, 1, NULL, &s);
	assert_true(done(&s));                      /* the receiver's error, not ours */
	assert_int_equal(s.status, 0);
	assert_int_equal(x->f.nsend, 1);            /* a NACK, no WRITE */
	m = sent_msg(x, 0);
	assert_int_equal(m.type, DTP_VMSG_NACK);
	assert_int_equal(m.seq, 0);
	assert_int_equal(m.tag.micro, 2);
	assert_int_equal(m.len, BIG);
	assert_int_equal(m.flags, 0);               /* answers an ADV: no eager credit */
	assert_int_equal(x->q.fatal, 0);            /* the link stays usable */
	deliver_adv(x, 1, 0x2000, BIG, &want);
	dtp_vq_isend(&x->q, &want, big[1], BIG, 1, NULL, &s2);
	assert_int_equal(x->f.nsend, 2);
	assert_int_equal(x->f.send[1].opcode, IBV_WR_RDMA_WRITE_WITH_IMM);
	assert_int_equal(ntohl(x->f.send[1].imm_data), dtp_vimm_encode(1, 3));
}

static void test_size_mismatch_sender(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 4, 2, DTP_MSG_ACT };
	struct dtp_req s;
	struct dtp_vmsg m;

	deliver_adv(x, 0, 0x1000, BIG, &t);
	dtp_vq_isend(&x->q, &t, big[0], BIG + 1, 1, NULL, &s);   /* does not fit */
	assert_int_equal(s.status, 0);
	assert_int_equal(x->f.nsend, 1);
	m = sent_msg(x, 0);
	assert_int_equal(m.type, DTP_VMSG_NACK);
	assert_int_equal(m.len, BIG + 1);
}

static void test_mismatch_receiver(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag want = { 9, 1, DTP_MSG_GRAD }, sent = { 9, 7, DTP_MSG_GRAD };
	struct dtp_vmsg nack = { .type = DTP_VMSG_NACK, .seq = 0, .len = 99999, .tag = sent };
	struct dtp_req r[3];
	struct dtp_err err;

	dtp_vq_irecv(&x->q, &want, big[0], BIG, 1, NULL, &r[0]);
	dtp_vq_irecv(&x->q, &want, big[1], BIG, 1, NULL, &r[1]);
	dtp_vq_irecv(&x->q, &want, big[2], BIG, 1, NULL, &r[2]);
	complete_send(x, 0, IBV_WC_SUCCESS);        /* the two ADVs' SENDs */
	complete_send(x, 1, IBV_WC_SUCCESS);
	deliver_msg(x, 3, &nack);
	assert_int_equal(r[0].status, -EPROTO);
	assert_int_equal(dtp_vq_req_err(&x->q, &r[0], &err), -EPROTO);
	assert_non_null(strstr(err.msg, "micro 7"));
	assert_non_null(strstr(err.msg, "99999 bytes"));
	deliver_data(x, 1, 5, 8);                   /* wrong micro-batch in the immediate */
	assert_int_equal(r[1].status, -EPROTO);
	deliver_data(x, 2, 1, BIG);                 /* the third is fine */
	assert_int_equal(r[2].status, 0);
	assert_int_equal(r[2].len, BIG);
	deliver_data(x, 3, 1, 8);                   /* never advertised */
	assert_int_equal(x->q.fatal, -EPROTO);
}

static void test_bye_and_post_failure(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 1, 0, DTP_MSG_ACT };
	struct dtp_vmsg bye = { .type = DTP_VMSG_BYE };
	struct dtp_req r, s;
	struct dtp_err err;
	char b[8] = { 0 };

	dtp_vq_irecv(&x->q, &t, b, 8, 1, NULL, &r);
	deliver_msg(x, 0, &bye);
	assert_int_equal(r.status, -ECONNRESET);
	assert_int_equal(dtp_vq_req_err(&x->q, &r, &err), -ECONNRESET);
	assert_non_null(strstr(err.msg, "closed"));
	teardown(state);
	setup2(state);
	x = *state;
	x->f.fail_send = ENOMEM;
	dtp_vq_irecv(&x->q, &t, big[0], BIG, 1, NULL, &r);   /* its ADV fails to post */
	assert_int_equal(x->q.fatal, -ENOMEM);
	assert_int_equal(r.status, -ENOMEM);
	dtp_vq_isend(&x->q, &t, b, 8, 1, NULL, &s);
	assert_int_equal(s.status, -ENOMEM);
}

/* an unregistered buffer's per-message registration is released on completion */
static void test_tmp_mr_released(void **state)
{
	struct fixture *x = *state;
	struct dtp_tag t = { 2, 0, DTP_MSG_CTRL };
	struct ibv_mr m1 = { .pd = &x->f.pd, .lkey = 0x5555, .rkey = 0x5555 }, m2 = m1;
	struct dtp_req s, r;

	dtp_vq_irecv(&x->q, &t, big[1], BIG, m2.rkey, &m2, &r);
	deliver_adv(x, 0, 0x1000, BIG, &t);
	dtp_vq_isend(&x->q, &t, big[0], BIG, m1.lkey, &m1, &s);
	assert_int_equal(x->f.ndereg, 0);
	complete_send(x, 1, IBV_WC_SUCCESS);         /* [0] our ADV, [1] the WRITE */
	assert_int_equal(s.status, 0);
	assert_int_equal(x->f.ndereg, 1);
	assert_null(s.mr);
	deliver_data(x, 0, 0, BIG);
	assert_int_equal(r.status, 0);
	assert_int_equal(x->f.ndereg, 2);
	assert_null(r.mr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmsg_roundtrip),
		cmocka_unit_test_setup_teardown(test_recv_credits, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_recv_adv_waits_for_send_completion, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_recv_repost_batched, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_send_credits_in_order, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_credit_before_write_completion, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_send_and_credits, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_staging_ring, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_before_irecv, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_held_across_bye, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_interleaved_with_rendezvous, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eager_into_advertised_irecv, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_rts_for_small_irecv, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_err_eager_send, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_adv_out_of_order, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_adv_overrun, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_err_retry_exceeded, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_err_remote_op, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_err_remote_access, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_tag_mismatch_sender, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_size_mismatch_sender, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_receiver, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_bye_and_post_failure, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_mr_released, setup2, teardown),
	};

	return cmocka_run_group_tests_name("verbs_state", tests, NULL, NULL);
}
