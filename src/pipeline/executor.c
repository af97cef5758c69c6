/* The stage executor: runs this stage's op list for one training step, then
 * the gradient-norm gather along the chain and the optimizer step (the
 * forward-only evaluation is evaluate.c, the transfers transfer.c).
 * Receives are posted ahead (as soon as their buffer is free) so that
 * transfers overlap compute; sends are waited for only when their buffer is
 * needed again. Nothing is allocated here. */
#include "config.h"
#include "pipeline/ctrl.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* a span's start: its wall time, and with a trace the process's CPU time
 * (what span_end records beside the span: a stage that shares its core
 * computes for less than the span lasts) */
static uint64_t span_begin(struct dtp_stage *st)
{
	if (st->trace)
		st->span_cpu0 = dtp_cpu_ns();
	return dtp_now_ns();
}

/* a span begun by span_begin at t0 */
static double span_end(struct dtp_stage *st, int kind, long step, int m, uint64_t t0,
		       double *acc)
{
	uint64_t t1 = dtp_now_ns();

	if (st->trace)
		dtp_trace_span_cpu(st->trace, kind, step, m, t0, t1, dtp_cpu_ns() - st->span_cpu0);
	*acc += (double)(t1 - t0) * 1e-9;
	return 0;
}

/* the loss of one micro-batch on the last stage: logits -> dlogits in place */
int dtp_stage_loss(struct dtp_stage *st, float *logits, const int32_t *tgt, int n, float scale,
		   double *sum, int *correct, struct dtp_err *err)
{
	int N = n * (int)st->tgt_elems;
	int r = dtp_stage_check_targets(st, tgt, N, err);

	/* a loss that is not finite (the run diverged, or NaN data) is judged
	 * for the whole step in chain_sync (nonfinite.c) */
	if (r == 0)
		*sum += dtp_xent(logits, tgt, N, st->vocab, logits, scale, correct);
	return r;
}

/* dtp_stage_forward fails only on input it cannot take: say which */
int dtp_stage_forward_checked(struct dtp_stage *st, const void *in, void *out, void *save,
			      int n, int m, struct dtp_err *err)
{
	int r = dtp_stage_forward(st->model, in, out, save, n);

	if (r && st->is_first && st->plan->model.kind == DTP_MODEL_GPT)
		return dtp_errf_input(err, r,
				      "stage %d: micro-batch %d holds a token outside [0, %d): the dataset's vocabulary is larger than the model's (set [model] vocab to at least the largest token + 1)",
				      st->s, m, st->plan->model.vocab);
	if (r)
		return dtp_errf_runtime(err, r, "stage %d: forward of micro-batch %d failed (%d samples)",
					st->s, m, n);
	return 0;
}

int dtp_stage_fetch(struct dtp_stage *st, struct dtp_loader *l, int n, void *in, int32_t *tgt,
		    long step, int m, struct dtp_err *err)
{
	uint64_t t0 = span_begin(st);
	int got = dtp_loader_next(l, n, in, tgt, err);

	span_end(st, DTP_SPAN_DATA, step, m, t0, &st->t_data);
	if (got < 0)
		return got;
	if (got != n)
		return dtp_errf_runtime(err, -EIO, "stage %d: the loader gave %d samples instead of %d", st->s,
					got, n);
	return 0;
}

/* Data-parallel replicas read disjoint shares of every global batch: of the
 * step's R x M micro-batches in the shared sample order, replica r takes
 * r x M .. r x M + M - 1. Its loader passes over the others' samples
 * (delivered nowhere, not decoded) before its first micro-batch and after its
 * last, so that every replica's loader stands at the same global position
 * between steps (what a checkpoint records). */
static int skip_others(struct dtp_stage *st, struct dtp_loader *l, int before, long step, int m,
		       struct dtp_err *err)
{
	int n = (before ? st->replica : st->R - 1 - st->replica) * st->M * st->B;
	uint64_t t0;
	int got;

