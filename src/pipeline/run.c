/* dtp_stage_run: one stage from start to end. Start-up (memory cap check,
 * buffers, links), agreement on the step count along the chain, optional
 * resume, the training loop with its report lines, checkpoints, the
 * evaluation and the final report (test accuracy, peak RSS per stage). */
#include "config.h"
#include "pipeline/checkpoint.h"
#include "pipeline/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define MAX_TRACE_SPANS (1u << 20)

static void apply_overrides(struct dtp_plan *p, const struct dtp_stage_opts *o)
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
	if (o->precision >= 0)
		p->precision = (enum dtp_precision)o->precision;
}

static int check_mem_cap(const struct dtp_plan *p, int s, struct dtp_stage_mem *m,
			 struct dtp_err *err)
{
	int r = dtp_stage_mem_predict(p, s, m, err);

	if (r)
		return r;
	if (p->mem_cap_bytes == 0 || m->total <= p->mem_cap_bytes)
		return 0;
	return dtp_errf(err, -ENOMEM,
			"this stage (%d) needs %.1f MiB, over the memory cap of %.1f MiB (params %.1f, grads %.1f, optimizer %.1f, stash %.1f, buffers %.1f, loader %.1f, model scratch %.1f MiB): split the model over more stages, recompute, fewer micro-batches, or raise mem_cap",
			s, m->total / 1048576.0, p->mem_cap_bytes / 1048576.0, m->params / 1048576.0,
			m->grads / 1048576.0, m->optim / 1048576.0, m->stash / 1048576.0,
			m->buffers / 1048576.0, m->loader / 1048576.0, m->model_scratch / 1048576.0);
}

/* The cap is enforced twice: before anything is allocated, from the predicted
 * sizes (check_mem_cap), and after every step from the process's real peak
 * resident set (getrusage: one system call, no allocation), which also counts
 * what the prediction cannot see (libraries, OpenBLAS's buffers, the heap). */
