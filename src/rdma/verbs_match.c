/* The verbs transport's protocol state machine, part 2: which way each
 * message goes (eager SEND, or RDMA WRITE into an advertised buffer) and how
 * arrivals meet receives; see verbs_proto.h and docs/wire-protocol.md
 * ("Verbs"). Both directions number their messages in posting order and put
 * them on the wire in that order, so the n-th arrival always belongs to the
 * n-th irecv, whatever way each came. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "rdma/link.h"
#include "rdma/verbs_proto.h"

static uint64_t tag_pack(const struct dtp_tag *t)
{
	return (uint64_t)t->step << 32 | (uint64_t)t->micro << 16 | t->kind;
}

static int tag_eq(const struct dtp_tag *a, const struct dtp_tag *b)
{
	return a->step == b->step && a->micro == b->micro && a->kind == b->kind;
}

static void set_seq(struct dtp_req *r, uint32_t seq)
{
	r->priv[3] = (r->priv[3] & 0xffffffffu) | (uint64_t)seq << 32;
}

/* a before b in sequence order (wraps at 2^32) */
static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

/* the other side's tag and size, for dtp_vq_req_err; the request fails -EPROTO */
static void fail_mismatch(struct dtp_vq *q, struct dtp_req *r, const struct dtp_tag *other,
			  uint64_t other_len)
{
	r->len = r->priv[2];
	r->priv[1] = tag_pack(other);
	r->priv[2] = other_len;
	r->priv[3] |= DTP_VRQ_STASH;
	dtp_vq_req_done(q, r, -EPROTO);
}

void dtp_vq_fail_pending(struct dtp_vq *q)
{
	struct dtp_req *r;

	while ((r = dtp_req_pop(&q->spend_head, &q->spend_tail)))
		dtp_vq_req_done(q, r, q->fatal);
	while ((r = dtp_req_pop(&q->rhead, &q->rtail)))
		dtp_vq_req_done(q, r, q->fatal);
	q->rcur = NULL;
	q->rts_req = NULL;
}

/* ---------------------------------------------------------------- sending */

static const struct dtp_vmsg *sadv_head(const struct dtp_vq *q)
{
	return q->sadv_n ? &q->sadv[q->sadv_head] : NULL;
}

static void sadv_pop(struct dtp_vq *q)
{
	q->sadv_head = (q->sadv_head + 1) % (uint32_t)q->slots;
	q->sadv_n--;
}

/* message snext is done with: the next one may go */
static void sent_one(struct dtp_vq *q)
{
	q->snext++;
	q->rts_done = 0;
	/* an ADV for a message that went eager is stale */
	while (q->sadv_n && seq_lt(sadv_head(q)->seq, q->snext)) {
		sadv_pop(q);
		q->st.adv_stale++;
	}
}

static int can_stage(const struct dtp_vq *q) { return q->ecredits && dtp_vq_stage_free(q); }

static void send_eager(struct dtp_vq *q, struct dtp_req *r)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_EAGER, .seq = q->snext, .len = r->len, .tag = r->tag };

	set_seq(r, q->snext);
	if (dtp_vq_post_staged(q, &m, r->buf, r->len)) {
		dtp_vq_req_done(q, r, q->fatal);
		return;
	}
	q->ecredits--;
	q->st.eager_sent++;
	dtp_vq_req_done(q, r, 0);        /* the payload was copied */
	sent_one(q);
}

/* the receiver cannot take message snext as it is: it fails its irecv with
 * -EPROTO on our NACK; the send completes (the error is the receiver's) */
