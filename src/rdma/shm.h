/* Internal to the shm transport (shm.c: the link, the rings and waiting;
 * shm_place.c: shared buffers, advertisements, placement and the shared
 * copy). The layout of the mapping is docs/wire-protocol.md's. */
#ifndef DTP_RDMA_SHM_H
#define DTP_RDMA_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rdma/stream.h"

#define SHM_MAGIC 0x344d4844u          /* "DHM4": layout 4 (regions, adverts, jobs, slots) */
#define SHM_RING (1u << 20)            /* bytes per direction, a power of two */
#define SHM_CHUNK (256u << 10)         /* publish progress every chunk */
#define SHM_PAUSE_NS 2000u             /* spin with pause, then ... */
#define SHM_SPIN_NS 50000u             /* ... spin with sched_yield, then sleep */
#define SHM_SLEEP_MS 100               /* liveness check period while asleep */
/* the small-message slots (shm_fast.c): per direction a `done` line,
 * SHM_FAST_SLOTS slots and SHM_FAST_BIG payload areas, from SHM_FAST_OFF;
 * the rings' data after them */
#define SHM_FAST_MAX 4096u             /* payload bytes a slot carries, at most */
#define SHM_FAST_INLINE 48u            /* payload bytes in the slot's first line */
#define SHM_FAST_SLOTS 16              /* slots per direction */
#define SHM_FAST_MID 1024u             /* larger payloads go to one of ... */
#define SHM_FAST_BIG 4                 /* ... these areas, so that few lines rotate */
#define SHM_FAST_OFF 4096u
#define SHM_FAST_AREA (36u << 10)      /* bytes per direction (struct shm_fast) */
#define SHM_DATA_OFF (SHM_FAST_OFF + 2u * SHM_FAST_AREA)
#define SHM_REGIONS 16                 /* shared buffers per side and link */
#define SHM_ADVERTS 32                 /* advertised receives in flight per direction */
#define SHM_PLACE_MIN (16u << 10)      /* smaller tensors go through the ring */
#define SHM_NT_MIN (8u << 20)          /* placed with non-temporal stores from here
					  (a quarter of the L3): smaller tensors stay
					  in cache for the reader (docs/benchmarks.md,
					  "Transport") */
#define SHM_EAGER_MAX (SHM_RING / 2)   /* a send up to this size whose receive is
					  not advertised yet takes the ring at once
					  (two fit); a larger one waits ... */
#define SHM_ADVERT_WAIT_NS 1000000u    /* ... this long for its advert, then takes
					  the ring (eager) */
#define SHM_NO_SLOT UINT32_MAX         /* advertised receive not in shared memory */
/* the shared copy: a placed tensor of at least DTP_STREAM_SLEEP_RX bytes
 * whose source is shared memory too is cut into chunks that the sender and
 * a receiver waiting for it claim in turn */
#define SHM_JOB_CHUNK (64u << 10)      /* at least; more for > 4 GiB tensors */
#define SHM_JOB_MAX_CHUNKS 0xffffu
#define SHM_JOB_WAKE_MIN (4u << 20)    /* from here wake a sleeping receiver to help */
#define SHM_HELP_SPIN_NS 1000000u      /* a receiver that may help spins this long (a
					  woken one may arrive milliseconds late) */

struct shm_side {                      /* one per process, own cache line */
	_Alignas(64) _Atomic uint32_t bell;   /* futex word: bumped on every event */
	_Atomic uint32_t sleepers;
	_Atomic uint32_t closed;
};

struct shm_ring {
	_Alignas(64) _Atomic uint64_t head;   /* bytes produced */
	_Alignas(64) _Atomic uint64_t tail;   /* bytes consumed */
};

/* a buffer of one side that the other may map: /proc/<pid>/fd/<fd> */
struct shm_region {
	_Atomic uint32_t gen;          /* 0: free; written last */
	int32_t pid, fd;
	uint32_t pad;
	uint64_t size, ino, dev;       /* of the file; checked after opening it */
};

