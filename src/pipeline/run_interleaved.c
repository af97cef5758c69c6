/* dtp_stage_run for a stage of an interleaved plan (virtual_stages = v > 1).
 * Chunk c of stage s runs as virtual stage j = cK + s of a K x v-stage chain
 * whose stage j holds chunk j / K of stage j % K: each chunk is a whole
 * struct dtp_stage (its model and optimizer over its units, its stash, its
 * links to virtual stages j - 1 and j + 1 over the plan's transport, their
 * heartbeats), so the wrap link (stage K-1's chunk c to stage 0's chunk
 * c+1) is an ordinary link, and checkpoints, the start-up agreement, the
 * evaluation and the final report are the chain's. This process runs the
 * stage's interleaved op list, each op on its chunk; every exchange along
 * the chain runs chunk by chunk in chain order (up: c = 0 .. v-1, down:
 * c = v-1 .. 0), so that no chunk waits on a later one of its own process.
 * The trace is the process's, one track per stage; each span names the
 * chunk it ran on (dtp_trace_set_chunk before the chunk's work).
 *
 * With data-parallel replicas (R > 1, rdma/dp.h) this process is world rank
 * replica x K + s, as in a plain run; each chunk has its own handle on the
 * rank's place (dtp_dp_chunk_open: its own gradient buckets over its units,
 * its own optimizer shards), all on the one communicator of stage s over its
 * R replicas. Every replica of stage s runs the same op list, so the chunks'
 * collectives (the buckets' sums as each unit's last backward ends, the
 * waits, the norm's block sums and the parameters' all-gather chunk by chunk
 * in chain order, the state gathered before a checkpoint) come in the same
 * order on every replica. Replica r's chain listens on base_port + r x K x v
 * + j; replica 0 writes the checkpoints, one copy of each unit. */
#include "config.h"
#include "pipeline/ckpt_run.h"
#include "pipeline/ctrl.h"
#include "pipeline/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRACE_SPANS (1u << 20)

struct ilrun {
	int K, v, s;
	struct dtp_plan *p;              /* the plan (overrides applied) */
	struct dtp_plan *vp;             /* the chain of K x v virtual stages */
	struct dtp_schedule sched;       /* stage s's interleaved list */
	struct dtp_stage *st[DTP_MAX_VIRTUAL_STAGES];
	struct dtp_dp *dp[DTP_MAX_VIRTUAL_STAGES];   /* replicas: each chunk's handle */
	struct dtp_report rep[DTP_MAX_VIRTUAL_STAGES];
	int n_open, n_rep;
	struct dtp_trace *trace;
	struct dtp_stage_opts rep_opts;  /* the caller's, chain_procs = K: the
					  * reports' header counts processes */
};

/* the chain: virtual stage j = chunk j / K of stage j % K, contiguous units */
static int virtual_plan(const struct dtp_plan *p, struct dtp_plan *vp, struct dtp_err *err)
{
	int K = p->num_stages, v = dtp_plan_chunks(p);

	if ((long)K * v > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "%s: %d stages x %d chunks: at most %d chunks in all",
				      p->path, K, v, DTP_MAX_STAGES);
	if (p->base_port + (long)p->replicas * K * v > 65536)
		return dtp_errf_input(err, -EINVAL,
				      "%s: [transport] base_port = %d: chunk j of replica r's chain listens on base_port + r x %d + j (j < %d, r < %d), which must stay in 1-65535",
				      p->path, p->base_port, K * v, K * v, p->replicas);
	*vp = *p;
	vp->virtual_stages = 1;
	vp->schedule = DTP_SCHEDULE_1F1B;   /* not run: the op lists are the stages' */
	vp->num_stages = K * v;
	for (int j = 0; j < K * v; j++) {
		vp->stages[j] = p->stages[j % K];
		dtp_plan_chunk_units(p, j % K, j / K, &vp->stages[j].first_unit,
				     &vp->stages[j].last_unit);
		vp->stages[j].n_chunks = 1;
	}
	return 0;
}

/* chunk c, its spans in the trace named for it from now on */
static struct dtp_stage *on(struct ilrun *x, int c)
{
	dtp_trace_set_chunk(x->trace, c);
	return x->st[c];
}

/* the step on every chunk: the list's ops each on its chunk, then the
 * gradient-norm exchange up in chain order and down in reverse */
static int train_step(struct ilrun *x, long step, double *loss, double *gnorm, double *times,
		      struct dtp_err *err)
{
	struct dtp_ctrl_down down[DTP_MAX_VIRTUAL_STAGES];
	int r = 0;

