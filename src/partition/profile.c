/* Per-unit cost profile, measured on this machine with the real kernels
 * (the glue to the partitioner and plans: profile_plan.c). */
#include "config.h"
#include "partition/profile.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int dtp_optim_state_mult(enum dtp_optim_kind kind)
{
	return kind == DTP_OPTIM_ADAMW ? 2 : 1;
}

int dtp_profile_static(const struct dtp_model_spec *spec, int batch, struct dtp_profile *out,
		       struct dtp_err *err)
{
	struct dtp_profile p = { .spec = *spec, .batch = batch };
	int r;

	r = dtp_model_spec_validate(spec, err);
	if (r)
		return r;
	if (batch < 1)
		return dtp_errf_input(err, -EINVAL, "the micro-batch size must be at least 1 (got %d)",
				      batch);
	p.n_units = dtp_model_num_units(spec);
	p.units = calloc((size_t)p.n_units, sizeof(*p.units));
	if (!p.units)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int u = 0; u < p.n_units; u++) {
		struct dtp_unit_cost *c = &p.units[u];
		struct dtp_unit_info info;
		size_t in_size;

		r = dtp_unit_describe(spec, u, &info);
		if (r) {
			free(p.units);
			return dtp_errf_input(err, r, "cannot describe unit %d of the model", u);
		}
		/* the per-sample figures of the gpt are per sequence already */
		in_size = info.in_dtype == DTP_DTYPE_I32 ? sizeof(int32_t) : sizeof(float);
		snprintf(c->name, sizeof(c->name), "%s", info.name);
		c->params = info.n_params;
		c->param_bytes = info.n_params * sizeof(float);
		c->in_bytes = (size_t)batch * info.in_elems * in_size;
		c->out_bytes = (size_t)batch * info.out_elems * sizeof(float);
		c->link_bytes = c->out_bytes;
		c->save_bytes = (size_t)batch * info.save_floats * sizeof(float);
		c->fwd_flops = (double)batch * info.fwd_flops;
		dtp_unit_bwd_flops(&info, &c->bwd_in_flops, &c->bwd_w_flops);
		c->bwd_in_flops *= batch;
		c->bwd_w_flops *= batch;
	}
	*out = p;
	return 0;
}

int dtp_profile_set_precision(struct dtp_profile *p, enum dtp_precision prec,
			      enum dtp_fp32_matmul fb, struct dtp_err *err)
{
	int r = dtp_precision_check(prec, err);

	if (!r)
		r = dtp_fp32_matmul_check(fb, err);
	for (int u = 0; u < p->n_units && !r; u++) {
		struct dtp_unit_cost *c = &p->units[u];
		size_t pb = 0, fx = 0;

		r = dtp_stage_model_precision_bytes(&p->spec, u, u + 1, p->batch, prec, &pb, err);
		if (!r)
			r = dtp_stage_model_fp32_matmul_bytes(&p->spec, u, u + 1, p->batch, prec, fb,
							      &fx, err);
		c->link_bytes = dtp_precision_wire_bytes(prec, c->out_bytes);
		/* bf16: the parameters' bf16 copy (dtp_bf16_mm_bytes) is the
		 * unit's own; the rest is sized by the stage's largest unit */
		c->prec_bytes = prec == DTP_PRECISION_BF16 ?
				dtp_align_up(c->params * sizeof(uint16_t), DTP_CACHELINE) : 0;
		if (c->prec_bytes > pb)
			c->prec_bytes = pb;
		c->prec_shared_bytes = pb - c->prec_bytes + fx;
	}
	if (r)
		return r;
	p->precision = prec;
	p->fp32_matmul = fb;
	return 0;
}

/* deterministic inputs in [-0.5, 0.5) */
static void fill(float *x, size_t n, uint32_t salt)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(((uint32_t)i * 2654435761u + salt) % 1000u) / 1000.0f - 0.5f;
}

/* One unit built alone with its buffers and optimizer, ready to run. */
struct unit_run {
	struct dtp_stage_model *m;
	struct dtp_optim *optim;
	size_t in_b, out_b, save_b, wsave_b;
	void *in, *save, *wsave;
	float *out, *dout, *din;
	int u, batch;
};