/* the receiver's offer for the sender's seq-th tensor */
struct shm_advert {
	_Atomic uint32_t seq1;         /* seq + 1; written last */
	uint32_t slot, gen, pad;       /* region of the receiver */
	uint64_t off, cap;             /* file offset and size of the receive buffer */
};

/* The copy of one placed tensor, shared by the sender and the receiver:
 * claim = (seq + 1) << 32 | chunks << 16 | next chunk. A claim names its
 * job, so a stale claimer fails its compare-and-swap; the fields below are
 * stable from a successful claim until the claimed chunk is counted in
 * `done`, which the sender waits for before it sends the header. */
struct shm_job {
	_Alignas(64) _Atomic uint64_t claim;   /* 0: none */
	_Atomic uint32_t done;                 /* chunks copied */
	uint32_t src_slot, src_gen;            /* the sender's region */
	uint32_t chunk;                        /* bytes per chunk */
	uint64_t src_off, len;
};

/* One small message (shm_fast.c). The sender writes the payload, then the
 * fields and seq1 = seq + 1 (release) back to back, all in the first line
 * for payloads up to 48 bytes; the slot is its again once the receiver's
 * `done` passed it. */
struct shm_slot {
	_Alignas(64) _Atomic uint32_t seq1;    /* the frame's seq + 1; written last */
	uint32_t step;
	uint16_t micro, kind;
	uint32_t len;                          /* payload bytes, <= SHM_FAST_MAX */
	char data[SHM_FAST_INLINE + SHM_FAST_MID];   /* <= 48 bytes at data, <= 1 KiB from
							the second line (data + 48) */
};

struct shm_fast {                      /* the slots of one direction */
	_Alignas(64) _Atomic uint32_t done;    /* slots consumed by the receiver */
	struct shm_slot slot[SHM_FAST_SLOTS];
	_Alignas(4096) char big[SHM_FAST_BIG][SHM_FAST_MAX];   /* payload of slot n: big[n % 4] */
};

struct shm_ctrl {
	uint32_t magic;
	uint32_t ring_bytes;
	struct shm_side side[2];           /* 0: the listener, 1: the connector */
	struct shm_ring ring[2];           /* ring[i] carries side i's sends */
	struct {
		_Alignas(64) _Atomic uint32_t n;   /* sends of side i routed (placed or ring) */
		_Atomic uint32_t regions;          /* entries side i has in region[i] */
	} routed[2];
	struct shm_region region[2][SHM_REGIONS];   /* side i's shared buffers */
	struct shm_advert advert[2][SHM_ADVERTS];   /* offers for side i's sends */
	struct shm_job job[2];                      /* side i's shared copy */
};

struct shm_peer_map {                  /* a view of a peer region */
	uint32_t gen;
	char *base;                        /* NULL: could not map it, use the ring */
	size_t size;
};

struct dtp_shm_link {
	struct dtp_link_base base;
	struct dtp_stream st;
	int fd;                            /* the rendezvous connection: liveness */
	int me;
	struct shm_ctrl *ctrl;
	size_t map_bytes;
	char *tx_data, *rx_data;
	uint64_t tx_tail;                  /* the last tail of our ring we read */
	_Atomic uint32_t kick;             /* private futex for the progress thread */
	uint32_t kick_seen;                /* the thread's last look at kick */
	_Atomic uint32_t need_advert;      /* seq + 1 of the send waiting for an advert */
	_Atomic uint64_t advert_since;     /* when it began to wait (dtp_now_ns) */
	uint32_t gen_next;                 /* for this side's region entries */
	int map_warned;
	uint64_t helped;                   /* chunks of the peer's copies done here */
	struct shm_fast *fast_tx, *fast_rx;     /* the slots of our sends / receives */
	uint32_t f_tx, f_tx_done;          /* slots used; the receiver's done last read */
	_Atomic uint32_t f_rx;             /* slots consumed (written under the stream's gate) */
	_Atomic uint32_t f_rx_last1;       /* seq1 of the last slot consumed */
	struct shm_peer_map peer[SHM_REGIONS];   /* under st.mu */
};

