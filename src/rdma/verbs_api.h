/* The verbs calls the verbs transport makes, behind a table of our own, so
 * that the protocol state machine (verbs_proto.c) can be driven by CMocka fakes
 * in tests/rdma/test_verbs_state.c. Many verbs are static inline in
 * <infiniband/verbs.h>; dtp_verbs_api_real wraps each in a small function.
 * Internal to src/rdma. */
#ifndef DTP_RDMA_VERBS_API_H
#define DTP_RDMA_VERBS_API_H

#include <infiniband/verbs.h>

struct dtp_verbs_api {
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);
	int (*poll_cq)(struct ibv_cq *cq, int n, struct ibv_wc *wc);
	int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
	int (*get_cq_event)(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned int n);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
};

/* the real libibverbs calls */
extern const struct dtp_verbs_api dtp_verbs_api_real;

#endif