	for (int c = 0; c < x->v && r == 0; c++)
		r = dtp_stage_step_begin(on(x, c), step, err);
	for (int i = 0; i < x->sched.n_ops && r == 0; i++)
		r = dtp_stage_step_op(on(x, x->sched.ops[i].chunk), &x->sched.ops[i], step, err);
	for (int c = 0; c < x->v && r == 0; c++)
		r = dtp_stage_step_drain(on(x, c), step, err);
	for (int c = 0; c < x->v && r == 0; c++)
		r = dtp_ctrl_step_up(on(x, c), step, x->st[c]->sumsq, err);
	for (int c = x->v - 1; c >= 0 && r == 0; c--)
		r = dtp_ctrl_step_down(on(x, c), step, &down[c], err);
	for (int c = 0; c < x->v && r == 0; c++)
		r = dtp_stage_step_apply(on(x, c), step, &down[c], &loss[c], &gnorm[c], times, err);
	return r;
}

/* [checkpoint] background = yes: the chunk's own writer thread and snapshot
 * (dtp_ckpt_bg_bytes of its parameters, as dtp_stage_mem_predict counts) */
static int open_writer(struct ilrun *x, struct dtp_stage *st, struct dtp_err *err)
{
	const char *roles[3];
	float *arrays[3];
	size_t np, bytes;

	if (st->replica != 0)   /* replica 0 writes the checkpoints */
		return 0;
	dtp_stage_ckpt_arrays(st, roles, arrays, &np);
	bytes = dtp_ckpt_bg_bytes(x->p, np);
	return bytes ? dtp_ckpt_bg_open(st, bytes, &st->ckpt_bg, err) : 0;
}

/* open the chunks last first: each listens for the next virtual stage before
 * it connects to the previous one, and the chain's last stage listens for
 * none, so the links come up from the end of the chain as in a plain run */
static int open_chunks(struct ilrun *x, const struct dtp_stage_opts *o, size_t mem,
		       struct dtp_err *err)
{
	for (int c = x->v - 1; c >= 0; c--) {
		struct dtp_stage_opts co = *o;
		int r;

		co.stage = c * x->K + x->s;
		co.chunk_slots = x->sched.chunk_stash[c];
		co.chain_procs = x->K;
		if (o->dp && (r = dtp_dp_chunk_open(o->dp, &x->dp[c], err)))
			return r;
		co.dp = x->dp[c];
		r = dtp_stage_open(x->vp, &co, &x->st[c], err);
		if (r)
			return r;
		x->n_open++;
		x->st[c]->mem_bytes = mem / (size_t)x->v;
		x->st[c]->trace = x->trace;
		if ((r = open_writer(x, x->st[c], err)))
			return r;
	}
	/* then the heartbeats, in the same order (a chunk's heartbeat waits for
	 * its neighbour's, which may wait for a link of another chunk) */
	for (int c = x->v - 1; c >= 0; c--) {
		int r = dtp_stage_liveness_open(on(x, c), err);

		if (r)
			return r;
	}
	for (int c = 0; c < x->v; c++) {
		x->st[c]->siblings = x->st;
		x->st[c]->n_siblings = x->v;
	}
	return 0;
}

static void close_all(struct ilrun *x, int failed)
{
	for (int c = 0; c < x->n_rep; c++)
		dtp_report_close(&x->rep[c]);
	for (int c = 0; c < x->v; c++) {
		if (!x->st[c])
			continue;
		x->st[c]->trace = NULL;
		dtp_ckpt_bg_close(x->st[c]->ckpt_bg);
		x->st[c]->ckpt_bg = NULL;
		dtp_stage_close(x->st[c]);
	}
	for (int c = 0; c < x->v; c++)
		dtp_dp_close(x->dp[c]);
	if (x->trace) {
		struct dtp_err terr = { 0 };

		if (failed)
			dtp_trace_discard(x->trace);
		else if (dtp_trace_close(x->trace, &terr))
			dtp_warn("%s", terr.msg);
	}
	dtp_schedule_free(&x->sched);
	free(x->p);
}

/* the steps from start to total, with the checkpoints and a stop */
static int train(struct ilrun *x, const struct dtp_stage_opts *o, long start, long total,
		 struct dtp_err *err)
{
	double loss[DTP_MAX_VIRTUAL_STAGES], gnorm[DTP_MAX_VIRTUAL_STAGES];
	double times[2 * DTP_MAX_STAGES];
	struct dtp_plan *p = x->p;
	int r, last = x->v - 1;

