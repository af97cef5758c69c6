/* The verbs transport's protocol state machine; see verbs_proto.h and
 * docs/wire-protocol.md ("Verbs"). No locks, no threads, no allocation after
 * dtp_vq_init: the caller serializes, requests live in caller storage. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "rdma/verbs_proto.h"

/* struct dtp_req.priv use: [0] list link, then the sequence number; [1] the
 * other side's tag (packed) and [2] its size, kept for the -EPROTO message;
 * [3] flags */
#define RQ_SEND 1u
#define RQ_STASH 2u
#define RQ_TMPMR 4u     /* req->mr holds a struct ibv_mr * registered for this request */

/* ---------------------------------------------------------------- wire */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return get16(p) | ((uint32_t)get16(p + 2) << 16); }
static uint64_t get64(const uint8_t *p) { return get32(p) | ((uint64_t)get32(p + 4) << 32); }

/* offset: 0 type u16, 2 reserved u16, 4 seq u32, 8 addr u64, 16 len u64,
 * 24 rkey u32, 28 step u32, 32 micro u16, 34 kind u16, 36 reserved u32 */
void dtp_vmsg_pack(const struct dtp_vmsg *m, uint8_t out[DTP_VMSG_WIRE])
{
	memset(out, 0, DTP_VMSG_WIRE);
	put16(out, m->type);
	put32(out + 4, m->seq);
	put64(out + 8, m->addr);
	put64(out + 16, m->len);
	put32(out + 24, m->rkey);
	put32(out + 28, m->tag.step);
	put16(out + 32, m->tag.micro);
	put16(out + 34, m->tag.kind);
}

int dtp_vmsg_unpack(const uint8_t *buf, size_t len, struct dtp_vmsg *m)
{
	struct dtp_vmsg v;

	if (len < DTP_VMSG_WIRE)
		return -EPROTO;
	v.type = get16(buf);
	if (v.type < DTP_VMSG_ADV || v.type > DTP_VMSG_BYE)
		return -EPROTO;
	v.seq = get32(buf + 4);
	v.addr = get64(buf + 8);
	v.len = get64(buf + 16);
	v.rkey = get32(buf + 24);
	v.tag.step = get32(buf + 28);
	v.tag.micro = get16(buf + 32);
	v.tag.kind = get16(buf + 34);
	*m = v;
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t tag_pack(const struct dtp_tag *t)
{
	return (uint64_t)t->step << 32 | (uint64_t)t->micro << 16 | t->kind;
}

static int tag_eq(const struct dtp_tag *a, const struct dtp_tag *b)
{
	return a->step == b->step && a->micro == b->micro && a->kind == b->kind;
}

static uint8_t *ctrl_recv(struct dtp_vq *q, uint32_t i) { return q->ctrl + (size_t)i * DTP_VMSG_BYTES; }
static uint8_t *ctrl_adv(struct dtp_vq *q, uint32_t seq)
{
	return ctrl_recv(q, (uint32_t)q->rq_depth + seq % (uint32_t)q->slots);
}
static uint8_t *ctrl_nack(struct dtp_vq *q, uint32_t seq)
{
	return ctrl_recv(q, (uint32_t)(q->rq_depth + q->slots) + seq % (uint32_t)q->slots);
}
static uint8_t *ctrl_bye(struct dtp_vq *q) { return ctrl_recv(q, (uint32_t)(q->rq_depth + 2 * q->slots)); }

static void req_done(struct dtp_vq *q, struct dtp_req *r, int status)
{
	if (r->priv[3] & RQ_TMPMR) {
		q->api->dereg_mr((struct ibv_mr *)(void *)r->mr);
		r->mr = NULL;
		r->priv[3] &= ~(uint64_t)RQ_TMPMR;
	}
	r->status = status;
	__atomic_store_n(&r->state, DTP_VREQ_DONE, __ATOMIC_RELEASE);
}

static void list_push(struct dtp_req **head, struct dtp_req **tail, struct dtp_req *r)
{
	r->priv[0] = 0;
	if (*tail)
		(*tail)->priv[0] = (uint64_t)(uintptr_t)r;
	else
		*head = r;
	*tail = r;
}

static struct dtp_req *list_pop(struct dtp_req **head, struct dtp_req **tail)
{
	struct dtp_req *r = *head;

	if (!r)
		return NULL;
	*head = (struct dtp_req *)(uintptr_t)r->priv[0];
	if (!*head)
		*tail = NULL;
	return r;
}

/* ---------------------------------------------------------------- errors */

const char *dtp_vq_wc_hint(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_RETRY_EXC_ERR:
		return "the peer did not acknowledge: the peer process is dead or unreachable, the "
		       "transport timeout is too short, or (RoCE) the GID index is wrong - set gid_index "
		       "to the RoCE v2 IPv4 GID (see `ibv_devinfo -v` / `show_gids`)";
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return "the peer had no receive buffer posted (receiver not ready): the peer stopped "
		       "progressing or died";
	case IBV_WC_REM_ACCESS_ERR:
		return "the peer refused the RDMA access: the advertised buffer is not registered for "
		       "remote write or was deregistered (register receive buffers with dtp_link_reg "
		       "once and keep them)";
	case IBV_WC_LOC_PROT_ERR:
		return "a local buffer is not inside the memory region passed with it (pass the "
		       "dtp_mr returned by dtp_link_reg for that buffer)";
	case IBV_WC_LOC_LEN_ERR:
		return "a message was longer than the receive buffer posted for it (protocol bug or a "
		       "stranger on the queue pair)";
	case IBV_WC_REM_INV_REQ_ERR:
		return "the peer found the request invalid (a WRITE past the advertised buffer?)";
	case IBV_WC_REM_OP_ERR:
		return "the peer could not complete the operation (its queue pair is in error)";
	case IBV_WC_WR_FLUSH_ERR:
		return "the queue pair went to the error state (an earlier error or the peer closed)";
	default:
		return "see ibv_wc_status_str and the peer's log";
	}
}