static void unit_run_destroy(struct unit_run *ur)
{
	dtp_free(ur->wsave);
	dtp_free(ur->din);
	dtp_free(ur->save);
	dtp_free(ur->dout);
	dtp_free(ur->out);
	dtp_free(ur->in);
	if (ur->optim)
		dtp_optim_destroy(ur->optim);
	dtp_stage_model_destroy(ur->m);
}

/* the unit as a stage of the job builds it: its precision and fp32 matmul
 * backend set before the optimizer (src/pipeline/setup.c) */
static int unit_run_create(const struct dtp_model_spec *spec, int u, int batch,
			   const struct dtp_profile_opts *o, struct unit_run *ur, struct dtp_err *err)
{
	struct dtp_optim_config oc;
	int r;

	memset(ur, 0, sizeof(*ur));
	ur->u = u;
	ur->batch = batch;
	r = dtp_stage_model_create(spec, u, u + 1, batch, 1, &ur->m, err);
	if (r)
		return r;
	r = dtp_stage_model_set_precision(ur->m, o->precision, err);
	if (!r)
		r = dtp_stage_model_set_fp32_matmul(ur->m, o->fp32_matmul, err);
	if (r)
		goto out_destroy;
	dtp_optim_config_default(&oc, o->optim);
	r = dtp_optim_create(&oc, ur->m, &ur->optim, err);
	if (r)
		goto out_destroy;
	ur->in_b = dtp_stage_model_in_bytes(ur->m, batch);
	ur->out_b = dtp_stage_model_out_bytes(ur->m, batch);
	ur->save_b = dtp_stage_model_save_bytes(ur->m, batch);
	ur->wsave_b = dtp_stage_model_wsave_bytes(ur->m, batch);
	ur->in = dtp_alloc_aligned(ur->in_b + DTP_CACHELINE, DTP_PAGE);
	ur->out = dtp_alloc_aligned(ur->out_b + DTP_CACHELINE, DTP_PAGE);
	ur->dout = dtp_alloc_aligned(ur->out_b + DTP_CACHELINE, DTP_PAGE);
	ur->save = dtp_alloc_aligned(ur->save_b + DTP_CACHELINE, DTP_PAGE);
	ur->wsave = dtp_alloc_aligned(ur->wsave_b + DTP_CACHELINE, DTP_PAGE);
	if (u > 0)
		ur->din = dtp_alloc_aligned(ur->in_b + DTP_CACHELINE, DTP_PAGE);
	if (!ur->in || !ur->out || !ur->dout || !ur->save || !ur->wsave || (u > 0 && !ur->din)) {
		r = dtp_errf_runtime(err, -ENOMEM, "out of memory profiling unit %d", u);
		goto out_destroy;
	}
	if (spec->kind == DTP_MODEL_GPT && u == 0) {
		int32_t *tok = ur->in;

		for (size_t i = 0; i < ur->in_b / sizeof(int32_t); i++)
			tok[i] = (int32_t)((i * 7919u) % (size_t)spec->vocab);
	} else {
		fill(ur->in, ur->in_b / sizeof(float), 1);
	}
	fill(ur->dout, ur->out_b / sizeof(float), 2);
	return 0;
out_destroy:
	unit_run_destroy(ur);
	return r;
}

static int unit_run_pass(struct unit_run *ur, struct dtp_err *err)
{
	int r = dtp_stage_forward(ur->m, ur->in, ur->out, ur->save, ur->batch);

	if (!r)
		r = dtp_stage_backward(ur->m, ur->in, ur->save, ur->dout, ur->din, ur->batch);
	if (r)
		return dtp_errf_runtime(err, r, "unit %d failed to run with %d samples", ur->u,
					ur->batch);
	return 0;
}

/* Bytes written to push a unit's state out of the caches before each piece
 * of per-step work is timed: in a run the step's forwards and backwards over
 * the whole stage, and the other pieces, come between them. */
#define EVICT_BYTES ((size_t)128 << 20)

static void evict(unsigned char *buf)
{
	if (buf)
		memset(buf, 0x5a, EVICT_BYTES);
}

/* One timed pass: t[0] forward, t[1] backward, t[2] zeroing, t[3] sum of
 * squares, t[4] optimizer step (each piece of per-step work after evict_buf,
 * when given, was written over), t[5] and t[6] the same backward again in
 * its two halves, B and W (a zero-bubble schedule's; the gradients it adds
 * a second time are only timed). */
