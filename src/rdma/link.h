/* Internal to src/rdma: what every transport's link has in common, and the
 * connection handshake they all exchange. Not for other modules. */
#ifndef DTP_RDMA_LINK_H
#define DTP_RDMA_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "rdma/transport.h"

/* Every transport's link struct starts with this, so that the dispatch in
 * transport.c can find the ops:  struct dtp_tcp_link { struct dtp_link_base base; ... };
 * and casts (struct dtp_link *) <-> (struct dtp_link_base *). */
struct dtp_link_base {
	const struct dtp_transport_ops *ops;
	struct dtp_link_config cfg;
};

/* A registered buffer (opaque outside src/rdma), one type for every
 * transport: [base, base + len) and what the transport that registered it
 * keeps about it. */
struct ibv_mr;
struct dtp_mr {
	char *base;
	size_t len;
	/* verbs */
	struct dtp_mr *next;           /* the link's registered regions */
	struct ibv_mr *ibv;            /* ibv_reg_mr's region (its keys) */
	/* tcp/shm: bookkeeping; shm also records where the peer can map it */
	int shm_slot;                  /* >= 0: an entry of this side's region table;
					  -1: private memory */
	uint32_t shm_gen;
	uint64_t shm_off;              /* file offset of base in the shared file */
	int shm_fd;                    /* >= 0: the memfd dtp_link_alloc created (owned) */
	void *shm_map;                 /* what to munmap when it is owned */
	size_t shm_map_len;
};

/* The handshake, 32 bytes little-endian on the wire (docs/wire-protocol.md).
 * Sent by the connecting side first, answered by the listener with its own
 * hello plus a status; it fits in the 56 bytes of rdma_cm private data. */
struct dtp_hello {
	uint32_t magic;          /* DTP_PROTO_MAGIC */
	uint16_t version;        /* DTP_PROTO_VERSION */
	uint8_t transport;       /* enum dtp_transport_kind the sender chose: both ends must agree */
	uint8_t precision;       /* enum dtp_precision of its tensors (0 fp32): must agree */
	uint64_t job_key;
	uint32_t from_stage;
	uint32_t to_stage;
	uint64_t plan_hash;
};
#define DTP_HELLO_BYTES 32

/* pack the hello this side sends (from cfg) into 32 bytes */
void dtp_hello_pack(const struct dtp_link_config *cfg, uint8_t out[DTP_HELLO_BYTES]);
/* unpack and check what the peer sent against cfg; on mismatch -EPROTO with a
 * message naming the field, both values and what to do (same plan file, same
 * job key, right host:port) */
int dtp_hello_check(const struct dtp_link_config *cfg, const uint8_t *buf, size_t len,
		    struct dtp_hello *out, struct dtp_err *err);

/* The listener's answer on tcp/shm: its own hello followed by a 4-byte
 * little-endian status (0: accepted, else a positive errno, EPROTO: refused). */
#define DTP_HELLO_REPLY_BYTES (DTP_HELLO_BYTES + 4)

/* Frame header of the byte-stream transports (tcp, and the shm ring), 24 bytes
 * little-endian in front of every tensor (docs/wire-protocol.md):
 *   u32 magic DTP_FRAME_MAGIC, u32 seq (per direction, from 0),
 *   u32 step, u16 micro, u16 kind, u64 payload length. */
#define DTP_FRAME_MAGIC 0x46505444u      /* "DTPF" */
#define DTP_FRAME_BYTES 24

struct dtp_frame {
	uint32_t seq;
	struct dtp_tag tag;
	uint64_t len;
};

void dtp_frame_pack(uint32_t seq, const struct dtp_tag *tag, uint64_t len,
		    uint8_t out[DTP_FRAME_BYTES]);
/* Check a received header against what was posted, before any payload is
 * touched: magic, sequence number, tag, length <= cap and <= max_msg.
 * -EPROTO naming both tags and `peer` (e.g. "peer stage 1 (h:p)"). */
int dtp_frame_check(const uint8_t hdr[DTP_FRAME_BYTES], uint32_t expect_seq,
		    const struct dtp_tag *want, size_t cap, size_t max_msg,
		    const char *peer, struct dtp_frame *out, struct dtp_err *err);

/* Queues of caller-owned requests (sends or receives in posting order),
 * linked through priv[0]; the tcp/shm stream engine and the verbs matcher
 * keep theirs this way. */
static inline struct dtp_req *dtp_req_next(const struct dtp_req *r)
{
	return (struct dtp_req *)(uintptr_t)r->priv[0];
}

static inline void dtp_req_push(struct dtp_req **head, struct dtp_req **tail, struct dtp_req *r)
{
	r->priv[0] = 0;
	if (*tail)
		(*tail)->priv[0] = (uint64_t)(uintptr_t)r;
	else
		*head = r;
	*tail = r;
}

/* take the head off (NULL when empty) */
static inline struct dtp_req *dtp_req_pop(struct dtp_req **head, struct dtp_req **tail)
{
	struct dtp_req *r = *head;

	if (!r)
		return NULL;
	*head = dtp_req_next(r);
	if (!*head)
		*tail = NULL;
	return r;
}

/* transport.c: does `host` name this machine (loopback, or an address a socket
 * can bind to)?  And what `auto` resolves to for this config. */
int dtp_link_host_is_local(const char *host);
enum dtp_transport_kind dtp_transport_resolve(const struct dtp_link_config *cfg);

/* "host:port" of the config's listener, for messages */
void dtp_link_peer_desc(const struct dtp_link_config *cfg, char *buf, size_t len);

#endif