	/* [checkpoint] every_seconds counts from here (the chain's last chunk
	 * decides, ctrl.c; the decision comes down to every chunk as ckpt_due) */
	for (int c = 0; c < x->v; c++)
		x->st[c]->ckpt_last_ns = dtp_now_ns();
	for (long step = start; step < total; step++) {
		r = train_step(x, step, loss, gnorm, times, err);
		if (r == 0)
			r = dtp_run_check_peak_rss(p, step, err);
		if (r)
			return r;
		for (int c = 0; c < x->v; c++)
			dtp_report_step(&x->rep[c], step, loss[c], gnorm[c], times);
		if (o->dump_dir && x->st[last]->is_last)
			dtp_report_dump_loss(&x->rep[last], o->dump_dir, step, loss[last]);
		/* the background checkpoints of the previous step are published
		 * now, chunk by chunk in chain order (each gathers the outcome up
		 * the chain, as a save does) */
		for (int c = 0; c < x->v; c++) {
			struct dtp_stage *st = on(x, c);
			uint64_t t0 = dtp_now_ns();

			if (!st->ckpt_bg || !dtp_ckpt_bg_is_pending(st->ckpt_bg))
				continue;
			dtp_stage_in_io(st, 1);
			r = dtp_stage_ckpt_publish(st, p->checkpoint_dir, p->checkpoint_keep, err);
			dtp_stage_in_io(st, 0);
			dtp_trace_span(x->trace, DTP_SPAN_CKPT, step, 1, t0, dtp_now_ns());
			if (r)
				return r;
		}
		if (p->checkpoint_dir[0] &&
		    ((p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0) ||
		     x->st[0]->ckpt_due || step + 1 == total || x->st[0]->stop)) {
			/* a sharded optimizer's state comes together first, chunk
			 * by chunk on every replica; then replica 0 writes */
			for (int c = 0; c < x->v && x->st[c]->sharded; c++)
				if ((r = dtp_run_gather_state(on(x, c), err)))
					return r;
			/* the periodic ones in the background where it is on; the
			 * last one, and a stop's, before the run ends (run.c) */
			for (int c = 0; c < x->v && x->st[c]->replica == 0; c++) {
				struct dtp_stage *st = on(x, c);
				uint64_t t0 = dtp_now_ns();

				st->ckpt_last_ns = t0;
				dtp_stage_in_io(st, 1);
				if (st->ckpt_bg && step + 1 < total && !x->st[0]->stop)
					r = dtp_stage_ckpt_snapshot(st, p->checkpoint_dir, step, err);
				else
					r = dtp_stage_ckpt_save(st, p->checkpoint_dir, step,
								p->checkpoint_keep, err);
				dtp_stage_in_io(st, 0);
				dtp_trace_span(x->trace, DTP_SPAN_CKPT, step, 0, t0, dtp_now_ns());
				if (r)
					return r;
			}
		}
		if (x->st[0]->stop && step + 1 < total)
			return dtp_run_stopped(x->st[0], p, step, total, err);
	}
	return 0;
}

int dtp_stage_run_interleaved(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
			      struct dtp_err *err)
{
	struct ilrun x = { .K = plan->num_stages, .v = dtp_plan_chunks(plan), .s = o->stage };
	struct dtp_ctrl_start agreed = { 0 };
	struct dtp_stage_mem mem;
	long resumed = 0;
	int r, first = 0;