static int unit_run_once(struct unit_run *ur, unsigned char *evict_buf, double *t,
			 struct dtp_err *err)
{
	uint64_t t0, t1, t2, t3, t3i, t3w, t3b, t4, t4b, t5;
	double sumsq;
	int r;

	evict(evict_buf);
	t0 = dtp_now_ns();
	dtp_stage_zero_grads(ur->m);
	t1 = dtp_now_ns();
	r = dtp_stage_forward(ur->m, ur->in, ur->out, ur->save, ur->batch);
	t2 = dtp_now_ns();
	if (!r)
		r = dtp_stage_backward(ur->m, ur->in, ur->save, ur->dout, ur->din, ur->batch);
	t3 = dtp_now_ns();
	if (!r)
		r = dtp_stage_backward_input(ur->m, ur->in, ur->save, ur->dout, ur->din, ur->wsave,
					     ur->batch);
	t3i = dtp_now_ns();
	if (!r)
		r = dtp_stage_backward_weight(ur->m, ur->in, ur->save, ur->wsave, ur->batch);
	t3w = dtp_now_ns();
	if (r)
		return dtp_errf_runtime(err, r, "unit %d failed to run with %d samples", ur->u,
					ur->batch);
	evict(evict_buf);
	t3b = dtp_now_ns();
	dtp_stage_grad_sumsq(ur->m, &sumsq);
	t4 = dtp_now_ns();
	evict(evict_buf);
	t4b = dtp_now_ns();
	/* a tiny step: the parameters stay where the timings are typical */
	dtp_optim_step(ur->optim, 0, 1e-6f);
	t5 = dtp_now_ns();
	t[0] = (double)(t2 - t1) * 1e-9;
	t[1] = (double)(t3 - t2) * 1e-9;
	t[2] = (double)(t1 - t0) * 1e-9;
	t[3] = (double)(t4 - t3b) * 1e-9;
	t[4] = (double)(t5 - t4b) * 1e-9;
	t[5] = (double)(t3i - t3) * 1e-9;
	t[6] = (double)(t3w - t3i) * 1e-9;
	return 0;
}

/* The busy neighbour: the same unit, run in a loop on another core while
 * `run` is set; `passes` counts the passes it started. */
struct busy {
	struct unit_run ur;
	pthread_t thr;
	atomic_int stop, run, passes, idle;
	int cpu, self;            /* its CPU, and the profiling thread's */
};

static void neighbour_cpu(struct busy *b, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(b->thr, sizeof(set), &set);
}

static void *busy_main(void *arg)
{
	struct busy *b = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(b->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!atomic_load(&b->stop)) {
		if (!atomic_load(&b->run)) {
			/* long naps: a short one wakes the CPU (in a VM, a
			 * timer exit) often enough to slow the timed thread */
			struct timespec ts = { 0, 1000000 };

			atomic_store(&b->idle, 1);
			nanosleep(&ts, NULL);
			continue;
		}
		atomic_store(&b->idle, 0);
		atomic_fetch_add(&b->passes, 1);
		if (unit_run_pass(&b->ur, NULL)) {
			atomic_store(&b->stop, 1);
			atomic_fetch_add(&b->passes, 1);
		}
	}
	return NULL;
}

/* two CPUs of this thread's affinity (*a for it, *b for the neighbour), or -1 */
static int two_cpus(cpu_set_t *old, int *a, int *b)
{
	int n = 0;

	if (pthread_getaffinity_np(pthread_self(), sizeof(*old), old))
		return -1;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, old))
			*(n++ ? b : a) = c;
	return n == 2 ? 0 : -1;
}

/* How long the sharing measurement runs passes back to back: many of the
 * scheduler's time slices, so that it measures what two threads get of one
 * core (the turns and what each evicts of the other's cache), not whether
 * a short op happened to fit in one slice. */
#define SHARE_WINDOW_NS 60000000ull