static void send_nack(struct dtp_vq *q, struct dtp_req *r, const struct dtp_vmsg *adv)
{
	struct dtp_vmsg nack = { .type = DTP_VMSG_NACK, .seq = q->snext, .len = r->len, .tag = r->tag };

	set_seq(r, q->snext);
	if (adv)
		dtp_warn("verbs link stage %d -> stage %d: message %u: sent tag (step %u, micro %u, "
			 "kind %u) with %zu bytes, but the peer posted tag (step %u, micro %u, kind %u) "
			 "into %llu bytes: its receive fails with -EPROTO", q->self_stage,
			 q->peer_stage, q->snext, r->tag.step, r->tag.micro, r->tag.kind, r->len,
			 adv->tag.step, adv->tag.micro, adv->tag.kind, (unsigned long long)adv->len);
	else
		dtp_warn("verbs link stage %d -> stage %d: message %u: sent tag (step %u, micro %u, "
			 "kind %u) with %zu bytes, but the peer posted a receive of at most %u bytes: "
			 "its receive fails with -EPROTO", q->self_stage, q->peer_stage, q->snext,
			 r->tag.step, r->tag.micro, r->tag.kind, r->len, DTP_VEAGER_MAX);
	dtp_vq_req_done(q, r, 0);
	if (adv) {
		if (!dtp_vq_post_ctrl(q, DTP_VWR_NACK, q->snext, dtp_vq_ctrl_nack(q, q->snext),
				      &nack))
			q->nnack_posted++;
	} else {
		nack.flags = DTP_VMSG_F_EAGER;
		if (!dtp_vq_post_staged(q, &nack, NULL, 0))
			q->ecredits--;
	}
	sent_one(q);
}

static void send_write(struct dtp_vq *q, struct dtp_req *r, const struct dtp_vmsg *adv)
{
	uint32_t seq = q->snext;
	struct ibv_sge sge = { .addr = (uintptr_t)r->buf, .length = (uint32_t)r->len,
			       .lkey = (uint32_t)(r->priv[1] >> 32) };
	struct ibv_send_wr wr = {
		.wr_id = DTP_VWR(DTP_VWR_DATA, seq),
		.sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
		.send_flags = IBV_SEND_SIGNALED,
		.imm_data = htonl(dtp_vimm_encode(seq, r->tag.micro)),
		.wr.rdma = { .remote_addr = adv->addr, .rkey = adv->rkey },
	};
	struct ibv_send_wr *bad = NULL;
	int rc;

	set_seq(r, seq);
	q->sslot[seq % (uint32_t)q->slots] = r;
	rc = q->api->post_send(q->qp, &wr, &bad);
	if (rc) {
		q->sslot[seq % (uint32_t)q->slots] = NULL;
		dtp_vq_req_done(q, r, rc > 0 ? -rc : -EIO);
		dtp_vq_fail(q, rc > 0 ? -rc : -EIO,
			    "verbs link stage %d -> stage %d: ibv_post_send (RDMA WRITE of %zu bytes): "
			    "%s: the queue pair is broken or full", q->self_stage, q->peer_stage,
			    r->len, strerror(rc > 0 ? rc : EIO));
		return;
	}
	q->st.rndv_sent++;           /* the isend completes with the WRITE */
	sent_one(q);
}

/* Put pending isends on the wire, strictly in order. A WRITE whose slot
 * (seq % slots) is still in flight waits for that completion (ADV n + slots
 * can arrive before the acknowledgement of WRITE n), so at most `slots`
 * WRITEs are in flight and each completion finds its own request. */
void dtp_vq_kick_send(struct dtp_vq *q)
{
	while (!q->fatal && q->spend_head) {
		struct dtp_req *r = q->spend_head;
		const struct dtp_vmsg *adv = sadv_head(q);

		if (r->len <= DTP_VEAGER_MAX) {
			if (!can_stage(q))
				return;          /* a credit or a staging buffer comes back */
			dtp_req_pop(&q->spend_head, &q->spend_tail);
			send_eager(q, r);
		} else if (adv && adv->seq == q->snext) {
			struct dtp_vmsg a = *adv;

			if (tag_eq(&r->tag, &a.tag) && r->len <= a.len &&
			    q->sslot[q->snext % (uint32_t)q->slots])
				return;          /* its slot's WRITE completes first */
			if ((!tag_eq(&r->tag, &a.tag) || r->len > a.len) &&
			    q->nnack_posted - q->nnack_done >= (uint32_t)q->slots)
				return;          /* a NACK send completes first */
			sadv_pop(q);
			dtp_req_pop(&q->spend_head, &q->spend_tail);
			if (!tag_eq(&r->tag, &a.tag) || r->len > a.len)
				send_nack(q, r, &a);
			else
				send_write(q, r, &a);
		} else if (adv) {
			/* ADVs come in order: the receiver posted irecv snext as a
			 * small one, which cannot take this payload */
			if (!can_stage(q))
				return;
			dtp_req_pop(&q->spend_head, &q->spend_tail);
			send_nack(q, r, NULL);
		} else {
			struct dtp_vmsg rts = { .type = DTP_VMSG_RTS, .seq = q->snext, .len = r->len,
						.tag = r->tag };

			/* no ADV yet: ask for it once (the irecv may be a small one) */
			if (!q->rts_done && can_stage(q) && !dtp_vq_post_staged(q, &rts, NULL, 0)) {
				q->ecredits--;
				q->rts_done = 1;
				q->st.rts_sent++;
			}
			return;
		}
	}
}

