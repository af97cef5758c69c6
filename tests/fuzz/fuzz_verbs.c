/* Fuzz target: the verbs control messages and the protocol state machine
 * that acts on them (src/rdma/verbs_proto.c, verbs_match.c), driven through
 * struct dtp_verbs_api by a fake NIC, as tests/rdma/test_verbs_state.c does.
 * The peer is the attacker: what it sends is fuzzed, and so is the order of
 * this side's irecvs and isends and of the completions. The fake behaves as
 * a NIC does: receives complete in the order their buffers were posted
 * (a message or a WRITE_WITH_IMM notification takes the oldest one), sends
 * complete in order (a signaled completion covers the unsignaled ones before
 * it), when the link fails every outstanding send is flushed, and neither
 * queue may hold more than the QP was created with (verbs_cm.c).
 * Input: a list of operations, one byte each plus their arguments:
 *   0 irecv      tag (3 bytes), capacity (1: a table index)
 *   1 isend      tag (3 bytes), length (1: a table index)
 *   2 raw        a message of 40 wire bytes + payload length (1) from the peer
 *   3 message    type, seq delta, tag (3), length index, credits (7 bytes),
 *                packed by dtp_vmsg_pack, with ADV addresses that are real
 *   4 write      a WRITE_WITH_IMM arrival: seq delta, micro, length index (3)
 *   5 complete   the oldest signaled send, successfully
 *   6 error      the oldest send fails with status (1)
 * Every buffer has its exact size (ASan sees an overrun); every request
 * that completes has a valid status and length; at the end the link fails,
 * outstanding sends are flushed and every request must be complete. */
#include "config.h"
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>

#include "rdma/verbs_proto.h"

#define MAX_REQS 48
#define MAX_WR 1024

static const size_t sizes[8] = { 0, 1, 40, DTP_VEAGER_MAX, DTP_VEAGER_MAX + 1, 4096, 8192, 24 };

struct fake {
	struct ibv_qp qp;
	struct ibv_cq cq;
	struct ibv_pd pd;
	struct ibv_mr mr;
	uint64_t recv[MAX_WR];           /* posted receive wr_ids, FIFO */
	unsigned rhead, rn;
	struct { uint64_t id; int signaled; } send[MAX_WR];   /* posted sends, FIFO */
	unsigned shead, sn;
	unsigned sq_cap, rq_cap;         /* the QP's queues: dtp_vq_sq_depth, dtp_vq_rq_depth */
};

#define FAKE_OF(p, member) ((struct fake *)((char *)(p) - offsetof(struct fake, member)))

static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fake *f = FAKE_OF(qp, qp);

	for (; wr; wr = wr->next) {
		/* the state machine keeps its sends within the queue verbs_cm.c
		 * asks for, whatever the peer does: a real post_send fails beyond */
		FUZZ_CHECK(f->sn < f->sq_cap && f->sn < MAX_WR);
		FUZZ_CHECK(wr->opcode != IBV_WR_SEND || wr->num_sge == 0 ||
			   wr->sg_list[0].length <= DTP_VRBUF_BYTES);
		f->send[(f->shead + f->sn) % MAX_WR].id = wr->wr_id;
		f->send[(f->shead + f->sn) % MAX_WR].signaled = (wr->send_flags & IBV_SEND_SIGNALED) != 0;
		f->sn++;
	}
	return 0;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fake *f = FAKE_OF(qp, qp);

	for (; wr; wr = wr->next) {
		FUZZ_CHECK(wr->num_sge == 1 && wr->sg_list[0].length >= DTP_VMSG_WIRE);
		FUZZ_CHECK(f->rn < f->rq_cap && f->rn < MAX_WR);
		f->recv[(f->rhead + f->rn) % MAX_WR] = wr->wr_id;
		f->rn++;
	}
	return 0;
}

