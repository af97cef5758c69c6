/* The verbs transport's protocol state machine (docs/wire-protocol.md, "Verbs"):
 * eager SENDs for small tensors, receiver-advertised slots and RDMA
 * WRITE_WITH_IMM for large ones, credits for both, and the checks on every
 * work completion. It owns no thread and no lock: the link (verbs.c) calls it
 * under its mutex, and tests/rdma/test_verbs_state.c drives it with fake
 * verbs through struct dtp_verbs_api. verbs_proto.c: wire format, buffers,
 * credits, completions; verbs_match.c: which way each message goes and how
 * arrivals meet receives.
 *
 * Per direction, per link, messages are numbered n = 0, 1, ... in posting
 * order on both sides (the sender's n-th isend is the receiver's n-th irecv),
 * and go on the wire strictly in that order:
 *  - eager: a payload of at most DTP_VEAGER_MAX bytes goes as one SEND (a
 *    40-byte header naming n, tag and length, then the payload; inline when
 *    it fits max_inline) into one of the receive buffers every link keeps
 *    posted; the isend completes once posted (the payload was copied). The
 *    receiver copies it into the n-th irecv, or keeps it in its receive
 *    buffer until that irecv is posted. At most DTP_VEAGER_SLOTS eager-class
 *    messages (EAGER, RTS, eager NACK) are unaccounted for: the receiver
 *    returns credits as it consumes them, in the `credits` field of any
 *    message it sends, or in a CREDIT once DTP_VEAGER_BATCH have piled up;
 *  - rendezvous: an irecv whose capacity exceeds DTP_VEAGER_MAX becomes an
 *    advertisement (ADV n: buffer address, rkey, capacity, expected tag), at
 *    most `slots` outstanding; a larger payload waits for ADV n, checks tag and
 *    size and RDMA-WRITEs with immediate (n & 0xffff) | micro << 16, or SENDs
 *    a NACK on a mismatch (the receiver fails the irecv with -EPROTO naming
 *    both tags; the send completes, with a warning in the log);
 *  - a large payload with no ADV n yet sends RTS n (eager-class), so that an
 *    irecv the receiver posted as a small one is advertised anyway (and the
 *    size mismatch reported) instead of both sides waiting forever; an ADV
 *    beyond n tells the sender the same (it sends an eager NACK n). */
#ifndef DTP_RDMA_VERBS_PROTO_H
#define DTP_RDMA_VERBS_PROTO_H

#include <stdint.h>

#include "rdma/transport.h"
#include "rdma/verbs_api.h"

#define DTP_VMSG_BYTES 64        /* size of one control send buffer */
#define DTP_VMSG_WIRE 40         /* bytes of a message header on the wire */
#define DTP_VINLINE_BYTES 128    /* max_inline_data asked of the QP */
/* Eager path: payloads up to DTP_VEAGER_MAX bytes go as one SEND. 1 KiB:
 * control tensors and per-micro-batch scalars fit; up to it the two copies
 * cost less than the ADV a rendezvous needs per message, and above it (4 KiB:
 * one packet more than the WRITE, plus the copies) they did not
 * (docs/benchmarks.md, "Verbs, after the eager path"). Receive buffers are
 * DTP_VRBUF_BYTES each. */
#define DTP_VEAGER_MAX 1024u
#define DTP_VEAGER_SLOTS 16u     /* eager credits per direction */
#define DTP_VEAGER_BATCH 8u      /* a standalone CREDIT once this many wait to go back */
#define DTP_VRBUF_BYTES 1088u    /* a receive buffer: header + DTP_VEAGER_MAX, 64-aligned */
#define DTP_VSTAGE 32u           /* staging buffers for SENDs of eager-class messages and CREDITs */
#define DTP_VSTAGE_SIGNAL 8u     /* one staged SEND in this many is signaled */

enum dtp_vmsg_type {
	DTP_VMSG_ADV = 1,        /* receiver -> sender: a slot is ready */
	DTP_VMSG_NACK = 2,       /* sender -> receiver: tag/size mismatch for seq */
	DTP_VMSG_BYE = 3,        /* orderly close */
	DTP_VMSG_EAGER = 4,      /* sender -> receiver: message seq, payload follows the header */
	DTP_VMSG_RTS = 5,        /* sender -> receiver: message seq is large and has no ADV yet */
	DTP_VMSG_CREDIT = 6,     /* either way: eager credits returned, nothing else */
};
#define DTP_VMSG_F_EAGER 1u      /* NACK flag: sent without an ADV, took an eager credit */

