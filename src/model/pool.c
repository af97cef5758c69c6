/* Persistent worker pool (see pool.h): workers sleep on a condvar until the
 * generation counter moves, run their share, and the last one to finish wakes
 * the caller. The mutex orders every write of a region before its readers. */
#include "config.h"
#include "model/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

struct dtp_pool_worker {
	struct dtp_pool *pool;
	int w;
	pthread_t thr;
};

struct dtp_pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;          /* bumped once per region */
	int pending;           /* workers still running the current region */
	int stop;
	int n, started;        /* participants; threads actually created */
	dtp_pool_fn *fn;
	void *arg;
	struct dtp_pool_worker *workers; /* n - 1 */
};

static void *worker_main(void *v)
{
	struct dtp_pool_worker *wk = v;
	struct dtp_pool *p = wk->pool;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		dtp_pool_fn *fn = p->fn;
		void *arg = p->arg;

		pthread_mutex_unlock(&p->mu);
		fn(arg, wk->w, p->n);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void dtp_pool_destroy(struct dtp_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
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
	if (!p) {
		fn(arg, 0, 1);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->pending = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	fn(arg, 0, p->n);
	pthread_mutex_lock(&p->mu);
	while (p->pending)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
