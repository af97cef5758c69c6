/* Seeded per-unit initialisation: unit u draws from the PRNG stream (seed, u),
 * so a unit gets the same weights whichever stage holds it.
 *   mlp: He-uniform U(-sqrt(6/fan_in), +) for ReLU layers, U(-1/sqrt(fan_in), +)
 *        for the logits layer; biases 0.
 *   gpt: GPT-2: N(0, 0.02) matrices and token embedding, N(0, 0.01) positions,
 *        residual projections (attention proj, MLP proj) N(0, 0.02/sqrt(2L));
 *        layernorm weight 1, bias 0; biases 0. */
#include "config.h"
#include "model/stage.h"

#include <math.h>

static void fill_normal(struct dtp_rng *r, float *p, size_t n, float std)
{
	for (size_t i = 0; i < n; i++)
		p[i] = std * dtp_rng_normal(r);
}

static void fill_uniform(struct dtp_rng *r, float *p, size_t n, float bound)
{
	for (size_t i = 0; i < n; i++)
		p[i] = bound * (2.0f * dtp_rng_uniform(r) - 1.0f);
}

static void fill_const(float *p, size_t n, float v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = v;
}

void dtp_unit_init(const struct dtp_model_spec *s, int unit, uint64_t seed, float *p)
{
	struct dtp_rng r;

	dtp_rng_init(&r, seed, (uint64_t)unit);
	if (s->kind == DTP_MODEL_MLP) {
		size_t ic = (size_t)s->widths[unit], oc = (size_t)s->widths[unit + 1];
		int relu = unit < s->n_widths - 2;
		float bound = relu ? sqrtf(6.0f / (float)ic) : 1.0f / sqrtf((float)ic);

		fill_uniform(&r, p, oc * ic, bound);
		fill_const(p + oc * ic, oc, 0.0f);
		return;
	}
	size_t C = (size_t)s->dim, T = (size_t)s->seq_len, V = (size_t)s->vocab;

	if (unit == 0) {
		fill_normal(&r, p, V * C, 0.02f);
		fill_normal(&r, p + V * C, T * C, 0.01f);
	} else if (unit <= s->layers) {
		struct dtp_block_params bp;
		float rstd = 0.02f / sqrtf(2.0f * (float)s->layers);

		dtp_block_params_map(&bp, p, (int)C);
		fill_const(bp.ln1w, C, 1.0f);
		fill_const(bp.ln1b, C, 0.0f);
		fill_normal(&r, bp.qkvw, 3 * C * C, 0.02f);
		fill_const(bp.qkvb, 3 * C, 0.0f);
		fill_normal(&r, bp.projw, C * C, rstd);
		fill_const(bp.projb, C, 0.0f);
		fill_const(bp.ln2w, C, 1.0f);
		fill_const(bp.ln2b, C, 0.0f);
		fill_normal(&r, bp.fcw, 4 * C * C, 0.02f);
		fill_const(bp.fcb, 4 * C, 0.0f);
		fill_normal(&r, bp.fcprojw, 4 * C * C, rstd);
		fill_const(bp.fcprojb, C, 0.0f);
	} else {
		fill_const(p, C, 1.0f);
		fill_const(p + C, C, 0.0f);
		fill_normal(&r, p + 2 * C, V * C, 0.02f);
	}
}

int dtp_unit_param_ranges(const struct dtp_model_spec *s, int unit, size_t off,
			  struct dtp_param_range *out)
{
	int n = 0;

#define RANGE(count, dec) do { \
		out[n].off = off; out[n].n = (count); out[n].decay = (dec); \
		off += (count); n++; \
	} while (0)
	if (s->kind == DTP_MODEL_MLP) {
		size_t ic = (size_t)s->widths[unit], oc = (size_t)s->widths[unit + 1];

		RANGE(oc * ic, 1);
		RANGE(oc, 0);
		return n;
	}
	size_t C = (size_t)s->dim, T = (size_t)s->seq_len, V = (size_t)s->vocab;

	if (unit == 0) {
		RANGE(V * C, 1);
		RANGE(T * C, 1);
	} else if (unit <= s->layers) {
		RANGE(2 * C, 0);           /* ln1 w, b */
		RANGE(3 * C * C, 1);
		RANGE(3 * C, 0);
		RANGE(C * C, 1);
		RANGE(C + 2 * C, 0);       /* proj b, ln2 w, b */
		RANGE(4 * C * C, 1);
		RANGE(4 * C, 0);
		RANGE(4 * C * C, 1);
		RANGE(C, 0);
	} else {
		RANGE(2 * C, 0);
		RANGE(V * C, 1);
	}
#undef RANGE
	return n;
}
