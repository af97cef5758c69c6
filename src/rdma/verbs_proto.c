/* The verbs transport's protocol state machine, part 1: wire format, buffers,
 * credits, work completions, errors (verbs_match.c: the messages themselves);
 * see verbs_proto.h and docs/wire-protocol.md ("Verbs"). No locks, no
 * threads, no allocation after dtp_vq_init: the caller serializes, requests
 * live in caller storage. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "rdma/verbs_proto.h"


/* ---------------------------------------------------------------- wire */


/* offset: 0 type u16, 2 credits u16, 4 seq u32, 8 addr u64, 16 len u64,
 * 24 rkey u32, 28 step u32, 32 micro u16, 34 kind u16, 36 flags u32 */
void dtp_vmsg_pack(const struct dtp_vmsg *m, uint8_t out[DTP_VMSG_WIRE])
{
	memset(out, 0, DTP_VMSG_WIRE);
	dtp_put_le16(out, m->type);
	dtp_put_le16(out + 2, m->credits);
	dtp_put_le32(out + 4, m->seq);
	dtp_put_le64(out + 8, m->addr);
	dtp_put_le64(out + 16, m->len);
	dtp_put_le32(out + 24, m->rkey);
	dtp_put_le32(out + 28, m->tag.step);
	dtp_put_le16(out + 32, m->tag.micro);
	dtp_put_le16(out + 34, m->tag.kind);
	dtp_put_le32(out + 36, m->flags);
}

int dtp_vmsg_unpack(const uint8_t *buf, size_t len, struct dtp_vmsg *m)
{
	struct dtp_vmsg v;

	if (len < DTP_VMSG_WIRE)
		return -EPROTO;
	v.type = dtp_le16(buf);
	if (v.type < DTP_VMSG_ADV || v.type > DTP_VMSG_CREDIT)
		return -EPROTO;
	v.credits = dtp_le16(buf + 2);
	v.seq = dtp_le32(buf + 4);
	v.addr = dtp_le64(buf + 8);
	v.len = dtp_le64(buf + 16);
	v.rkey = dtp_le32(buf + 24);
	v.tag.step = dtp_le32(buf + 28);
	v.tag.micro = dtp_le16(buf + 32);
	v.tag.kind = dtp_le16(buf + 34);
	v.flags = dtp_le32(buf + 36);
	*m = v;
	return 0;
}

/* ---------------------------------------------------------------- buffers */

static uint8_t *ctrl_send(struct dtp_vq *q, uint32_t i)
{
	return q->ctrl + (size_t)q->rq_depth * DTP_VRBUF_BYTES + (size_t)i * DTP_VMSG_BYTES;
}
uint8_t *dtp_vq_ctrl_adv(struct dtp_vq *q) { return ctrl_send(q, q->nadv_posted % (uint32_t)q->slots); }
uint8_t *dtp_vq_ctrl_nack(struct dtp_vq *q, uint32_t seq)
{
	return ctrl_send(q, (uint32_t)q->slots + seq % (uint32_t)q->slots);
}
static uint8_t *ctrl_bye(struct dtp_vq *q) { return ctrl_send(q, 2 * (uint32_t)q->slots); }
static uint8_t *stage_buf(struct dtp_vq *q, uint32_t i)
{
	return q->ctrl + (size_t)q->rq_depth * DTP_VRBUF_BYTES +
	       (2 * (size_t)q->slots + 1) * DTP_VMSG_BYTES + (size_t)i * DTP_VRBUF_BYTES;
}

void dtp_vq_req_done(struct dtp_vq *q, struct dtp_req *r, int status)
{
	if (r->priv[3] & DTP_VRQ_TMPMR) {
		q->api->dereg_mr((struct ibv_mr *)(void *)r->mr);
		r->mr = NULL;
		r->priv[3] &= ~(uint64_t)DTP_VRQ_TMPMR;
	}
	r->status = status;
	__atomic_store_n(&r->state, DTP_VREQ_DONE, __ATOMIC_RELEASE);
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
	case DTP_VWR_STAGED: return "eager SEND";
	default: return "unknown work request";
	}
}

