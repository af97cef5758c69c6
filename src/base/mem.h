/* Aligned memory and arenas. Everything a run needs per step (parameters,
 * gradients, optimizer state, activations, transport buffers) is carved from
 * arenas at start-up; nothing is allocated on the hot path. */
#ifndef DTP_BASE_MEM_H
#define DTP_BASE_MEM_H

#include <stddef.h>

#define DTP_CACHELINE 64
#define DTP_PAGE 4096
#define DTP_HUGE_PAGE ((size_t)2 << 20)   /* x86-64's transparent huge page */
#define DTP_HUGE_MAX ((size_t)64 << 20)   /* the largest region advised for them */

/* zeroed, `align` a power of two >= sizeof(void *); free with dtp_free.
 * A block of DTP_HUGE_PAGE or more starts on a huge page and is advised for
 * transparent huge pages, as dtp_map_huge's. */
void *dtp_alloc_aligned(size_t bytes, size_t align);
void dtp_free(void *p);

/* The bytes a region of `bytes` from dtp_arena_init or dtp_alloc_aligned
 * maps: whole pages, and from DTP_HUGE_PAGE up whole huge pages. Once
 * touched on transparent huge pages a region is resident to its last huge
 * page, so a memory prediction counts this, not `bytes`. */
size_t dtp_mapped_bytes(size_t bytes);

struct dtp_arena {
	char *base;
	size_t size;   /* bytes mapped */
	size_t used;   /* bytes handed out */
};

/* An anonymous mapping of len bytes (a multiple of DTP_PAGE), zero, not
 * touched: from DTP_HUGE_PAGE up it starts on a huge page boundary and is
 * advised for transparent huge pages up to DTP_HUGE_MAX (MADV_HUGEPAGE; a
 * hint: with THP off or no huge page free the pages are 4 KiB). Measured on
 * this project's VMs (a shadow-paging hypervisor, PVM; docs/benchmarks.md,
 * "Page walks under the hypervisor"): a stage's tens of MiB of weights,
 * gradients and optimizer moments on 4 KiB pages made the first and last
 * stages' optimizer step 10x slower than their neighbours' on most steps,
 * and huge pages (their regions 4-34 MiB) fixed it; but a 1-stage
 * GPT-2-small in bf16 ran 25-33% slower per step with its one 198 MiB
 * region on huge pages (the rest over 256 MiB on 4 KiB ones), and as fast
 * as before without. Why is not understood; regions above DTP_HUGE_MAX,
 * between the two, keep small pages (a pass that streams them loses little
 * to page walks on bare metal). NULL when mmap fails; munmap(p, len) frees
 * it. */
void *dtp_map_huge(size_t len);

/* Map `bytes` (rounded up to pages; from DTP_HUGE_PAGE up, to huge pages),
 * zeroed, page-aligned, as dtp_map_huge. 0 or -ENOMEM. */
int dtp_arena_init(struct dtp_arena *a, size_t bytes);
/* Take `bytes` aligned to `align` (power of two); NULL when the arena is full. */
void *dtp_arena_take(struct dtp_arena *a, size_t bytes, size_t align);
void dtp_arena_release(struct dtp_arena *a);

/* bytes for people, in the largest binary unit that keeps the value >= 1:
 * "512 B", "1.0 KiB", "3.2 MiB", "1.5 GiB"; returns buf */
const char *dtp_fmt_bytes(double bytes, char *buf, size_t len);

/* round x up to a multiple of a (a power of two) */
static inline size_t dtp_align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

#endif
