/* The control messages between stages (ctrl.h): their tags, the layout of
 * the control vectors, and the one place that sends and receives them. Every
 * message is a vector of doubles in the stage's registered arena (ctrl_up,
 * ctrl_down), sent and waited for at once; a failure names the message. */
#include "config.h"
#include "pipeline/ctrl.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* up vector: [0, U) per-unit sums of squares, [U, U + 2K) per-stage compute
 * and wait, [U + 2K] the stop signal, 4 spare; down vector: clip, loss sum,
 * grad norm, the non-finite verdict, the stop signal, a checkpoint due by
 * time, then [6, 6 + 2K) the per-stage times */
#define DOWN_STOP 4
#define DOWN_CKPT 5
#define DOWN_TIMES 6

/* a step's messages are tagged with its number: the plan's bound on steps
 * (plan.h) keeps every step below the reserved tags */
_Static_assert(DTP_MAX_STEPS < (long)DTP_CTRL_TAG_FIRST, "steps would reach the reserved tags");

size_t dtp_ctrl_up_len(int units, int K)
{
	return (size_t)units + 2 * (size_t)K + 5;
}

/* the up vector (U + 2K + 5, U >= 1) is the longest message: setup.c sizes
 * the links by it */
_Static_assert(DOWN_TIMES <= 1 + 5, "the down vector would outgrow the up vector");

size_t dtp_ctrl_down_len(int K)
{
	return DOWN_TIMES + 2 * (size_t)K;
}

/* Send (or receive into) v[0..n) on link l, tagged (tag_step, micro), and
 * wait for it. `what` names the message for errors; step >= 0 is the
 * training step it belongs to. */
static int xfer(struct dtp_stage *st, struct dtp_link *l, int send, uint32_t tag_step, int micro,
		long step, const char *what, double *v, size_t n, struct dtp_err *err)
{
	struct dtp_tag tag = { .step = tag_step, .micro = (uint16_t)micro, .kind = DTP_MSG_CTRL };
	struct dtp_req req;
	int to_prev = l == st->prev, peer = to_prev ? st->s - 1 : st->s + 1;
	struct dtp_mr *mr = to_prev ? st->prev_mr : st->next_mr;
	size_t bytes = n * sizeof(double);
	int r = send ? dtp_link_isend(l, &tag, v, bytes, mr, &req, err)
		     : dtp_link_irecv(l, &tag, v, bytes, mr, &req, err);

	if (r)
		r = dtp_stage_link_failed(r, peer, err);
	else
		r = dtp_stage_wait(st, l, &req, DTP_SPAN_SYNC, (long)tag_step, micro, err);
	if (r == 0 && !send && req.len != bytes)
		r = dtp_errf_runtime(err, -EPROTO, "a control message of %zu bytes, expected %zu", req.len,
				     bytes);
	if (r && step >= 0)
		dtp_err_prefix(err, "stage %d, step %ld: while %s with stage %d: ", st->s, step, what,
			       peer);
	else if (r)
		dtp_err_prefix(err, "stage %d: while %s with stage %d: ", st->s, what, peer);
	return r;
}

/* ------------------------------------------------------ start-up agreement */
static const char start_what[] = "exchanging the start-up agreement (step count and resume step)";

int dtp_ctrl_start_recv(struct dtp_stage *st, struct dtp_ctrl_start *m, struct dtp_err *err)
{
	double *v = st->ctrl_up;
	int r = xfer(st, st->prev, 0, DTP_CTRL_TAG_START, 0, -1, start_what, v, 3, err);

	if (r)
		return r;
	m->total_steps = (long)v[0];
	m->start_step = (long)v[1];
	m->eval_batches = (long)v[2];
	return 0;
}

int dtp_ctrl_start_send(struct dtp_stage *st, const struct dtp_ctrl_start *m,
			struct dtp_err *err)
{
	double *v = st->ctrl_up;

	if (st->is_last)
		return 0;
	v[0] = (double)m->total_steps;
	v[1] = (double)m->start_step;
	v[2] = (double)m->eval_batches;
	return xfer(st, st->next, 1, DTP_CTRL_TAG_START, 0, -1, start_what, v, 3, err);
}