void dtp_vq_fail(struct dtp_vq *q, int code, const char *fmt, ...)
{
	char msg[DTP_ERR_MSG_MAX];
	va_list ap;

	if (!q->fatal) {
		q->fatal = code;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/* a failed queue pair or a protocol error: a runtime failure */
		dtp_errf_runtime(&q->ferr, code, "%s", msg);
	}
	dtp_vq_fail_pending(q);
	/* in-flight WRITEs (sslot) complete through their own completion (success
	 * or flush), which fails them with q->fatal */
}

int dtp_vq_req_err(const struct dtp_vq *q, const struct dtp_req *req, struct dtp_err *err)
{
	int send = (req->priv[3] & DTP_VRQ_SEND) != 0;
	uint64_t o = req->priv[1];

	if (req->status == -EPROTO && (req->priv[3] & DTP_VRQ_STASH))
		return dtp_errf_runtime(err, -EPROTO,
					"verbs link stage %d %s stage %d: message %u mismatch: this side %s "
					"tag (step %u, micro %u, kind %u) %s %zu bytes, the peer %s tag "
					"(step %u, micro %u, kind %u) %s %llu bytes: both stages must post "
					"the same sequence of tensors (same plan and schedule)",
					q->self_stage, send ? "->" : "<-", q->peer_stage, dtp_vreq_seq(req),
					send ? "sent" : "expected", req->tag.step, req->tag.micro, req->tag.kind,
					send ? "with" : "into", req->len, send ? "expected" : "sent",
					(unsigned)(o >> 32), (unsigned)((o >> 16) & 0xffff), (unsigned)(o & 0xffff),
					send ? "into" : "with", (unsigned long long)req->priv[2]);
	if (q->fatal && req->status == q->fatal)
		return dtp_err_copy(err, &q->ferr);
	return dtp_errf_runtime(err, req->status, "verbs link stage %d <-> stage %d: request failed (%s)",
				q->self_stage, q->peer_stage, strerror(-req->status));
}

/* ---------------------------------------------------------------- init */

int dtp_vq_init(struct dtp_vq *q, const struct dtp_verbs_api *api, struct ibv_pd *pd,
		struct ibv_qp *qp, struct ibv_cq *cq, int slots, int self_stage, int peer_stage,
		struct dtp_err *err)
{
	size_t bytes;
	int rc = -ENOMEM;

	if (slots < 1 || slots > 4096)
		return dtp_errf_input(err, -EINVAL, "verbs link stage %d <-> stage %d: slots = %d: use 1..4096",
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
	q->ecredits = DTP_VEAGER_SLOTS;
	bytes = dtp_vq_ctrl_bytes(slots);
	q->sslot = calloc((size_t)slots, sizeof(*q->sslot));
	q->sadv = calloc((size_t)slots, sizeof(*q->sadv));
	q->repost = calloc((size_t)q->rq_batch, sizeof(*q->repost));
	q->held = calloc(DTP_VEAGER_SLOTS, sizeof(*q->held));
	if (!q->sslot || !q->sadv || !q->repost || !q->held)
		goto out_free_arrays;
	q->ctrl = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
	if (!q->ctrl)
		goto out_free_arrays;
	memset(q->ctrl, 0, bytes);
	q->ctrl_bytes = bytes;
	q->ctrl_mr = api->reg_mr(pd, q->ctrl, bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!q->ctrl_mr) {
		rc = dtp_errf_runtime(err, errno ? -errno : -ENOMEM,
				      "verbs link stage %d <-> stage %d: ibv_reg_mr of %zu control and eager "
				      "buffer bytes: %s: raise the locked-memory limit (ulimit -l)",
				      self_stage, peer_stage, bytes, strerror(errno ? errno : ENOMEM));
		goto out_free_ctrl;
	}
	return 0;

out_free_ctrl:
	free(q->ctrl);
out_free_arrays:
	free(q->held);
	free(q->repost);
	free(q->sadv);
	free(q->sslot);
	if (rc == -ENOMEM && !q->ctrl_mr)
		dtp_errf_runtime(err, rc, "verbs link stage %d <-> stage %d: out of memory", self_stage, peer_stage);
	memset(q, 0, sizeof(*q));
	return rc;
}

void dtp_vq_destroy(struct dtp_vq *q)
{
	if (q->ctrl_mr)
		q->api->dereg_mr(q->ctrl_mr);
	free(q->ctrl);
	free(q->held);
	free(q->repost);
	free(q->sadv);
	free(q->sslot);
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
		sge[i] = (struct ibv_sge){ .addr = (uintptr_t)dtp_vq_rbuf(q, idx[i]),
					   .length = DTP_VRBUF_BYTES, .lkey = q->ctrl_mr->lkey };
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
			return dtp_err_copy(err, &q->ferr);
		n %= 16;
	}
	return 0;
}

