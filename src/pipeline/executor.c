/* The stage executor: runs this stage's op list for one training step, then
 * the gradient-norm gather along the chain and the optimizer step; and the
 * forward-only evaluation. Receives are posted ahead (as soon as their buffer
 * is free) so that transfers overlap compute; sends are waited for only when
 * their buffer is needed again. Nothing is allocated here. */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static struct dtp_tag mktag(uint32_t step, int micro, int kind)
{
	struct dtp_tag t = { .step = step, .micro = (uint16_t)micro, .kind = (uint16_t)kind };

	return t;
}

/* A transport refused to post a send or receive: the link has failed, almost
 * always because the peer went away; name it and the cause. */
static int post_failed(struct dtp_stage *st, int r, const char *what, int m, long step, int peer,
		       struct dtp_err *err)
{
	return dtp_errf(err, r,
			"stage %d, step %ld, micro-batch %d: cannot %s: the link to peer stage %d has failed (%s)%s",
			st->s, step, m, what, peer, strerror(-r),
			r == -ECONNRESET || r == -EPIPE ? ": that stage stopped or died; see its own message" : "");
}

/* Wait for a request, counting the time as waiting. */
static int wait_req(struct dtp_stage *st, struct dtp_link *l, struct dtp_req *req, int span,
		    long step, int m, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns(), t1;
	int r = dtp_link_wait(l, req, st->wait_timeout_ms, err);

	t1 = dtp_now_ns();
	st->t_wait += (double)(t1 - t0) * 1e-9;
	dtp_trace_span(st->trace, span, step, m, t0, t1);
	if (r == 0 && req->status < 0)
		r = dtp_errf(err, req->status, "request failed with status %d", req->status);
	if (r)
		dtp_err_prefix(err, "stage %d, step %ld, micro-batch %d: ", st->s, step, m);
	return r;
}

static int xbuf_ready(struct dtp_stage *st, struct dtp_link *l, struct dtp_xbuf *x, long step,
		      int m, struct dtp_err *err)
{
	int r;

	if (!x->pending)
		return 0;
	r = wait_req(st, l, &x->req, DTP_SPAN_SEND, step, m, err);
	x->pending = 0;
	return r;
}

/* bf16: activations and gradients cross the links as bf16 (half the fp32
 * bytes), packed in place before a send and widened in place after a receive
 * (exact: the model rounded them to bf16 at the unit boundary, model.h) */
static size_t wire_div(const struct dtp_stage *st)
{
	return st->plan->precision == DTP_PRECISION_BF16 ? 2 : 1;
}

static void wire_pack(const struct dtp_stage *st, void *buf, size_t fp32_bytes)
{
	if (wire_div(st) == 2)
		dtp_bf16_pack(buf, fp32_bytes / sizeof(float));
}

static void wire_unpack(const struct dtp_stage *st, void *buf, size_t fp32_bytes)
{
	if (wire_div(st) == 2)
		dtp_bf16_unpack(buf, fp32_bytes / sizeof(float));
}

static int post_act_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	struct dtp_tag tag = mktag((uint32_t)step, m, DTP_MSG_ACT);
	int r = dtp_link_irecv(st->prev, &tag, sl->in, st->in_bytes / wire_div(st), st->prev_mr,
			       &sl->recv);

	if (r)
		return post_failed(st, r, "post the receive of activation", m, step, st->s - 1, err);
	sl->recv_posted = 1;
	return 0;
}

static int post_grad_recv(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_xbuf *x = &st->grad_in[m & 1];
	struct dtp_tag tag = mktag((uint32_t)step, m, DTP_MSG_GRAD);
	int r = dtp_link_irecv(st->next, &tag, x->buf, st->out_bytes / wire_div(st), st->next_mr,
			       &x->req);

	if (r)
		return post_failed(st, r, "post the receive of gradient", m, step, st->s + 1, err);
	x->pending = 1;
	return 0;
}

static double span_end(struct dtp_stage *st, int kind, long step, int m, uint64_t t0,
		       double *acc)
{
	uint64_t t1 = dtp_now_ns();

	dtp_trace_span(st->trace, kind, step, m, t0, t1);
	*acc += (double)(t1 - t0) * 1e-9;
	return 0;
}