static const char *wr_name(int kind)
{
	switch (kind) {
	case DTP_VWR_RECV: return "receive";
	case DTP_VWR_ADV: return "advertisement SEND";
	case DTP_VWR_NACK: return "NACK SEND";
	case DTP_VWR_BYE: return "BYE SEND";
	case DTP_VWR_DATA: return "payload RDMA WRITE_WITH_IMM";
	default: return "unknown work request";
	}
}

void dtp_vq_fail(struct dtp_vq *q, int code, const char *fmt, ...)
{
	struct dtp_req *r;
	va_list ap;
	int i;

	if (!q->fatal) {
		q->fatal = code;
		q->ferr.code = code;
		va_start(ap, fmt);
		vsnprintf(q->ferr.msg, sizeof(q->ferr.msg), fmt, ap);
		va_end(ap);
	}
	while ((r = list_pop(&q->spend_head, &q->spend_tail)))
		req_done(q, r, q->fatal);
	while ((r = list_pop(&q->rpend_head, &q->rpend_tail)))
		req_done(q, r, q->fatal);
	for (i = 0; i < q->slots; i++) {
		if (q->rslot[i]) {
			req_done(q, q->rslot[i], q->fatal);
			q->rslot[i] = NULL;
		}
	}
	/* in-flight WRITEs (sslot) complete through their own completion (success
	 * or flush), which fails them with q->fatal */
}

int dtp_vq_req_err(const struct dtp_vq *q, const struct dtp_req *req, struct dtp_err *err)
{
	int send = (req->priv[3] & RQ_SEND) != 0;
	uint64_t o = req->priv[1];

	if (req->status == -EPROTO && (req->priv[3] & RQ_STASH))
		return dtp_errf(err, -EPROTO,
				"verbs link stage %d %s stage %d: message %llu mismatch: this side %s "
				"tag (step %u, micro %u, kind %u) %s %zu bytes, the peer %s tag "
				"(step %u, micro %u, kind %u) %s %llu bytes: both stages must post "
				"the same sequence of tensors (same plan and schedule)",
				q->self_stage, send ? "->" : "<-", q->peer_stage,
				(unsigned long long)(req->priv[0] & 0xffffffffu),
				send ? "sent" : "expected", req->tag.step, req->tag.micro, req->tag.kind,
				send ? "with" : "into", req->len, send ? "expected" : "sent",
				(unsigned)(o >> 32), (unsigned)((o >> 16) & 0xffff), (unsigned)(o & 0xffff),
				send ? "into" : "with", (unsigned long long)req->priv[2]);
	if (q->fatal && req->status == q->fatal)
		return dtp_errf(err, q->fatal, "%s", q->ferr.msg);
	return dtp_errf(err, req->status, "verbs link stage %d <-> stage %d: request failed (%s)",
			q->self_stage, q->peer_stage, strerror(-req->status));
}

/* ---------------------------------------------------------------- init */

