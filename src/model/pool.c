/* Persistent worker pool (see pool.h). A region is published by bumping the
 * generation counter; workers spin on it for up to DTP_POOL_SPIN_NS before
 * they sleep on a condvar, and the caller spins on the pending count for as
 * long before it sleeps, so back-to-back regions (a gpt step makes ~130)
 * never pay a futex wake-up (a mutex + condvar handoff every time cost far
 * more than the region: docs/benchmarks.md, "Model core"). A sleeping side is found with a
 * Dekker-style pair of sequentially consistent accesses (the sleeper
 * announces itself, then re-checks; the publisher publishes, then looks for
 * sleepers), and woken under the mutex, so no wake-up is lost. */
#include "config.h"
#include "model/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/base.h"

/* how long a side spins before it sleeps: longer than the gaps between a
 * step's regions, short enough not to burn a core between steps */
#define DTP_POOL_SPIN_NS 100000L

struct dtp_pool_worker {
	struct dtp_pool *pool;
	int w;
	pthread_t thr;
};

struct dtp_pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	_Atomic uint64_t gen;       /* bumped once per region */
	_Atomic int pending;        /* workers still running the current region */
	_Atomic int sleepers;       /* workers asleep (or about to be) on `go` */
	_Atomic int caller_waiting; /* the caller asleep (or about to be) on `done` */
	_Atomic int stop;
	int n, started;             /* participants; threads actually created */
	dtp_pool_fn *fn;            /* written before gen moves, read after */
	void *arg;
	struct dtp_pool_worker *workers; /* n - 1 */
};

/* spin until gen != seen or stop (true), or the spin time is over (false) */
static int spin_for_gen(struct dtp_pool *p, uint64_t seen)
{
	uint64_t t0 = dtp_now_ns();

	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
		    atomic_load_explicit(&p->stop, memory_order_relaxed))
			return 1;
		dtp_cpu_pause();
		if (!(i & 63) && dtp_now_ns() - t0 > DTP_POOL_SPIN_NS)
			return 0;
	}
}

static void *worker_main(void *v)
{
	struct dtp_pool_worker *wk = v;
	struct dtp_pool *p = wk->pool;
	uint64_t seen = 0;

	for (;;) {
		if (!spin_for_gen(p, seen)) {
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
				pthread_cond_wait(&p->go, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		seen = atomic_load_explicit(&p->gen, memory_order_acquire);
		p->fn(p->arg, wk->w, p->n);
		/* the last worker out wakes a sleeping caller */
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waiting)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

void dtp_pool_destroy(struct dtp_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->workers[i].thr, NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->go);
	pthread_mutex_destroy(&p->mu);
	free(p->workers);
	free(p);
}

int dtp_pool_create(int n, struct dtp_pool **out)
{
	struct dtp_pool *p;
	int rc;

	if (n < 2)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->workers = calloc((size_t)n - 1, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	p->n = n;
	atomic_init(&p->gen, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->caller_waiting, 0);
	atomic_init(&p->stop, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 0; i < n - 1; i++) {
		p->workers[i].pool = p;
		p->workers[i].w = i + 1;
		rc = pthread_create(&p->workers[i].thr, NULL, worker_main, &p->workers[i]);
		if (rc) {
			dtp_pool_destroy(p);   /* joins the `started` threads */
			return -rc;
		}
		p->started++;
	}
	*out = p;
	return 0;
}

int dtp_pool_size(const struct dtp_pool *p)
{
	return p ? p->n : 1;
}

void dtp_pool_run(struct dtp_pool *p, dtp_pool_fn *fn, void *arg)
{
	uint64_t t0;

	if (!p) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
	atomic_fetch_add(&p->gen, 1);           /* publishes fn, arg, pending */
	if (atomic_load(&p->sleepers)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->go);
		pthread_mutex_unlock(&p->mu);
	}
	fn(arg, 0, p->n);
	t0 = dtp_now_ns();
	for (unsigned i = 1; atomic_load_explicit(&p->pending, memory_order_acquire); i++) {
		dtp_cpu_pause();
		if (!(i & 63) && dtp_now_ns() - t0 > DTP_POOL_SPIN_NS) {
			pthread_mutex_lock(&p->mu);
			atomic_store(&p->caller_waiting, 1);
			while (atomic_load(&p->pending))
				pthread_cond_wait(&p->done, &p->mu);
			atomic_store(&p->caller_waiting, 0);
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
}