static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc) { return 0; }
static int f_req_notify(struct ibv_cq *cq, int s) { return 0; }
static int f_get_ev(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx) { return -1; }
static void f_ack(struct ibv_cq *cq, unsigned int n) { }

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct fake *f = FAKE_OF(pd, pd);

	f->mr.addr = addr;
	f->mr.length = len;
	f->mr.lkey = 0x1111;
	f->mr.pd = pd;
	return &f->mr;
}

static int f_dereg_mr(struct ibv_mr *mr) { return 0; }

static const struct dtp_verbs_api fake_api = {
	.post_send = f_post_send, .post_recv = f_post_recv, .poll_cq = f_poll_cq,
	.req_notify_cq = f_req_notify, .get_cq_event = f_get_ev, .ack_cq_events = f_ack,
	.reg_mr = f_reg_mr, .dereg_mr = f_dereg_mr,
};

struct run {
	struct fake f;
	struct dtp_vq q;
	struct dtp_req req[MAX_REQS];
	void *buf[MAX_REQS];
	size_t cap[MAX_REQS];
	int send[MAX_REQS];
	int nreq;
	const uint8_t *p, *end;
};

static unsigned take(struct run *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

static struct dtp_tag take_tag(struct run *r)
{
	struct dtp_tag t;

	t.step = take(r) & 3;
	t.micro = (uint16_t)(take(r) & 3);
	t.kind = (uint16_t)(1 + take(r) % 3);
	return t;
}

static void post(struct run *r, int send)
{
	struct dtp_tag t = take_tag(r);
	size_t len = sizes[take(r) % 8];
	int i = r->nreq;

	if (i == MAX_REQS)
		return;
	r->buf[i] = calloc(1, len ? len : 1);
	FUZZ_CHECK(r->buf[i]);
	r->cap[i] = len;
	r->send[i] = send;
	r->nreq++;
	if (send)
		dtp_vq_isend(&r->q, &t, r->buf[i], len, 0x2222, NULL, &r->req[i]);
	else
		dtp_vq_irecv(&r->q, &t, r->buf[i], len, 0x3333, NULL, &r->req[i]);
}

/* the oldest posted receive buffer takes what arrived; 0 when none is posted */
static int take_recv(struct run *r, uint64_t *wr_id)
{
	if (r->f.rn == 0)
		return 0;
	*wr_id = r->f.recv[r->f.rhead];
	r->f.rhead = (r->f.rhead + 1) % MAX_WR;
	r->f.rn--;
	return 1;
}

static void deliver(struct run *r, const uint8_t *msg, size_t plen)
{
	struct ibv_wc wc = { .status = IBV_WC_SUCCESS, .opcode = IBV_WC_RECV };
	uint8_t *b;

	if (!take_recv(r, &wc.wr_id))
		return;
	FUZZ_CHECK(DTP_VWR_KIND(wc.wr_id) == DTP_VWR_RECV &&
		   DTP_VWR_VAL(wc.wr_id) < (uint32_t)r->q.rq_depth);
	b = dtp_vq_rbuf(&r->q, DTP_VWR_VAL(wc.wr_id));
	if (plen > DTP_VRBUF_BYTES - DTP_VMSG_WIRE)
		plen = DTP_VRBUF_BYTES - DTP_VMSG_WIRE;
	memcpy(b, msg, DTP_VMSG_WIRE);
	memset(b + DTP_VMSG_WIRE, 0xa5, plen);
	wc.byte_len = (uint32_t)(DTP_VMSG_WIRE + plen);
	dtp_vq_handle_wc(&r->q, &wc);
}

static void structured(struct run *r)
{
	struct dtp_vmsg m;
	uint8_t b[DTP_VMSG_WIRE];
	unsigned type = take(r), delta = take(r);
	int target;

	memset(&m, 0, sizeof(m));
	m.type = (uint16_t)(1 + type % 6);
	m.seq = (m.type == DTP_VMSG_ADV ? r->q.snext : r->q.rarr_next) + (delta & 7) - 2;
	m.tag = take_tag(r);
	m.len = sizes[take(r) % 8];
	m.credits = (uint16_t)(take(r) % 4);
	m.flags = type >> 7;
	/* an ADV names a real buffer: one of this run's, or none */
	target = (int)(delta >> 3) % MAX_REQS;
	if (m.type == DTP_VMSG_ADV && target < r->nreq) {
		m.addr = (uintptr_t)r->buf[target];
		m.len = r->cap[target];
		m.rkey = 0x3333;
	}
	dtp_vmsg_pack(&m, b);
	deliver(r, b, m.type == DTP_VMSG_EAGER ? (size_t)m.len : 0);
}

static void write_imm(struct run *r)
{
	struct ibv_wc wc = { .status = IBV_WC_SUCCESS, .opcode = IBV_WC_RECV_RDMA_WITH_IMM };
	uint32_t seq = r->q.rarr_next + (take(r) & 3) - 1;
	uint16_t micro = (uint16_t)(take(r) & 3);

	wc.byte_len = (uint32_t)sizes[take(r) % 8];
	wc.imm_data = htonl(dtp_vimm_encode(seq, micro));
	if (take_recv(r, &wc.wr_id))
		dtp_vq_handle_wc(&r->q, &wc);
}

/* the oldest posted sends up to the first signaled one complete (status:
 * success, or an error for the first of them) */
static void complete_send(struct run *r, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .status = st, .opcode = IBV_WC_SEND };

	while (r->f.sn) {
		int sig = r->f.send[r->f.shead].signaled;

		wc.wr_id = r->f.send[r->f.shead].id;
		r->f.shead = (r->f.shead + 1) % MAX_WR;
		r->f.sn--;
		if (sig || st != IBV_WC_SUCCESS) {
			dtp_vq_handle_wc(&r->q, &wc);
			return;
		}
	}
}

