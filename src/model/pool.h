/* A small persistent worker pool for the model core's independent loops (the
 * attention's (batch, head) pairs, GELU elements, layernorm rows). Created
 * once with the stage model, joined in destroy; a parallel region is one
 * mutex + condvar handoff, with no thread creation or allocation per step.
 * Each participant gets a fixed share of independent items, so results are
 * bit-identical to the serial loop (no reduction is ever split).
 * Not part of the public API. */
#ifndef DTP_MODEL_POOL_H
#define DTP_MODEL_POOL_H

#include <stddef.h>

struct dtp_pool;

/* work item callback: participant w of nw (w 0 is the calling thread) */
typedef void dtp_pool_fn(void *arg, int w, int nw);

/* n participants (the caller plus n - 1 threads), n >= 2; 0 or negative errno */
int dtp_pool_create(int n, struct dtp_pool **out);
void dtp_pool_destroy(struct dtp_pool *p);
/* participants: 1 for a NULL pool */
int dtp_pool_size(const struct dtp_pool *p);
/* fn(arg, w, nw) for every w in [0, nw) at once; returns when all are done.
 * A NULL pool runs fn(arg, 0, 1) on the caller. */
void dtp_pool_run(struct dtp_pool *p, dtp_pool_fn *fn, void *arg);

/* [*lo, *hi): participant w's share of n items, in whole multiples of `align` */
static inline void dtp_pool_share(size_t n, size_t align, int w, int nw, size_t *lo,
				  size_t *hi)
{
	size_t units = (n + align - 1) / align;
	size_t a = units * (size_t)w / (size_t)nw, b = units * (size_t)(w + 1) / (size_t)nw;

	*lo = a * align < n ? a * align : n;
	*hi = b * align < n ? b * align : n;
}

#endif