	if (n == 0)
		return 0;
	t0 = span_begin(st);
	got = dtp_loader_next(l, n, NULL, NULL, err);
	span_end(st, DTP_SPAN_DATA, step, m, t0, &st->t_data);
	if (got < 0)
		return got;
	if (got != n)
		return dtp_errf_runtime(err, -EIO, "stage %d: the loader passed %d samples instead of %d",
					st->s, got, n);
	return 0;
}

static int op_fwd(struct dtp_stage *st, long step, int m, float scale, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	void *out, *save = st->recompute ? st->scratch_save : sl->save;
	uint64_t t0;
	int r;

	if (st->is_first || st->is_last) {
		struct dtp_loader *l = st->is_first ? st->train_in : st->train_tgt;

		r = m == 0 ? skip_others(st, l, 1, step, m, err) : 0;
		if (r == 0)
			r = dtp_stage_fetch(st, l, st->B, st->is_first ? sl->in : NULL,
				  st->is_last ? sl->tgt : NULL, step, m, err);
		if (r == 0 && m == st->M - 1)
			r = skip_others(st, l, 0, step, m, err);
		if (r)
			return r;
	}
	if (st->is_last) {
		if (st->recompute)
			return 0;   /* forward, loss and backward all happen in BWD m */
		out = sl->logits;
	} else {
		r = dtp_stage_xbuf_ready(st, st->next, &st->act_out[m & 1], step, m, err);
		if (r)
			return r;
		out = st->act_out[m & 1].buf;
	}
	t0 = span_begin(st);
	r = dtp_stage_forward_checked(st, sl->in, out, save, st->B, m, err);
	if (r == 0 && st->is_last)
		r = dtp_stage_loss(st, out, sl->tgt, st->B, scale, &st->loss_sum, NULL, err);
	span_end(st, DTP_SPAN_FWD, step, m, t0, &st->t_compute);
	return r;
}

/* the input-gradient buffer for m's backward (NULL on the first stage),
 * once its previous send is done */
static int din_of(struct dtp_stage *st, long step, int m, float **din, struct dtp_err *err)
{
	int r;

	*din = NULL;
	if (st->is_first)
		return 0;
	r = dtp_stage_xbuf_ready(st, st->prev, &st->grad_out[m & 1], step, m, err);
	if (r == 0)
		*din = st->grad_out[m & 1].buf;
	return r;
}

/* m's output gradient has been read: post the receive its buffer takes next */
static int free_grad_in(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	if (st->is_last)
		return 0;
	st->grad_in[m & 1].pending = 0;
	return m + 2 < st->M ? dtp_stage_post_grad_recv(st, step, m + 2, err) : 0;
}

/* m's stash slot is free (after its backward, or its W): post the receive
 * it takes next */
static int free_slot(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	if (st->is_first)
		return 0;
	st->slots[m % st->n_slots].recv_posted = 0;
	return m + st->n_slots < st->M ? dtp_stage_post_act_recv(st, step, m + st->n_slots, err) : 0;
}

/* A unit's gradient is complete after the last micro-batch's backward
 * through it: the bucket it completes starts its sum over the replicas, and
 * the ones in flight progress while the units below run (rdma/dp.h). */
static void unit_done(void *arg, int unit, float *grads, size_t n)
{
	struct dtp_stage *st = arg;

	if (!st->reduce_failed && dtp_dp_unit_done(st->dp, unit, grads, n, &st->reduce_err)) {
		dtp_err_prefix(&st->reduce_err, "stage %d, unit %d: ", st->s, unit);
		st->reduce_failed = 1;
	}
}

/* After the step's backward: wait for the gradient sums, and on the last
 * stage add the replicas' losses (the step's loss and the non-finite verdict
 * are then the whole global batch's, the same on every replica). */
