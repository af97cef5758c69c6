/* The shm transport's one-copy path (docs/wire-protocol.md, "One copy into
 * shared receive buffers"): this side's shared buffers in the region table,
 * receives advertised to the sender, sends copied straight into the
 * receiver's buffer, and that copy shared with a receiver that waits for it
 * when the source is shared memory too. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rdma/shm.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define JOB_SPIN_NS 20000u       /* the sender waits for a helper's chunk: pause, then yield */
#define JOB_CHECK_NS 1000000u    /* and checks every 1 ms that the helper still lives */

/* map region `slot` of the peer at generation gen (NULL: cannot, use the ring) */
static char *peer_region(struct dtp_shm_link *t, uint32_t slot, uint32_t gen, size_t *size)
{
	struct shm_region *r;
	struct shm_peer_map *pm;
	const char *why;
	void *map;

	if (slot >= SHM_REGIONS)
		return NULL;
	pm = &t->peer[slot];
	if (pm->gen == gen) {
		*size = pm->size;
		return pm->base;
	}
	r = &t->ctrl->region[!t->me][slot];
	if (atomic_load_explicit(&r->gen, memory_order_acquire) != gen)
		return NULL;                  /* freed since it was advertised */
	if (pm->base)
		munmap(pm->base, pm->size);
	pm->gen = gen;
	pm->base = NULL;
	pm->size = 0;
	why = dtp_shm_map_peer_file(r->pid, r->fd, r->ino, r->dev, (size_t)r->size, &map);
	if (why) {
		if (!t->map_warned++)
			dtp_warn("stage %d: cannot map a shared buffer of stage %d (/proc/%d/fd/%d: "
				 "%s): tensors to it go through the ring (two copies instead of "
				 "one)", t->base.cfg.self_stage, t->base.cfg.peer_stage, (int)r->pid,
				 (int)r->fd, why);
		return NULL;
	}
	pm->base = map;
	pm->size = (size_t)r->size;
	*size = pm->size;
	return pm->base;
}

void dtp_shm_unmap_peers(struct dtp_shm_link *t)
{
	for (int i = 0; i < SHM_REGIONS; i++)
		if (t->peer[i].base)
			munmap(t->peer[i].base, t->peer[i].size);
}

/* n bytes dst <- src; with non-temporal stores when nt (large tensors: the
 * destination would otherwise be read in before it is overwritten, and
 * evict the cache) */
static void copy(char *dst, const char *src, size_t n, int nt)
{
#if defined(__x86_64__)
	size_t head = (size_t)(-(uintptr_t)dst & 63);

	if (!nt)
		goto tail;
	if (head > n)
		head = n;
	memcpy(dst, src, head);
	dst += head;
	src += head;
	n -= head;
	for (; n >= 64; n -= 64, dst += 64, src += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)src);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + 48));

		_mm_stream_si128((__m128i *)(void *)dst, a);
		_mm_stream_si128((__m128i *)(void *)(dst + 16), b);
		_mm_stream_si128((__m128i *)(void *)(dst + 32), c);
		_mm_stream_si128((__m128i *)(void *)(dst + 48), d);
	}
	_mm_sfence();
tail:
#else
	(void)nt;
#endif
	memcpy(dst, src, n);
}

/* claim the next chunk of job `seq1` (seq + 1): its index, or -1 when the
 * job is another one or every chunk is claimed */