void dtp_vq_isend(struct dtp_vq *q, const struct dtp_tag *tag, const void *buf, size_t len,
		  uint32_t lkey, struct ibv_mr *tmp, struct dtp_req *req)
{
	req->tag = *tag;
	req->buf = (void *)(uintptr_t)buf;
	req->len = len;
	req->status = 0;
	req->priv[1] = (uint64_t)lkey << 32;
	req->priv[2] = 0;
	req->priv[3] = DTP_VRQ_SEND;
	if (tmp) {
		req->mr = (struct dtp_mr *)(void *)tmp;
		req->priv[3] |= DTP_VRQ_TMPMR;
	}
	__atomic_store_n(&req->state, DTP_VREQ_PENDING, __ATOMIC_RELAXED);
	if (q->fatal) {
		dtp_vq_req_done(q, req, q->fatal);
		return;
	}
	dtp_req_push(&q->spend_head, &q->spend_tail, req);
	dtp_vq_kick_send(q);
}

/* ---------------------------------------------------------------- receiving */

static int needs_adv(const struct dtp_req *r)
{
	return r->priv[2] > DTP_VEAGER_MAX || (r->priv[3] & DTP_VRQ_RTS);
}

static void send_adv(struct dtp_vq *q, struct dtp_req *r)
{
	struct dtp_vmsg adv = { .type = DTP_VMSG_ADV, .seq = dtp_vreq_seq(r), .addr = (uintptr_t)r->buf,
				.len = r->priv[2], .rkey = (uint32_t)(r->priv[1] >> 32), .tag = r->tag };

	r->priv[3] |= DTP_VRQ_ADV;
	q->radv_out++;
	q->st.adv_sent++;
	dtp_vq_post_ctrl(q, DTP_VWR_ADV, adv.seq, dtp_vq_ctrl_adv(q), &adv);
	q->nadv_posted++;
}

/* an ADV may go: fewer than `slots` whose message has not arrived, and fewer
 * than `slots` whose SEND has not completed (the peer's WRITE may come back
 * before our completion does) */
static int adv_room(const struct dtp_vq *q)
{
	return q->radv_out < q->slots && q->nadv_posted - q->nadv_done < (uint32_t)q->slots;
}

/* advertise the irecvs that need it, in order, at most `slots` outstanding */
void dtp_vq_kick_recv(struct dtp_vq *q)
{
	if (!q->fatal && q->rts_req && adv_room(q)) {
		send_adv(q, q->rts_req);
		q->rts_req = NULL;
	}
	while (!q->fatal && q->rcur) {
		struct dtp_req *r = q->rcur;

		if (!(r->priv[3] & DTP_VRQ_ADV) && needs_adv(r)) {
			if (!adv_room(q))
				break;
			send_adv(q, r);
		}
		r->priv[3] |= DTP_VRQ_SEEN;
		q->rcur = dtp_req_next(r);
	}
}

/* eager message m (payload at p) for irecv r */
static void take_eager(struct dtp_vq *q, struct dtp_req *r, const struct dtp_vmsg *m, const uint8_t *p)
{
	if (!tag_eq(&m->tag, &r->tag) || m->len > r->priv[2]) {
		fail_mismatch(q, r, &m->tag, m->len);
		return;
	}
	if (m->len)
		memcpy(r->buf, p, m->len);
	r->len = m->len;
	dtp_vq_req_done(q, r, 0);
}

