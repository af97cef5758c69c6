/* Internal to src/io: a fixed ring of aligned buffers fed by io_uring reads.
 * The producer walks the epoch's shards (in the given order) and reads each
 * one's sample bytes in block-sized pieces, queue_depth reads ahead; the
 * consumer asks for a run of consecutive samples at a time (a pointer into a
 * ring buffer, or a copy in scratch when a sample straddles two buffers) and
 * the buffers it has walked past are read again further on. */
#ifndef DTP_IO_RING_H
#define DTP_IO_RING_H

#include <liburing.h>
#include <stdint.h>

#include "io/shard.h"

struct dtp_ring_buf {
	uint8_t *mem;
	int state;          /* DTP_RB_FREE, DTP_RB_INFLIGHT, DTP_RB_READY */
	int kpos;           /* position in the epoch's shard order */
	int shard;          /* index into the dataset's shards */
	int direct;         /* submitted on an O_DIRECT descriptor */
	uint64_t off;       /* file offset of mem[0] */
	uint32_t need;      /* bytes from off the consumer uses */
	uint32_t want;      /* bytes asked for (need rounded up for O_DIRECT) */
	uint32_t got;       /* bytes read so far */
};

struct dtp_ring {
	struct io_uring uring;
	int qd;
	size_t block;
	uint8_t *mem;               /* qd * block, from dtp_io_alloc */
	struct dtp_ring_buf *bufs;  /* qd, in FIFO order from head */
	int head, used, inflight;
	int fixed;                  /* registered buffers in use */
	int direct;                 /* O_DIRECT in use now */
	int direct_req;             /* -1 auto, 0 never, 1 required */
	const struct dtp_dataset *ds;
	int *fds;                   /* per shard, -1 when closed */
	uint8_t *checked;           /* per shard: header read again (shards from the index) */
	const uint32_t *order;      /* the epoch's shard order */
	int norder;
	int pk;                     /* producer: order position, offsets */
	uint64_t poff, pend;
	uint64_t reads, requeued, bytes_read;
	uint64_t headers_checked;   /* indexed shards whose header was read on first use */
};

/* Zeroed, page-aligned memory for the read ring and the shuffle window: a
 * region of 2 MiB or more starts on a 2 MiB boundary and is advised for
 * transparent huge pages (MADV_HUGEPAGE), so that a block-sized read lands
 * in physically contiguous memory. An O_DIRECT read into 4 KiB pages needs
 * one DMA segment per page and the block layer splits it at the device's
 * max_segments (254 on virtio-blk: every 1 MiB read became two requests).
 * Every byte is touched here (RSS = bytes, rounded up to pages). NULL when
 * mmap fails. Free with dtp_io_free(p, bytes). */
void *dtp_io_alloc(size_t bytes);
void dtp_io_free(void *p, size_t bytes);

int dtp_ring_init(struct dtp_ring *r, const struct dtp_dataset *ds, int qd, size_t block,
		  int direct, int register_buffers, struct dtp_err *err);
/* Forget what is in flight and start reading at sample j of order[k]. */
int dtp_ring_start(struct dtp_ring *r, const uint32_t *order, int norder, int k, uint64_t j,
		   struct dtp_err *err);
/* Up to max consecutive samples (ds->sample_bytes long, ds->stride_bytes
 * apart) from byte offset so of shard order[k]: *out points at the first and
 * *count (1..max) of them lie whole in one ring buffer. A first sample that
 * straddles two buffers is copied into scratch and comes alone (*count 1).
 * The pointer stays valid until the next call. nowait: never wait for a
 * read; *count is 0 when the first sample is not all read yet. */
int dtp_ring_span(struct dtp_ring *r, int k, uint64_t so, uint64_t max, int nowait, uint8_t *scratch,
		  const uint8_t **out, uint64_t *count, struct dtp_err *err);
void dtp_ring_destroy(struct dtp_ring *r);

#endif
