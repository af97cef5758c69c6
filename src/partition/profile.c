/* Per-unit cost profile, measured on this machine with the real kernels. */
#include "config.h"
#include "partition/profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		c->save_bytes = (size_t)batch * info.save_floats * sizeof(float);
		c->fwd_flops = (double)batch * info.fwd_flops;
	}
	*out = p;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* deterministic inputs in [-0.5, 0.5) */
static void fill(float *x, size_t n, uint32_t salt)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(((uint32_t)i * 2654435761u + salt) % 1000u) / 1000.0f - 0.5f;
}

static int time_unit(const struct dtp_model_spec *spec, int u, int batch, int reps,
		     struct dtp_unit_cost *c, struct dtp_err *err)
{
	struct dtp_stage_model *m;
	size_t in_b, out_b, save_b;
	double *tf, *tb;
	void *in, *save;
	float *out, *dout, *din = NULL;
	int r;

	r = dtp_stage_model_create(spec, u, u + 1, batch, 1, &m, err);
	if (r)
		return r;
	in_b = dtp_stage_model_in_bytes(m, batch);
	out_b = dtp_stage_model_out_bytes(m, batch);
	save_b = dtp_stage_model_save_bytes(m, batch);
	r = -ENOMEM;
	tf = calloc(2 * (size_t)reps, sizeof(double));
	if (!tf)
		goto out_destroy;
	tb = tf + reps;
	in = dtp_alloc_aligned(in_b + DTP_CACHELINE, DTP_PAGE);
	out = dtp_alloc_aligned(out_b + DTP_CACHELINE, DTP_PAGE);
	dout = dtp_alloc_aligned(out_b + DTP_CACHELINE, DTP_PAGE);
	save = dtp_alloc_aligned(save_b + DTP_CACHELINE, DTP_PAGE);
	if (u > 0)
		din = dtp_alloc_aligned(in_b + DTP_CACHELINE, DTP_PAGE);
	if (!in || !out || !dout || !save || (u > 0 && !din))
		goto out_free;
	if (spec->kind == DTP_MODEL_GPT && u == 0) {
		int32_t *tok = in;

		for (size_t i = 0; i < in_b / sizeof(int32_t); i++)
			tok[i] = (int32_t)((i * 7919u) % (size_t)spec->vocab);
	} else {
		fill(in, in_b / sizeof(float), 1);
	}
	fill(dout, out_b / sizeof(float), 2);
	for (int i = -1; i < reps; i++) {   /* i = -1: warm-up */
		uint64_t t0 = dtp_now_ns(), t1, t2;

		r = dtp_stage_forward(m, in, out, save, batch);
		t1 = dtp_now_ns();
		if (!r)
			r = dtp_stage_backward(m, in, save, dout, din, batch);
		t2 = dtp_now_ns();
		if (r) {
			r = dtp_errf_runtime(err, r, "unit %d failed to run with %d samples", u, batch);
			goto out_free;
		}
		if (i >= 0) {
			tf[i] = (double)(t1 - t0) * 1e-9;
			tb[i] = (double)(t2 - t1) * 1e-9;
		}
	}
	qsort(tf, (size_t)reps, sizeof(double), cmp_double);
	qsort(tb, (size_t)reps, sizeof(double), cmp_double);
	c->fwd_s = tf[reps / 2];
	c->bwd_s = tb[reps / 2];
	/* the stage model's own figures are what a stage allocates */
	c->in_bytes = in_b;
	c->out_bytes = out_b;
	c->save_bytes = save_b;
	r = 0;
out_free:
	dtp_free(din);
	dtp_free(save);
	dtp_free(dout);
	dtp_free(out);
	dtp_free(in);
	free(tf);
out_destroy:
	dtp_stage_model_destroy(m);
	if (r == -ENOMEM && !(err && err->code))
		dtp_errf_runtime(err, r, "out of memory profiling unit %d", u);
	return r;
}

int dtp_profile_measure(const struct dtp_model_spec *spec, int batch, int reps,
			struct dtp_profile *out, struct dtp_err *err)
{
	struct dtp_profile p;
	int r;

