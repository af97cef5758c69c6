/* The named tensors of a unit: how a unit's slice of the stage's parameter
 * array (and of each optimizer state array, which has the same layout) splits
 * into weights and biases with shapes, for checkpoints and exported models.
 * Names follow PyTorch's conventions (a linear weight is (out, in)), so that
 * an exported model maps onto nn.Linear / nn.LayerNorm / nn.Embedding:
 *   mlp unit:   fc.weight (out, in), fc.bias (out)
 *   gpt unit 0: wte.weight (V, C), wpe.weight (T, C)
 *   gpt block:  ln1.weight, ln1.bias (C), attn.qkv.weight (3C, C),
 *               attn.qkv.bias (3C), attn.proj.weight (C, C), attn.proj.bias,
 *               ln2.weight, ln2.bias (C), mlp.fc.weight (4C, C), mlp.fc.bias (4C),
 *               mlp.proj.weight (C, 4C), mlp.proj.bias (C)
 *   gpt last:   lnf.weight, lnf.bias (C), head.weight (V, C) */
#ifndef DTP_MODEL_TENSORS_H
#define DTP_MODEL_TENSORS_H

#include <stddef.h>

#include "model/model.h"

#define DTP_UNIT_MAX_TENSORS 12
#define DTP_TENSOR_NAME_MAX 32

struct dtp_unit_tensor {
	char name[DTP_TENSOR_NAME_MAX];
	int ndim;              /* 1 or 2 */
	size_t shape[2];
	size_t off, n;         /* floats from the unit's first parameter */
};

/* The tensors of global unit `unit` of spec, in parameter order, back to
 * back (they tile the unit's parameters). Returns how many (at most
 * DTP_UNIT_MAX_TENSORS), or -EINVAL for a unit outside the model. */
int dtp_unit_tensors(const struct dtp_model_spec *spec, int unit, struct dtp_unit_tensor *out);

#endif
