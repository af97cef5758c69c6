/* A stage's transfers to its neighbours (stage.h): a message's tag, the
 * receives and sends of a micro-batch's activation and gradient posted on
 * the links (packed for the wire in bf16, widened after), the waits for
 * them (in heartbeat slices, with the peer's liveness checked between),
 * and a failed link named with the peer and the cause. The executor
 * (executor.c) decides when; this file knows how. */
#include "config.h"
#include "pipeline/ctrl.h"

#include <errno.h>
#include <string.h>

struct dtp_tag dtp_stage_tag(uint32_t step, int micro, int kind)
{
	struct dtp_tag t = { .step = step, .micro = (uint16_t)micro, .kind = (uint16_t)kind };

	return t;
}

/* A transport refused to post a send or receive: the link has failed, almost
 * always because the peer went away; name it and the cause. */
int dtp_stage_link_failed(int r, int peer, struct dtp_err *err)
{
	const char *why = r == -ECONNRESET || r == -EPIPE ?
		" (that stage stopped or died; see its own message)" : "";

	/* the transport said why in err; name the peer in front */
	if (err && err->msg[0])
		dtp_err_prefix(err, "the link to peer stage %d has failed%s: ", peer, why);
	else
		dtp_errf_runtime(err, r, "the link to peer stage %d has failed (%s)%s", peer, strerror(-r), why);
	return r;
}

static int post_failed(struct dtp_stage *st, int r, const char *what, int m, long step, int peer,
		       struct dtp_err *err)
{
	dtp_stage_link_failed(r, peer, err);
	dtp_err_prefix(err, "stage %d, step %ld, micro-batch %d: cannot %s: ", st->s, step, m, what);
	return r;
}

/* Wait for a request, counting the time as waiting. */
int dtp_stage_wait(struct dtp_stage *st, struct dtp_link *l, struct dtp_req *req, int span,
		   long step, int m, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns(), t1;
	int peer = l == st->prev ? st->s - 1 : st->s + 1, r;

	/* wait in slices of one heartbeat interval; between them, is the peer
	 * still alive and working? (liveness.c) */
	dtp_stage_blocked_on(st, peer);
	for (;;) {
		struct dtp_err slice;

		slice.code = 0;
		slice.msg[0] = '\0';
		r = dtp_link_wait(l, req, st->hb ? st->heartbeat_ms : -1, &slice);
		if (r != -ETIMEDOUT || !st->hb) {
			if (r && slice.msg[0])
				dtp_err_copy(err, &slice);
			else if (r)
				dtp_errf_runtime(err, r, "waiting on stage %d: %s", peer, strerror(-r));
			break;
		}
		r = dtp_stage_liveness_check(st, peer, err);
		if (r)
			break;
	}
	dtp_stage_blocked_on(st, -1);
	t1 = dtp_now_ns();
	st->t_wait += (double)(t1 - t0) * 1e-9;
	dtp_trace_span(st->trace, span, step, m, t0, t1);
	if (r == 0 && req->status < 0)
		r = dtp_errf_runtime(err, req->status, "request failed with status %d", req->status);
	return r;
}

/* m < 0: the step's last sends, waited for after its last op */
int dtp_stage_wait_op(struct dtp_stage *st, struct dtp_link *l, struct dtp_req *req, int span,
		      long step, int m, struct dtp_err *err)
{
	int r = dtp_stage_wait(st, l, req, span, step, m, err);

	if (r && m >= 0)
		dtp_err_prefix(err, "stage %d, step %ld, micro-batch %d: ", st->s, step, m);
	else if (r)
		dtp_err_prefix(err, "stage %d, step %ld: while finishing the step's sends: ", st->s,
			       step);
	return r;
}

int dtp_stage_xbuf_ready(struct dtp_stage *st, struct dtp_link *l, struct dtp_xbuf *x, long step,
			 int m, struct dtp_err *err)
{
	int r;

	if (!x->pending)
		return 0;
	r = dtp_stage_wait_op(st, l, &x->req, DTP_SPAN_SEND, step, m, err);
	x->pending = 0;
	return r;
}

/* bf16: activations and gradients cross the links as bf16 (half the fp32
 * bytes), packed in place before a send and widened in place after a receive
 * (exact: the model rounded them to bf16 at the unit boundary, model.h) */
size_t dtp_stage_wire_bytes(const struct dtp_stage *st, size_t fp32_bytes)
{
	return dtp_precision_wire_bytes(st->plan->precision, fp32_bytes);
}

void dtp_stage_wire_pack(const struct dtp_stage *st, void *buf, size_t fp32_bytes)
{
	if (st->plan->precision == DTP_PRECISION_BF16)
		dtp_bf16_pack(buf, fp32_bytes / sizeof(float));
}

void dtp_stage_wire_unpack(const struct dtp_stage *st, void *buf, size_t fp32_bytes)
{
	if (st->plan->precision == DTP_PRECISION_BF16)
		dtp_bf16_unpack(buf, fp32_bytes / sizeof(float));
}

int dtp_stage_post_act_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	struct dtp_tag tag = dtp_stage_tag((uint32_t)step, m, DTP_MSG_ACT);
	int r = dtp_link_irecv(st->prev, &tag, sl->in, dtp_stage_wire_bytes(st, st->in_bytes), st->prev_mr,
			       &sl->recv, err);

	if (r)
		return post_failed(st, r, "post the receive of activation", m, step, st->s - 1, err);
	sl->recv_posted = 1;
	return 0;
}

int dtp_stage_post_grad_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_xbuf *x = &st->grad_in[m & 1];
	struct dtp_tag tag = dtp_stage_tag((uint32_t)step, m, DTP_MSG_GRAD);
	int r = dtp_link_irecv(st->next, &tag, x->buf, dtp_stage_wire_bytes(st, st->out_bytes),
			       st->next_mr, &x->req, err);

	if (r)
		return post_failed(st, r, "post the receive of gradient", m, step, st->s + 1, err);
	x->pending = 1;
	return 0;
}

/* Post the send of x: an activation to the next stage (fwd), else a gradient
 * to the previous one; packed for the wire first. */
int dtp_stage_post_send(struct dtp_stage *st, struct dtp_xbuf *x, int fwd, long step, int m,
			struct dtp_err *err)
{
	struct dtp_tag tag = dtp_stage_tag((uint32_t)step, m, fwd ? DTP_MSG_ACT : DTP_MSG_GRAD);
	size_t bytes = fwd ? st->out_bytes : st->in_bytes;
	int r;

	dtp_stage_wire_pack(st, x->buf, bytes);
	r = dtp_link_isend(fwd ? st->next : st->prev, &tag, x->buf, dtp_stage_wire_bytes(st, bytes),
			   fwd ? st->next_mr : st->prev_mr, &x->req, err);
	if (r)
		return post_failed(st, r, fwd ? "send activation" : "send gradient", m, step,
				   fwd ? st->s + 1 : st->s - 1, err);
	x->pending = 1;
	return 0;
}