static void check_reqs(const struct run *r)
{
	for (int i = 0; i < r->nreq; i++) {
		const struct dtp_req *q = &r->req[i];

		if (q->state != DTP_VREQ_DONE)
			continue;
		FUZZ_CHECK(q->status <= 0);
		if (q->status == 0 && !r->send[i])
			FUZZ_CHECK(q->len <= r->cap[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run *r = calloc(1, sizeof(*r));
	struct dtp_err err;
	uint8_t raw[DTP_VMSG_WIRE];
	int slots, i;

	FUZZ_CHECK(r);
	r->p = data;
	r->end = data + size;
	slots = 1 + (int)(take(r) % 4);
	r->f.sq_cap = (unsigned)dtp_vq_sq_depth(slots);
	r->f.rq_cap = (unsigned)dtp_vq_rq_depth(slots);
	FUZZ_CHECK(dtp_vq_init(&r->q, &fake_api, &r->f.pd, &r->f.qp, &r->f.cq, slots, 1, 0, &err) == 0);
	FUZZ_CHECK(dtp_vq_start(&r->q, &err) == 0);
	while (r->p < r->end) {
		switch (take(r) % 7) {
		case 0: post(r, 0); break;
		case 1: post(r, 1); break;
		case 2:
			for (i = 0; i < DTP_VMSG_WIRE; i++)
				raw[i] = (uint8_t)take(r);
			deliver(r, raw, take(r) * 5u);
			break;
		case 3: structured(r); break;
		case 4: write_imm(r); break;
		case 5: complete_send(r, IBV_WC_SUCCESS); break;
		case 6: complete_send(r, (enum ibv_wc_status)(1 + take(r) % 21)); break;
		}
		check_reqs(r);
	}
	/* the link goes down: everything pending fails, the NIC flushes the rest */
	dtp_vq_fail(&r->q, -ECONNRESET, "fuzz: end of input");
	while (r->f.sn)
		complete_send(r, IBV_WC_WR_FLUSH_ERR);
	check_reqs(r);
	for (i = 0; i < r->nreq; i++) {
		FUZZ_CHECK(r->req[i].state == DTP_VREQ_DONE);
		free(r->buf[i]);
	}
	dtp_vq_destroy(&r->q);
	free(r);
	return 0;
}