struct dtp_vmsg {
	uint16_t type;
	uint16_t credits;        /* every type: eager credits returned to the peer */
	uint32_t seq;
	uint64_t addr;           /* ADV: where to write */
	uint64_t len;            /* ADV: capacity; NACK, EAGER, RTS: the bytes the sender has */
	uint32_t rkey;           /* ADV */
	struct dtp_tag tag;      /* ADV: expected tag; NACK, EAGER, RTS: the tag sent */
	uint32_t flags;          /* NACK: DTP_VMSG_F_EAGER */
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
enum dtp_vwr_kind { DTP_VWR_RECV = 1, DTP_VWR_ADV, DTP_VWR_NACK, DTP_VWR_BYE, DTP_VWR_DATA,
		   DTP_VWR_STAGED /* EAGER, RTS, eager NACK, CREDIT: value = staging count */ };
#define DTP_VWR(kind, v) (((uint64_t)(kind) << 56) | ((uint64_t)(v) & 0xffffffffu))
#define DTP_VWR_KIND(id) ((int)((id) >> 56))
#define DTP_VWR_VAL(id) ((uint32_t)((id) & 0xffffffffu))

/* request states (struct dtp_req.state) */
#define DTP_VREQ_PENDING 1
#define DTP_VREQ_DONE 2

/* what went which way on a link (dtp_verbs_stats; tests assert on them) */
struct dtp_vq_stats {
	uint64_t eager_sent, eager_recv;     /* EAGER messages */
	uint64_t eager_held;                 /* received before their irecv was posted */
	uint64_t rndv_sent, rndv_recv;       /* payload WRITE_WITH_IMMs */
	uint64_t adv_sent, adv_stale;        /* ADVs sent; ADVs dropped (their message went eager) */
	uint64_t rts_sent, credit_sent;      /* RTS messages; standalone CREDITs */
	/* now (filled by dtp_verbs_stats): eager messages waiting for their
	 * irecv, eager credits consumed and not yet returned to the peer */
	uint64_t held_now, owed_now;
};

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
	uint8_t *ctrl;           /* rq_depth receive buffers of DTP_VRBUF_BYTES, then
				  * 2 * slots + 1 control send buffers of DTP_VMSG_BYTES,
				  * then DTP_VSTAGE staging buffers of DTP_VRBUF_BYTES */
	size_t ctrl_bytes;
	struct ibv_mr *ctrl_mr;
	/* receive direction */
	uint32_t rpost_next;     /* seq of the next irecv posted */
	uint32_t rarr_next;      /* seq of the next message to arrive (EAGER, WRITE or NACK) */
	struct dtp_req *rhead, *rtail;   /* irecvs posted, not complete, in seq order */
	struct dtp_req *rcur;    /* the first of them not yet looked at for an ADV */
	struct dtp_req *rts_req; /* an irecv behind rcur the sender asked an ADV for (RTS) */
	int rts_early;           /* an RTS for rts_seq came before its irecv */
	uint32_t rts_seq;
	int radv_out;            /* ADVs whose message has not arrived (<= slots) */
	uint32_t *held;          /* [DTP_VEAGER_SLOTS] ring: receive buffers with EAGER
				  * messages no irecv has taken yet, in seq order */
	uint32_t held_head, held_n;
	uint32_t unreturned;     /* eager-class messages consumed, credit not yet returned */
	/* send direction */
	struct dtp_vmsg *sadv;   /* [slots] ring of live advertisements, ascending seq */
	uint32_t sadv_head, sadv_n;
	uint32_t snext;          /* seq of the next message to go on the wire */
	int rts_done;            /* the RTS for snext went out */
	uint32_t ecredits;       /* eager-class messages we may still send */
	uint32_t stage_posted, stage_done;   /* staged SENDs posted / completed */
	uint32_t nadv_posted;    /* ADVs posted (their send buffer) */
	uint32_t nadv_done;      /* ADV sends completed: at most `slots` in flight, however
				  * fast the peer's WRITEs come back (send queue, buffers) */
	uint32_t nnack_posted;   /* ADV NACKs posted (their send buffer: seq % slots) */
	uint32_t nnack_done;     /* ADV NACK sends completed: at most `slots` in flight,
				  * whatever the peer advertises (the send queue's share) */
	struct dtp_req **sslot;  /* [slots] the isend whose WRITE is in flight, by seq %
				  * slots; an advertisement waits until its slot is free */
	struct dtp_req *spend_head, *spend_tail;   /* isends not yet on the wire */
	/* first fatal error; every pending and later request fails with it */
	int fatal;
	struct dtp_err ferr;
	int bye_done;            /* our BYE was sent (its completion came back) */
	uint32_t max_inline;     /* the QP's max_inline_data (0: none); set after init */
	uint64_t completions;    /* work completions handled */
	struct dtp_vq_stats st;
};

/* Receive buffers per link. What the peer can have in flight that takes one:
 * slots ADVs, slots payloads or ADV NACKs, DTP_VEAGER_SLOTS eager-class
 * messages (those we keep for a later irecv included: they are neither
 * credited back nor re-posted), DTP_VEAGER_SLOTS / DTP_VEAGER_BATCH CREDITs
 * (each returns at least a batch), a BYE; so 2 * slots + 2 +
 * DTP_VEAGER_SLOTS + DTP_VEAGER_SLOTS / DTP_VEAGER_BATCH stay posted at all
 * times, and the rq_batch on top lets consumed ones be re-posted in batches
 * (one chained ibv_post_recv). The QP's receive queue and the CQ are sized
 * from this; the send queue holds dtp_vq_sq_depth. */
