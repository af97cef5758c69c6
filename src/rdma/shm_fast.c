/* The shm transport's small-message slots (docs/wire-protocol.md, "Small
 * messages"): a message of at most SHM_FAST_MAX bytes whose turn it is goes
 * into the next free slot of its direction, header and payload together,
 * published by one release store of the slot's seq1; the receiver polls that
 * word and copies the payload out. The stream calls these under its gate
 * (stream.h), from the lock-free paths of isend/wait/test or from its
 * ordinary progress; frames of one direction keep their order whether they
 * go by slot or by ring, because each carries its sequence number. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "rdma/shm.h"

/* where the payload (len bytes) of the n-th slot message of a direction
 * lies: up to 48 bytes in the slot's first line, with seq1 (one line
 * moves); up to SHM_FAST_MID from the slot's second line; larger ones in
 * big[n % SHM_FAST_BIG] (a slot's payload lines are rewritten only after all
 * the other slots': few of them, so they stay in the caches) */
static char *slot_data(struct shm_fast *f, uint32_t n, size_t len)
{
	struct shm_slot *sl = &f->slot[n % SHM_FAST_SLOTS];

	if (len <= SHM_FAST_INLINE)
		return sl->data;
	if (len <= SHM_FAST_MID)
		return sl->data + (64 - offsetof(struct shm_slot, data));
	return f->big[n % SHM_FAST_BIG];
}

/* io->fast_send: 1 sent (the request is complete), 0 too large or no free
 * slot (send it through the ring) */
int dtp_shm_fast_send(void *ctx, uint32_t seq, const struct dtp_tag *tag, const void *buf,
		      size_t len)
{
	struct dtp_shm_link *t = ctx;
	uint32_t room = len > SHM_FAST_MID ? SHM_FAST_BIG : SHM_FAST_SLOTS;
	struct shm_slot *sl;

	if (len > SHM_FAST_MAX)
		return 0;
	/* the receiver's `done` only when the last one we read says full: it
	 * is a cache line the receiver writes */
	if (t->f_tx - t->f_tx_done >= room) {
		t->f_tx_done = atomic_load_explicit(&t->fast_tx->done, memory_order_acquire);
		if (t->f_tx - t->f_tx_done >= room)
			return 0;
	}
	sl = &t->fast_tx->slot[t->f_tx % SHM_FAST_SLOTS];
	/* the payload first, then the first line's fields and seq1 back to
	 * back: the receiver polls that line, and one handoff of it is enough */
	if (len)
		memcpy(slot_data(t->fast_tx, t->f_tx, len), buf, len);
	sl->step = tag->step;
	sl->micro = tag->micro;
	sl->kind = tag->kind;
	sl->len = (uint32_t)len;
	atomic_store_explicit(&sl->seq1, seq + 1, memory_order_release);
	t->f_tx++;
	/* done with advertisement seq (shm_place.c): the receiver may reuse it */
	atomic_store_explicit(&t->ctrl->routed[t->me].n, seq + 1, memory_order_release);
	dtp_shm_ring_bell(&t->ctrl->side[!t->me]);
	return 1;
}

/* io->fast_recv, for the seq-th receive (want, buf, cap) whose header the
 * stream has not begun to read: 1 received from the next slot (*len set),
 * 0 frame seq is in the ring (read it there), -EAGAIN not sent yet, -EPROTO
 * the slot's frame does not match the receive (err says how). */
int dtp_shm_fast_recv(void *ctx, uint32_t seq, const struct dtp_tag *want, void *buf,
		      size_t cap, size_t max_msg, const char *peer, size_t *len,
		      struct dtp_err *err)
{
	struct dtp_shm_link *t = ctx;
	struct shm_ring *r = &t->ctrl->ring[!t->me];
	uint32_t n = atomic_load_explicit(&t->f_rx, memory_order_relaxed), m;
	struct shm_slot *sl = &t->fast_rx->slot[n % SHM_FAST_SLOTS];
	size_t l;
	int in_ring;

	/* The ring first: bytes published there before we look at the slot
	 * follow every slot frame sent before them, so if frame seq is not in
	 * the slot then, it is the one at the ring's tail. */
	in_ring = atomic_load_explicit(&r->head, memory_order_acquire) !=
		  atomic_load_explicit(&r->tail, memory_order_relaxed);
	m = atomic_load_explicit(&sl->seq1, memory_order_acquire);
	if (m != seq + 1)
		return in_ring ? 0 : -EAGAIN;
	l = sl->len;                       /* read once: the peer's memory */
	if (l > SHM_FAST_MAX)
		return dtp_errf_runtime(err, -EPROTO, "%s: slot message %u claims %zu bytes (at most "
					"%u): protocol error (mixed dtpipe builds?)", peer, seq, l,
					SHM_FAST_MAX);
	if (sl->step != want->step || sl->micro != want->micro || sl->kind != want->kind ||
	    l > cap || l > max_msg) {
		struct dtp_tag got = { sl->step, sl->micro, sl->kind };
		uint8_t hdr[DTP_FRAME_BYTES];
		struct dtp_frame f;

		dtp_frame_pack(seq, &got, l, hdr);
		if (dtp_frame_check(hdr, seq, want, cap, max_msg, peer, &f, err) < 0)
			return -EPROTO;
	}
	if (l)
		memcpy(buf, slot_data(t->fast_rx, n, l), l);
	*len = l;
	atomic_store_explicit(&t->f_rx, n + 1, memory_order_relaxed);
	atomic_store_explicit(&t->f_rx_last1, m, memory_order_relaxed);
	atomic_store_explicit(&t->fast_rx->done, n + 1, memory_order_release);
	return 1;
}

/* does the next slot hold a message not consumed yet? (a hint for block():
 * slots are consumed in order, each seq1 larger than the last) */
int dtp_shm_fast_ready(struct dtp_shm_link *t)
{
	uint32_t n = atomic_load_explicit(&t->f_rx, memory_order_relaxed);
	uint32_t m = atomic_load_explicit(&t->fast_rx->slot[n % SHM_FAST_SLOTS].seq1,
					  memory_order_acquire);

	return (int32_t)(m - atomic_load_explicit(&t->f_rx_last1, memory_order_relaxed)) > 0;
}
