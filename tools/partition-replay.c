/* A stage's compute as its schedule runs it (see partition-replay.h): the
 * executor's compute ops (src/pipeline/executor.c) on the executor's
 * buffers, without the links. */
#include "config.h"
#include "tools/partition-replay.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "partition/place.h"
#include "pipeline/pipeline.h"

/* what the executor keeps for a stage (setup.c's arena) */
struct replay {
	struct dtp_stage_model *m;
	struct dtp_optim *optim;
	int is_first, is_last, recompute, B, n_slots, n_wslots, N, V;
	size_t in_b, out_b, save_b, wsave_b, tgt_b;
	float scale;                  /* the loss's: the mean over M x B x T */
	void **in, **save, **wsave;   /* per stash slot; save NULL with recompute */
	float **logits;               /* per slot, last stage */
	int32_t **tgt;                /* per slot, last stage */
	float *act_out[2], *grad_in[2], *grad_out[2];
	void *scratch_save;
	float *scratch_out;
	void *src_in, *src_grad;      /* what the neighbours' messages (or the loader) hold */
	int32_t *src_tgt;
	double *sumsq;                /* per unit of the stage */
};

static void *buf(size_t bytes)
{
	void *p = dtp_alloc_aligned(bytes + DTP_CACHELINE, DTP_PAGE);

	if (p)
		memset(p, 0, bytes + DTP_CACHELINE);
	return p;
}

static void replay_free(struct replay *R)
{
	for (int i = 0; R->in && i < R->n_slots; i++) {
		dtp_free(R->in[i]);
		dtp_free(R->save[i]);
		dtp_free(R->logits[i]);
		dtp_free(R->tgt[i]);
	}
	for (int i = 0; R->wsave && i < R->n_wslots; i++)
		dtp_free(R->wsave[i]);
	for (int i = 0; i < 2; i++) {
		dtp_free(R->act_out[i]);
		dtp_free(R->grad_in[i]);
		dtp_free(R->grad_out[i]);
	}
	dtp_free(R->scratch_save);
	dtp_free(R->scratch_out);
	dtp_free(R->src_in);
	dtp_free(R->src_grad);
	dtp_free(R->src_tgt);
	free(R->in);
	free(R->save);
	free(R->wsave);
	free(R->logits);
	free(R->tgt);
	free(R->sumsq);
	if (R->optim)
		dtp_optim_destroy(R->optim);
	dtp_stage_model_destroy(R->m);
}

/* deterministic values in [-0.5, 0.5) */
static void fill(float *x, size_t n, uint32_t salt)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(((uint32_t)i * 2654435761u + salt) % 1000u) / 1000.0f - 0.5f;
}

static int replay_create(const struct dtp_plan *p, int s, int n_slots, int n_wslots,
			 struct replay *R, struct dtp_err *err)
{
	const struct dtp_model_spec *spec = &p->model;
	int first = p->stages[s].first_unit, last = p->stages[s].last_unit, ok = 1, r;
	int gpt = spec->kind == DTP_MODEL_GPT;
	struct dtp_optim_config oc;