	if (reps < 1)
		return dtp_errf_input(err, -EINVAL, "profile repetitions must be at least 1");
	r = dtp_profile_static(spec, batch, &p, err);
	if (r)
		return r;
	for (int u = 0; u < p.n_units; u++) {
		r = time_unit(spec, u, batch, reps, &p.units[u], err);
		if (r) {
			dtp_profile_free(&p);
			return r;
		}
	}
	p.measured = 1;
	*out = p;
	return 0;
}

void dtp_profile_free(struct dtp_profile *p)
{
	free(p->units);
	p->units = NULL;
	p->n_units = 0;
}

int dtp_profile_chain(const struct dtp_profile *p, enum dtp_optim_kind optim, int recompute,
		      struct dtp_chain_unit **out, struct dtp_err *err)
{
	struct dtp_chain_unit *c = calloc((size_t)p->n_units, sizeof(*c));
	size_t mult = 2 + (size_t)dtp_optim_state_mult(optim);

	if (!c)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int u = 0; u < p->n_units; u++) {
		const struct dtp_unit_cost *uc = &p->units[u];

		c[u].time = uc->fwd_s * (recompute ? 2 : 1) + uc->bwd_s;
		c[u].state_mem = uc->param_bytes * mult;
		c[u].save_mem = uc->save_bytes;
		c[u].in_mem = uc->in_bytes;
		c[u].cut_bytes = 2 * uc->out_bytes;
	}
	*out = c;
	return 0;
}

void dtp_plan_partition_opts(const struct dtp_plan *p, double bandwidth,
			     struct dtp_partition_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stages = p->num_stages;
	o->bandwidth = bandwidth;
	o->mem_cap = p->mem_cap_bytes;
	o->recompute = p->recompute;
}

void dtp_profile_time_from_flops(struct dtp_profile *p, double flops_per_s)
{
	for (int u = 0; u < p->n_units; u++) {
		p->units[u].fwd_s = p->units[u].fwd_flops / flops_per_s;
		p->units[u].bwd_s = 2 * p->units[u].fwd_s;
	}
}

int dtp_plan_resplit(const struct dtp_plan *in, int K, const int *stash_slots,
		     const char *const *cores, struct dtp_plan *out, struct dtp_err *err)
{
	struct dtp_chain_unit *chain = NULL;
	struct dtp_partition_opts po;
	struct dtp_profile prof;
	int bounds[DTP_MAX_STAGES + 1], r;
	double slowest;

	if (K < 1 || K > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "cannot split a plan over %d stages: give 1 to %d",
				      K, DTP_MAX_STAGES);
	r = dtp_profile_static(&in->model, in->micro_batch, &prof, err);
	if (r)
		return r;
	if (K > prof.n_units) {
		r = dtp_errf_input(err, -EINVAL, "cannot split %d units over %d stages: give at most %d",
				   prof.n_units, K, prof.n_units);
		goto free_profile;
	}
	dtp_profile_time_from_flops(&prof, DTP_STATIC_FLOPS);
	r = dtp_profile_chain(&prof, in->optim.kind, in->recompute, &chain, err);
	if (r)
		goto free_profile;
	*out = *in;
	out->num_stages = K;
	dtp_plan_partition_opts(out, 0, &po);
	memcpy(po.stash_slots, stash_slots, sizeof(int) * (size_t)K);
	r = dtp_partition_chain(chain, prof.n_units, &po, bounds, &slowest, err);
	if (r)
		goto free_chain;
	memset(out->stages, 0, sizeof(out->stages));
	for (int s = 0; s < K; s++) {
		out->stages[s].first_unit = bounds[s];
		out->stages[s].last_unit = bounds[s + 1];
		if (cores && cores[s])
			snprintf(out->stages[s].cores, sizeof(out->stages[s].cores), "%s", cores[s]);
	}
	r = dtp_plan_validate(out, err);
free_chain:
	free(chain);
free_profile:
	dtp_profile_free(&prof);
	return r;
}
