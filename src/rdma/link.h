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
	uint32_t version;        /* DTP_PROTO_VERSION */
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

#endif