/* the loss of one micro-batch on the last stage: logits -> dlogits in place */
static int loss_of(struct dtp_stage *st, float *logits, const int32_t *tgt, int n, float scale,
		   double *sum, int *correct, struct dtp_err *err)
{
	int N = n * (int)st->tgt_elems;
	double l = dtp_xent(logits, tgt, N, st->vocab, logits, scale, correct);

	if (isnan(l))
		return dtp_errf(err, -ERANGE,
				"stage %d: a target is outside [0, %d): the dataset does not match the model's output size",
				st->s, st->vocab);
	*sum += l;
	return 0;
}

/* dtp_stage_forward fails only on input it cannot take: say which */
static int forward(struct dtp_stage *st, const void *in, void *out, void *save, int n, int m,
		   struct dtp_err *err)
{
	int r = dtp_stage_forward(st->model, in, out, save, n);

	if (r && st->is_first && st->plan->model.kind == DTP_MODEL_GPT)
		return dtp_errf(err, r,
				"stage %d: micro-batch %d holds a token outside [0, %d): the dataset's vocabulary is larger than the model's (set [model] vocab to at least the largest token + 1)",
				st->s, m, st->plan->model.vocab);
	if (r)
		return dtp_errf(err, r, "stage %d: forward of micro-batch %d failed (%d samples)",
				st->s, m, n);
	return 0;
}

static int fetch(struct dtp_stage *st, struct dtp_loader *l, int n, void *in, int32_t *tgt,
		 long step, int m, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	int got = dtp_loader_next(l, n, in, tgt, err);

	span_end(st, DTP_SPAN_DATA, step, m, t0, &st->t_data);
	if (got < 0)
		return got;
	if (got != n)
		return dtp_errf(err, -EIO, "stage %d: the loader gave %d samples instead of %d", st->s,
				got, n);
	return 0;
}

static int op_fwd(struct dtp_stage *st, long step, int m, float scale, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	void *out, *save = st->recompute ? st->scratch_save : sl->save;
	uint64_t t0;
	int r;

	if (st->is_first) {
		r = fetch(st, st->train_in, st->B, sl->in, st->is_last ? sl->tgt : NULL, step, m, err);
		if (r)
			return r;
	} else if (st->is_last) {
		r = fetch(st, st->train_tgt, st->B, NULL, sl->tgt, step, m, err);
		if (r)
			return r;
	}
	if (st->is_last) {
		if (st->recompute)
			return 0;   /* forward, loss and backward all happen in BWD m */
		out = sl->logits;
	} else {
		r = xbuf_ready(st, st->next, &st->act_out[m & 1], step, m, err);
		if (r)
			return r;
		out = st->act_out[m & 1].buf;
	}
	t0 = dtp_now_ns();
	r = forward(st, sl->in, out, save, st->B, m, err);
	if (r == 0 && st->is_last)
		r = loss_of(st, out, sl->tgt, st->B, scale, &st->loss_sum, NULL, err);
	span_end(st, DTP_SPAN_FWD, step, m, t0, &st->t_compute);
	return r;
}

