/* The splits users get from other pipeline trainers, for measuring dtpipe's
 * min-max split beside them (scripts/bench-partition.sh):
 *   equal layers      Megatron-LM's default: the transformer blocks divided
 *                     evenly (the first stages take one more when K does not
 *                     divide L), the embedding with the first stage, the final
 *                     norm and head with the last; an mlp's units evenly;
 *   equal parameters  DeepSpeed's partition_method=parameters: contiguous
 *                     stages whose largest parameter count is least. */
#ifndef DTP_PARTITION_BASELINE_H
#define DTP_PARTITION_BASELINE_H

#include <stddef.h>

#include "base/base.h"
#include "model/model.h"

/* bounds: K + 1 entries, bounds[0] = 0 < ... < bounds[K] = units. -EINVAL
 * (with what to do) when the model has fewer layers than K. */
int dtp_split_equal_layers(const struct dtp_model_spec *spec, int K, int *bounds,
			   struct dtp_err *err);
/* params[u] for the n units; exact (dtp_partition_chain on the counts). */
int dtp_split_equal_params(const size_t *params, int n, int K, int *bounds,
			   struct dtp_err *err);

#endif
