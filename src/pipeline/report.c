/* The run's report: a line per step (or every log_every steps) with the loss,
 * throughput, step time, bubble and each stage's compute/wait split; a
 * progress bar on a terminal; JSON lines for --metrics; the evaluation; the
 * final line with every stage's peak RSS. */
#include "config.h"
#include "pipeline/ctrl.h"
#include "pipeline/report.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dtp_report_open(struct dtp_report *r, const struct dtp_stage *st,
		    const struct dtp_stage_opts *o, long total, long start, struct dtp_err *err)
{
	const struct dtp_plan *p = st->plan;

	memset(r, 0, sizeof(*r));
	r->st = st;
	r->o = o;
	r->total = total;
	r->start = start;
	r->log_every = p->log_every > 0 ? p->log_every : 1;
	/* the global batch: every replica's */
	r->units_per_step = (double)st->R * st->M * st->B * (double)st->tgt_elems;
	r->unit_name = p->model.kind == DTP_MODEL_GPT ? "tokens" : "samples";
	r->t_start = r->t_last = dtp_now_ns();
	if (!st->is_last)
		return 0;
	if (o->metrics_path) {
		r->metrics = fopen(o->metrics_path, start > 0 ? "a" : "w");
		if (!r->metrics)
			return dtp_errf_input(err, -errno, "--metrics %s: cannot write: %s", o->metrics_path,
					      strerror(errno));
	}
	if (o->dump_dir) {
		char path[DTP_PLAN_PATH_MAX + 32];

		mkdir(o->dump_dir, 0777);
		snprintf(path, sizeof(path), "%s/losses", o->dump_dir);
		r->losses = fopen(path, "a");
		if (!r->losses) {
			if (r->metrics)
				fclose(r->metrics);
			return dtp_errf_input(err, -errno, "cannot write %s: %s", path, strerror(errno));
		}
	}
	char replicas[32], chunks[32] = "";
	/* an interleaved stage's chunks run on a plan of K x v virtual stages
	 * (run_interleaved.c passes chain_procs = K): the header counts the
	 * stage processes and names the schedule they run */
	int procs = o->chain_procs > 0 ? o->chain_procs : st->K;
	int sched = o->chain_procs > 0 ? DTP_SCHEDULE_INTERLEAVED : (int)p->schedule;

	snprintf(replicas, sizeof(replicas), "%d replicas x ", st->R);
	if (procs != st->K)
		snprintf(chunks, sizeof(chunks), " (%d chunks each)", st->K / procs);
	struct dtp_cpu_ident id;
	char cpu[160];

	dtp_cpu_ident(&id);
	dtp_cpu_ident_short(&id, cpu, sizeof(cpu));
	if (!o->quiet)
		printf("training %ld steps (from step %ld): %s%d stages%s, %s schedule%s, M=%d x %d %s, "
		       "%s%s, OpenBLAS %s kernel, %s\n",
		       total - start, start, st->R > 1 ? replicas : "", procs, chunks,
		       dtp_schedule_name(sched),
		       st->recompute ? " with recompute" : "", st->M, st->B,
		       p->model.kind == DTP_MODEL_GPT ? "sequences" : "samples",
		       dtp_precision_name(p->precision),
		       p->precision == DTP_PRECISION_FP32 && p->fp32_matmul == DTP_FP32_MATMUL_ONEDNN ?
		       " (linear matmuls on oneDNN)" : "", dtp_blas_core(), cpu);
	char warn[256];

	if (dtp_blas_core_warning(warn, sizeof(warn)))
		fprintf(stderr, "dtpipe: warning: %s\n", warn);
	fflush(stdout);
	return 0;
}

static void draw_bar(struct dtp_report *r, long step, double loss)
{
	int width = 30, done = (int)((double)(step + 1 - r->start) * width /
				     (double)(r->total - r->start > 0 ? r->total - r->start : 1));

	printf("\r[");
	for (int i = 0; i < width; i++)
		putchar(i < done ? '#' : '.');
	printf("] %ld/%ld loss %.4f\r", step + 1, r->total, loss);
	fflush(stdout);
	r->bar_drawn = 1;
}