static int op_bwd(struct dtp_stage *st, long step, int m, float scale, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	const float *dout;
	const void *save = sl->save;
	float *din = NULL;
	uint64_t t0;
	int r;

	if (!st->is_first) {
		r = xbuf_ready(st, st->prev, &st->grad_out[m & 1], step, m, err);
		if (r)
			return r;
		din = st->grad_out[m & 1].buf;
	}
	if (st->recompute) {
		t0 = dtp_now_ns();
		r = forward(st, sl->in, st->scratch_out, st->scratch_save, st->B, m, err);
		if (r == 0 && st->is_last)
			r = loss_of(st, st->scratch_out, sl->tgt, st->B, scale, &st->loss_sum, NULL, err);
		span_end(st, DTP_SPAN_RECOMPUTE, step, m, t0, &st->t_compute);
		if (r)
			return r;
		save = st->scratch_save;
	}
	if (st->is_last)
		dout = st->recompute ? st->scratch_out : sl->logits;
	else
		dout = st->grad_in[m & 1].buf;
	t0 = dtp_now_ns();
	r = dtp_stage_backward(st->model, sl->in, save, dout, din, st->B);
	span_end(st, DTP_SPAN_BWD, step, m, t0, &st->t_compute);
	if (r)
		return dtp_errf(err, r, "stage %d: backward of micro-batch %d failed", st->s, m);
	/* the stash slot and the gradient buffer are free: post the receives they take next */
	if (!st->is_first) {
		st->slots[m % st->n_slots].recv_posted = 0;
		if (m + st->n_slots < st->M && (r = post_act_recv(st, step, m + st->n_slots, err)))
			return r;
	}
	if (!st->is_last) {
		st->grad_in[m & 1].pending = 0;
		if (m + 2 < st->M && (r = post_grad_recv(st, step, m + 2, err)))
			return r;
	}
	return 0;
}

static int run_op(struct dtp_stage *st, const struct dtp_op *op, long step, float scale,
		  struct dtp_err *err)
{
	int m = op->micro, r;
	struct dtp_tag tag;
	struct dtp_xbuf *x;

	switch (op->kind) {
	case DTP_OP_RECV_ACT:
		if (!st->slots[m % st->n_slots].recv_posted)
			return dtp_errf(err, -EPROTO, "stage %d: activation %d has no posted receive",
					st->s, m);
		r = wait_req(st, st->prev, &st->slots[m % st->n_slots].recv, DTP_SPAN_RECV, step,
			     m, err);
		if (r == 0)
			wire_unpack(st, st->slots[m % st->n_slots].in, st->in_bytes);
		return r;
	case DTP_OP_FWD:
		return op_fwd(st, step, m, scale, err);
	case DTP_OP_SEND_ACT:
		x = &st->act_out[m & 1];
		tag = mktag((uint32_t)step, m, DTP_MSG_ACT);
		wire_pack(st, x->buf, st->out_bytes);
		r = dtp_link_isend(st->next, &tag, x->buf, st->out_bytes / wire_div(st), st->next_mr,
				   &x->req);
		if (r)
			return post_failed(st, r, "send activation", m, step, st->s + 1, err);
		x->pending = 1;
		return 0;
	case DTP_OP_RECV_GRAD:
		x = &st->grad_in[m & 1];
		if (!x->pending)
			return dtp_errf(err, -EPROTO, "stage %d: gradient %d has no posted receive",
					st->s, m);
		r = wait_req(st, st->next, &x->req, DTP_SPAN_RECV, step, m, err);
		if (r == 0)
			wire_unpack(st, x->buf, st->out_bytes);
		return r;
	case DTP_OP_BWD:
		return op_bwd(st, step, m, scale, err);
	case DTP_OP_SEND_GRAD:
		x = &st->grad_out[m & 1];
		tag = mktag((uint32_t)step, m, DTP_MSG_GRAD);
		wire_pack(st, x->buf, st->in_bytes);
		r = dtp_link_isend(st->prev, &tag, x->buf, st->in_bytes / wire_div(st), st->prev_mr,
				   &x->req);
		if (r)
			return post_failed(st, r, "send gradient", m, step, st->s - 1, err);
		x->pending = 1;
		return 0;
	}
	return dtp_errf(err, -EINVAL, "stage %d: unknown op %d", st->s, op->kind);
}

int dtp_stage_ctrl_send(struct dtp_stage *st, struct dtp_link *l, uint32_t step, uint16_t micro,
			const double *v, size_t n, struct dtp_err *err)
{
	struct dtp_tag tag = mktag(step, micro, DTP_MSG_CTRL);
	struct dtp_req req;
	struct dtp_mr *mr = l == st->prev ? st->prev_mr : st->next_mr;
	int r = dtp_link_isend(l, &tag, v, n * sizeof(double), mr, &req);

	if (r)
		return post_failed(st, r, "send a control message", micro, step,
				   l == st->prev ? st->s - 1 : st->s + 1, err);
	return wait_req(st, l, &req, DTP_SPAN_SYNC, step, micro, err);
}

