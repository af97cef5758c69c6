/* The glue from a profile to the partitioner and to a plan: the chain the
 * min-max split takes, a plan's partitioner options, a static profile's
 * times, and a plan split again (profile.h). */
#include "config.h"
#include "partition/profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
		c[u].state_mem = uc->param_bytes * mult + uc->prec_bytes;
		c[u].shared_mem = uc->prec_shared_bytes;
		/* units of one name are of one kind: the first of that name's
		 * index (a gpt's blocks share the attention's scratch, which its
		 * head does not have) */
		c[u].kind = u < DTP_CHAIN_KINDS ? u : DTP_CHAIN_KINDS - 1;
		for (int v = 0; v < u; v++)
			if (!strcmp(p->units[v].name, uc->name)) {
				c[u].kind = c[v].kind;
				break;
			}
		c[u].save_mem = uc->save_bytes;
		c[u].in_mem = uc->in_bytes;
		c[u].cut_bytes = 2 * uc->link_bytes;
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
		p->units[u].bwd_in_s = p->units[u].bwd_in_flops / flops_per_s;
		p->units[u].bwd_w_s = p->units[u].bwd_w_flops / flops_per_s;
		p->units[u].bwd_s = p->units[u].bwd_in_s + p->units[u].bwd_w_s;
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
	/* the plan's precision: its memory under mem_cap */
	r = dtp_profile_set_precision(&prof, in->precision, in->fp32_matmul, err);
	if (r)
		goto free_profile;
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