/* Of a step of dt seconds on K stages that computed busy seconds in all,
 * most on the busiest: the share of the stages' time not computing (the
 * bubble), or, with unequal set, its part that the stages' unequal work
 * makes, (most - busy / K) / dt: what a schedule cannot take, and what
 * rebalancing the stages (dtpipe-partition) can. */
static double idle_share(double busy, double most, int K, double dt, int unequal)
{
	double v;

	if (dt <= 0)
		return 0;
	v = unequal ? (most - busy / K) / dt : 1.0 - busy / (K * dt);
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* The stages' compute and wait seconds t[2k], t[2k + 1] summed over n
 * steps: per step, their compute in all (*busy) and the busiest's (*most),
 * and, given split, " s0 C/W s1 C/W ..." in ms into it (cap bytes). */
static void per_stage(const double *t, int K, double n, double *busy, double *most, char *split,
		      size_t cap)
{
	size_t len = 0;

	*busy = *most = 0;
	if (split)
		split[0] = '\0';
	for (int k = 0; k < K; k++) {
		double c = t[2 * k] / n;

		*busy += c;
		*most = c > *most ? c : *most;
		if (split && len < cap - 32)
			len += (size_t)snprintf(split + len, cap - len, " s%d %.1f/%.1f", k, c * 1e3,
						t[2 * k + 1] / n * 1e3);
	}
}

void dtp_report_step(struct dtp_report *r, long step, double loss, double gnorm,
		     const double *t)
{
	const struct dtp_stage *st = r->st;
	uint64_t now = dtp_now_ns();
	double dt = (double)(now - r->t_last) * 1e-9, busy, most;
	int K = st->K;

	r->t_last = now;
	if (!st->is_last)
		return;
	r->sum_step_time += dt;
	r->steps_timed++;
	per_stage(t, K, 1.0, &busy, &most, NULL, 0);
	double bubble = idle_share(busy, most, K, dt, 0), imbalance = idle_share(busy, most, K, dt, 1);
	if (r->metrics) {
		json_t *o = json_object(), *stages = json_array();

		for (int k = 0; k < K; k++) {
			json_t *e = json_object();

			json_object_set_new(e, "compute", json_real(t[2 * k]));
			json_object_set_new(e, "wait", json_real(t[2 * k + 1]));
			json_array_append_new(stages, e);
		}
		json_object_set_new(o, "step", json_integer(step + 1));
		/* json_real refuses NaN and inf: such a step (nonfinite = skip) says null */
		json_object_set_new(o, "loss", isfinite(loss) ? json_real(loss) : json_null());
		json_object_set_new(o, "grad_norm", isfinite(gnorm) ? json_real(gnorm) : json_null());
		if (st->skipped)
			json_object_set_new(o, "skipped", json_true());
		json_object_set_new(o, "lr", json_real(dtp_optim_lr_at(st->optim, step)));
		json_object_set_new(o, "step_time", json_real(dt));
		json_object_set_new(o, r->st->plan->model.kind == DTP_MODEL_GPT ? "tokens_per_s" : "samples_per_s",
				    json_real(dt > 0 ? r->units_per_step / dt : 0));
		json_object_set_new(o, "bubble", json_real(bubble));
		json_object_set_new(o, "imbalance", json_real(imbalance));
		json_object_set_new(o, "stages", stages);
		json_dumpf(o, r->metrics, JSON_COMPACT);
		fputc('\n', r->metrics);
		fflush(r->metrics);
		json_decref(o);
	}
	if (r->o->quiet)
		return;
	r->acc_dt += dt;
	r->acc_n++;
	for (int k = 0; k < 2 * K; k++)
		r->acc_t[k] += t[k];
	if ((step + 1) % r->log_every == 0 || step + 1 == r->total || step == r->start) {
		double adt = r->acc_dt / r->acc_n, abusy, amost;
		char split[16 * DTP_MAX_STAGES];

		per_stage(r->acc_t, K, (double)r->acc_n, &abusy, &amost, split, sizeof(split));
		bubble = idle_share(abusy, amost, K, adt, 0);
		imbalance = idle_share(abusy, amost, K, adt, 1);
		if (r->bar_drawn)
			printf("\r\033[K");
		printf("step %ld/%ld | loss %.4f | %.0f %s/s | %.1f ms/step | bubble %.1f%% (imbalance %.1f%%) | compute/wait ms:%s\n",
		       step + 1, r->total, loss, adt > 0 ? r->units_per_step / adt : 0, r->unit_name,
		       adt * 1e3, bubble * 100, imbalance * 100, split);
		r->bar_drawn = 0;
		r->acc_dt = 0;
		r->acc_n = 0;
		memset(r->acc_t, 0, sizeof(r->acc_t));
	}
	if (r->o->progress)
		draw_bar(r, step, loss);
	fflush(stdout);
}

void dtp_report_dump_loss(struct dtp_report *r, const char *dir, long step, double loss)
{
	(void)dir;
	if (r->losses) {
		fprintf(r->losses, "%ld %a\n", step, loss);
		fflush(r->losses);
	}
}

void dtp_report_train_end(struct dtp_report *r)
{
	double secs = (double)(dtp_now_ns() - r->t_start) * 1e-9;

	r->t_train_end = dtp_now_ns();
	if (!r->st->is_last || r->o->quiet)
		return;
	if (r->bar_drawn)
		printf("\r\033[K");
	r->bar_drawn = 0;
	printf("trained %ld steps in %.1f s: %.0f %s/s on average\n", r->total - r->start, secs,
	       secs > 0 ? r->units_per_step * (double)(r->total - r->start) / secs : 0,
	       r->unit_name);
	fflush(stdout);
}

void dtp_report_eval(struct dtp_report *r, int64_t correct, int64_t count, double loss_sum)
{
	if (count <= 0)
		return;
	printf("test accuracy: %.2f%% (%lld/%lld), test loss %.4f\n", 100.0 * (double)correct / count,
	       (long long)correct, (long long)count, loss_sum / (double)count);
	if (r->metrics) {
		json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:f}", "event", "eval", "accuracy",
				      (double)correct / count, "correct", (json_int_t)correct, "count",
				      (json_int_t)count, "loss", loss_sum / (double)count);

		json_dumpf(o, r->metrics, JSON_COMPACT);
		fputc('\n', r->metrics);
		json_decref(o);
	}
	fflush(stdout);
}