int dtp_vq_init(struct dtp_vq *q, const struct dtp_verbs_api *api, struct ibv_pd *pd,
		struct ibv_qp *qp, struct ibv_cq *cq, int slots, int self_stage, int peer_stage,
		struct dtp_err *err)
{
	size_t nbuf, bytes;
	int rc = -ENOMEM;

	if (slots < 1 || slots > 4096)
		return dtp_errf(err, -EINVAL, "verbs link stage %d <-> stage %d: slots = %d: use 1..4096",
				self_stage, peer_stage, slots);
	memset(q, 0, sizeof(*q));
	q->api = api;
	q->qp = qp;
	q->cq = cq;
	q->slots = slots;
	q->self_stage = self_stage;
	q->peer_stage = peer_stage;
	q->rq_depth = dtp_vq_rq_depth(slots);
	q->rq_batch = dtp_vq_rq_batch(slots);
	nbuf = (size_t)q->rq_depth + 2 * (size_t)slots + 1;
	bytes = nbuf * DTP_VMSG_BYTES;
	q->rslot = calloc((size_t)slots, sizeof(*q->rslot));
	q->sslot = calloc((size_t)slots, sizeof(*q->sslot));
	q->sadv = calloc((size_t)slots, sizeof(*q->sadv));
	q->repost = calloc((size_t)q->rq_batch, sizeof(*q->repost));
	if (!q->rslot || !q->sslot || !q->sadv || !q->repost)
		goto out_free_arrays;
	q->ctrl = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
	if (!q->ctrl)
		goto out_free_arrays;
	memset(q->ctrl, 0, bytes);
	q->ctrl_mr = api->reg_mr(pd, q->ctrl, bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!q->ctrl_mr) {
		rc = dtp_errf(err, errno ? -errno : -ENOMEM,
			      "verbs link stage %d <-> stage %d: ibv_reg_mr of %zu control bytes: %s: "
			      "raise the locked-memory limit (ulimit -l)",
			      self_stage, peer_stage, bytes, strerror(errno ? errno : ENOMEM));
		goto out_free_ctrl;
	}
	return 0;

out_free_ctrl:
	free(q->ctrl);
out_free_arrays:
	free(q->repost);
	free(q->sadv);
	free(q->sslot);
	free(q->rslot);
	if (rc == -ENOMEM && !q->ctrl_mr)
		dtp_errf(err, rc, "verbs link stage %d <-> stage %d: out of memory", self_stage, peer_stage);
	memset(q, 0, sizeof(*q));
	return rc;
}

void dtp_vq_destroy(struct dtp_vq *q)
{
	if (q->ctrl_mr)
		q->api->dereg_mr(q->ctrl_mr);
	free(q->ctrl);
	free(q->repost);
	free(q->sadv);
	free(q->sslot);
	free(q->rslot);
	memset(q, 0, sizeof(*q));
}

/* post the receive buffers idx[0..n) as one chain (n <= 16) */
static int post_recvs(struct dtp_vq *q, const uint32_t *idx, int n)
{
	struct ibv_sge sge[16];
	struct ibv_recv_wr wr[16];
	struct ibv_recv_wr *bad = NULL;
	int i, rc;

	for (i = 0; i < n; i++) {
		sge[i] = (struct ibv_sge){ .addr = (uintptr_t)ctrl_recv(q, idx[i]),
					   .length = DTP_VMSG_BYTES, .lkey = q->ctrl_mr->lkey };
		wr[i] = (struct ibv_recv_wr){ .wr_id = DTP_VWR(DTP_VWR_RECV, idx[i]),
					      .next = i + 1 < n ? &wr[i + 1] : NULL,
					      .sg_list = &sge[i], .num_sge = 1 };
	}
	rc = q->api->post_recv(q->qp, wr, &bad);

	if (rc)
		dtp_vq_fail(q, rc > 0 ? -rc : -EIO,
			    "verbs link stage %d <-> stage %d: ibv_post_recv: %s: the queue pair is "
			    "broken (peer gone?)", q->self_stage, q->peer_stage, strerror(rc > 0 ? rc : EIO));
	return rc;
}

int dtp_vq_start(struct dtp_vq *q, struct dtp_err *err)
{
	uint32_t idx[16];
	int i, n = 0;

	for (i = 0; i < q->rq_depth; i++) {
		idx[n++] = (uint32_t)i;
		if ((n == 16 || i + 1 == q->rq_depth) && post_recvs(q, idx, n))
			return dtp_errf(err, q->fatal, "%s", q->ferr.msg);
		n %= 16;
	}
	return 0;
}