static int check_peak_rss(const struct dtp_plan *p, long step, struct dtp_err *err)
{
	struct rusage ru;
	double peak;

	if (p->mem_cap_bytes == 0 || getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	peak = (double)ru.ru_maxrss * 1024.0;     /* Linux reports KiB */
	if (peak <= (double)p->mem_cap_bytes)
		return 0;
	return dtp_errf(err, -ENOMEM,
			"peak resident memory %.1f MiB after step %ld is over the memory cap of %.1f MiB: split the model over more stages, recompute, fewer micro-batches, or raise mem_cap",
			peak / 1048576.0, step + 1, p->mem_cap_bytes / 1048576.0);
}

/* Stage 0 decides the step count and the first step; the others check. */
static int agree_on_steps(struct dtp_stage *st, struct dtp_plan *p, long resumed, long *total,
			  long *start, long *eval_batches, struct dtp_err *err)
{
	double *v = st->ctrl_up;
	long per_epoch;
	int r;

	if (st->is_first) {
		per_epoch = (long)(st->train_samples / ((uint64_t)st->M * (uint64_t)st->B));
		if (p->steps <= 0 && per_epoch < 1)
			return dtp_errf(err, -EINVAL,
					"%s: %llu samples make no full mini-batch of %d x %d: use fewer or smaller micro-batches",
					p->train_path, (unsigned long long)st->train_samples, st->M, st->B);
		v[0] = (double)(p->steps > 0 ? p->steps : (long)p->epochs * per_epoch);
		v[1] = (double)resumed;
		v[2] = (double)((st->test_samples + (uint64_t)st->B - 1) / (uint64_t)st->B);
	} else {
		r = dtp_stage_ctrl_recv(st, st->prev, 0xfffffff0u, 0, v, 3, err);
		if (r)
			return r;
		if ((long)v[1] != resumed)
			return dtp_errf(err, -EINVAL,
					"stage %d: its checkpoint is at step %ld but stage 0's is at step %ld: the checkpoint directory mixes runs",
					st->s, resumed, (long)v[1]);
	}
	if (!st->is_last && (r = dtp_stage_ctrl_send(st, st->next, 0xfffffff0u, 0, v, 3, err)))
		return r;
	*total = (long)v[0];
	*start = (long)v[1];
	*eval_batches = (long)v[2];
	return 0;
}

static int dump_params(struct dtp_stage *st, const char *dir, struct dtp_err *err)
{
	char path[DTP_PLAN_PATH_MAX + 64];
	const float *params = dtp_stage_model_params(st->model);
	FILE *f;
	int r = 0;

	mkdir(dir, 0777);
	snprintf(path, sizeof(path), "%s/params.stage-%d", dir, st->s);
	f = fopen(path, "wb");
	if (!f)
		return dtp_errf(err, -errno, "cannot write %s: %s", path, strerror(errno));
	for (int u = st->first_unit; u < st->last_unit; u++) {
		struct dtp_unit_info ui;
		size_t off = dtp_stage_model_unit_offset(st->model, u);

		dtp_unit_describe(&st->plan->model, u, &ui);
		if (fwrite(params + off, sizeof(float), ui.n_params, f) != ui.n_params)
			r = -EIO;
	}
	if (fclose(f) != 0 || r)
		return dtp_errf(err, -EIO, "cannot write %s", path);
	return 0;
}

int dtp_stage_run(const struct dtp_plan *plan, const struct dtp_stage_opts *o,
		  struct dtp_err *err)
{
	struct dtp_plan *p;
	struct dtp_stage *st = NULL;
	struct dtp_stage_mem mem;
	struct dtp_report rep;
	double stage_times[2 * DTP_MAX_STAGES], loss = 0, gnorm = 0;
	long total = 0, start = 0, resumed = 0, eval_batches = 0, step;
	int r, s = o->stage;

	if (s < 0 || s >= plan->num_stages)
		return dtp_errf(err, -EINVAL, "%s: stage %d does not exist: the plan has stages 0..%d",
				plan->path, s, plan->num_stages - 1);
	p = malloc(sizeof(*p));
	if (!p)
		return dtp_errf(err, -ENOMEM, "out of memory");
	*p = *plan;
	apply_overrides(p, o);
	r = check_mem_cap(p, s, &mem, err);
	if (r)
		goto out_plan;
	r = dtp_stage_open(p, o, &st, err);
	if (r)
		goto out_plan;
	st->mem_bytes = mem.total;
	if (o->trace_path && (r = dtp_trace_open(o->trace_path, s, MAX_TRACE_SPANS, &st->trace, err)))
		goto out_stage;
	if (o->resume && !p->checkpoint_dir[0]) {
		r = dtp_errf(err, -EINVAL, "--resume needs a checkpoint directory (--checkpoint-dir or [checkpoint] dir)");
		goto out_trace;
	}
	/* the optimizer needs the run's total steps for a cosine schedule to the end:
	 * agree on the steps first, with a provisional optimizer for resuming */
	r = dtp_optim_create(&p->optim, st->model, &st->optim, err);
	if (r)
		goto out_trace;
	if (o->resume && (r = dtp_checkpoint_load(st, p->checkpoint_dir, &resumed, err)))
		goto out_trace;
	r = agree_on_steps(st, p, resumed, &total, &start, &eval_batches, err);
	if (r)
		goto out_trace;
	if (p->cosine_to_end && p->optim.total_steps == 0) {
		struct dtp_optim *o2;
		size_t n, n2;
		float *a, *b;

		p->optim.total_steps = total;
		r = dtp_optim_create(&p->optim, st->model, &o2, err);
		if (r)
			goto out_trace;
		a = dtp_optim_state(st->optim, &n);
		b = dtp_optim_state(o2, &n2);
		memcpy(b, a, (n < n2 ? n : n2) * sizeof(float));
		dtp_optim_destroy(st->optim);
		st->optim = o2;
	}
	r = dtp_report_open(&rep, st, o, total, start, err);
	if (r)
		goto out_trace;

	for (step = start; step < total; step++) {
		r = dtp_stage_train_step(st, step, &loss, &gnorm, stage_times, err);
		if (r == 0)
			r = check_peak_rss(p, step, err);
		if (r)
			goto out_report;
		dtp_report_step(&rep, step, loss, gnorm, stage_times);
		if (o->dump_dir && st->is_last)
			dtp_report_dump_loss(&rep, o->dump_dir, step, loss);
		if (p->checkpoint_dir[0] &&
		    ((p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0) ||
		     step + 1 == total)) {
			uint64_t t0 = dtp_now_ns();

			r = dtp_checkpoint_save(st, p->checkpoint_dir, step + 1, err);
			dtp_trace_span(st->trace, DTP_SPAN_CKPT, step, 0, t0, dtp_now_ns());
			if (r)
				goto out_report;
		}
	}
	dtp_report_train_end(&rep);
	if (eval_batches > 0) {
		int64_t correct = 0, count = 0;
		double lsum = 0;
		uint64_t t0 = dtp_now_ns();

		r = dtp_stage_evaluate(st, 0xfffffff1u, &correct, &count, &lsum, err);
		dtp_trace_span(st->trace, DTP_SPAN_EVAL, total, 0, t0, dtp_now_ns());
		if (r)
			goto out_report;
		if (st->is_last)
			dtp_report_eval(&rep, correct, count, lsum);
	}
	r = dtp_report_finish(&rep, st, err);
	if (r == 0 && o->dump_dir)
		r = dump_params(st, o->dump_dir, err);
out_report:
	dtp_report_close(&rep);
out_trace:
	if (st->trace) {
		struct dtp_err terr = { 0 };

		if (dtp_trace_close(st->trace, &terr))
			dtp_warn("%s", terr.msg);
		st->trace = NULL;
	}
out_stage:
	dtp_stage_close(st);
out_plan:
	free(p);
	return r;
}
