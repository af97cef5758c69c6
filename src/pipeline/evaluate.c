/* The forward-only evaluation: the whole test set once through the chain,
 * its loss and accuracy on the last stage. Nothing is allocated here. */
#include "config.h"
#include "pipeline/ctrl.h"

#include <errno.h>

/* Forward the whole test set once (the loaders stop at the epoch end). */
int dtp_stage_evaluate(struct dtp_stage *st, int64_t *correct, int64_t *count,
		       double *loss_sum, struct dtp_err *err)
{
	struct dtp_slot *sl = &st->slots[0];
	size_t in_per = st->in_bytes / (size_t)st->B, out_per = st->out_bytes / (size_t)st->B;
	void *save = st->recompute ? st->scratch_save : sl->save;
	void *out = st->is_last ? (st->recompute ? st->scratch_out : (void *)sl->logits) :
				  st->act_out[0].buf;
	struct dtp_ctrl_eval msg = { 0 };
	double sum = 0;
	int64_t hits = 0, seen = 0;
	long nb;
	int r, n;

	if (st->is_first) {
		msg.batches = (long)((st->test_samples + (uint64_t)st->B - 1) / (uint64_t)st->B);
		if (msg.batches > DTP_CTRL_EVAL_MAX_BATCHES)
			return dtp_errf_input(err, -EINVAL,
					      "%s: %ld test batches of %d, at most %ld supported: use a smaller test set or larger micro-batches",
					      st->plan->test_path, msg.batches, st->B,
					      DTP_CTRL_EVAL_MAX_BATCHES);
	}
	r = dtp_ctrl_eval_pass(st, &msg, err);
	if (r)
		return r;
	nb = msg.batches;
	for (long b = 0; b < nb; b++) {
		uint32_t tstep = dtp_ctrl_eval_batch_tag(b);
		struct dtp_tag tag = dtp_stage_tag(tstep, (int)(b & 0xffff), DTP_MSG_ACT);
		struct dtp_req req;
		int c = 0;

		if (st->is_first) {
			n = dtp_loader_next(st->test_in, st->B, sl->in, st->is_last ? sl->tgt : NULL, err);
			if (n <= 0)
				return n < 0 ? n : dtp_errf_runtime(err, -EIO, "stage 0: the test set ended early");
		} else {
			r = dtp_link_irecv(st->prev, &tag, sl->in, dtp_stage_wire_bytes(st, st->in_bytes),
					   st->prev_mr, &req, err);
			if (r == 0)
				r = dtp_stage_wait(st, st->prev, &req, DTP_SPAN_RECV, tstep, 0, err);
			else
				r = dtp_stage_link_failed(r, st->s - 1, err);
			if (r) {
				dtp_err_prefix(err, "stage %d, evaluation batch %ld: ", st->s, b);
				return r;
			}
			n = (int)(req.len / dtp_stage_wire_bytes(st, in_per));
			if (n < 1 || n > st->B || req.len != dtp_stage_wire_bytes(st, (size_t)n * in_per))
				return dtp_errf_runtime(err, -EPROTO, "stage %d: evaluation batch of %zu bytes",
							st->s, req.len);
			dtp_stage_wire_unpack(st, sl->in, (size_t)n * in_per);
		}
		r = dtp_stage_forward_checked(st, sl->in, out, save, n, (int)b, err);
		if (r)
			return r;
		if (!st->is_last) {
			dtp_stage_wire_pack(st, out, (size_t)n * out_per);
			r = dtp_link_isend(st->next, &tag, out, dtp_stage_wire_bytes(st, (size_t)n * out_per),
					   st->next_mr, &req, err);
			if (r == 0)
				r = dtp_stage_wait(st, st->next, &req, DTP_SPAN_SEND, tstep, 0, err);
			else
				r = dtp_stage_link_failed(r, st->s + 1, err);
			if (r) {
				dtp_err_prefix(err, "stage %d, evaluation batch %ld: ", st->s, b);
				return r;
			}
			continue;
		}
		if (!st->is_first && (r = dtp_stage_fetch(st, st->test_tgt, n, NULL, sl->tgt, tstep, 0, err)))
			return r;
		r = dtp_stage_loss(st, out, sl->tgt, n, 1.0f, &sum, &c, err);
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
