/* The verbs transport's protocol state machine (docs/wire-protocol.md, "Verbs"):
 * receiver-advertised slots, RDMA WRITE_WITH_IMM of the payload, credits, and
 * the checks on every work completion. It owns no thread and no lock: the
 * link (verbs.c) calls it under its mutex, and tests/rdma/test_verbs_state.c
 * drives it with fake verbs through struct dtp_verbs_api.
 *
 * Per direction, per link:
 *  - the receiver's n-th irecv becomes advertisement n (a SEND of 40 bytes
 *    naming the buffer address, rkey, capacity and expected tag), at most
 *    `slots` advertisements outstanding (the credits);
 *  - the sender's n-th isend waits for advertisement n, checks tag and size,
 *    and RDMA-WRITEs the payload with immediate (seq & 0xffff) | micro << 16;
 *    on a mismatch it SENDs a NACK instead, so that the receiver fails the
 *    matching irecv with -EPROTO naming both tags (the send itself completes,
 *    as on the stream transports, with a warning in the log);
 *  - a payload of at most max_inline bytes goes inline (IBV_SEND_INLINE: the
 *    data is copied into the work request) and its isend completes when it is
 *    posted, as a small send on tcp does once the kernel has it; its slot stays
 *    busy until the WRITE's own completion. */
#ifndef DTP_RDMA_VERBS_PROTO_H
#define DTP_RDMA_VERBS_PROTO_H

#include <stdint.h>

#include "rdma/transport.h"
#include "rdma/verbs_api.h"

#define DTP_VMSG_BYTES 64        /* size of one control buffer */
#define DTP_VMSG_WIRE 40         /* bytes of a control message on the wire */
#define DTP_VINLINE_BYTES 128    /* max_inline_data asked of the QP */

enum dtp_vmsg_type {
	DTP_VMSG_ADV = 1,        /* receiver -> sender: a slot is ready */
	DTP_VMSG_NACK = 2,       /* sender -> receiver: tag/size mismatch for seq */
	DTP_VMSG_BYE = 3,        /* orderly close */
};

struct dtp_vmsg {
	uint16_t type;
	uint32_t seq;
	uint64_t addr;           /* ADV: where to write */
	uint64_t len;            /* ADV: capacity; NACK: the bytes the sender had */
	uint32_t rkey;           /* ADV */
	struct dtp_tag tag;      /* ADV: expected tag; NACK: the tag sent */
};

void dtp_vmsg_pack(const struct dtp_vmsg *m, uint8_t out[DTP_VMSG_WIRE]);
/* -EPROTO when len is short or the type is unknown */
int dtp_vmsg_unpack(const uint8_t *buf, size_t len, struct dtp_vmsg *m);

/* 32-bit immediate of the data WRITE: low 16 bits the sequence number, high 16
 * bits the micro-batch (host order here; network order on the wire) */
static inline uint32_t dtp_vimm_encode(uint32_t seq, uint16_t micro)
{
	return (seq & 0xffffu) | ((uint32_t)micro << 16);
}

/* wr_id = kind << 56 | sequence number or receive buffer index */
enum dtp_vwr_kind { DTP_VWR_RECV = 1, DTP_VWR_ADV, DTP_VWR_NACK, DTP_VWR_BYE, DTP_VWR_DATA };
#define DTP_VWR(kind, v) (((uint64_t)(kind) << 56) | ((uint64_t)(v) & 0xffffffffu))
#define DTP_VWR_KIND(id) ((int)((id) >> 56))
#define DTP_VWR_VAL(id) ((uint32_t)((id) & 0xffffffffu))

/* request states (struct dtp_req.state) */
#define DTP_VREQ_PENDING 1
#define DTP_VREQ_DONE 2