	memset(R, 0, sizeof(*R));
	R->is_first = s == 0;
	R->is_last = s == p->num_stages - 1;
	R->recompute = p->recompute;
	R->B = p->micro_batch;
	R->n_slots = n_slots;
	R->n_wslots = n_wslots;
	r = dtp_stage_model_create(spec, first, last, R->B, p->seed, &R->m, err);
	if (r)
		return r;
	/* as the stage sets itself up (src/pipeline/setup.c) */
	r = dtp_stage_model_set_precision(R->m, p->precision, err);
	if (!r)
		r = dtp_stage_model_set_fp32_matmul(R->m, p->fp32_matmul, err);
	if (r)
		goto out_free;
	dtp_optim_config_default(&oc, p->optim.kind);
	r = dtp_optim_create(&oc, R->m, &R->optim, err);
	if (r)
		goto out_free;
	R->in_b = dtp_stage_model_in_bytes(R->m, R->B);
	R->out_b = dtp_stage_model_out_bytes(R->m, R->B);
	R->save_b = dtp_stage_model_save_bytes(R->m, R->B);
	R->wsave_b = n_wslots ? dtp_stage_model_wsave_bytes(R->m, R->B) : 0;
	R->N = R->B * (gpt ? spec->seq_len : 1);
	R->V = (int)(R->out_b / sizeof(float) / (size_t)R->N);
	R->tgt_b = (size_t)R->N * sizeof(int32_t);
	R->scale = 1.0f / ((float)p->micro_batches * (float)R->N);
	R->in = calloc((size_t)n_slots, sizeof(*R->in));
	R->save = calloc((size_t)n_slots, sizeof(*R->save));
	R->logits = calloc((size_t)n_slots, sizeof(*R->logits));
	R->tgt = calloc((size_t)n_slots, sizeof(*R->tgt));
	R->wsave = calloc((size_t)(n_wslots ? n_wslots : 1), sizeof(*R->wsave));
	R->sumsq = calloc((size_t)(last - first), sizeof(*R->sumsq));
	ok = R->in && R->save && R->logits && R->tgt && R->wsave && R->sumsq;
	for (int i = 0; ok && i < n_slots; i++) {
		ok &= (R->in[i] = buf(R->in_b)) != NULL;
		if (!R->recompute)
			ok &= (R->save[i] = buf(R->save_b)) != NULL;
		if (R->is_last && !R->recompute)
			ok &= (R->logits[i] = buf(R->out_b)) != NULL;
		if (R->is_last)
			ok &= (R->tgt[i] = buf(R->tgt_b)) != NULL;
	}
	for (int i = 0; ok && i < n_wslots; i++)
		ok &= (R->wsave[i] = buf(R->wsave_b)) != NULL;
	for (int i = 0; ok && i < 2; i++) {
		ok &= (R->act_out[i] = buf(R->out_b)) != NULL;
		ok &= (R->grad_in[i] = buf(R->out_b)) != NULL;
		if (!R->is_first)
			ok &= (R->grad_out[i] = buf(R->in_b)) != NULL;
	}
	if (ok && R->recompute)
		ok = (R->scratch_save = buf(R->save_b)) && (R->scratch_out = buf(R->out_b));
	ok = ok && (R->src_in = buf(R->in_b)) && (R->src_grad = buf(R->out_b)) &&
	     (R->src_tgt = buf(R->tgt_b));
	if (!ok) {
		r = dtp_errf_runtime(err, -ENOMEM, "out of memory replaying stage %d", s);
		goto out_free;
	}
	if (gpt && R->is_first) {
		int32_t *tok = R->src_in;

		for (size_t i = 0; i < R->in_b / sizeof(int32_t); i++)
			tok[i] = (int32_t)((i * 7919u) % (size_t)spec->vocab);
	} else {
		fill(R->src_in, R->in_b / sizeof(float), 1);
	}
	fill(R->src_grad, R->out_b / sizeof(float), 2);
	/* small gradients, as a loss's are */
	for (size_t i = 0; i < R->out_b / sizeof(float); i++)
		((float *)R->src_grad)[i] *= 1e-3f;
	for (int i = 0; i < R->N; i++)
		R->src_tgt[i] = (int32_t)(((unsigned)i * 31u) % (unsigned)R->V);
	return 0;
out_free:
	replay_free(R);
	return r;
}

static double since(uint64_t t0)
{
	return (double)(dtp_now_ns() - t0) * 1e-9;
}

/* the forward of micro-batch m into out/save, with the loss on a last stage
 * (dlogits in place, as op_fwd and the recomputing op_bwd run it) */
static int fwd_loss(struct replay *R, int m, float *out, void *save)
{
	int r = dtp_stage_forward(R->m, R->in[m % R->n_slots], out, save, R->B);

	if (r == 0 && R->is_last)
		dtp_xent(out, R->tgt[m % R->n_slots], R->N, R->V, out, R->scale, NULL);
	return r;
}

/* One step of stage s's op list; t[0] forward, t[1] B (or whole backward),
 * t[2] W: summed seconds. */
static int replay_step(struct replay *R, const struct dtp_schedule *sc, double *t)
{
	int r = 0;

	t[0] = t[1] = t[2] = 0;
	dtp_stage_zero_grads(R->m);
	for (int i = 0; i < sc->n_ops && r == 0; i++) {
		int m = sc->ops[i].micro, sl = m % R->n_slots;
		const float *dout = R->is_last ? R->logits[sl] : R->grad_in[m & 1];
		float *din = R->is_first ? NULL : R->grad_out[m & 1];
		void *save = R->recompute ? R->scratch_save : R->save[sl];
		uint64_t t0;

		switch (sc->ops[i].kind) {
		case DTP_OP_RECV_ACT:   /* the transport's copy into the slot */
			memcpy(R->in[sl], R->src_in, R->in_b);
			break;
		case DTP_OP_RECV_GRAD:
			memcpy(R->grad_in[m & 1], R->src_grad, R->out_b);
			break;
		case DTP_OP_FWD:
			if (R->is_first)   /* the loader's */
				memcpy(R->in[sl], R->src_in, R->in_b);
			if (R->is_last)
				memcpy(R->tgt[sl], R->src_tgt, R->tgt_b);
			if (R->is_last && R->recompute)
				break;   /* all of it in the backward */
			t0 = dtp_now_ns();
			r = fwd_loss(R, m, R->is_last ? R->logits[sl] : R->act_out[m & 1], save);
			t[0] += since(t0);
			break;
		case DTP_OP_BWD:
			t0 = dtp_now_ns();
			if (R->recompute) {
				r = fwd_loss(R, m, R->scratch_out, R->scratch_save);
				if (R->is_last)
					dout = R->scratch_out;
			}
			if (r == 0)
				r = dtp_stage_backward(R->m, R->in[sl], save, dout, din, R->B);
			t[1] += since(t0);
			break;
		case DTP_OP_BWD_IN:
			t0 = dtp_now_ns();
			r = dtp_stage_backward_input(R->m, R->in[sl], save, dout, din,
						     R->wsave[m % R->n_wslots], R->B);
			t[1] += since(t0);
			break;
		case DTP_OP_BWD_W:
			t0 = dtp_now_ns();
			r = dtp_stage_backward_weight(R->m, R->in[sl], save, R->wsave[m % R->n_wslots],
						      R->B);
			t[2] += since(t0);
			break;
		default:
			break;   /* sends: the neighbour reads them */
		}
	}
	if (r)
		return r;
	/* the step's own work, which the next step's first ops find in the caches */
	dtp_stage_grad_sumsq(R->m, R->sumsq);
	dtp_optim_step(R->optim, 0, 1e-6f);
	return 0;
}