/* *pass: wall seconds per forward + backward over such a window */
static int shared_window(struct unit_run *ur, double *pass, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns(), t;
	int n = 0, r;

	do {
		r = unit_run_pass(ur, err);
		if (r)
			return r;
		n++;
		t = dtp_now_ns();
	} while (t - t0 < SHARE_WINDOW_NS || n < 3);
	*pass = (double)(t - t0) * 1e-9 / n;
	return 0;
}

/* reps passes after a warm-up, alone and (with b) beside the busy
 * neighbour, interleaved so that both see the same machine; medians */
static int time_reps(struct unit_run *ur, int reps, unsigned char *evict_buf, struct busy *b,
		     struct dtp_unit_cost *c, struct dtp_err *err)
{
	enum { N = 7 };   /* unit_run_once's figures */
	int sets = b ? 3 : 1, r = 0;
	double *t = calloc(3 * N * (size_t)reps, sizeof(double)), one[N], med[3][N];

	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory profiling unit %d", ur->u);
	for (int i = -1; i < reps && !r; i++) {   /* i = -1: warm-up */
		for (int k = 0; k < sets && !r; k++) {
			if (b) {
				int seen;

				/* alone: once the neighbour's pass is over (it then
				 * sleeps on its own CPU); it moves to this one
				 * (k = 2) only while it sleeps */
				atomic_store(&b->run, 0);
				while (!atomic_load(&b->idle) && !atomic_load(&b->stop))
					sched_yield();
				neighbour_cpu(b, k == 2 ? b->self : b->cpu);
				seen = atomic_load(&b->passes);
				atomic_store(&b->run, k > 0);
				/* beside or sharing: once it is into a pass */
				while (k && atomic_load(&b->passes) == seen && !atomic_load(&b->stop))
					sched_yield();
			}
			memset(one, 0, sizeof(one));
			r = k == 2 ? shared_window(ur, &one[0], err) :
				     unit_run_once(ur, evict_buf, one, err);
			for (int j = 0; j < N && i >= 0 && !r; j++)
				t[(size_t)(k * N + j) * reps + i] = one[j];
		}
	}
	if (b)
		atomic_store(&b->run, 0);
	for (int k = 0; k < sets && !r; k++)
		for (int j = 0; j < N; j++) {
			double *x = t + (size_t)(k * N + j) * reps;

			dtp_sort_doubles(x, (size_t)reps);
			med[k][j] = x[reps / 2];
		}
	free(t);
	if (r)
		return r;
	if (!b) {
		memcpy(med[1], med[0], sizeof(med[0]));
		med[2][0] = 0;
	}
	c->fwd_s = med[0][0];
	c->bwd_s = med[0][1];
	c->bwd_in_s = med[0][5];
	c->bwd_w_s = med[0][6];
	c->step = (struct dtp_step_times){ .zero_s = med[0][2], .norm_s = med[0][3],
					   .optim_s = med[0][4] };
	c->fwd_busy_s = med[1][0];
	c->bwd_busy_s = med[1][1];
	c->step_busy = (struct dtp_step_times){ .zero_s = med[1][2], .norm_s = med[1][3],
						.optim_s = med[1][4] };
	c->pass_shared_s = med[2][0];
	return 0;
}

static int time_unit(const struct dtp_model_spec *spec, int u, int batch,
		     const struct dtp_profile_opts *o, unsigned char *evict_buf,
		     struct dtp_unit_cost *c, int *busy_done, struct dtp_err *err)
{
	struct unit_run ur;
	struct busy *b = NULL;
	cpu_set_t old, one;
	int r, a = 0, bc = 0, pinned = 0, started = 0;