static int finish_reduce(struct dtp_stage *st, long step, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	int r;

	if (st->reduce_failed)
		return dtp_err_copy(err, &st->reduce_err);
	r = dtp_dp_wait(st->dp, err);
	dtp_trace_span(st->trace, DTP_SPAN_SYNC, step, 0, t0, dtp_now_ns());
	if (r == 0 && st->is_last)
		r = dtp_dp_sum_doubles(st->dp, &st->loss_sum, 1, err);
	if (r) {
		dtp_err_prefix(err, "stage %d, step %ld: summing the gradients over the %d replicas: ",
			       st->s, step, st->R);
		return r;
	}
	return 0;
}

static int op_bwd(struct dtp_stage *st, long step, int m, float scale, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	const float *dout;
	const void *save = sl->save;
	float *din;
	uint64_t t0;
	int r;

	if ((r = din_of(st, step, m, &din, err)))
		return r;
	if (st->recompute) {
		t0 = span_begin(st);
		r = dtp_stage_forward_checked(st, sl->in, st->scratch_out, st->scratch_save, st->B, m, err);
		if (r == 0 && st->is_last)
			r = dtp_stage_loss(st, st->scratch_out, sl->tgt, st->B, scale, &st->loss_sum, NULL, err);
		span_end(st, DTP_SPAN_RECOMPUTE, step, m, t0, &st->t_compute);
		if (r)
			return r;
		save = st->scratch_save;
	}
	if (st->is_last)
		dout = st->recompute ? st->scratch_out : sl->logits;
	else
		dout = st->grad_in[m & 1].buf;
	t0 = span_begin(st);
	if (st->dp && m == st->M - 1)
		r = dtp_stage_backward_each(st->model, sl->in, save, dout, din, st->B, unit_done, st);
	else
		r = dtp_stage_backward(st->model, sl->in, save, dout, din, st->B);
	span_end(st, DTP_SPAN_BWD, step, m, t0, &st->t_compute);
	if (r)
		return dtp_errf_runtime(err, r, "stage %d: backward of micro-batch %d failed", st->s, m);
	/* the stash slot and the gradient buffer are free: post the receives they take next */
	if ((r = free_slot(st, step, m, err)))
		return r;
	return free_grad_in(st, step, m, err);
}

/* B of a split schedule: the input gradient, sent by the next op; what W
 * needs stays in m's stash slot and W stash slot (no recompute: the plan's
 * validator refuses split schedules with it) */
static int op_bwd_in(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	const float *dout = st->is_last ? sl->logits : st->grad_in[m & 1].buf;
	float *din;
	uint64_t t0;
	int r;

	if ((r = din_of(st, step, m, &din, err)))
		return r;
	t0 = span_begin(st);
	r = dtp_stage_backward_input(st->model, sl->in, sl->save, dout, din,
				     st->wslots[m % st->n_wslots], st->B);
	span_end(st, DTP_SPAN_BWD_IN, step, m, t0, &st->t_compute);
	if (r)
		return dtp_errf_runtime(err, r, "stage %d: input gradient of micro-batch %d failed",
					st->s, m);
	return free_grad_in(st, step, m, err);
}

/* W of a split schedule, in micro-batch order: micro-batch m's parameter
 * gradients of every unit of the stage are accumulated when it returns (the
 * point where a unit's gradient for m is final, as after op_bwd) */
static int op_bwd_w(struct dtp_stage *st, long step, int m, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[m % st->n_slots];
	uint64_t t0 = span_begin(st);
	/* with replicas, the last micro-batch's W starts each unit's gradient sum */
	int r = st->dp && m == st->M - 1 ?
		dtp_stage_backward_weight_each(st->model, sl->in, sl->save,
					       st->wslots[m % st->n_wslots], st->B, unit_done, st) :
		dtp_stage_backward_weight(st->model, sl->in, sl->save,
					  st->wslots[m % st->n_wslots], st->B);

	span_end(st, DTP_SPAN_BWD_W, step, m, t0, &st->t_compute);
	if (r)
		return dtp_errf_runtime(err, r, "stage %d: weight gradient of micro-batch %d failed",
					st->s, m);
	return free_slot(st, step, m, err);
}