struct dtp_vq {
	const struct dtp_verbs_api *api;
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	int slots;
	int self_stage, peer_stage;
	int rq_depth;            /* receive buffers: dtp_vq_rq_depth(slots) */
	int rq_batch;            /* consumed receive buffers are re-posted this many at a time */
	int nrepost;             /* consumed, not yet re-posted (< rq_batch between calls) */
	uint32_t *repost;        /* [rq_batch] their indices */
	uint8_t *ctrl;           /* rq_depth + 2 * slots + 1 control buffers */
	struct ibv_mr *ctrl_mr;
	/* receive direction */
	uint32_t radv_next;      /* seq of the next advertisement we send */
	uint32_t rdone_next;     /* seq of the next payload we expect */
	struct dtp_req **rslot;  /* [slots] the irecv advertised as seq % slots */
	struct dtp_req *rpend_head, *rpend_tail;   /* irecvs waiting for a credit */
	/* send direction */
	struct dtp_vmsg *sadv;   /* [slots] advertisements received, by seq % slots */
	uint32_t sadv_recv;      /* advertisements received so far */
	uint32_t smatched;       /* isends matched to an advertisement so far */
	struct dtp_req **sslot;  /* [slots] the isend whose WRITE is in flight; an
				  * advertisement waits until its slot is free */
	struct dtp_req *spend_head, *spend_tail;   /* isends waiting for an advertisement */
	/* first fatal error; every pending and later request fails with it */
	int fatal;
	struct dtp_err ferr;
	int bye_done;            /* our BYE was sent (its completion came back) */
	uint32_t max_inline;     /* the QP's max_inline_data (0: none); set after init */
	struct dtp_req inlined;  /* sslot marker: an inline WRITE whose isend completed */
	uint64_t completions;    /* work completions handled */
};

/* Receive buffers per link. The peer can have at most 2 * slots + 1 messages
 * in flight that each take one (slots advertisements, slots payloads or
 * NACKs, a BYE), so 2 * slots + 2 stay posted at all times; the rq_batch on
 * top lets consumed ones be re-posted in batches (one chained ibv_post_recv)
 * instead of one call per message. The QP's receive queue and the CQ are
 * sized from this. */
static inline int dtp_vq_rq_batch(int slots) { return slots < 8 ? slots : 8; }
static inline int dtp_vq_rq_depth(int slots) { return 2 * slots + 2 + dtp_vq_rq_batch(slots); }

/* Allocate and register the control buffers (api->reg_mr on pd). */
int dtp_vq_init(struct dtp_vq *q, const struct dtp_verbs_api *api, struct ibv_pd *pd,
		struct ibv_qp *qp, struct ibv_cq *cq, int slots, int self_stage, int peer_stage,
		struct dtp_err *err);
void dtp_vq_destroy(struct dtp_vq *q);
/* requests waiting for the peer before anything can go on the wire: isends
 * without an advertisement, irecvs without a credit */
static inline int dtp_vq_queued(const struct dtp_vq *q) { return q->spend_head || q->rpend_head; }
/* post the rq_depth receive buffers (once, after the QP reaches RTR) */
int dtp_vq_start(struct dtp_vq *q, struct dtp_err *err);

/* tmp: a registration made for this request only (the caller passed no
 * dtp_mr and the buffer is in no registered region); it is deregistered when
 * the request completes. NULL otherwise. */
void dtp_vq_isend(struct dtp_vq *q, const struct dtp_tag *tag, const void *buf, size_t len,
		  uint32_t lkey, struct ibv_mr *tmp, struct dtp_req *req);
void dtp_vq_irecv(struct dtp_vq *q, const struct dtp_tag *tag, void *buf, size_t cap,
		  uint32_t rkey, struct ibv_mr *tmp, struct dtp_req *req);
/* handle one work completion */
void dtp_vq_handle_wc(struct dtp_vq *q, const struct ibv_wc *wc);
/* poll the CQ once (up to 16 completions); returns how many were handled */
int dtp_vq_poll(struct dtp_vq *q);
/* record a fatal error (the first one wins) and fail every pending request */
void dtp_vq_fail(struct dtp_vq *q, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* post the orderly-close message (best effort) */
void dtp_vq_send_bye(struct dtp_vq *q);
/* describe why a completed request failed (req->status < 0) into err */
int dtp_vq_req_err(const struct dtp_vq *q, const struct dtp_req *req, struct dtp_err *err);
/* the hint printed for an error completion status */
const char *dtp_vq_wc_hint(enum ibv_wc_status st);

#endif