/* a receive buffer was consumed: re-post it with the next rq_batch - 1 */
static void repost(struct dtp_vq *q, uint32_t i)
{
	q->repost[q->nrepost++] = i;
	if (q->nrepost == q->rq_batch) {
		q->nrepost = 0;
		post_recvs(q, q->repost, q->rq_batch);
	}
}

static int post_ctrl(struct dtp_vq *q, int kind, uint32_t seq, uint8_t *buf, const struct dtp_vmsg *m)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = DTP_VMSG_WIRE, .lkey = q->ctrl_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = DTP_VWR(kind, seq), .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED |
				  (q->max_inline >= DTP_VMSG_WIRE ? IBV_SEND_INLINE : 0) };
	struct ibv_send_wr *bad = NULL;
	int rc;

	dtp_vmsg_pack(m, buf);
	rc = q->api->post_send(q->qp, &wr, &bad);
	if (rc)
		dtp_vq_fail(q, rc > 0 ? -rc : -EIO,
			    "verbs link stage %d <-> stage %d: ibv_post_send (%s): %s: the queue pair is "
			    "broken or full", q->self_stage, q->peer_stage, wr_name(kind),
			    strerror(rc > 0 ? rc : EIO));
	return rc;
}

/* ---------------------------------------------------------------- sending */

/* Match pending isends to received advertisements, in order. Advertisement
 * n + slots can arrive before the completion of our WRITE n (the receiver
 * returns the credit when payload n lands, and its SEND may overtake the
 * acknowledgement of the WRITE): slot n % slots is then still in flight, and
 * the match waits for that completion (handle_wc calls us again), so at most
 * `slots` WRITEs are in flight and each completion finds its own request. */