static int run_op(struct dtp_stage *st, const struct dtp_op *op, long step, float scale,
		  struct dtp_err *err)
{
	int m = op->micro, r;
	struct dtp_xbuf *x;

	dtp_stage_busy(st);
	switch (op->kind) {
	case DTP_OP_RECV_ACT:
		if (!st->slots[m % st->n_slots].recv_posted)
			return dtp_errf_runtime(err, -EPROTO, "stage %d: activation %d has no posted receive",
						st->s, m);
		r = dtp_stage_wait_op(st, st->prev, &st->slots[m % st->n_slots].recv, DTP_SPAN_RECV,
				      step, m, err);
		if (r == 0)
			dtp_stage_wire_unpack(st, st->slots[m % st->n_slots].in, st->in_bytes);
		return r;
	case DTP_OP_FWD:
		return op_fwd(st, step, m, scale, err);
	case DTP_OP_SEND_ACT:
		return dtp_stage_post_send(st, &st->act_out[m & 1], 1, step, m, err);
	case DTP_OP_RECV_GRAD:
		x = &st->grad_in[m & 1];
		if (!x->pending)
			return dtp_errf_runtime(err, -EPROTO, "stage %d: gradient %d has no posted receive",
						st->s, m);
		r = dtp_stage_wait_op(st, st->next, &x->req, DTP_SPAN_RECV, step, m, err);
		if (r == 0)
			dtp_stage_wire_unpack(st, x->buf, st->out_bytes);
		return r;
	case DTP_OP_BWD:
		return op_bwd(st, step, m, scale, err);
	case DTP_OP_SEND_GRAD:
		return dtp_stage_post_send(st, &st->grad_out[m & 1], 0, step, m, err);
	case DTP_OP_BWD_IN:
		return op_bwd_in(st, step, m, err);
	case DTP_OP_BWD_W:
		return op_bwd_w(st, step, m, err);
	}
	return dtp_errf_runtime(err, -EINVAL, "stage %d: unknown op %d", st->s, op->kind);
}

/* the mean over the global batch: R replicas x M micro-batches x B x T */
static float loss_scale(const struct dtp_stage *st)
{
	return 1.0f / ((float)st->R * (float)st->M * (float)st->B * (float)st->tgt_elems);
}

int dtp_stage_step_begin(struct dtp_stage *st, long step, struct dtp_err *err)
{
	uint64_t t0;
	int r;

	dtp_stage_test_hang(st, step);
	st->t_compute = st->t_wait = st->t_data = 0;
	st->loss_sum = 0;
	/* replicas summing from each other's memory: none reads these still */
	if (st->dp && (r = dtp_dp_grads_free(st->dp, err))) {
		dtp_err_prefix(err, "stage %d, step %ld: ", st->s, step);
		return r;
	}
	t0 = span_begin(st);
	dtp_stage_zero_grads(st->model);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	if (!st->is_first) {
		for (int m = 0; m < st->n_slots && m < st->M; m++)
			if ((r = dtp_stage_post_act_recv(st, step, m, err)))
				return r;
	}
	if (!st->is_last) {
		for (int m = 0; m < 2 && m < st->M; m++)
			if ((r = dtp_stage_post_grad_recv(st, step, m, err)))
				return r;
	}
	return 0;
}

int dtp_stage_step_op(struct dtp_stage *st, const struct dtp_op *op, long step,
		      struct dtp_err *err)
{
	return run_op(st, op, step, loss_scale(st), err);
}

/* The units' gradient sums of squares for the norm, from fixed blocks
 * (model.h): sharded, each replica sums the blocks it owns and the stage's
 * replicas add their block vectors (every block has one non-zero term, so
 * the sum is exact and the same on every replica, whatever the shards) */
