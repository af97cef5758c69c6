/* Baseline splits: equal layers (Megatron-LM), equal parameters (DeepSpeed). */
#include "config.h"
#include "partition/baseline.h"

#include <errno.h>
#include <stdlib.h>

#include "partition/partition.h"

int dtp_split_equal_layers(const struct dtp_model_spec *spec, int K, int *bounds,
			   struct dtp_err *err)
{
	int n = dtp_model_num_units(spec), first = 0, layers = n;

	if (spec->kind == DTP_MODEL_GPT) {
		first = 1;          /* unit 0: embedding; 1..L: blocks; L+1: norm + head */
		layers = spec->layers;
	}
	if (K < 1 || K > layers)
		return dtp_errf_input(err, -EINVAL, "the equal-layers split needs at least one layer per "
				      "stage: the model has %d, use 1 to %d stages", layers, layers);
	bounds[0] = 0;
	for (int s = 1; s < K; s++)   /* stage s - 1 gets ceil or floor of L / K */
		bounds[s] = first + s * (layers / K) + (s < layers % K ? s : layers % K);
	bounds[K] = n;
	return 0;
}

int dtp_split_equal_params(const size_t *params, int n, int K, int *bounds,
			   struct dtp_err *err)
{
	struct dtp_chain_unit *u = calloc((size_t)(n > 0 ? n : 1), sizeof(*u));
	struct dtp_partition_opts o = { .stages = K };
	double largest;
	int r;

	if (!u)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		u[i].time = (double)params[i];   /* min-max over parameter counts */
	for (int s = 0; s < K && s < DTP_MAX_STAGES; s++)
		o.stash_slots[s] = 1;            /* no memory cap: the slots do not matter */
	r = dtp_partition_chain(u, n, &o, bounds, &largest, err);
	free(u);
	return r;
}
