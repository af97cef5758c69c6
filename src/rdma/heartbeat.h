/* dtpipe heartbeats: how a stage knows, in bounded time, that a neighbour is
 * still alive and still working, whatever transport its tensors take.
 *
 * Each stage opens one small TCP connection per neighbour beside the links
 * (the same listener address and port as the link, after the link is up; the
 * same handshake, so strangers are refused) and runs one thread that, every
 * interval, sends each neighbour a 24-byte beat (docs/wire-protocol.md):
 *   u32 magic DTP_HB_MAGIC, u32 from_stage, u64 progress, i32 waiting_on,
 *   u32 reserved (0)
 * and reads the neighbours' beats. `progress` is a counter the stage's main
 * thread advances as it works (dtp_hb_progress); `waiting_on` is the stage it
 * is blocked on, or -1. The thread only records what it heard (on this
 * machine's clock: no clocks are compared between hosts); what is a failure
 * is the caller's policy (src/pipeline/liveness.c). */
#ifndef DTP_RDMA_HEARTBEAT_H
#define DTP_RDMA_HEARTBEAT_H

#include <stdint.h>

#include "rdma/transport.h"

#define DTP_HB_MAGIC 0x48505444u      /* "DTPH" */
#define DTP_HB_BYTES 24
#define DTP_HB_MAX_PEERS 2

struct dtp_hb;

/* waiting_on of a stage in checkpoint I/O (writing one, or loading one at
 * --resume): alive and not waiting on a stage, but never judged hung, since
 * a large checkpoint on a slow file system may take longer than any op */
#define DTP_HB_BUSY_IO (-2)

/* What was last heard from a neighbour (times: dtp_now_ns() of this process). */
struct dtp_hb_state {
	uint64_t heard_ns;        /* the last beat (or the connection's set-up) */
	uint64_t since_ns;        /* when its progress or waiting_on last changed */
	uint64_t progress;
	int waiting_on;           /* the stage it waits on, -1: none (working),
				     DTP_HB_BUSY_IO: reading or writing a checkpoint */
	uint64_t longest_ns;      /* the longest stretch it has worked (waiting_on
				     -1) between two progress marks so far */
	int closed;               /* 0, or a positive errno: the connection ended
				     (ECONNRESET: it closed or died) */
};

/* Connect to each neighbour: links[i] is the config of the link to it (its
 * host, port, listen side, job key, connect timeout; the kind is ignored),
 * in the order the links were opened, so that every pair of stages meets.
 * Then start the thread, beating every interval_ms. */
int dtp_hb_open(const struct dtp_link_config *links, int n, int interval_ms,
		struct dtp_hb **out, struct dtp_err *err);
/* The main thread: it did some work / it now waits on `stage` (-1: no longer). */
void dtp_hb_progress(struct dtp_hb *hb);
void dtp_hb_waiting(struct dtp_hb *hb, int stage);
/* -ENOENT when `stage` is not a neighbour */
int dtp_hb_peer(struct dtp_hb *hb, int stage, struct dtp_hb_state *out);
/* stop the thread, close the connections; NULL is fine */
void dtp_hb_close(struct dtp_hb *hb);

/* the beat on the wire (exposed for the unit test) */
void dtp_hb_pack(uint32_t from, uint64_t progress, int waiting_on, uint8_t out[DTP_HB_BYTES]);
int dtp_hb_unpack(const uint8_t in[DTP_HB_BYTES], uint32_t *from, uint64_t *progress,
		  int *waiting_on);

#endif