static inline int dtp_vq_rq_batch(int slots) { return slots < 8 ? slots : 8; }
static inline int dtp_vq_rq_depth(int slots)
{
	return 2 * slots + 2 + (int)(DTP_VEAGER_SLOTS + DTP_VEAGER_SLOTS / DTP_VEAGER_BATCH) +
	       dtp_vq_rq_batch(slots);
}
static inline int dtp_vq_sq_depth(int slots) { return 4 * slots + 8 + (int)DTP_VSTAGE; }
/* bytes registered for the control, receive and staging buffers */
static inline size_t dtp_vq_ctrl_bytes(int slots)
{
	return (size_t)dtp_vq_rq_depth(slots) * DTP_VRBUF_BYTES +
	       (2 * (size_t)slots + 1) * DTP_VMSG_BYTES + (size_t)DTP_VSTAGE * DTP_VRBUF_BYTES;
}
/* receive buffer i (tests write what the peer would send there) */
static inline uint8_t *dtp_vq_rbuf(struct dtp_vq *q, uint32_t i) { return q->ctrl + (size_t)i * DTP_VRBUF_BYTES; }

/* Allocate and register the control buffers (api->reg_mr on pd). */
int dtp_vq_init(struct dtp_vq *q, const struct dtp_verbs_api *api, struct ibv_pd *pd,
		struct ibv_qp *qp, struct ibv_cq *cq, int slots, int self_stage, int peer_stage,
		struct dtp_err *err);
void dtp_vq_destroy(struct dtp_vq *q);
/* requests waiting for the peer before anything can go on the wire: isends
 * without an advertisement, irecvs without a credit */
static inline int dtp_vq_queued(const struct dtp_vq *q)
{
	return q->spend_head || q->rcur || q->rts_req;
}
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
/* ---- internal to verbs_proto.c / verbs_match.c ---- */
/* struct dtp_req.priv: [0] list link; [1] lkey/rkey << 32, or (after a
 * mismatch) the other side's tag, packed; [2] irecv capacity, or the other
 * side's size; [3] flags (DTP_VRQ_*) | seq << 32 */
#define DTP_VRQ_SEND 1u
#define DTP_VRQ_STASH 2u         /* priv[1..2] hold the other side's tag and size */
#define DTP_VRQ_TMPMR 4u         /* req->mr holds a struct ibv_mr * registered for this request */
#define DTP_VRQ_ADV 8u           /* irecv: advertised */
#define DTP_VRQ_RTS 16u          /* irecv: the sender asked for its ADV */
#define DTP_VRQ_SEEN 32u         /* irecv: rcur went past it */
static inline uint32_t dtp_vreq_seq(const struct dtp_req *r) { return (uint32_t)(r->priv[3] >> 32); }
void dtp_vq_req_done(struct dtp_vq *q, struct dtp_req *r, int status);
/* post a control SEND (ADV, NACK, BYE) from buf; 0 or the post error (then fatal) */
int dtp_vq_post_ctrl(struct dtp_vq *q, int kind, uint32_t seq, uint8_t *buf, struct dtp_vmsg *m);
/* a staging buffer is free for an eager-class SEND or a CREDIT */
static inline int dtp_vq_stage_free(const struct dtp_vq *q)
{
	return q->stage_posted - q->stage_done < DTP_VSTAGE;
}
/* SEND header m plus len bytes of payload through the next staging buffer
 * (caller checked dtp_vq_stage_free) */
int dtp_vq_post_staged(struct dtp_vq *q, struct dtp_vmsg *m, const void *payload, size_t len);
/* hand consumed eager credits back in a CREDIT if a batch has piled up */
void dtp_vq_return_credits(struct dtp_vq *q);
void dtp_vq_repost(struct dtp_vq *q, uint32_t idx);
uint8_t *dtp_vq_ctrl_adv(struct dtp_vq *q);
uint8_t *dtp_vq_ctrl_nack(struct dtp_vq *q, uint32_t seq);
/* verbs_match.c */
void dtp_vq_kick_send(struct dtp_vq *q);
void dtp_vq_kick_recv(struct dtp_vq *q);
/* a SEND from the peer arrived in receive buffer idx (header unpacked in m,
 * credits already taken); returns 1 when the buffer is kept (an EAGER message
 * waiting for its irecv), 0 when it can be re-posted */
int dtp_vq_on_msg(struct dtp_vq *q, const struct dtp_vmsg *m, uint32_t idx, uint32_t byte_len);
/* a WRITE_WITH_IMM's notification arrived */
void dtp_vq_on_write(struct dtp_vq *q, const struct ibv_wc *wc);
/* fail every request still pending in the matcher */
void dtp_vq_fail_pending(struct dtp_vq *q);

/* post the orderly-close message (best effort) */
void dtp_vq_send_bye(struct dtp_vq *q);
/* describe why a completed request failed (req->status < 0) into err */
int dtp_vq_req_err(const struct dtp_vq *q, const struct dtp_req *req, struct dtp_err *err);
/* the hint printed for an error completion status */
const char *dtp_vq_wc_hint(enum ibv_wc_status st);

#endif