static int unit_sumsq(struct dtp_stage *st, long step, struct dtp_err *err)
{
	uint64_t t0 = span_begin(st);
	int r = 0;

	dtp_optim_block_sumsq(st->optim, st->sumsq_blocks);
	if (st->sharded)
		r = dtp_dp_sum_doubles(st->dp, st->sumsq_blocks,
				       (int)dtp_optim_n_blocks(st->optim), err);
	if (r) {
		dtp_err_prefix(err, "stage %d, step %ld: adding the gradient norm's shards: ", st->s,
			       step);
		return r;
	}
	dtp_optim_unit_sumsq(st->optim, st->sumsq_blocks, st->sumsq);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	return 0;
}

/* Sharded: after its update of its shard, every replica's shard to every
 * replica (the parameters are the same on all again), and the bf16 copy of
 * what came in */
static int gather_params(struct dtp_stage *st, long step, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	int r = dtp_dp_gather_params(st->dp, err);

	dtp_trace_span(st->trace, DTP_SPAN_SYNC, step, 1, t0, dtp_now_ns());
	if (r) {
		dtp_err_prefix(err, "stage %d, step %ld: gathering the updated parameters over the %d replicas: ",
			       st->s, step, st->R);
		return r;
	}
	t0 = span_begin(st);
	dtp_optim_shard_gathered(st->optim);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	return 0;
}

int dtp_stage_step_drain(struct dtp_stage *st, long step, struct dtp_err *err)
{
	int r;

	for (int i = 0; i < 2; i++) {
		if (!st->is_last &&
		    (r = dtp_stage_xbuf_ready(st, st->next, &st->act_out[i], step, -1, err)))
			return r;
		if (!st->is_first &&
		    (r = dtp_stage_xbuf_ready(st, st->prev, &st->grad_out[i], step, -1, err)))
			return r;
	}
	if (st->dp && (r = finish_reduce(st, step, err)))
		return r;
	return unit_sumsq(st, step, err);
}

int dtp_stage_step_apply(struct dtp_stage *st, long step, const struct dtp_ctrl_down *down,
			 double *loss, double *gnorm, double *stage_times, struct dtp_err *err)
{
	uint64_t t0;
	int r;

	*loss = down->loss_sum * (double)loss_scale(st);
	*gnorm = down->grad_norm;
	st->skipped = down->verdict != 0;
	st->stop = down->stop;
	st->ckpt_due = down->ckpt_due;
	if (st->skipped && (r = dtp_nonfinite_act(st, step, down->verdict, *loss, *gnorm, err)))
		return r;
	t0 = span_begin(st);
	if (!st->skipped)
		dtp_optim_step(st->optim, step, (float)down->clip);
	span_end(st, DTP_SPAN_OPTIM, step, 0, t0, &st->t_compute);
	/* every replica skips the same steps: the verdict is the global batch's */
	if (st->sharded && !st->skipped && (r = gather_params(st, step, err)))
		return r;
	if (stage_times)
		memcpy(stage_times, down->times, 2 * (size_t)st->K * sizeof(double));
	return 0;
}

int dtp_stage_train_step(struct dtp_stage *st, long step, double *loss, double *gnorm,
			 double *stage_times, struct dtp_err *err)
{
	struct dtp_ctrl_down down;
	int r = dtp_stage_step_begin(st, step, err);

	for (int i = 0; r == 0 && i < st->sched.n_ops; i++)
		r = run_op(st, &st->sched.ops[i], step, loss_scale(st), err);
	if (r == 0)
		r = dtp_stage_step_drain(st, step, err);
	if (r == 0)
		r = dtp_ctrl_step_sync(st, step, st->sumsq, &down, err);
	if (r)
		return r;
	return dtp_stage_step_apply(st, step, &down, loss, gnorm, stage_times, err);
}
