/* dtp_stage_run: one stage from start to end. Start-up (memory cap check,
 * buffers, links), agreement on the step count along the chain, optional
 * resume, the training loop with its report lines, checkpoints, the
 * evaluation and the final report (test accuracy, peak RSS per stage). */
#include "config.h"
#include "pipeline/ckpt_run.h"
#include "pipeline/ctrl.h"
#include "pipeline/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define MAX_TRACE_SPANS (1u << 20)

void dtp_run_apply_overrides(struct dtp_plan *p, const struct dtp_stage_opts *o)
{
	if (o->steps > 0) {
		p->steps = o->steps;
	} else if (o->epochs > 0) {
		p->steps = 0;
		p->epochs = o->epochs;
	}
	if (o->data_dir) {
		snprintf(p->train_path, sizeof(p->train_path), "%s/train", o->data_dir);
		snprintf(p->test_path, sizeof(p->test_path), "%s/test", o->data_dir);
	}
	if (o->checkpoint_dir)
		snprintf(p->checkpoint_dir, sizeof(p->checkpoint_dir), "%s", o->checkpoint_dir);
	if (o->mem_cap > 0)
		p->mem_cap_bytes = o->mem_cap;
	if (o->nonfinite)
		p->skip_nonfinite = o->nonfinite == 2;
	if (o->precision >= 0)
		p->precision = (enum dtp_precision)o->precision;
	if (o->fp32_matmul >= 0)
		p->fp32_matmul = (enum dtp_fp32_matmul)o->fp32_matmul;
	/* --transport: what the links will use, and so what the memory cap counts */
	if (o->transport >= 0)
		snprintf(p->transport, sizeof(p->transport), "%s",
			 dtp_transport_kind_name((enum dtp_transport_kind)o->transport));
}

int dtp_run_check_mem_cap(const struct dtp_plan *p, int s, struct dtp_stage_mem *m,
			 struct dtp_err *err)
{
	int r = dtp_stage_mem_predict(p, s, m, err);
	char b[12][32];

	if (r)
		return r;
	if (p->mem_cap_bytes == 0 || m->total <= p->mem_cap_bytes)
		return 0;
	return dtp_errf_runtime(err, -ENOMEM,
				"this stage (%d) needs %s, over the memory cap of %s (params %s, grads %s, optimizer %s, stash %s, buffers %s, loader %s, model scratch %s, %s copies %s, checkpoint snapshot %s, shm links %s): split the model over more stages, recompute, fewer micro-batches, [checkpoint] background = no, or raise mem_cap",
				s, dtp_fmt_bytes((double)m->total, b[0], 32),
				dtp_fmt_bytes((double)p->mem_cap_bytes, b[1], 32),
				dtp_fmt_bytes((double)m->params, b[2], 32), dtp_fmt_bytes((double)m->grads, b[3], 32),
				dtp_fmt_bytes((double)m->optim, b[4], 32), dtp_fmt_bytes((double)m->stash, b[5], 32),
				dtp_fmt_bytes((double)m->buffers, b[6], 32), dtp_fmt_bytes((double)m->loader, b[7], 32),
				dtp_fmt_bytes((double)m->model_scratch, b[8], 32),
				dtp_precision_name(p->precision), dtp_fmt_bytes((double)m->precision, b[9], 32),
				dtp_fmt_bytes((double)m->ckpt_snapshot, b[10], 32),
				dtp_fmt_bytes((double)m->links, b[11], 32));
}

/* The cap is enforced twice: before anything is allocated, from the predicted
 * sizes (check_mem_cap), and after every step from the process's real peak
 * resident set (getrusage: one system call, no allocation), which also counts
 * what the prediction cannot see (libraries, OpenBLAS's buffers, the heap). */
