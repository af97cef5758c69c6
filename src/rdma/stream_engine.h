/* Internal to the stream engine (stream.c, stream_post.c): its lock, the
 * requests' private words, completion, and the progress steps the posting
 * side drives. Everything else includes stream.h. */
#ifndef DTP_RDMA_STREAM_ENGINE_H
#define DTP_RDMA_STREAM_ENGINE_H

#include <sched.h>

#include "rdma/stream.h"

enum { REQ_PENDING = 1, REQ_DONE = 2 };

static inline int stream_gate_try(struct dtp_stream *s)
{
	int z = 0;

	return atomic_compare_exchange_strong_explicit(&s->gate, &z, 1, memory_order_acquire,
						       memory_order_relaxed);
}

static inline void stream_gate_release(struct dtp_stream *s)
{
	atomic_store_explicit(&s->gate, 0, memory_order_release);
}

/* mu, then the gate: a lock-free path holds it for a copy of at most
 * io->fast_max bytes and never blocks */
static inline void stream_lock(struct dtp_stream *s)
{
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; !stream_gate_try(s); i++) {
		if (i < 64)
			dtp_cpu_pause();
		else
			sched_yield();
	}
}

static inline void stream_unlock(struct dtp_stream *s)
{
	stream_gate_release(s);
	pthread_mutex_unlock(&s->mu);
}

#define CAP(r) ((r)->priv[1])
#define IS_RECV(r) ((r)->priv[2])
#define ADVERTISED(r) ((r)->priv[3])   /* 0 not yet, 1 into shared memory, 2 not */
/* a receive the progress thread helps with: large, not one the peer writes
 * straight into its buffer (which needs nobody's help), and not one the
 * transport buffers whole (io->eager_max): waking the thread for that costs
 * the receiver's core two context switches and reads nothing sooner */
static inline int thread_helps(const struct dtp_stream *s, const struct dtp_req *r)
{
	return CAP(r) >= DTP_STREAM_BIG_RX && ADVERTISED(r) != 1 && CAP(r) > s->io->eager_max;
}

/* state last, released: the lock-free wait/test read it without the lock */
static inline void stream_complete(struct dtp_req *r, int status)
{
	r->status = status;
	__atomic_store_n(&r->state, REQ_DONE, __ATOMIC_RELEASE);
}

static inline int stream_is_done(const struct dtp_req *r)
{
	return __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == REQ_DONE;
}

/* The progress steps (stream.c), each under stream_lock. fail_all: the link
 * failed with code (sticky; the first failure's message in fail_err), every
 * queued request completes with it. pop_recv: the head receive is complete. */
void dtp_stream_fail_all(struct dtp_stream *s, int code);
void dtp_stream_pop_recv(struct dtp_stream *s);
/* move the head sends / receives as far as the byte I/O allows */
void dtp_stream_tx_progress(struct dtp_stream *s);
void dtp_stream_progress(struct dtp_stream *s);
/* io->advertise the posted receives not advertised yet, in order */
void dtp_stream_advertise(struct dtp_stream *s);
/* wake the progress thread when the pending work needs it */
void dtp_stream_maybe_kick(struct dtp_stream *s);

#endif
