/* dtpipe transport: point-to-point links between two stages.
 *
 * A *link* connects this stage to one peer stage (its predecessor or its
 * successor). The stage with the lower id listens, the higher one connects,
 * with retries until a deadline, so stages may start in any order. Every link
 * starts with a handshake (magic, protocol version, job key, stage ids, plan
 * hash); a mismatch is refused with a clear message on both sides and a
 * stranger on the port does not disturb the job.
 *
 * Messages are tensors tagged (step, micro-batch, kind). Per link and per
 * direction they are matched in order: the n-th isend on one side fills the
 * n-th irecv posted on the other; a tag or size that does not match what was
 * posted is a protocol error (-EPROTO) that names both tags.
 *
 * Progress: a request completes without the caller driving any *other* link
 * (each transport progresses on its own: by the NIC, the kernel, or a
 * progress thread), so a stage may wait on one link while sends on another
 * are in flight. No allocation on the hot path: requests live in storage the
 * caller owns.
 *
 * Implementations fill a struct dtp_transport_ops with designated
 * initializers: verbs (librdmacm + RC QPs, RDMA WRITE_WITH_IMM into
 * receiver-advertised slots), tcp, shm (same host). The pipeline never sees
 * which one runs under it.
 */
#ifndef DTP_RDMA_TRANSPORT_H
#define DTP_RDMA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define DTP_PROTO_MAGIC 0x44545049u      /* "DTPI" */
#define DTP_PROTO_VERSION 3u      /* 2: the hello carries the transport kind; 3: verbs eager messages */

enum dtp_transport_kind {
	DTP_TRANSPORT_AUTO = 0,   /* verbs if an RDMA device is present, else shm
				     for a peer on this host, else tcp; logged */
	DTP_TRANSPORT_VERBS,
	DTP_TRANSPORT_TCP,
	DTP_TRANSPORT_SHM,
};
/* "auto", "verbs", "tcp", "shm" <-> kind; parse returns -EINVAL on anything else */
int dtp_transport_kind_parse(const char *s, enum dtp_transport_kind *out);
const char *dtp_transport_kind_name(enum dtp_transport_kind k);

enum dtp_msg_kind {
	DTP_MSG_ACT = 1,     /* forward activation */
	DTP_MSG_GRAD = 2,    /* backward gradient */
	DTP_MSG_CTRL = 3,    /* small control payloads: norms, losses, eval counts, stop */
};

struct dtp_tag {
	uint32_t step;
	uint16_t micro;
	uint16_t kind;       /* enum dtp_msg_kind */
};

struct dtp_link_config {
	enum dtp_transport_kind kind;
	int self_stage;
	int peer_stage;
	int listen;                  /* 1: this side accepts (the lower stage id) */
	char host[256];              /* the listener's address (name or IP) */
	int port;                    /* the listener's port */
	uint64_t job_key;            /* both sides must agree */
	uint64_t plan_hash;          /* both sides must agree */
	int precision;               /* enum dtp_precision of the tensors; both sides must agree */
	int connect_timeout_ms;      /* give up connecting/accepting after this */
	size_t max_msg_bytes;        /* largest tensor either side will send */
	int slots;                   /* receive slots (credits) per direction, >= 1 */
	/* verbs only; empty / -1 = pick automatically */
	char ib_dev[64];
	int ib_port;
	int gid_index;
	int verbs_blocking;          /* wait on a completion channel instead of polling */
	/* the connecting side's host as the plan (or the Slurm node list) names it;
	 * "" = unknown. auto picks shm only when BOTH ends are on this machine, so
	 * the listener must know where its peer runs, not only where it listens. */
	char connect_host[256];
};
void dtp_link_config_default(struct dtp_link_config *c);

struct dtp_mr;                   /* a registered buffer (opaque) */

/* A request: storage owned by the caller, valid until it completes. */
struct dtp_req {
	int state;                   /* private to the transport */
	int status;                  /* 0 or negative errno once complete */
	struct dtp_tag tag;
	size_t len;                  /* bytes sent / received */
	void *buf;
	struct dtp_mr *mr;
	uint64_t priv[4];            /* private to the transport */
};

struct dtp_link;                 /* one connected peer (opaque) */

/* Which way the messages of a link went so far (docs/wire-protocol.md), for
 * benchmarks and diagnostics. Which path a message takes depends on timing,
 * so tests assert content and order, not these. A count a transport does not
 * have stays 0 (tcp has none). */
struct dtp_link_stats {
	uint64_t small_sent, small_recv;     /* eager path: shm small-message slots,
						verbs eager SENDs */
	uint64_t placed_sent, placed_recv;   /* one copy, straight into the receiver's
						buffer: shm placed tensors, verbs
						rendezvous WRITE_WITH_IMMs */
	uint64_t helped_chunks;              /* shm: chunks of the peer's copies into
						our buffers that this side copied */
};

