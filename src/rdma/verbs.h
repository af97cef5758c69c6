/* The verbs transport's link (internal to src/rdma): librdmacm connection
 * set-up (verbs_cm.c), the ops table and the per-link progress thread
 * (verbs.c), the protocol state machine (verbs_proto.c). */
#ifndef DTP_RDMA_VERBS_H
#define DTP_RDMA_VERBS_H

#include <pthread.h>
#include <rdma/rdma_cma.h>

#include "rdma/link.h"
#include "rdma/verbs_proto.h"

struct dtp_verbs_link {
	struct dtp_link_base base;           /* must come first */
	const struct dtp_verbs_api *api;
	struct rdma_event_channel *ch;       /* connection events (non-blocking fd) */
	struct rdma_cm_id *id;               /* the connected id */
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp;
	struct ibv_cq *cq;
	int qp_created;
	int vq_ready;
	struct dtp_vq q;                     /* protected by mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;                   /* broadcast when requests complete */
	pthread_t thread;
	int thread_started;
	/* Who polls the CQ (verbs.c): a caller inside wait() polls it itself and
	 * the progress thread is parked on `unpark` (a futex), off the CPU, the
	 * CQ and the mutex; it drives the link when no caller has for a while or
	 * a caller handed it over. All atomics. */
	int stop;                            /* ask the progress thread to exit */
	int waiters;                         /* callers polling the CQ in wait() */
	unsigned calls;                      /* bumped by every isend/irecv/test/wait */
	int handoff;                         /* a caller asked the thread to drive now */
	int parked;                          /* the thread is (about to be) in futex_wait */
	uint32_t unpark;                     /* futex word: bumped to wake a parked thread */
	int wake_fd;                         /* eventfd that wakes the thread from poll() */
	size_t reg_bytes;                    /* bytes registered on this link */
	struct dtp_mr *mrs;                  /* regions from dtp_link_reg (under mu) */
	int warned_unreg;                    /* logged the per-message registration once */
	int print_stats;                     /* DTP_VERBS_STATS set: print dtp_vq_stats at close */
	char peer_desc[320];
};

/* Connect (cfg.listen == 0, with retries until connect_timeout_ms) or accept
 * (cfg.listen == 1, refusing strangers until the deadline). On success the
 * link has its channel, id, PD, CQ, QP and a started dtp_vq. */
int dtp_verbs_establish(struct dtp_verbs_link *l, struct dtp_err *err);
/* Undo dtp_verbs_establish (QP, CQ, PD, ids, channel). */
void dtp_verbs_teardown(struct dtp_verbs_link *l);
/* What went which way on a verbs link so far (eager or rendezvous, ...), for
 * tests; with DTP_VERBS_STATS=1 in the environment each link also prints them
 * to stderr when it closes ("verbs stats: ..."). */
void dtp_verbs_stats(struct dtp_link *link, struct dtp_vq_stats *out);

#endif