/* Pin this thread to cpulist's CPUs (*old: its affinity before); 1 when
 * pinned, 0 when there is nothing to pin to, or -EINVAL. */
static int pin(const char *cpulist, cpu_set_t *old, struct dtp_err *err)
{
	int pus[CPU_SETSIZE], n;
	cpu_set_t set;

	if (!cpulist || !cpulist[0])
		return 0;
	n = dtp_cpulist_pus(cpulist, pus, CPU_SETSIZE);
	if (n < 1)
		return dtp_errf_input(err, -EINVAL, "replay: cores '%s' is not a cpulist", cpulist);
	CPU_ZERO(&set);
	for (int i = 0; i < n && i < CPU_SETSIZE; i++)
		if (pus[i] < CPU_SETSIZE)
			CPU_SET(pus[i], &set);
	if (pthread_getaffinity_np(pthread_self(), sizeof(*old), old) ||
	    pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		return dtp_errf_input(err, -EINVAL, "replay: cannot run on cores %s (this process "
				      "may not use them): is the plan for this machine?", cpulist);
	return 1;
}

int dtp_tool_replay_stage(const struct dtp_plan *plan, int s, const char *cpulist, int reps,
			  double *fwd, double *bwd_in, double *bwd_w, struct dtp_err *err)
{
	int K = plan->num_stages, M = plan->micro_batches, r, pinned;
	cpu_set_t old;
	int slots[DTP_MAX_STAGES], wslots[DTP_MAX_STAGES];
	struct dtp_schedule sc;
	struct replay R;
	double *t;

	if (dtp_plan_chunks(plan) > 1 || s < 0 || s >= K || reps < 1)
		return dtp_errf_input(err, -EINVAL, "replay: stage %d of %d, %d chunks, %d reps: "
				      "one chunk per stage and reps >= 1 only", s, K,
				      dtp_plan_chunks(plan), reps);
	r = dtp_schedule_stash_slots(plan->schedule, K, M, slots, err);
	if (r == 0)
		r = dtp_schedule_wstash_slots(plan->schedule, K, M, wslots, err);
	if (r)
		return r;
	pinned = pin(cpulist, &old, err);
	if (pinned < 0)
		return pinned;
	r = dtp_schedule_build(plan->schedule, s, K, M, &sc, err);
	if (r)
		goto out_unpin;
	t = calloc(3 * (size_t)reps, sizeof(double));
	if (!t) {
		r = dtp_errf_runtime(err, -ENOMEM, "out of memory replaying stage %d", s);
		goto out_sched;
	}
	r = replay_create(plan, s, slots[s] > 0 ? slots[s] : 1, wslots[s], &R, err);
	if (r)
		goto out_t;
	for (int i = -1; i < reps && r == 0; i++) {   /* i = -1: warm-up (first touch) */
		double one[3];

		r = replay_step(&R, &sc, one);
		for (int k = 0; k < 3 && i >= 0 && r == 0; k++)
			t[(size_t)k * reps + i] = one[k] / M;
	}
	if (r) {
		r = dtp_errf_runtime(err, r, "replay: stage %d's compute failed", s);
		goto out_replay;
	}
	for (int k = 0; k < 3; k++)
		dtp_sort_doubles(t + (size_t)k * reps, (size_t)reps);
	*fwd = t[reps / 2];
	*bwd_in = t[reps + reps / 2];
	*bwd_w = t[2 * reps + reps / 2];
out_replay:
	replay_free(&R);
out_t:
	free(t);
out_sched:
	dtp_schedule_free(&sc);
out_unpin:
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	return r;
}