void dtp_vq_irecv(struct dtp_vq *q, const struct dtp_tag *tag, void *buf, size_t cap,
		  uint32_t rkey, struct ibv_mr *tmp, struct dtp_req *req)
{
	uint32_t seq = q->rpost_next++;

	req->tag = *tag;
	req->buf = buf;
	req->len = 0;
	req->status = 0;
	req->priv[1] = (uint64_t)rkey << 32;
	req->priv[2] = cap;
	req->priv[3] = (uint64_t)seq << 32;
	if (tmp) {
		req->mr = (struct dtp_mr *)(void *)tmp;
		req->priv[3] |= DTP_VRQ_TMPMR;
	}
	__atomic_store_n(&req->state, DTP_VREQ_PENDING, __ATOMIC_RELAXED);
	if (q->held_n) {
		/* its message came first and waits in a receive buffer (also when
		 * the link has failed since: the peer may have closed after its
		 * sends completed, as on tcp, where the data stays readable) */
		uint32_t idx = q->held[q->held_head];
		const uint8_t *b = dtp_vq_rbuf(q, idx);
		struct dtp_vmsg m;

		q->held_head = (q->held_head + 1) % DTP_VEAGER_SLOTS;
		q->held_n--;
		dtp_vmsg_unpack(b, DTP_VMSG_WIRE, &m);   /* checked when it arrived */
		take_eager(q, req, &m, b + DTP_VMSG_WIRE);
		q->unreturned++;
		dtp_vq_repost(q, idx);
		dtp_vq_return_credits(q);
		return;
	}
	if (q->fatal) {
		dtp_vq_req_done(q, req, q->fatal);
		return;
	}
	dtp_req_push(&q->rhead, &q->rtail, req);
	if (q->rts_early && q->rts_seq == seq) {
		req->priv[3] |= DTP_VRQ_RTS;
		q->rts_early = 0;
	}
	if (!q->rcur)
		q->rcur = req;
	dtp_vq_kick_recv(q);
}

/* message seq arrived: the oldest posted irecv is its (NULL: none posted) */
static int arrival_ok(struct dtp_vq *q, uint32_t seq, const char *what)
{
	if (seq != q->rarr_next) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: %s for message %u, expected "
			    "%u (out of order: protocol bug)", q->self_stage, q->peer_stage, what, seq,
			    q->rarr_next);
		return 0;
	}
	return 1;
}

/* the oldest irecv got its message: the next arrival is the next irecv's */
static struct dtp_req *take_head(struct dtp_vq *q)
{
	struct dtp_req *r = dtp_req_pop(&q->rhead, &q->rtail);

	q->rarr_next++;
	if (!r)
		return NULL;
	if (q->rcur == r)
		q->rcur = dtp_req_next(r);
	if (q->rts_req == r)
		q->rts_req = NULL;
	if (r->priv[3] & DTP_VRQ_ADV)
		q->radv_out--;           /* a credit for the next ADV */
	return r;
}

void dtp_vq_on_write(struct dtp_vq *q, const struct ibv_wc *wc)
{
	uint32_t imm = ntohl(wc->imm_data);
	struct dtp_req *r = q->rhead;

	if (!r || !(r->priv[3] & DTP_VRQ_ADV) || (dtp_vreq_seq(r) & 0xffffu) != (imm & 0xffffu)) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: payload WRITE for message %u "
			    "that was not advertised (next %u): a stranger or a protocol bug",
			    q->self_stage, q->peer_stage, imm & 0xffffu, q->rarr_next & 0xffffu);
		return;
	}
	take_head(q);
	q->st.rndv_recv++;
	if ((imm >> 16) != r->tag.micro || wc->byte_len > r->priv[2]) {
		struct dtp_tag other = { r->tag.step, (uint16_t)(imm >> 16), r->tag.kind };

		fail_mismatch(q, r, &other, wc->byte_len);
	} else {
		r->len = wc->byte_len;
		dtp_vq_req_done(q, r, 0);
	}
	dtp_vq_kick_recv(q);
}

static int on_eager(struct dtp_vq *q, const struct dtp_vmsg *m, uint32_t idx, uint32_t byte_len)
{
	struct dtp_req *r;

	if (m->len > DTP_VEAGER_MAX || byte_len != DTP_VMSG_WIRE + m->len) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: eager message %u of %u "
			    "bytes says %llu bytes of payload (at most %u): protocol bug",
			    q->self_stage, q->peer_stage, m->seq, byte_len,
			    (unsigned long long)m->len, DTP_VEAGER_MAX);
		return 0;
	}
	if (!arrival_ok(q, m->seq, "eager message"))
		return 0;
	q->st.eager_recv++;
	r = take_head(q);
	if (!r) {
		/* no irecv yet: keep it where it is (its credit is not returned
		 * until an irecv takes it, so the ring cannot overflow) */
		if (q->held_n == DTP_VEAGER_SLOTS) {
			dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: more than %u eager "
				    "messages without a receive: the peer ignores the credits",
				    q->self_stage, q->peer_stage, DTP_VEAGER_SLOTS);
			return 0;
		}
		q->held[(q->held_head + q->held_n) % DTP_VEAGER_SLOTS] = idx;
		q->held_n++;
		q->st.eager_held++;
		return 1;
	}
	take_eager(q, r, m, dtp_vq_rbuf(q, idx) + DTP_VMSG_WIRE);
	q->unreturned++;
	dtp_vq_kick_recv(q);             /* an ADV credit may be back (the irecv was advertised) */
	return 0;
}