	x.p = malloc(2 * sizeof(*x.p));
	if (!x.p)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	x.vp = x.p + 1;
	*x.p = *plan;
	dtp_run_apply_overrides(x.p, o);
	r = dtp_run_check_mem_cap(x.p, x.s, &mem, err);
	if (r == 0)
		r = virtual_plan(x.p, x.vp, err);
	if (r == 0)
		r = dtp_schedule_build_v(DTP_SCHEDULE_INTERLEAVED, x.s, x.K, x.p->micro_batches, x.v,
					 &x.sched, err);
	if (r == 0 && o->trace_path)
		r = dtp_trace_open(o->trace_path, x.s, MAX_TRACE_SPANS, &x.trace, err);
	if (r == 0)
		r = open_chunks(&x, o, mem.total - mem.links, err);
	if (r == 0 && o->resume && !x.p->checkpoint_dir[0])
		r = dtp_errf_input(err, -EINVAL, "%s needs a checkpoint directory (--checkpoint-dir or [checkpoint] dir)",
				   o->resume == DTP_RESUME_IF_ANY ? "--resume-if-any" : "--resume");
	/* the chain's stage 0 (this stage's chunk 0 on stage 0) chooses */
	first = r == 0 && x.st[0]->is_first;
	if (r == 0 && o->resume && first && x.st[0]->replica == 0)
		r = dtp_stage_ckpt_choose(on(&x, 0), x.p->checkpoint_dir, o->resume == DTP_RESUME_IF_ANY,
					  &resumed, err);
	/* replicas: replica 0's stage 0 (world rank 0) chose for all */
	if (r == 0 && o->resume && o->dp) {
		uint64_t v = (uint64_t)resumed;

		r = dtp_dp_bcast_u64(o->dp, &v, err);
		resumed = (long)v;
	}
	for (int c = 0; c < x.v && r == 0; c++)
		r = dtp_run_agree_on_steps(on(&x, c), x.p, resumed, &agreed, err);
	resumed = o->resume ? agreed.start_step : 0;
	for (int c = 0; c < x.v && r == 0; c++) {
		struct dtp_stage *st = on(&x, c);

		st->lr_warmup = dtp_run_warmup(x.p, o, agreed.total_steps);
		st->lr_decay_end = x.p->cosine_to_end && x.p->optim.total_steps == 0 ?
				   agreed.total_steps : x.p->optim.total_steps;
		if (resumed > 0) {
			dtp_stage_in_io(st, 1);
			r = dtp_stage_ckpt_load(st, x.p->checkpoint_dir, resumed, err);
			dtp_stage_in_io(st, 0);
		}
		if (r == 0)
			r = dtp_run_fit_warmup(x.p, o, st->optim, agreed.total_steps,
					       st->is_last && !o->quiet, err);
		if (r == 0 && x.p->cosine_to_end && x.p->optim.total_steps == 0)
			r = dtp_optim_set_total_steps(st->optim, agreed.total_steps, err);
	}
	if (r == 0 && resumed > 0 && first && x.st[0]->replica == 0)
		dtp_info("resuming from %s/step-%08ld (step %ld) under the interleaved schedule",
			 x.p->checkpoint_dir, resumed, resumed);
	if (r == 0 && resumed > 0 && resumed >= agreed.total_steps &&
	    !dtp_run_resumed_at_end(x.st[0], x.p, o, resumed, agreed.total_steps))
		r = dtp_errf_input(err, -EINVAL,
				   "%s: the checkpoint is at step %ld and the run has %ld steps, so there is nothing to train: give --steps more than %ld to continue",
				   x.p->checkpoint_dir, agreed.start_step, agreed.total_steps,
				   agreed.start_step);
	x.rep_opts = *o;
	x.rep_opts.chain_procs = x.K;
	for (int c = 0; c < x.v && r == 0; c++) {
		r = dtp_report_open(&x.rep[c], on(&x, c), &x.rep_opts, agreed.total_steps,
				    agreed.start_step, err);
		if (r == 0)
			x.n_rep++;
	}
	if (r == 0)
		r = train(&x, o, agreed.start_step, agreed.total_steps, err);
	for (int c = 0; c < x.n_rep && r == 0; c++)
		dtp_report_train_end(&x.rep[c]);
	/* the evaluation: forward only, each chunk in chain order */
	for (int c = 0; c < x.v && r == 0 && agreed.eval_batches > 0; c++) {
		int64_t correct = 0, count = 0;
		double lsum = 0;
		uint64_t t0 = dtp_now_ns();

		r = dtp_stage_evaluate(on(&x, c), &correct, &count, &lsum, err);
		dtp_trace_span(x.trace, DTP_SPAN_EVAL, agreed.total_steps, 0, t0, dtp_now_ns());
		if (r == 0 && x.st[c]->is_last)
			dtp_report_eval(&x.rep[c], correct, count, lsum);
	}
	for (int c = 0; c < x.v && r == 0 && o->dp && o->measure_reduce; c++)
		r = dtp_run_report_reduce(on(&x, c), err);
	for (int c = 0; c < x.v && r == 0; c++)
		r = dtp_report_finish(&x.rep[c], on(&x, c), err);
	for (int c = 0; c < x.v && r == 0 && o->dump_dir; c++)
		r = dtp_run_dump_params(on(&x, c), o->dump_dir, err);
	close_all(&x, r != 0);
	return r;
}
