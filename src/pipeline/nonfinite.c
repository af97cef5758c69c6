/* A step whose loss or gradient norm is not finite (NaN or inf: a NaN in the
 * data, or a run that diverged) would poison every parameter with its update.
 * The last stage sees the whole chain's gradient sums of squares and the loss
 * and gives a verdict that travels down with the clip factor, so every stage
 * stops (the default) or skips the update of that step alike
 * ([train] nonfinite = skip, or --nonfinite skip). Also here: the targets
 * checked before the loss, so that a bad label is told apart from a loss
 * that is not finite. */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

int dtp_stage_check_targets(const struct dtp_stage *st, const int32_t *tgt, int n,
			    struct dtp_err *err)
{
	for (int i = 0; i < n; i++)
		if (tgt[i] < 0 || tgt[i] >= st->vocab)
			return dtp_errf_input(err, -ERANGE,
					      "target %d is outside [0, %d): the dataset does not match the model's output size (the last width of [model] spec, or vocab)",
					      (int)tgt[i], st->vocab);
	return 0;
}

/* the stage that holds unit u */
static int stage_of_unit(const struct dtp_plan *p, int u)
{
	for (int s = 0; s < p->num_stages; s++)
		if (u >= p->stages[s].first_unit && u < p->stages[s].last_unit)
			return s;
	return p->num_stages - 1;
}

double dtp_nonfinite_verdict(const struct dtp_stage *st, const double *sumsq, double loss_sum)
{
	const struct dtp_plan *p = st->plan;
	int culprit = -1;

	for (int u = 0; u < st->total_units && culprit < 0; u++)
		if (!isfinite(sumsq[u]))
			culprit = stage_of_unit(p, u);
	if (culprit < 0 && !isfinite(loss_sum))
		culprit = st->K - 1;
	if (culprit < 0)
		return 0;
	return p->skip_nonfinite ? -(double)(culprit + 1) : (double)(culprit + 1);
}

static const char *fmt_num(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "inf" : "-inf";
	snprintf(buf, len, "%g", v);
	return buf;
}

int dtp_nonfinite_act(const struct dtp_stage *st, long step, double verdict, double loss,
		      double gnorm, struct dtp_err *err)
{
	int culprit = (int)fabs(verdict) - 1;
	char lb[32], gb[32];

	if (verdict > 0)
		return dtp_errf_runtime(err, -EDOM,
					"step %ld: the loss is %s and the gradient norm %s (the first non-finite value is on stage %d): training diverged, or the data holds NaN/inf values; lower [train] lr, set clip_norm, or clean the data; [train] nonfinite = skip (or --nonfinite skip) skips such steps instead",
					step + 1, fmt_num(loss, lb, sizeof(lb)), fmt_num(gnorm, gb, sizeof(gb)), culprit);
	if (st->is_last)
		dtp_warn("step %ld skipped (nonfinite = skip): the loss is %s and the gradient norm %s (first on stage %d); no parameter was updated",
			 step + 1, fmt_num(loss, lb, sizeof(lb)), fmt_num(gnorm, gb, sizeof(gb)), culprit);
	return 0;
}