/* -------------------------------------------------------------- evaluation */
static const char eval_what[] = "passing the evaluation's batch count";

int dtp_ctrl_eval_pass(struct dtp_stage *st, struct dtp_ctrl_eval *m, struct dtp_err *err)
{
	double *v = st->ctrl_up;
	int r;

	if (st->is_first) {
		v[0] = (double)m->batches;
	} else {
		r = xfer(st, st->prev, 0, DTP_CTRL_TAG_EVAL, 0, -1, eval_what, v, 1, err);
		if (r)
			return r;
		m->batches = (long)v[0];
	}
	if (st->is_last)
		return 0;
	return xfer(st, st->next, 1, DTP_CTRL_TAG_EVAL, 0, -1, eval_what, v, 1, err);
}

/* ------------------------------------------------- per-step gradient norm */
static const char sync_up_what[] = "gathering the gradient-norm sums and stage times";
static const char sync_down_what[] = "passing back the clip factor, loss and stage times";

static void unpack_down(const double *v, int K, struct dtp_ctrl_down *d)
{
	d->clip = v[0];
	d->loss_sum = v[1];
	d->grad_norm = v[2];
	d->verdict = v[3];
	d->stop = (int)v[DOWN_STOP];
	d->ckpt_due = v[DOWN_CKPT] != 0;
	memcpy(d->times, v + DOWN_TIMES, 2 * (size_t)K * sizeof(double));
}

/* With replicas, every replica stops after the same step: the last stages
 * (one per replica) add up which stop signals (base/preempt.h) their
 * pipelines saw; each keeps its own, or takes the lowest-numbered one seen
 * elsewhere, so that no replica trains on while another writes its
 * checkpoint and leaves. Likewise a checkpoint due by time (*ckpt) is due on
 * every replica when it is on one: with a sharded optimizer, every replica
 * takes part in gathering the state replica 0 writes. */
#define MAX_STOP_SIGNALS 8
static int agree_stop(struct dtp_stage *st, double *stop, double *ckpt, struct dtp_err *err)
{
	int sigs[MAX_STOP_SIGNALS], n = 0, r;
	double seen[MAX_STOP_SIGNALS + 1];
	sigset_t set;

	dtp_preempt_sigset(&set);
	for (int s = 1; s < NSIG && n < MAX_STOP_SIGNALS; s++)
		if (sigismember(&set, s) == 1) {
			sigs[n] = s;
			seen[n++] = (int)*stop == s ? 1.0 : 0.0;
		}
	seen[n] = *ckpt != 0 ? 1.0 : 0.0;
	r = dtp_dp_sum_doubles(st->dp, seen, n + 1, err);
	if (r)
		return r;
	for (int i = 0; i < n && *stop == 0; i++)
		if (seen[i] > 0)
			*stop = sigs[i];
	*ckpt = seen[n] > 0;
	return 0;
}

int dtp_ctrl_step_up(struct dtp_stage *st, long step, const double *unit_sumsq,
		     struct dtp_err *err)
{
	const struct dtp_plan *p = st->plan;
	size_t U = (size_t)st->total_units, K = (size_t)st->K;
	size_t up_n = dtp_ctrl_up_len(st->total_units, st->K);
	double *up = st->ctrl_up, *dv = st->ctrl_down, total = 0;
	uint32_t tag = (uint32_t)step;
	int r;