static void kick_send(struct dtp_vq *q)
{
	while (!q->fatal && q->spend_head && q->smatched != q->sadv_recv &&
	       !q->sslot[q->smatched % (uint32_t)q->slots]) {
		uint32_t seq = q->smatched;
		const struct dtp_vmsg *adv = &q->sadv[seq % (uint32_t)q->slots];
		struct dtp_req *r = list_pop(&q->spend_head, &q->spend_tail);

		q->smatched++;
		r->priv[0] = seq;
		if (!tag_eq(&r->tag, &adv->tag) || r->len > adv->len) {
			/* as on every transport, the error is the receiver's (-EPROTO on
			 * its irecv, told by the NACK); the send completes, and says so */
			struct dtp_vmsg nack = { .type = DTP_VMSG_NACK, .seq = seq, .len = r->len,
						 .tag = r->tag };

			dtp_warn("verbs link stage %d -> stage %d: message %u: sent tag (step %u, micro "
				 "%u, kind %u) with %zu bytes, but the peer posted tag (step %u, micro %u, "
				 "kind %u) into %llu bytes: its receive fails with -EPROTO",
				 q->self_stage, q->peer_stage, seq, r->tag.step, r->tag.micro, r->tag.kind,
				 r->len, adv->tag.step, adv->tag.micro, adv->tag.kind,
				 (unsigned long long)adv->len);
			req_done(q, r, 0);
			post_ctrl(q, DTP_VWR_NACK, seq, ctrl_nack(q, seq), &nack);
			continue;
		}
		{
			/* small: inline, and the isend is done once posted (the slot
			 * stays busy until the WRITE's completion) */
			int inl = r->len <= q->max_inline;
			struct ibv_sge sge = { .addr = (uintptr_t)r->buf, .length = (uint32_t)r->len,
					       .lkey = (uint32_t)(r->priv[1] >> 32) };
			struct ibv_send_wr wr = {
				.wr_id = DTP_VWR(DTP_VWR_DATA, seq),
				.sg_list = &sge, .num_sge = r->len ? 1 : 0,
				.opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
				.send_flags = IBV_SEND_SIGNALED | (inl && r->len ? IBV_SEND_INLINE : 0),
				.imm_data = htonl(dtp_vimm_encode(seq, r->tag.micro)),
				.wr.rdma = { .remote_addr = adv->addr, .rkey = adv->rkey },
			};
			struct ibv_send_wr *bad = NULL;
			int rc;

			q->sslot[seq % (uint32_t)q->slots] = inl ? &q->inlined : r;
			rc = q->api->post_send(q->qp, &wr, &bad);
			if (!rc && inl)
				req_done(q, r, 0);
			if (rc) {
				q->sslot[seq % (uint32_t)q->slots] = NULL;
				req_done(q, r, rc > 0 ? -rc : -EIO);
				dtp_vq_fail(q, rc > 0 ? -rc : -EIO,
					    "verbs link stage %d -> stage %d: ibv_post_send (RDMA WRITE of "
					    "%zu bytes): %s: the queue pair is broken or full",
					    q->self_stage, q->peer_stage, r->len, strerror(rc > 0 ? rc : EIO));
			}
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
	req->priv[3] = RQ_SEND;
	if (tmp) {
		req->mr = (struct dtp_mr *)(void *)tmp;
		req->priv[3] |= RQ_TMPMR;
	}
	__atomic_store_n(&req->state, DTP_VREQ_PENDING, __ATOMIC_RELAXED);
	if (q->fatal) {
		req_done(q, req, q->fatal);
		return;
	}
	list_push(&q->spend_head, &q->spend_tail, req);
	kick_send(q);
}

/* ---------------------------------------------------------------- receiving */

static void kick_recv(struct dtp_vq *q)
{
	while (!q->fatal && q->rpend_head && q->radv_next - q->rdone_next < (uint32_t)q->slots) {
		struct dtp_req *r = list_pop(&q->rpend_head, &q->rpend_tail);
		uint32_t seq = q->radv_next++;
		struct dtp_vmsg adv = { .type = DTP_VMSG_ADV, .seq = seq, .addr = (uintptr_t)r->buf,
					.len = r->priv[2], .rkey = (uint32_t)(r->priv[1] >> 32),
					.tag = r->tag };

		r->priv[0] = seq;
		q->rslot[seq % (uint32_t)q->slots] = r;
		post_ctrl(q, DTP_VWR_ADV, seq, ctrl_adv(q, seq), &adv);
	}
}

void dtp_vq_irecv(struct dtp_vq *q, const struct dtp_tag *tag, void *buf, size_t cap,
		  uint32_t rkey, struct ibv_mr *tmp, struct dtp_req *req)
{
	req->tag = *tag;
	req->buf = buf;
	req->len = 0;
	req->status = 0;
	req->priv[1] = (uint64_t)rkey << 32;
	req->priv[2] = cap;
	req->priv[3] = 0;
	if (tmp) {
		req->mr = (struct dtp_mr *)(void *)tmp;
		req->priv[3] |= RQ_TMPMR;
	}
	__atomic_store_n(&req->state, DTP_VREQ_PENDING, __ATOMIC_RELAXED);
	if (q->fatal) {
		req_done(q, req, q->fatal);
		return;
	}
	list_push(&q->rpend_head, &q->rpend_tail, req);
	kick_recv(q);
}

/* the payload (or NACK) for the oldest advertised slot arrived */
static struct dtp_req *take_rslot(struct dtp_vq *q, uint32_t seq16, const char *what)
{
	uint32_t seq = q->rdone_next;
	struct dtp_req *r;

	if (seq == q->radv_next) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: %s for message %u that was "
			    "never advertised (a stranger or a protocol bug)",
			    q->self_stage, q->peer_stage, what, seq16);
		return NULL;
	}
	if ((seq & 0xffffu) != seq16) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: %s names message %u, "
			    "expected %u (out of order: protocol bug)",
			    q->self_stage, q->peer_stage, what, seq16, seq & 0xffffu);
		return NULL;
	}
	r = q->rslot[seq % (uint32_t)q->slots];
	q->rslot[seq % (uint32_t)q->slots] = NULL;
	q->rdone_next++;
	return r;
}

static void on_data(struct dtp_vq *q, const struct ibv_wc *wc)
{
	uint32_t imm = ntohl(wc->imm_data);
	struct dtp_req *r = take_rslot(q, imm & 0xffffu, "payload");

	if (!r)
		return;
	if ((imm >> 16) != r->tag.micro || wc->byte_len > r->priv[2]) {
		r->len = r->priv[2];
		r->priv[1] = (uint64_t)r->tag.step << 32 | (imm >> 16) << 16 | r->tag.kind;
		r->priv[2] = wc->byte_len;
		r->priv[3] |= RQ_STASH;
		req_done(q, r, -EPROTO);
	} else {
		r->len = wc->byte_len;
		req_done(q, r, 0);
	}
	kick_recv(q);
}