_Static_assert(sizeof(struct shm_ctrl) <= SHM_FAST_OFF, "control block fits a page");
_Static_assert(sizeof(struct shm_slot) == 17 * 64 && sizeof(struct shm_fast) == SHM_FAST_AREA &&
	       offsetof(struct shm_fast, big) == 20480 &&
	       SHM_DATA_OFF % 4096 == 0, "slot layout as documented");
/* the layout docs/wire-protocol.md describes */
_Static_assert(offsetof(struct shm_ctrl, side) == 64 && sizeof(struct shm_side) == 64 &&
	       offsetof(struct shm_ctrl, ring) == 192 && sizeof(struct shm_ring) == 128 &&
	       offsetof(struct shm_ctrl, routed) == 448 && sizeof(struct shm_region) == 40 &&
	       offsetof(struct shm_ctrl, region) == 576 && sizeof(struct shm_advert) == 32 &&
	       offsetof(struct shm_ctrl, advert) == 576 + 2 * SHM_REGIONS * 40 &&
	       offsetof(struct shm_ctrl, job) == 3904 && sizeof(struct shm_job) == 64,
	       "shm layout as documented");

/* shm_file.c: the segment rendezvous over the connection `fd`. The listener
 * creates a file of `bytes` under /dev/shm, maps it, writes `head` at its
 * start, sends the name, waits for the connector's acknowledgement and
 * removes the name. The connector maps the named file, checks that it starts
 * with `head` (same layout) and acknowledges. Both return the mapping. */
int dtp_shm_share_segment(int fd, const struct dtp_link_config *cfg, size_t bytes,
			  const void *head, size_t head_len, void **map_out, struct dtp_err *err);
int dtp_shm_map_segment(int fd, const struct dtp_link_config *cfg, size_t bytes,
			const void *head, size_t head_len, void **map_out, struct dtp_err *err);
/* Open the peer's file /proc/<pid>/fd/<fd>, check that it is the one named
 * (inode, device, at least size bytes) and map size bytes of it shared.
 * NULL on success, else why not (for a message). */
const char *dtp_shm_map_peer_file(int pid, int fd, uint64_t ino, uint64_t dev, size_t size,
				  void **map_out);
/* Is [buf, buf+len) inside one shared file mapping of this process whose file
 * this process holds open? 0 with that fd, its stat and buf's file offset;
 * -1 if not. (Reads /proc/self/maps and fstats open fds: start-up only.) */
struct stat;
int dtp_shm_find_shared_file(const void *buf, size_t len, int *fd_out, struct stat *sb,
			     uint64_t *off);

/* shm.c */
void dtp_shm_ring_bell(struct shm_side *s);
int dtp_shm_peer_gone(struct dtp_shm_link *t);

/* shm_place.c: the stream's io->advertise, io->place and io->help */
int dtp_shm_advertise(void *ctx, uint32_t seq, void *buf, size_t cap, struct dtp_mr *mr);
int dtp_shm_place(void *ctx, uint32_t seq, const void *buf, size_t len, struct dtp_mr *mr);
int dtp_shm_help(void *ctx, uint32_t seq, void *buf, size_t cap);
/* has the peer a copy to us with chunks left to claim? */
int dtp_shm_job_open(struct dtp_shm_link *t);
/* publish a shared file of this process in this side's region table (under
 * st.mu: takes it) / take it out */
int dtp_shm_region_publish(struct dtp_shm_link *t, int fd, const struct stat *sb,
			   struct dtp_mr *mr, struct dtp_err *err);
void dtp_shm_region_unpublish(struct dtp_shm_link *t, const struct dtp_mr *mr);
void dtp_shm_unmap_peers(struct dtp_shm_link *t);

/* shm_fast.c: the stream's io->fast_send, io->fast_recv; and whether a
 * message waits in the next slot (for block()) */
int dtp_shm_fast_send(void *ctx, uint32_t seq, const struct dtp_tag *tag, const void *buf,
		      size_t len);
int dtp_shm_fast_recv(void *ctx, uint32_t seq, const struct dtp_tag *want, void *buf,
		      size_t cap, size_t max_msg, const char *peer, size_t *len,
		      struct dtp_err *err);
int dtp_shm_fast_ready(struct dtp_shm_link *t);

#endif