static int claim_chunk(struct shm_job *j, uint32_t seq1)
{
	uint64_t w = atomic_load_explicit(&j->claim, memory_order_acquire);

	for (;;) {
		uint32_t next = (uint32_t)(w & 0xffff), chunks = (uint32_t)(w >> 16) & 0xffff;

		if ((uint32_t)(w >> 32) != seq1 || next >= chunks)
			return -1;
		if (atomic_compare_exchange_weak_explicit(&j->claim, &w, w + 1,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return (int)next;
	}
}

/* copy chunk i of a job from src to dst (both the whole tensor) and count it */
static void copy_chunk(struct shm_job *j, int i, char *dst, const char *src, size_t len,
		       size_t chunk)
{
	size_t off = (size_t)i * chunk, n = len - off < chunk ? len - off : chunk;

	copy(dst + off, src + off, n, len >= SHM_NT_MIN);
	atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
}

/* the sender: copy len bytes to dst together with the receiver, if it
 * comes; the source lies at file offset src_off of our region src_slot */
static int shared_copy(struct dtp_shm_link *t, uint32_t seq, char *dst, const char *src,
		       size_t len, const struct dtp_mr *mr)
{
	struct shm_job *j = &t->ctrl->job[t->me];
	size_t chunk = SHM_JOB_CHUNK;
	uint32_t chunks;
	uint64_t t0, checked;
	int i;

	if (len / chunk >= SHM_JOB_MAX_CHUNKS)
		chunk = dtp_align_up(len / SHM_JOB_MAX_CHUNKS + 1, DTP_PAGE);
	chunks = (uint32_t)((len + chunk - 1) / chunk);
	atomic_store_explicit(&j->done, 0, memory_order_relaxed);
	j->src_slot = (uint32_t)mr->shm_slot;
	j->src_gen = mr->shm_gen;
	j->src_off = mr->shm_off + (uint64_t)(src - mr->base);
	j->len = len;
	j->chunk = (uint32_t)chunk;
	atomic_store_explicit(&j->claim, (uint64_t)(seq + 1) << 32 | (uint64_t)chunks << 16,
			      memory_order_release);
	if (len >= SHM_JOB_WAKE_MIN)   /* worth a sleeping receiver's wake-up */
		dtp_shm_ring_bell(&t->ctrl->side[!t->me]);
	while ((i = claim_chunk(j, seq + 1)) >= 0)
		copy_chunk(j, i, dst, src, len, chunk);
	/* a helper may still be copying the chunks it claimed */
	t0 = checked = dtp_now_ns();
	while (atomic_load_explicit(&j->done, memory_order_acquire) != chunks) {
		uint64_t now = dtp_now_ns();

		if (now - t0 < JOB_SPIN_NS) {
			dtp_cpu_pause();
			continue;
		}
		sched_yield();
		if (now - checked >= JOB_CHECK_NS) {
			checked = now;
			if (dtp_shm_peer_gone(t)) {
				atomic_store_explicit(&j->claim, 0, memory_order_release);
				return -ECONNRESET;
			}
		}
	}
	atomic_store_explicit(&j->claim, 0, memory_order_release);
	return 0;
}

int dtp_shm_job_open(struct dtp_shm_link *t)
{
	uint64_t w = atomic_load_explicit(&t->ctrl->job[!t->me].claim, memory_order_relaxed);

	return (w & 0xffff) < ((w >> 16) & 0xffff);
}

/* io->help: the receiver, waiting for its seq-th tensor (into buf, cap
 * bytes), copies one chunk of it if the sender is copying it: 1 if it did */
int dtp_shm_help(void *ctx, uint32_t seq, void *buf, size_t cap)
{
	struct dtp_shm_link *t = ctx;
	struct shm_job *j = &t->ctrl->job[!t->me];
	uint32_t slot, gen;
	uint64_t off, len, chunk;
	size_t size = 0;
	const char *src;
	int i;

	if (!dtp_shm_job_open(t))
		return 0;
	/* from here until our chunk is counted the job's fields stay as they
	 * are (shm.h); read before claiming so a chunk we cannot copy is never
	 * claimed: a claim that fails means the job moved on, and these are
	 * then not used */
	slot = __atomic_load_n(&j->src_slot, __ATOMIC_RELAXED);
	gen = __atomic_load_n(&j->src_gen, __ATOMIC_RELAXED);
	off = __atomic_load_n(&j->src_off, __ATOMIC_RELAXED);
	len = __atomic_load_n(&j->len, __ATOMIC_RELAXED);
	chunk = __atomic_load_n(&j->chunk, __ATOMIC_RELAXED);
	src = peer_region(t, slot, gen, &size);
	if (!src || len > cap || off > size || len > size - off || !chunk)
		return 0;
	i = claim_chunk(j, seq + 1);
	if (i < 0)
		return 0;
	copy_chunk(j, i, buf, src + off, (size_t)len, (size_t)chunk);
	t->helped++;
	return 1;
}

/* io->place: route the seq-th send. Small ones go through the ring at once;
 * larger ones that the receiver has advertised are copied straight into its
 * buffer when it lies in memory we can map (with the receiver's help when
 * the source is shared memory too and the tensor is large). One not
 * advertised yet takes the ring at once up to SHM_EAGER_MAX: waiting for the
 * advertisement would leave the copy to a progress thread woken on a core
 * that computes, and the receiver waiting for that wake-up. */
int dtp_shm_place(void *ctx, uint32_t seq, const void *buf, size_t len, struct dtp_mr *mr)
{
	struct dtp_shm_link *t = ctx;
	struct shm_advert *a = &t->ctrl->advert[t->me][seq % SHM_ADVERTS];
	int placed = 0, rc;

	if (len >= SHM_PLACE_MIN) {
		size_t size = 0;
		char *base;

		if (atomic_load_explicit(&a->seq1, memory_order_acquire) != seq + 1) {
			uint64_t now = dtp_now_ns(), since = atomic_load(&t->advert_since);

			/* no shared buffer on the other side: no point waiting; a
			 * tensor that fits the ring beside another: not worth
			 * waiting; and not forever: a peer that receives only after
			 * its own sends complete still finds them in the ring */
			if (!atomic_load_explicit(&t->ctrl->routed[!t->me].regions,
						  memory_order_relaxed) || len <= SHM_EAGER_MAX ||
			    (since && now - since >= SHM_ADVERT_WAIT_NS))
				goto out_routed;
			if (!since)
				atomic_store(&t->advert_since, now);
			atomic_store_explicit(&t->need_advert, seq + 1, memory_order_relaxed);
			return -EAGAIN;
		}
		base = a->slot == SHM_NO_SLOT ? NULL : peer_region(t, a->slot, a->gen, &size);
		if (base && len <= a->cap && a->off <= size && len <= size - a->off) {
			if (len >= DTP_STREAM_SLEEP_RX && mr && mr->shm_slot >= 0) {
				rc = shared_copy(t, seq, base + a->off, buf, len, mr);
				if (rc)
					return rc;
			} else {
				copy(base + a->off, buf, len, len >= SHM_NT_MIN);
			}
			placed = 1;
		}
	}
out_routed:
	if (atomic_load_explicit(&t->need_advert, memory_order_relaxed))
		atomic_store_explicit(&t->need_advert, 0, memory_order_relaxed);
	if (atomic_load_explicit(&t->advert_since, memory_order_relaxed))
		atomic_store(&t->advert_since, 0);
	/* done with advertisement seq: the receiver may reuse its entry */
	atomic_store_explicit(&t->ctrl->routed[t->me].n, seq + 1, memory_order_release);
	return placed;
}

/* io->advertise: tell the sender where the seq-th receive goes */
int dtp_shm_advertise(void *ctx, uint32_t seq, void *buf, size_t cap, struct dtp_mr *mr)
{
	struct dtp_shm_link *t = ctx;
	uint32_t routed;
	struct shm_advert *a = &t->ctrl->advert[!t->me][seq % SHM_ADVERTS];
	int shared = mr && mr->shm_slot >= 0 && cap >= SHM_PLACE_MIN;

	/* the sender never looks for the offer of a tensor below SHM_PLACE_MIN */
	if (cap < SHM_PLACE_MIN)
		return 0;
	routed = atomic_load_explicit(&t->ctrl->routed[!t->me].n, memory_order_acquire);
	if ((int32_t)(seq - routed) < 0)
		return 0;                     /* the sender routed it already */
	if (seq - routed >= SHM_ADVERTS)
		return -EAGAIN;               /* the entry still holds an older offer */
	a->slot = shared ? (uint32_t)mr->shm_slot : SHM_NO_SLOT;
	a->gen = shared ? mr->shm_gen : 0;
	a->off = shared ? mr->shm_off + (uint64_t)((char *)buf - mr->base) : 0;
	a->cap = cap;
	atomic_store_explicit(&a->seq1, seq + 1, memory_order_release);
	dtp_shm_ring_bell(&t->ctrl->side[!t->me]);   /* the sender may wait for it */
	return shared;
}

int dtp_shm_region_publish(struct dtp_shm_link *t, int fd, const struct stat *sb,
			   struct dtp_mr *mr, struct dtp_err *err)
{
	struct shm_region *tab = t->ctrl->region[t->me];
	int slot;

	pthread_mutex_lock(&t->st.mu);
	for (slot = 0; slot < SHM_REGIONS; slot++)
		if (atomic_load(&tab[slot].gen) == 0)
			break;
	if (slot == SHM_REGIONS) {
		pthread_mutex_unlock(&t->st.mu);
		return dtp_errf_runtime(err, -ENOSPC, "stage %d: link to stage %d: more than %d shared "
					"buffers: allocate fewer, larger ones", t->base.cfg.self_stage,
					t->base.cfg.peer_stage, SHM_REGIONS);
	}
	if (++t->gen_next == 0)
		t->gen_next = 1;
	tab[slot].pid = (int32_t)getpid();
	tab[slot].fd = fd;
	tab[slot].size = (uint64_t)sb->st_size;
	tab[slot].ino = (uint64_t)sb->st_ino;
	tab[slot].dev = (uint64_t)sb->st_dev;
	atomic_store_explicit(&tab[slot].gen, t->gen_next, memory_order_release);
	atomic_fetch_add(&t->ctrl->routed[t->me].regions, 1);
	mr->shm_slot = slot;
	mr->shm_gen = t->gen_next;
	pthread_mutex_unlock(&t->st.mu);
	return 0;
}

void dtp_shm_region_unpublish(struct dtp_shm_link *t, const struct dtp_mr *mr)
{
	if (mr->shm_slot >= 0) {
		atomic_store(&t->ctrl->region[t->me][mr->shm_slot].gen, 0);
		atomic_fetch_sub(&t->ctrl->routed[t->me].regions, 1);
	}
}