static void on_ctrl(struct dtp_vq *q, const struct ibv_wc *wc, uint32_t idx)
{
	struct dtp_vmsg m;
	struct dtp_req *r;

	if (dtp_vmsg_unpack(ctrl_recv(q, idx), wc->byte_len, &m)) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: malformed control message "
			    "(%u bytes, type %u): a stranger or a version mismatch",
			    q->self_stage, q->peer_stage, wc->byte_len, get16(ctrl_recv(q, idx)));
		return;
	}
	switch (m.type) {
	case DTP_VMSG_ADV:
		if (m.seq != q->sadv_recv || q->sadv_recv - q->smatched >= (uint32_t)q->slots) {
			dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: advertisement %u "
				    "unexpected (next %u, %u unused of %d credits): protocol bug",
				    q->self_stage, q->peer_stage, m.seq, q->sadv_recv,
				    q->sadv_recv - q->smatched, q->slots);
			return;
		}
		q->sadv[m.seq % (uint32_t)q->slots] = m;
		q->sadv_recv++;
		kick_send(q);
		break;
	case DTP_VMSG_NACK:
		r = take_rslot(q, m.seq & 0xffffu, "NACK");
		if (!r)
			return;
		r->len = r->priv[2];
		r->priv[1] = tag_pack(&m.tag);
		r->priv[2] = m.len;
		r->priv[3] |= RQ_STASH;
		req_done(q, r, -EPROTO);
		kick_recv(q);
		break;
	case DTP_VMSG_BYE:
		dtp_vq_fail(q, -ECONNRESET, "verbs link stage %d <-> stage %d: peer stage %d closed "
			    "the link", q->self_stage, q->peer_stage, q->peer_stage);
		break;
	}
}

void dtp_vq_handle_wc(struct dtp_vq *q, const struct ibv_wc *wc)
{
	int kind = DTP_VWR_KIND(wc->wr_id);
	uint32_t val = DTP_VWR_VAL(wc->wr_id);
	struct dtp_req *r = NULL;

	q->completions++;
	if (kind == DTP_VWR_DATA) {
		r = q->sslot[val % (uint32_t)q->slots];
		q->sslot[val % (uint32_t)q->slots] = NULL;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR || !q->fatal)
			dtp_vq_fail(q, wc->status == IBV_WC_WR_FLUSH_ERR ? -ECONNRESET : -EIO,
				    "verbs link stage %d <-> stage %d: %s failed: %s (status %d, vendor "
				    "error 0x%x): %s", q->self_stage, q->peer_stage, wr_name(kind),
				    ibv_wc_status_str(wc->status), (int)wc->status, wc->vendor_err,
				    dtp_vq_wc_hint(wc->status));
		if (r && r != &q->inlined)
			req_done(q, r, q->fatal);
		return;
	}
	switch (kind) {
	case DTP_VWR_DATA:
		if (r == &q->inlined) {          /* its isend completed when posted */
			kick_send(q);
			break;
		}
		if (!r || (uint32_t)r->priv[0] != val) {
			dtp_vq_fail(q, -EPROTO, "verbs link stage %d -> stage %d: completion of WRITE %u "
				    "finds %s in its slot (protocol bug)", q->self_stage,
				    q->peer_stage, val, r ? "another message" : "no message");
			if (r)
				req_done(q, r, q->fatal);
			break;
		}
		req_done(q, r, 0);
		kick_send(q);            /* the slot is free: a credit may be waiting for it */
		break;
	case DTP_VWR_RECV:
		if (val >= (uint32_t)q->rq_depth)
			break;
		if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM)
			on_data(q, wc);
		else
			on_ctrl(q, wc, val);
		if (!q->fatal)
			repost(q, val);
		break;
	case DTP_VWR_BYE:
		q->bye_done = 1;
		break;
	default:           /* ADV, NACK sends: nothing to do */
		break;
	}
}

int dtp_vq_poll(struct dtp_vq *q)
{
	struct ibv_wc wc[16];
	int n, i;

	n = q->api->poll_cq(q->cq, 16, wc);
	if (n < 0) {
		dtp_vq_fail(q, -EIO, "verbs link stage %d <-> stage %d: ibv_poll_cq failed (%d): the "
			    "device is gone", q->self_stage, q->peer_stage, n);
		return 0;
	}
	for (i = 0; i < n; i++)
		dtp_vq_handle_wc(q, &wc[i]);
	return n;
}

void dtp_vq_send_bye(struct dtp_vq *q)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_BYE };

	if (!q->fatal)
		post_ctrl(q, DTP_VWR_BYE, 0, ctrl_bye(q), &m);
}
