/* Named tensors of a unit (tensors.h). The order is the parameter layout of
 * init.c and block.c (dtp_block_params_map); tests check that the tensors
 * tile every unit's parameters. */
#include "config.h"
#include "model/tensors.h"

#include <errno.h>
#include <stdio.h>

static int add(struct dtp_unit_tensor *out, int n, size_t *off, const char *name, size_t d0,
	       size_t d1)
{
	struct dtp_unit_tensor *t = &out[n];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ndim = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->n = d1 ? d0 * d1 : d0;
	t->off = *off;
	*off += t->n;
	return n + 1;
}

int dtp_unit_tensors(const struct dtp_model_spec *s, int unit, struct dtp_unit_tensor *out)
{
	size_t off = 0;
	int n = 0;

	if (unit < 0 || unit >= dtp_model_num_units(s))
		return -EINVAL;
	if (s->kind == DTP_MODEL_MLP) {
		size_t ic = (size_t)s->widths[unit], oc = (size_t)s->widths[unit + 1];

		n = add(out, n, &off, "fc.weight", oc, ic);
		return add(out, n, &off, "fc.bias", oc, 0);
	}
	size_t C = (size_t)s->dim, T = (size_t)s->seq_len, V = (size_t)s->vocab;

	if (unit == 0) {
		n = add(out, n, &off, "wte.weight", V, C);
		return add(out, n, &off, "wpe.weight", T, C);
	}
	if (unit > s->layers) {
		n = add(out, n, &off, "lnf.weight", C, 0);
		n = add(out, n, &off, "lnf.bias", C, 0);
		return add(out, n, &off, "head.weight", V, C);
	}
	n = add(out, n, &off, "ln1.weight", C, 0);
	n = add(out, n, &off, "ln1.bias", C, 0);
	n = add(out, n, &off, "attn.qkv.weight", 3 * C, C);
	n = add(out, n, &off, "attn.qkv.bias", 3 * C, 0);
	n = add(out, n, &off, "attn.proj.weight", C, C);
	n = add(out, n, &off, "attn.proj.bias", C, 0);
	n = add(out, n, &off, "ln2.weight", C, 0);
	n = add(out, n, &off, "ln2.bias", C, 0);
	n = add(out, n, &off, "mlp.fc.weight", 4 * C, C);
	n = add(out, n, &off, "mlp.fc.bias", 4 * C, 0);
	n = add(out, n, &off, "mlp.proj.weight", C, 4 * C);
	return add(out, n, &off, "mlp.proj.bias", C, 0);
}
