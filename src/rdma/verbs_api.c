/* The real libibverbs calls behind struct dtp_verbs_api (see verbs_api.h).
 * ibv_post_send, ibv_post_recv, ibv_poll_cq and ibv_req_notify_cq are static
 * inline in <infiniband/verbs.h>, so each gets a small wrapper here. */
#include "config.h"

#include "rdma/verbs_api.h"

static int api_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	return ibv_post_send(qp, wr, bad);
}

static int api_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	return ibv_post_recv(qp, wr, bad);
}

static int api_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	return ibv_poll_cq(cq, n, wc);
}

static int api_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	return ibv_req_notify_cq(cq, solicited_only);
}

static int api_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
	return ibv_get_cq_event(ch, cq, ctx);
}

static void api_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	ibv_ack_cq_events(cq, n);
}

static struct ibv_mr *api_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	return ibv_reg_mr(pd, addr, len, access);
}

static int api_dereg_mr(struct ibv_mr *mr)
{
	return ibv_dereg_mr(mr);
}

const struct dtp_verbs_api dtp_verbs_api_real = {
	.post_send = api_post_send,
	.post_recv = api_post_recv,
	.poll_cq = api_poll_cq,
	.req_notify_cq = api_req_notify_cq,
	.get_cq_event = api_get_cq_event,
	.ack_cq_events = api_ack_cq_events,
	.reg_mr = api_reg_mr,
	.dereg_mr = api_dereg_mr,
};