struct dtp_transport_ops {
	const char *name;
	int (*open)(const struct dtp_link_config *cfg, struct dtp_link **out, struct dtp_err *err);
	int (*reg)(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out, struct dtp_err *err);
	void (*dereg)(struct dtp_link *l, struct dtp_mr *mr);
	int (*isend)(struct dtp_link *l, const struct dtp_tag *tag, const void *buf, size_t len,
		     struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
	int (*irecv)(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
		     struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
	int (*test)(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err);
	int (*wait)(struct dtp_link *l, struct dtp_req *req, int timeout_ms, struct dtp_err *err);
	void (*close)(struct dtp_link *l);
	/* optional (NULL: dtp_link_alloc falls back to aligned memory + reg) */
	int (*alloc)(struct dtp_link *l, size_t len, void **buf, struct dtp_mr **mr,
		     struct dtp_err *err);
	void (*free)(struct dtp_link *l, void *buf, struct dtp_mr *mr);
	/* optional (NULL: all counts 0) */
	void (*stats)(struct dtp_link *l, struct dtp_link_stats *out);
};

extern const struct dtp_transport_ops dtp_tcp_ops;
extern const struct dtp_transport_ops dtp_shm_ops;
/* Bytes a shm link holds resident in each of its two processes besides the
 * buffers they share (those are the peer's arena, dtp_link_alloc): the
 * control and small-message area and both rings (each process writes one
 * and reads the other, and a run's transfers come round each whole ring).
 * For the memory prediction (dtp_stage_link_mem, pipeline.h). */
size_t dtp_shm_link_resident_bytes(void);
#ifdef DTP_HAVE_VERBS
extern const struct dtp_transport_ops dtp_verbs_ops;
#endif

/* ---- the API the pipeline uses (dispatches through the link's ops) ---- */

/* Open a link; kind AUTO resolves as described above and logs its choice. */
int dtp_link_open(const struct dtp_link_config *cfg, struct dtp_link **out, struct dtp_err *err);
const char *dtp_link_transport(const struct dtp_link *l);
/* Register a buffer once at start-up (verbs: ibv_reg_mr after checking
 * RLIMIT_MEMLOCK; tcp/shm: bookkeeping only). Buffers passed to isend/irecv
 * must lie inside a registered region. */
int dtp_link_reg(struct dtp_link *l, void *buf, size_t len, struct dtp_mr **out, struct dtp_err *err);
void dtp_link_dereg(struct dtp_link *l, struct dtp_mr *mr);
/* Optional, for the fastest path: allocate len bytes (zeroed, page-aligned)
 * already registered on this link, in memory the transport likes best. On
 * shm it is memory the peer maps too, so a tensor received into it is copied
 * once (the sender writes it straight into this buffer) instead of twice
 * through the ring; registering it (dtp_link_reg) on another shm link of this
 * process shares it there too. Elsewhere: dtp_alloc_aligned + dtp_link_reg.
 * Free with dtp_link_free on the same link, before closing the link. */
int dtp_link_alloc(struct dtp_link *l, size_t len, void **buf, struct dtp_mr **mr,
		   struct dtp_err *err);
void dtp_link_free(struct dtp_link *l, void *buf, struct dtp_mr *mr);
/* Post a send of len bytes; buf must stay untouched until the request completes.
 * A refused post (buffer outside mr, larger than max_msg_bytes, the link has
 * failed) returns a negative errno and says why in err, naming the peer; the
 * request is not pending then (do not wait for it). */
int dtp_link_isend(struct dtp_link *l, const struct dtp_tag *tag, const void *buf, size_t len,
		   struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
/* Post a receive of at most cap bytes with the expected tag (errors as isend). */
int dtp_link_irecv(struct dtp_link *l, const struct dtp_tag *tag, void *buf, size_t cap,
		   struct dtp_mr *mr, struct dtp_req *req, struct dtp_err *err);
int dtp_link_test(struct dtp_link *l, struct dtp_req *req, int *done, struct dtp_err *err);
/* Wait until the request completes. timeout_ms < 0: no limit. -ETIMEDOUT names
 * the peer and the tag and leaves the request pending (wait again, or close
 * the link); a dead peer gives -ECONNRESET naming the peer stage. */
int dtp_link_wait(struct dtp_link *l, struct dtp_req *req, int timeout_ms, struct dtp_err *err);
void dtp_link_close(struct dtp_link *l);
/* The link's counts so far (struct dtp_link_stats); any thread, any time
 * before close. */
void dtp_link_stats(struct dtp_link *l, struct dtp_link_stats *out);

#endif
