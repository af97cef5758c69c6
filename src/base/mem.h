/* Aligned memory and arenas. Everything a run needs per step (parameters,
 * gradients, optimizer state, activations, transport buffers) is carved from
 * arenas at start-up; nothing is allocated on the hot path. */
#ifndef DTP_BASE_MEM_H
#define DTP_BASE_MEM_H

#include <stddef.h>

#define DTP_CACHELINE 64
#define DTP_PAGE 4096

/* zeroed, `align` a power of two >= sizeof(void *); free with dtp_free */
void *dtp_alloc_aligned(size_t bytes, size_t align);
void dtp_free(void *p);

struct dtp_arena {
	char *base;
	size_t size;   /* bytes mapped */
	size_t used;   /* bytes handed out */
};

/* Map `bytes` (rounded up to pages), zeroed, page-aligned. 0 or -ENOMEM. */
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