/* a receive buffer was consumed: re-post it with the next rq_batch - 1 */
void dtp_vq_repost(struct dtp_vq *q, uint32_t i)
{
	if (q->fatal)
		return;
	q->repost[q->nrepost++] = i;
	if (q->nrepost == q->rq_batch) {
		q->nrepost = 0;
		post_recvs(q, q->repost, q->rq_batch);
	}
}

/* the credits owed to the peer ride on every message we send */
static uint16_t take_credits(struct dtp_vq *q)
{
	uint16_t c = (uint16_t)(q->unreturned < 0xffffu ? q->unreturned : 0xffffu);

	q->unreturned -= c;
	return c;
}

static int post_send(struct dtp_vq *q, int kind, uint64_t wr_id, uint8_t *buf, size_t n, int signaled)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = (uint32_t)n, .lkey = q->ctrl_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags =
				  (signaled ? IBV_SEND_SIGNALED : 0) |
				  (q->max_inline >= n ? IBV_SEND_INLINE : 0) };
	struct ibv_send_wr *bad = NULL;
	int rc = q->api->post_send(q->qp, &wr, &bad);

	if (rc)
		dtp_vq_fail(q, rc > 0 ? -rc : -EIO,
			    "verbs link stage %d <-> stage %d: ibv_post_send (%s of %zu bytes): %s: the "
			    "queue pair is broken or full", q->self_stage, q->peer_stage, wr_name(kind),
			    n, strerror(rc > 0 ? rc : EIO));
	return rc;
}

int dtp_vq_post_ctrl(struct dtp_vq *q, int kind, uint32_t seq, uint8_t *buf, struct dtp_vmsg *m)
{
	m->credits = take_credits(q);
	dtp_vmsg_pack(m, buf);
	return post_send(q, kind, DTP_VWR(kind, seq), buf, DTP_VMSG_WIRE, 1);
}

int dtp_vq_post_staged(struct dtp_vq *q, struct dtp_vmsg *m, const void *payload, size_t len)
{
	uint8_t *b = stage_buf(q, q->stage_posted % DTP_VSTAGE);
	int rc;

	m->credits = take_credits(q);
	dtp_vmsg_pack(m, b);
	if (len)
		memcpy(b + DTP_VMSG_WIRE, payload, len);
	/* one in DTP_VSTAGE_SIGNAL asks for a completion, which frees its
	 * staging buffer and the unsignaled ones before it (sends complete in
	 * order): half the completions per ping-pong, and the rxe work for them */
	rc = post_send(q, DTP_VWR_STAGED, DTP_VWR(DTP_VWR_STAGED, q->stage_posted), b,
		       DTP_VMSG_WIRE + len,
		       q->stage_posted % DTP_VSTAGE_SIGNAL == DTP_VSTAGE_SIGNAL - 1);
	if (!rc)
		q->stage_posted++;
	return rc;
}