	if (!st->is_first) {
		r = xfer(st, st->prev, 0, tag, 0, step, sync_up_what, up, up_n, err);
		if (r)
			return r;
	} else {
		memset(up, 0, up_n * sizeof(double));
	}
	memcpy(up + st->first_unit, unit_sumsq, (size_t)st->n_units * sizeof(double));
	/* the times so far, the wait for the sums from upstream included */
	up[U + 2 * (size_t)st->s] = st->t_compute + st->t_data;
	up[U + 2 * (size_t)st->s + 1] = st->t_wait;
	/* the first stop request upstream wins; a signal that comes after this
	 * is seen at the next step */
	if (up[U + 2 * K] == 0)
		up[U + 2 * K] = (double)dtp_preempt_requested();
	if (!st->is_last)
		return xfer(st, st->next, 1, tag, 0, step, sync_up_what, up, up_n, err);
	for (size_t u = 0; u < U; u++)
		total += up[u];
	dv[0] = p->optim.clip_norm > 0 ? (double)dtp_clip_factor(&p->optim, total) : 1.0;
	dv[1] = st->loss_sum;
	dv[2] = sqrt(total);
	dv[3] = dtp_nonfinite_verdict(st, up, st->loss_sum);
	dv[DOWN_STOP] = up[U + 2 * K];
	/* [checkpoint] every_seconds: the last stage's clock decides for all */
	dv[DOWN_CKPT] = p->checkpoint_every_s > 0 &&
			dtp_now_ns() - st->ckpt_last_ns >= (uint64_t)p->checkpoint_every_s * 1000000000u;
	if (st->dp && st->R > 1 && (r = agree_stop(st, &dv[DOWN_STOP], &dv[DOWN_CKPT], err)))
		return r;
	memcpy(dv + DOWN_TIMES, up + U, 2 * K * sizeof(double));
	return 0;
}

int dtp_ctrl_step_down(struct dtp_stage *st, long step, struct dtp_ctrl_down *down,
		       struct dtp_err *err)
{
	size_t down_n = dtp_ctrl_down_len(st->K);
	double *dv = st->ctrl_down;
	uint32_t tag = (uint32_t)step;
	int r = 0;

	if (!st->is_last)
		r = xfer(st, st->next, 0, tag, 1, step, sync_down_what, dv, down_n, err);
	if (r == 0)
		unpack_down(dv, st->K, down);
	if (r == 0 && !st->is_first)
		r = xfer(st, st->prev, 1, tag, 1, step, sync_down_what, dv, down_n, err);
	return r;
}

int dtp_ctrl_step_sync(struct dtp_stage *st, long step, const double *unit_sumsq,
		       struct dtp_ctrl_down *down, struct dtp_err *err)
{
	int r = dtp_ctrl_step_up(st, step, unit_sumsq, err);

	return r ? r : dtp_ctrl_step_down(st, step, down, err);
}

/* ------------------------------------------------------ checkpoint written */
static const char ckpt_what[] = "gathering which stages wrote their part of the checkpoint";

int dtp_ctrl_ckpt_gather(struct dtp_stage *st, long step, int ok, struct dtp_ckpt_done *m,
			 struct dtp_err *err)
{
	double *v = st->ctrl_up;
	int r;

	if (st->is_first) {
		v[0] = -1;
		v[1] = (double)m->in_epoch;
		v[2] = (double)m->in_sample;
	} else {
		r = xfer(st, st->prev, 0, (uint32_t)step, 2, step, ckpt_what, v, 3, err);
		if (r)
			return r;
	}
	if (!ok && v[0] < 0)
		v[0] = st->s;
	m->failed_stage = (int)v[0];
	m->in_epoch = (uint64_t)v[1];
	m->in_sample = (uint64_t)v[2];
	if (st->is_last)
		return 0;
	return xfer(st, st->next, 1, (uint32_t)step, 2, step, ckpt_what, v, 3, err);
}

/* ------------------------------------------------------------ final report */
static const char finish_what[] = "gathering the final report (peak memory per stage)";

int dtp_ctrl_finish_gather(struct dtp_stage *st, double peak_rss, double arenas,
			   struct dtp_ctrl_finish *m, struct dtp_err *err)
{
	double *v = st->ctrl_up;
	size_t n = 2 * (size_t)st->K;
	int r;

	if (st->is_first) {
		memset(v, 0, n * sizeof(double));
	} else {
		r = xfer(st, st->prev, 0, DTP_CTRL_TAG_FINISH, 0, -1, finish_what, v, n, err);
		if (r)
			return r;
	}
	v[2 * st->s] = peak_rss;
	v[2 * st->s + 1] = arenas;
	for (int k = 0; k < st->K; k++) {
		m->peak_rss[k] = v[2 * k];
		m->arenas[k] = v[2 * k + 1];
	}
	if (st->is_last)
		return 0;
	return xfer(st, st->next, 1, DTP_CTRL_TAG_FINISH, 0, -1, finish_what, v, n, err);
}