int dtp_stage_ctrl_recv(struct dtp_stage *st, struct dtp_link *l, uint32_t step, uint16_t micro,
			double *v, size_t n, struct dtp_err *err)
{
	struct dtp_tag tag = mktag(step, micro, DTP_MSG_CTRL);
	struct dtp_req req;
	struct dtp_mr *mr = l == st->prev ? st->prev_mr : st->next_mr;
	int r = dtp_link_irecv(l, &tag, v, n * sizeof(double), mr, &req);

	if (r)
		return dtp_errf(err, r, "stage %d: cannot post a control receive", st->s);
	r = wait_req(st, l, &req, DTP_SPAN_SYNC, step, micro, err);
	if (r == 0 && req.len != n * sizeof(double))
		r = dtp_errf(err, -EPROTO, "stage %d: control message of %zu bytes, expected %zu",
			     st->s, req.len, n * sizeof(double));
	return r;
}

/* Gather every unit's gradient sum of squares and every stage's times up the
 * chain; the last stage adds them in global unit order and sends the clip
 * factor, the loss and the times back down. */
static int chain_sync(struct dtp_stage *st, long step, double *down, struct dtp_err *err)
{
	const struct dtp_plan *p = st->plan;
	size_t U = (size_t)st->total_units, K = (size_t)st->K;
	double *up = st->ctrl_up, total = 0;
	int r;

	if (!st->is_first) {
		r = dtp_stage_ctrl_recv(st, st->prev, (uint32_t)step, 0, up, st->ctrl_up_n, err);
		if (r)
			return r;
	} else {
		memset(up, 0, st->ctrl_up_n * sizeof(double));
	}
	dtp_stage_grad_sumsq(st->model, st->sumsq);
	memcpy(up + st->first_unit, st->sumsq, (size_t)st->n_units * sizeof(double));
	up[U + 2 * (size_t)st->s] = st->t_compute + st->t_data;
	up[U + 2 * (size_t)st->s + 1] = st->t_wait;
	if (!st->is_last) {
		r = dtp_stage_ctrl_send(st, st->next, (uint32_t)step, 0, up, st->ctrl_up_n, err);
		if (r == 0)
			r = dtp_stage_ctrl_recv(st, st->next, (uint32_t)step, 1, down, st->ctrl_down_n,
						err);
		if (r == 0 && !st->is_first)
			r = dtp_stage_ctrl_send(st, st->prev, (uint32_t)step, 1, down, st->ctrl_down_n,
						err);
		return r;
	}
	for (size_t u = 0; u < U; u++)
		total += up[u];
	down[0] = p->optim.clip_norm > 0 ? (double)dtp_clip_factor(&p->optim, total) : 1.0;
	down[1] = st->loss_sum;
	down[2] = sqrt(total);
	memcpy(down + 4, up + U, 2 * K * sizeof(double));
	if (st->is_first)
		return 0;
	return dtp_stage_ctrl_send(st, st->prev, (uint32_t)step, 1, down, st->ctrl_down_n, err);
}

int dtp_stage_train_step(struct dtp_stage *st, long step, double *loss, double *gnorm,
			 double *stage_times, struct dtp_err *err)
{
	float scale = 1.0f / ((float)st->M * (float)st->B * (float)st->tgt_elems);
	double *down = st->ctrl_down;
	uint64_t t0;
	int r;

	st->t_compute = st->t_wait = st->t_data = 0;
	st->loss_sum = 0;
	t0 = dtp_now_ns();
	dtp_stage_zero_grads(st->model);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	if (!st->is_first) {
		for (int m = 0; m < st->n_slots && m < st->M; m++)
			if ((r = post_act_recv(st, step, m, err)))
				return r;
	}
	if (!st->is_last) {
		for (int m = 0; m < 2 && m < st->M; m++)
			if ((r = post_grad_recv(st, step, m, err)))
				return r;
	}
	for (int i = 0; i < st->sched.n_ops; i++) {
		r = run_op(st, &st->sched.ops[i], step, scale, err);
		if (r)
			return r;
	}
	for (int i = 0; i < 2; i++) {
		if (!st->is_last && (r = xbuf_ready(st, st->next, &st->act_out[i], step, -1, err)))
			return r;
		if (!st->is_first && (r = xbuf_ready(st, st->prev, &st->grad_out[i], step, -1, err)))
			return r;
	}
	r = chain_sync(st, step, down, err);
	if (r)
		return r;
	t0 = dtp_now_ns();
	dtp_optim_step(st->optim, step, (float)down[0]);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	*loss = down[1] * (double)scale;
	*gnorm = down[2];
	if (stage_times)
		memcpy(stage_times, down + 4, 2 * (size_t)st->K * sizeof(double));
	return 0;
}

