/* Internal to src/rdma: what every transport's link has in common, and the
 * connection handshake they all exchange. Not for other modules. */
#ifndef DTP_RDMA_LINK_H
#define DTP_RDMA_LINK_H

#include <stdint.h>

#include "rdma/transport.h"

/* Every transport's link struct starts with this, so that the dispatch in
 * transport.c can find the ops:  struct dtp_tcp_link { struct dtp_link_base base; ... };
 * and casts (struct dtp_link *) <-> (struct dtp_link_base *). */
struct dtp_link_base {
	const struct dtp_transport_ops *ops;
	struct dtp_link_config cfg;
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

/* transport.c: does `host` name this machine (loopback, or an address a socket
 * can bind to)?  And what `auto` resolves to for this config. */
int dtp_link_host_is_local(const char *host);
enum dtp_transport_kind dtp_transport_resolve(const struct dtp_link_config *cfg);

/* "host:port" of the config's listener, for messages */
void dtp_link_peer_desc(const struct dtp_link_config *cfg, char *buf, size_t len);

#endif