	*busy_done = 0;
	r = unit_run_create(spec, u, batch, o, &ur, err);
	if (r)
		return r;
	/* the stage model's own figures are what a stage allocates */
	c->in_bytes = ur.in_b;
	c->out_bytes = ur.out_b;
	c->save_bytes = ur.save_b;
	if (o->busy && two_cpus(&old, &a, &bc) == 0) {
		b = calloc(1, sizeof(*b));
		if (!b) {
			r = dtp_errf_runtime(err, -ENOMEM, "out of memory profiling unit %d", u);
			goto out_destroy;
		}
		b->cpu = bc;
		b->self = a;
		r = unit_run_create(spec, u, batch, o, &b->ur, err);
		if (r)
			goto out_free_busy;
		CPU_ZERO(&one);
		CPU_SET(a, &one);
		pinned = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
		if (pthread_create(&b->thr, NULL, busy_main, b)) {
			r = dtp_errf_runtime(err, -EAGAIN, "cannot start the busy neighbour for "
					     "unit %d", u);
			goto out_restore;
		}
		started = 1;
	}
	r = time_reps(&ur, o->reps, evict_buf, started ? b : NULL, c, err);
	*busy_done = r == 0 && started && !atomic_load(&b->stop);
	if (started) {
		atomic_store(&b->stop, 1);
		pthread_join(b->thr, NULL);
	}
out_restore:
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	if (b)
		unit_run_destroy(&b->ur);
out_free_busy:
	free(b);
out_destroy:
	unit_run_destroy(&ur);
	return r;
}

int dtp_profile_measure(const struct dtp_model_spec *spec, int batch,
			const struct dtp_profile_opts *o, struct dtp_profile *out,
			struct dtp_err *err)
{
	struct dtp_profile p;
	unsigned char *evict_buf;
	int r, busy = 1;

	if (o->reps < 1)
		return dtp_errf_input(err, -EINVAL, "profile repetitions must be at least 1");
	r = dtp_profile_static(spec, batch, &p, err);
	if (r)
		return r;
	r = dtp_profile_set_precision(&p, o->precision, o->fp32_matmul, err);
	if (r) {
		dtp_profile_free(&p);
		return r;
	}
	p.optim = o->optim;
	evict_buf = dtp_alloc_aligned(EVICT_BYTES, DTP_PAGE);
	if (!evict_buf) {
		dtp_profile_free(&p);
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for the profile's cache eviction");
	}
	for (int u = 0; u < p.n_units; u++) {
		int done = 0;

		r = time_unit(spec, u, batch, o, evict_buf, &p.units[u], &done, err);
		if (r) {
			dtp_free(evict_buf);
			dtp_profile_free(&p);
			return r;
		}
		busy &= done;
	}
	dtp_free(evict_buf);
	p.measured = 1;
	p.busy_measured = busy;
	*out = p;
	return 0;
}

double dtp_profile_share_penalty(const struct dtp_profile *p, int first, int last)
{
	double own = 0, shared = 0;

	if (!p->busy_measured)
		return 1;
	for (int u = first; u < last; u++) {
		own += p->units[u].fwd_s + p->units[u].bwd_s;
		shared += p->units[u].pass_shared_s;
	}
	return own > 0 && shared > 0 ? shared / (2 * own) : 1;
}

double dtp_unit_fwd_s(const struct dtp_unit_cost *c, int busy)
{
	return busy ? c->fwd_busy_s : c->fwd_s;
}

void dtp_unit_bwd_halves(const struct dtp_unit_cost *c, double *b, double *w)
{
	double apart = c->bwd_in_s + c->bwd_w_s;

	*b = apart > 0 ? c->bwd_s * c->bwd_in_s / apart : c->bwd_s * 0.5;
	*w = c->bwd_s - *b;
}

void dtp_unit_add_times(const struct dtp_unit_cost *c, int recompute, double *f, double *b,
			double *w)
{
	double hb, hw;

	dtp_unit_bwd_halves(c, &hb, &hw);
	*f += c->fwd_s;
	*b += hb + (recompute ? c->fwd_s : 0);
	*w += hw;
}

double dtp_unit_bwd_s(const struct dtp_unit_cost *c, int busy)
{
	return busy ? c->bwd_busy_s : c->bwd_s;
}

void dtp_profile_step_work(const struct dtp_profile *p, int first, int last,
			   const struct dtp_step_work_opts *o, double *pre, double *post)
{
	double a = 0, b = 0, shard = o->shard > 1 ? o->shard : 1;

	for (int u = first; u < last; u++) {
		const struct dtp_step_times *t = o->busy ? &p->units[u].step_busy : &p->units[u].step;

		a += t->optim_s / shard + (o->zero_grads ? t->zero_s : 0);
		b += t->norm_s / shard;
	}
	if (pre)
		*pre = a;
	if (post)
		*post = b;
}

void dtp_profile_free(struct dtp_profile *p)
{
	free(p->units);
	p->units = NULL;
	p->n_units = 0;
}