/* Forward the whole test set once (the loaders stop at the epoch end). */
int dtp_stage_evaluate(struct dtp_stage *st, uint32_t tag_step, int64_t *correct,
		       int64_t *count, double *loss_sum, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[0];
	size_t in_per = st->in_bytes / (size_t)st->B, out_per = st->out_bytes / (size_t)st->B;
	void *save = st->recompute ? st->scratch_save : sl->save;
	void *out = st->is_last ? (st->recompute ? st->scratch_out : (void *)sl->logits) :
				  st->act_out[0].buf;
	double *nb_msg = st->ctrl_up, sum = 0;
	int64_t hits = 0, seen = 0;
	long nb;
	int r, n;

	if (st->is_first)
		nb_msg[0] = (double)((st->test_samples + (uint64_t)st->B - 1) / (uint64_t)st->B);
	else if ((r = dtp_stage_ctrl_recv(st, st->prev, tag_step, 0, nb_msg, 1, err)))
		return r;
	nb = (long)nb_msg[0];
	if (!st->is_last && (r = dtp_stage_ctrl_send(st, st->next, tag_step, 0, nb_msg, 1, err)))
		return r;
	for (long b = 0; b < nb; b++) {
		uint32_t tstep = tag_step + 1 + (uint32_t)(b >> 16);
		struct dtp_tag tag = mktag(tstep, (int)(b & 0xffff), DTP_MSG_ACT);
		struct dtp_req req;
		int c = 0;

		if (st->is_first) {
			n = dtp_loader_next(st->test_in, st->B, sl->in, st->is_last ? sl->tgt : NULL, err);
			if (n <= 0)
				return n < 0 ? n : dtp_errf(err, -EIO, "stage 0: the test set ended early");
		} else {
			r = dtp_link_irecv(st->prev, &tag, sl->in, st->in_bytes / wire_div(st),
					   st->prev_mr, &req);
			if (r == 0)
				r = wait_req(st, st->prev, &req, DTP_SPAN_RECV, tstep, 0, err);
			if (r)
				return r;
			n = (int)(req.len / (in_per / wire_div(st)));
			if (n < 1 || n > st->B || req.len != (size_t)n * in_per / wire_div(st))
				return dtp_errf(err, -EPROTO, "stage %d: evaluation batch of %zu bytes",
						st->s, req.len);
			wire_unpack(st, sl->in, (size_t)n * in_per);
		}
		r = forward(st, sl->in, out, save, n, (int)b, err);
		if (r)
			return r;
		if (!st->is_last) {
			wire_pack(st, out, (size_t)n * out_per);
			r = dtp_link_isend(st->next, &tag, out, (size_t)n * out_per / wire_div(st),
					   st->next_mr, &req);
			if (r == 0)
				r = wait_req(st, st->next, &req, DTP_SPAN_SEND, tstep, 0, err);
			if (r)
				return r;
			continue;
		}
		if (!st->is_first && (r = fetch(st, st->test_tgt, n, NULL, sl->tgt, tstep, 0, err)))
			return r;
		r = loss_of(st, out, sl->tgt, n, 1.0f, &sum, &c, err);
		if (r)
			return r;
		hits += c;
		seen += n * (int64_t)st->tgt_elems;
	}
	*correct = hits;
	*count = seen;
	*loss_sum = sum;
	return 0;
}