/* the sender has a large message seq and no ADV for it */
static void on_rts(struct dtp_vq *q, const struct dtp_vmsg *m)
{
	struct dtp_req *r = q->rhead;

	q->unreturned++;
	if (!arrival_ok(q, m->seq, "RTS"))
		return;
	if (!r) {
		q->rts_early = 1;            /* its irecv gets an ADV whatever its size */
		q->rts_seq = m->seq;
		return;
	}
	if ((r->priv[3] & DTP_VRQ_ADV) || needs_adv(r))
		return;                      /* advertised, or will be in turn */
	r->priv[3] |= DTP_VRQ_RTS;
	if (r->priv[3] & DTP_VRQ_SEEN)
		q->rts_req = r;              /* rcur went past it */
	dtp_vq_kick_recv(q);
}

static void on_nack(struct dtp_vq *q, const struct dtp_vmsg *m)
{
	struct dtp_req *r = q->rhead;

	if (m->flags & DTP_VMSG_F_EAGER)
		q->unreturned++;
	if (!arrival_ok(q, m->seq, "NACK"))
		return;
	if (!r) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: NACK for message %u, which "
			    "has no receive posted: protocol bug", q->self_stage, q->peer_stage, m->seq);
		return;
	}
	take_head(q);
	fail_mismatch(q, r, &m->tag, m->len);
	dtp_vq_kick_recv(q);
}

static void on_adv(struct dtp_vq *q, const struct dtp_vmsg *m)
{
	uint32_t tail = (q->sadv_head + q->sadv_n - 1) % (uint32_t)q->slots;

	if (seq_lt(m->seq, q->snext)) {
		q->st.adv_stale++;           /* its message went eager (or was NACKed) */
		return;
	}
	if (q->sadv_n == (uint32_t)q->slots) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: advertisement %u beyond the "
			    "%d credits: protocol bug", q->self_stage, q->peer_stage, m->seq, q->slots);
		return;
	}
	if (q->sadv_n && !seq_lt(q->sadv[tail].seq, m->seq)) {
		/* the answer to our RTS for snext, overtaken by a later ADV */
		if (m->seq != q->snext || q->sadv[q->sadv_head].seq == m->seq) {
			dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: advertisement %u "
				    "after %u (out of order): protocol bug", q->self_stage,
				    q->peer_stage, m->seq, q->sadv[tail].seq);
			return;
		}
		q->sadv_head = (q->sadv_head + (uint32_t)q->slots - 1) % (uint32_t)q->slots;
		q->sadv[q->sadv_head] = *m;
	} else {
		q->sadv[(q->sadv_head + q->sadv_n) % (uint32_t)q->slots] = *m;
	}
	q->sadv_n++;
	dtp_vq_kick_send(q);
}

int dtp_vq_on_msg(struct dtp_vq *q, const struct dtp_vmsg *m, uint32_t idx, uint32_t byte_len)
{
	switch (m->type) {
	case DTP_VMSG_EAGER:
		return on_eager(q, m, idx, byte_len);
	case DTP_VMSG_RTS:
		on_rts(q, m);
		break;
	case DTP_VMSG_NACK:
		on_nack(q, m);
		break;
	case DTP_VMSG_ADV:
		on_adv(q, m);
		break;
	case DTP_VMSG_BYE:
		dtp_vq_fail(q, -ECONNRESET, "verbs link stage %d <-> stage %d: peer stage %d closed "
			    "the link", q->self_stage, q->peer_stage, q->peer_stage);
		break;
	default:                         /* CREDIT: its credits were taken */
		break;
	}
	return 0;
}