int dtp_run_check_peak_rss(const struct dtp_plan *p, long step, struct dtp_err *err)
{
	struct rusage ru;
	double peak;
	char pk[32], cap[32];

	if (p->mem_cap_bytes == 0 || getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	peak = (double)ru.ru_maxrss * 1024.0;     /* Linux reports KiB */
	if (peak <= (double)p->mem_cap_bytes)
		return 0;
	return dtp_errf_runtime(err, -ENOMEM,
				"peak resident memory %s after step %ld is over the memory cap of %s: split the model over more stages, recompute, fewer micro-batches, or raise mem_cap",
				dtp_fmt_bytes(peak, pk, sizeof(pk)), step + 1,
				dtp_fmt_bytes((double)p->mem_cap_bytes, cap, sizeof(cap)));
}

/* Stage 0 decides the step count and the first step (the checkpoint it
 * chose, `resumed`); the others learn them. */
int dtp_run_agree_on_steps(struct dtp_stage *st, struct dtp_plan *p, long resumed,
			  struct dtp_ctrl_start *m, struct dtp_err *err)
{
	long per_epoch;
	int r;

	if (st->is_first) {
		/* a step takes the global batch: R replicas x M x B */
		per_epoch = (long)(st->train_samples /
				   ((uint64_t)st->R * (uint64_t)st->M * (uint64_t)st->B));
		if (p->steps <= 0 && per_epoch < 1)
			return dtp_errf_input(err, -EINVAL,
					      "%s: %llu samples make no full mini-batch of %d x %d x %d replicas: use fewer or smaller micro-batches",
					      p->train_path, (unsigned long long)st->train_samples, st->M, st->B, st->R);
		if (p->steps <= 0 && (long)p->epochs * per_epoch > DTP_MAX_STEPS)
			return dtp_errf_input(err, -EINVAL,
					      "%d epochs of %ld steps make more than %ld steps: train fewer epochs",
					      p->epochs, per_epoch, DTP_MAX_STEPS);
		m->total_steps = p->steps > 0 ? p->steps : (long)p->epochs * per_epoch;
		m->start_step = resumed;
		/* replica 0 evaluates; the others have the same weights */
		m->eval_batches = st->replica ? 0 :
				  (long)((st->test_samples + (uint64_t)st->B - 1) / (uint64_t)st->B);
	} else {
		r = dtp_ctrl_start_recv(st, m, err);
		if (r)
			return r;
	}
	return dtp_ctrl_start_send(st, m, err);
}

/* A run that the command line (--steps, --epochs) makes shorter than the
 * plan's warm-up, such as a quick try of the default plan, warms up over a
 * tenth of its steps instead, with a note; a plan file whose own steps
 * contradict its warm-up is refused at load. Every stage computes the same.
 * The plan keeps its own warm-up (the checkpoint's settings are the plan's);
 * only the optimizer's schedule changes. */
long dtp_run_warmup(const struct dtp_plan *p, const struct dtp_stage_opts *o, long total)
{
	if ((o->steps <= 0 && o->epochs <= 0) || p->optim.warmup_steps <= total)
		return p->optim.warmup_steps;
	return total / 10;
}

int dtp_run_fit_warmup(const struct dtp_plan *p, const struct dtp_stage_opts *o,
		      struct dtp_optim *optim, long total, int say, struct dtp_err *err)
{
	long w = dtp_run_warmup(p, o, total);

	if (w == p->optim.warmup_steps)
		return 0;
	if (say)
		printf("note: the plan's warm-up of %ld steps is longer than this run of %ld steps "
		       "(--steps/--epochs): warming up over %ld steps instead\n",
		       p->optim.warmup_steps, total, w);
	return dtp_optim_set_warmup(optim, w, err);
}

int dtp_run_resumed_at_end(const struct dtp_stage *st, const struct dtp_plan *p,
			   const struct dtp_stage_opts *o, long resumed, long total)
{
	if (o->resume != DTP_RESUME_IF_ANY || resumed != total)
		return 0;
	if (st->is_first && st->replica == 0)
		dtp_info("%s/step-%08ld is the run's last step: its training had ended, so nothing is trained; the run ends as it would have (evaluation, report)",
			 p->checkpoint_dir, resumed);
	return 1;
}

/* The stages agreed to stop after step `step` (0-based) of `total`
 * (st->stop: the stop signal) and the checkpoint of that step is written when
 * the run has a directory: end with the status that says so, 75 (resumable)
 * or, with no checkpoint, 128 + the signal. */
int dtp_run_stopped(const struct dtp_stage *st, const struct dtp_plan *p, long step, long total,
		   struct dtp_err *err)
{
	char sig[32];

	dtp_signal_name(st->stop, sig);
	if (p->checkpoint_dir[0])
		return dtp_errf_stopped(err, 1, -EINTR,
					"stopped by %s after step %ld of %ld: the checkpoint %s/step-%08ld is written; continue with --resume (or --resume-if-any) and the same --steps or --epochs",
					sig, step + 1, total, p->checkpoint_dir, step + 1);
	return dtp_errf_stopped(err, 0, -EINTR,
				"stopped by %s after step %ld of %ld; no checkpoint directory is configured (--checkpoint-dir or [checkpoint] dir), so nothing is saved and this run cannot be resumed",
				sig, step + 1, total);
}

int dtp_run_dump_params(struct dtp_stage *st, const char *dir, struct dtp_err *err)
{
	char path[DTP_PLAN_PATH_MAX + 64];
	const float *params = dtp_stage_model_params(st->model);
	FILE *f;
	int r = 0;

	mkdir(dir, 0777);
	snprintf(path, sizeof(path), "%s/params.stage-%d", dir, st->s);
	f = fopen(path, "wb");
	if (!f)
		return dtp_errf_input(err, -errno, "cannot write %s: %s", path, strerror(errno));
	for (int u = st->first_unit; u < st->last_unit; u++) {
		struct dtp_unit_info ui;
		size_t off = dtp_stage_model_unit_offset(st->model, u);

		dtp_unit_describe(&st->plan->model, u, &ui);
		if (fwrite(params + off, sizeof(float), ui.n_params, f) != ui.n_params)
			r = -EIO;
	}
	if (fclose(f) != 0 || r)
		return dtp_errf_runtime(err, -EIO, "cannot write %s", path);
	return 0;
}

/* Replicas: what summing the gradients cost a step (medians over the newest
 * steps of the time in MPI calls during and after the backward, the wait
 * after it, and the calls' own time without the wait for slower replicas:
 * rdma/dp.h) beside a bare
 * MPI_Allreduce of the same bytes over the same ranks, measured now (the
 * gradients are no longer needed), in a measured run only (--metrics:
 * o->measure_reduce, the same on every rank). Every replica takes part;
 * replica 0 prints the lines (scripts/bench-dp.sh reads them). */
int dtp_run_report_reduce(struct dtp_stage *st, struct dtp_err *err)
{
	size_t n = dtp_stage_model_num_params(st->model);
	struct dtp_dp_times med;
	double bare = 0, mpi_ms, wait_ms, own_ms, bare_ms, hidden;
	char b[32], bb[32];
	double rs = 0, ag = 0;
	/* the yardsticks overwrite the gradients: no replica may read them still */
	int r = dtp_dp_grads_free(st->dp, err);

	if (r == 0 && st->sharded)
		r = dtp_dp_bare_rs_ag(st->dp, dtp_stage_model_grads(st->model), n, 9, &rs,
				      &ag, err);
	if (r == 0)
		r = dtp_dp_bare_allreduce(st->dp, dtp_stage_model_grads(st->model), n, 9, &bare, err);
	if (r)
		return r;
	dtp_dp_median_times(st->dp, &med);
	mpi_ms = med.mpi_s * 1e3;
	wait_ms = med.wait_s * 1e3;
	own_ms = med.own_s * 1e3;
	bare_ms = bare * 1e3;
	/* what of a bare all-reduce's time the step did not spend in MPI calls */
	hidden = bare_ms > 0 && own_ms < bare_ms ? 100.0 * (1.0 - own_ms / bare_ms) : 0.0;
	/* each replica's wait for the slower ones: which one is late */
	double *waits = calloc((size_t)st->R, sizeof(*waits));

	if (!waits)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	waits[st->replica] = med.partner_s;
	r = dtp_dp_sum_doubles(st->dp, waits, st->R, err);
	if (r || st->replica != 0) {
		free(waits);
		return r;
	}
	printf("stage %d: waiting for slower replicas, by replica (ms/step):", st->s);
	for (int i = 0; i < st->R && i < 8; i++)
		printf(" %d: %.3f", i, waits[i] * 1e3);
	printf("%s\n", st->R > 8 ? " ..." : "");
	free(waits);
	printf("stage %d: gradient sum over %d replicas: %.3f ms/step in MPI, %.3f ms of it "
	       "waited after the backward (%.0f%% of a bare all-reduce hidden%s); bare "
	       "MPI_Allreduce of the same %s: %.3f ms\n", st->s, st->R, mpi_ms, wait_ms, hidden,
	       st->plan->reduce_overlap ? "" : ": blocking sums inside the backward, overlap = no",
	       dtp_fmt_bytes((double)n * sizeof(float), b, sizeof(b)), bare_ms);
	printf("stage %d: gradient sum in %d bucket%s (bucket_size %s): the all-reduce calls' own "
	       "time %.3f ms/step, waiting for slower replicas %.3f ms/step; own time / bare "
	       "all-reduce %.2fx\n", st->s, dtp_dp_n_buckets(st->dp),
	       dtp_dp_n_buckets(st->dp) == 1 ? "" : "s",
	       dtp_fmt_bytes((double)st->bucket_bytes, bb, sizeof(bb)), own_ms,
	       med.partner_s * 1e3, bare_ms > 0 ? own_ms / bare_ms : 0.0);
	printf("stage %d: reduction path: %s\n", st->s,
	       dtp_dp_node_shared(st->dp) ?
	       "node-shared (the replicas' memory, summed in place, no MPI call; shm_reduce = yes)" :
	       "MPI (shm_reduce = no, or the replicas are not on one node)");
	if (st->sharded)
		printf("stage %d: sharded optimizer: reduce-scatter + all-gather own time %.3f ms/step "
		       "(all-gather %.3f ms); bare MPI_Reduce_scatter + MPI_Allgatherv of the same %s: "
		       "%.3f ms (%.3f + %.3f); own / bare collectives %.2fx\n", st->s, own_ms,
		       med.gather_own_s * 1e3, b, (rs + ag) * 1e3, rs * 1e3, ag * 1e3,
		       rs + ag > 0 ? own_ms / ((rs + ag) * 1e3) : 0.0);
	return 0;
}

/* Sharded optimizer: each replica's part of the optimizer state to every
 * replica of the stage (replica 0 writes it whole) */
int dtp_run_gather_state(struct dtp_stage *st, struct dtp_err *err)
{
	size_t np = dtp_stage_model_num_params(st->model), ns;
	float *state = dtp_optim_state(st->optim, &ns);
	int r = dtp_dp_gather_state(st->dp, state, np, (int)(ns / np), err);

	if (r)
		dtp_err_prefix(err, "stage %d: before a checkpoint: ", st->s);
	return r;
}

int dtp_stage_run(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
		  struct dtp_err *err)
{
	struct dtp_plan *p;
	struct dtp_stage *st = NULL;
	struct dtp_stage_mem mem;
	struct dtp_report rep;
	struct dtp_ctrl_start agreed = { 0 };
	double stage_times[2 * DTP_MAX_STAGES], loss = 0, gnorm = 0;
	long total, start, resumed = 0, step;
	int r, s = o->stage, ckpt;

	if (s < 0 || s >= plan->num_stages)
		return dtp_errf_input(err, -EINVAL, "%s: stage %d does not exist: the plan has stages 0..%d",
				      plan->path, s, plan->num_stages - 1);
	if (dtp_plan_chunks(plan) > 1)   /* v chunks in this process: run_interleaved.c */
		return dtp_stage_run_interleaved(plan, o, err);
	p = malloc(sizeof(*p));
	if (!p)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	*p = *plan;
	dtp_run_apply_overrides(p, o);
	r = dtp_run_check_mem_cap(p, s, &mem, err);
	if (r)
		goto out_plan;
	r = dtp_stage_open(p, o, &st, err);
	if (r)
		goto out_plan;
	st->mem_bytes = mem.total - mem.links;   /* its own arenas; the links map the neighbours' */
	/* replica 0 writes the checkpoints: only its stages snapshot */
	if (mem.ckpt_snapshot && st->replica == 0 &&
	    (r = dtp_ckpt_bg_open(st, mem.ckpt_snapshot, &st->ckpt_bg, err)))
		goto out_stage;
	if (o->trace_path && (r = dtp_trace_open(o->trace_path, s, MAX_TRACE_SPANS, &st->trace, err)))
		goto out_stage;
	if (o->resume && !p->checkpoint_dir[0]) {
		r = dtp_errf_input(err, -EINVAL, "%s needs a checkpoint directory (--checkpoint-dir or [checkpoint] dir)",
				   o->resume == DTP_RESUME_IF_ANY ? "--resume-if-any" : "--resume");
		goto out_trace;
	}
	/* stage 0 chooses the checkpoint (the newest whose every byte checks;
	 * with --resume-if-any, none when there is none: step 0); every stage
	 * then loads its units from it, whatever the layout that wrote it; with
	 * replicas, replica 0's stage 0 chooses for all */
	if (o->resume && st->is_first && st->replica == 0 &&
	    (r = dtp_stage_ckpt_choose(st, p->checkpoint_dir, o->resume == DTP_RESUME_IF_ANY,
				       &resumed, err)))
		goto out_trace;
	/* replicas: replica 0's stage 0 (world rank 0) chose for all */
	if (o->resume && st->dp) {
		uint64_t v = (uint64_t)resumed;

		if ((r = dtp_dp_bcast_u64(st->dp, &v, err)))
			goto out_trace;
		resumed = (long)v;
	}
	r = dtp_run_agree_on_steps(st, p, resumed, &agreed, err);
	/* the schedule this run will run, which a checkpoint records and a
	 * resume must share (fit_warmup and the cosine's length below) */
	st->lr_warmup = dtp_run_warmup(p, o, agreed.total_steps);
	st->lr_decay_end = p->cosine_to_end && p->optim.total_steps == 0 ? agreed.total_steps
									: p->optim.total_steps;
	/* no checkpoint is ever of step 0 (the first is written after a step) */
	resumed = o->resume ? agreed.start_step : 0;
	if (r == 0 && resumed > 0) {
		dtp_stage_in_io(st, 1);
		r = dtp_stage_ckpt_load(st, p->checkpoint_dir, resumed, err);
		dtp_stage_in_io(st, 0);
	}
	if (r == 0 && resumed > 0 && st->is_first)
		dtp_info("resuming from %s/step-%08ld (step %ld): bit-identical to the run that was not interrupted when every stage has as many threads as before (OpenBLAS's Haswell kernel sums by thread count; this run's %s kernel%s); stages, cuts, transport and schedule may differ",
			 p->checkpoint_dir, resumed, resumed, dtp_blas_core(),
			 strcmp(dtp_blas_core(), "Haswell") == 0 ? " is that one" :
			 " gave the same bits on other thread counts where tested, docs/checkpoint-format.md");
	if (r == 0 && resumed > 0 && resumed >= agreed.total_steps &&
	    !dtp_run_resumed_at_end(st, p, o, resumed, agreed.total_steps))
		r = dtp_errf_input(err, -EINVAL,
				   "%s: the checkpoint is at step %ld and the run has %ld steps, so there is nothing to train: steps count from the start of the run, not from the checkpoint; give --steps more than %ld to continue",
				   p->checkpoint_dir, agreed.start_step, agreed.total_steps, agreed.start_step);
	if (r)
		goto out_trace;
	total = agreed.total_steps;
	start = agreed.start_step;
	/* a run shortened from the command line warms up within its steps, and a
	 * cosine schedule to the end of the run learns the run's length now */
	if ((r = dtp_run_fit_warmup(p, o, st->optim, total, st->is_last && !o->quiet, err)))
		goto out_trace;
	if (p->cosine_to_end && p->optim.total_steps == 0 &&
	    (r = dtp_optim_set_total_steps(st->optim, total, err)))
		goto out_trace;
	r = dtp_report_open(&rep, st, o, total, start, err);
	if (r)
		goto out_trace;
	if (o->resume)
		dtp_stage_test_hold(st, "resume", start);

	st->ckpt_last_ns = dtp_now_ns();
	for (step = start; step < total; step++) {
		r = dtp_stage_train_step(st, step, &loss, &gnorm, stage_times, err);
		if (r == 0)
			r = dtp_run_check_peak_rss(p, step, err);
		if (r)
			goto out_report;
		dtp_report_step(&rep, step, loss, gnorm, stage_times);
		if (o->dump_dir && st->is_last)
			dtp_report_dump_loss(&rep, o->dump_dir, step, loss);
		/* a checkpoint written in the background after the previous
		 * step is published now, once every stage's file is durable */
		if (st->ckpt_bg && dtp_ckpt_bg_is_pending(st->ckpt_bg)) {
			uint64_t t0 = dtp_now_ns();

			dtp_stage_in_io(st, 1);
			r = dtp_stage_ckpt_publish(st, p->checkpoint_dir, p->checkpoint_keep, err);
			dtp_stage_in_io(st, 0);
			dtp_trace_span(st->trace, DTP_SPAN_CKPT, step, 1, t0, dtp_now_ns());
			if (r)
				goto out_report;
		}
		/* every `every` steps, when the last stage saw every_seconds pass
		 * (ckpt_due, agreed in the step's sync), at the end, and when the
		 * stages agreed to stop; one copy of each unit: replica 0's (the
		 * replicas hold the same). The periodic ones in the background
		 * where it is on; the last one, and a stop's, before the run ends. */
		ckpt = p->checkpoint_dir[0] &&
		       ((p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0) ||
			st->ckpt_due || step + 1 == total || st->stop);
		/* a sharded optimizer's state comes together first (every replica) */
		if (ckpt && st->sharded && (r = dtp_run_gather_state(st, err)))
			goto out_report;
		if (ckpt && st->replica == 0) {
			uint64_t t0 = dtp_now_ns();

			st->ckpt_last_ns = t0;
			dtp_stage_in_io(st, 1);
			if (st->ckpt_bg && step + 1 < total && !st->stop)
				r = dtp_stage_ckpt_snapshot(st, p->checkpoint_dir, step, err);
			else
				r = dtp_stage_ckpt_save(st, p->checkpoint_dir, step,
							p->checkpoint_keep, err);
			dtp_stage_in_io(st, 0);
			dtp_trace_span(st->trace, DTP_SPAN_CKPT, step, 0, t0, dtp_now_ns());
			if (r)
				goto out_report;
		}
		/* a stop agreed after the last step changes nothing: the run ends */
		if (st->stop && step + 1 < total) {
			r = dtp_run_stopped(st, p, step, total, err);
			goto out_report;
		}
	}
	dtp_report_train_end(&rep);
	if (agreed.eval_batches > 0) {
		int64_t correct = 0, count = 0;
		double lsum = 0;
		uint64_t t0 = dtp_now_ns();

		r = dtp_stage_evaluate(st, &correct, &count, &lsum, err);
		dtp_trace_span(st->trace, DTP_SPAN_EVAL, total, 0, t0, dtp_now_ns());
		if (r)
			goto out_report;
		if (st->is_last)
			dtp_report_eval(&rep, correct, count, lsum);
	}
	if (st->dp && o->measure_reduce && (r = dtp_run_report_reduce(st, err)))
		goto out_report;
	r = dtp_report_finish(&rep, st, err);
	if (r == 0 && o->dump_dir)
		r = dtp_run_dump_params(st, o->dump_dir, err);
out_report:
	dtp_report_close(&rep);
out_trace:
	if (st->trace) {
		struct dtp_err terr = { 0 };

		/* the launcher merges the parts of a run that succeeded only */
		if (r)
			dtp_trace_discard(st->trace);
		else if (dtp_trace_close(st->trace, &terr))
			dtp_warn("%s", terr.msg);
		st->trace = NULL;
	}
out_stage:
	dtp_ckpt_bg_close(st->ckpt_bg);
	dtp_stage_close(st);
out_plan:
	free(p);
	return r;
}