void dtp_vq_return_credits(struct dtp_vq *q)
{
	struct dtp_vmsg m = { .type = DTP_VMSG_CREDIT };

	if (!q->fatal && q->unreturned >= DTP_VEAGER_BATCH && dtp_vq_stage_free(q) &&
	    !dtp_vq_post_staged(q, &m, NULL, 0))
		q->st.credit_sent++;
}

/* ---------------------------------------------------------------- completions */

static void on_recv(struct dtp_vq *q, const struct ibv_wc *wc, uint32_t idx)
{
	struct dtp_vmsg m;
	int keep = 0;

	if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
		dtp_vq_on_write(q, wc);
	} else if (dtp_vmsg_unpack(dtp_vq_rbuf(q, idx), wc->byte_len, &m)) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: malformed message (%u "
			    "bytes, type %u): a stranger or a version mismatch",
			    q->self_stage, q->peer_stage, wc->byte_len, dtp_le16(dtp_vq_rbuf(q, idx)));
	} else if (m.credits > DTP_VEAGER_SLOTS - q->ecredits) {
		dtp_vq_fail(q, -EPROTO, "verbs link stage %d <- stage %d: %u eager credits returned, "
			    "only %u were out: protocol bug", q->self_stage, q->peer_stage,
			    m.credits, DTP_VEAGER_SLOTS - q->ecredits);
	} else {
		q->ecredits += m.credits;
		keep = dtp_vq_on_msg(q, &m, idx, wc->byte_len);
		if (m.credits)
			dtp_vq_kick_send(q);
	}
	if (!keep)
		dtp_vq_repost(q, idx);
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
			/* flushed, or the peer's QP in error (its process died): the
			 * connection is gone, as a reset tcp link; anything else -EIO */
			dtp_vq_fail(q, wc->status == IBV_WC_WR_FLUSH_ERR ||
					       wc->status == IBV_WC_REM_OP_ERR ? -ECONNRESET : -EIO,
				    "verbs link stage %d <-> stage %d: %s failed: %s (status %d, vendor "
				    "error 0x%x): %s", q->self_stage, q->peer_stage, wr_name(kind),
				    ibv_wc_status_str(wc->status), (int)wc->status, wc->vendor_err,
				    dtp_vq_wc_hint(wc->status));
		if (r)
			dtp_vq_req_done(q, r, q->fatal);
		return;
	}
	switch (kind) {
	case DTP_VWR_DATA:
		if (!r || dtp_vreq_seq(r) != val) {
			dtp_vq_fail(q, -EPROTO, "verbs link stage %d -> stage %d: completion of WRITE %u "
				    "finds %s in its slot (protocol bug)", q->self_stage,
				    q->peer_stage, val, r ? "another message" : "no message");
			if (r)
				dtp_vq_req_done(q, r, q->fatal);
			break;
		}
		dtp_vq_req_done(q, r, 0);
		dtp_vq_kick_send(q);     /* the slot is free: a credit may be waiting for it */
		break;
	case DTP_VWR_STAGED:             /* in post order, as every send on the QP */
		q->stage_done = val + 1;     /* val and the unsignaled ones before it */
		dtp_vq_kick_send(q);
		break;
	case DTP_VWR_RECV:
		if (val < (uint32_t)q->rq_depth)
			on_recv(q, wc, val);
		break;
	case DTP_VWR_BYE:
		q->bye_done = 1;
		break;
	case DTP_VWR_ADV:                /* its buffer and send queue entry are free */
		q->nadv_done++;
		dtp_vq_kick_recv(q);
		break;
	case DTP_VWR_NACK:               /* its buffer and send queue entry are free */
		q->nnack_done++;
		dtp_vq_kick_send(q);
		break;
	default:
		break;
	}
	dtp_vq_return_credits(q);
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
		dtp_vq_post_ctrl(q, DTP_VWR_BYE, 0, ctrl_bye(q), &m);
}