int dtp_report_finish(struct dtp_report *r, struct dtp_stage *st, struct dtp_err *err)
{
	struct dtp_ctrl_finish m;
	char line[64 * DTP_MAX_STAGES];
	size_t len = 0;
	int rc;

	rc = dtp_ctrl_finish_gather(st, (double)dtp_peak_rss(), (double)st->mem_bytes, &m, err);
	if (rc || !st->is_last)
		return rc;
	for (int k = 0; k < st->K && len < sizeof(line) - 64; k++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s s%d %.1f MiB (arenas %.1f)",
					k ? "," : "", k, m.peak_rss[k] / 1048576.0,
					m.arenas[k] / 1048576.0);
	if (!r->o->quiet || r->metrics)
		printf("peak RSS per stage:%s\n", line);
	if (r->metrics) {
		json_t *o = json_object(), *a = json_array();

		for (int k = 0; k < st->K; k++)
			json_array_append_new(a, json_integer((json_int_t)m.peak_rss[k]));
		json_object_set_new(o, "event", json_string("end"));
		json_object_set_new(o, "peak_rss", a);
		json_dumpf(o, r->metrics, JSON_COMPACT);
		fputc('\n', r->metrics);
		json_decref(o);
	}
	fflush(stdout);
	return 0;
}

void dtp_report_close(struct dtp_report *r)
{
	if (r->metrics)
		fclose(r->metrics);
	if (r->losses)
		fclose(r->losses);
	r->metrics = r->losses = NULL;
}
