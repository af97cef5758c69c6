/* Softmax cross-entropy: loss sum and its gradient in one pass per row. */
#include "config.h"
#include "model/model.h"
#include "model/vecmath.h"

#include <math.h>

/* x (V), mx -> sum of e^(x - mx), in DTP_VLANES lanes */
static float sum_exp(const float *x, float mx, int V)
{
	float a[DTP_VLANES] = { 0 };
	int j = 0;

	for (; j + DTP_VLANES <= V; j += DTP_VLANES)
		for (int k = 0; k < DTP_VLANES; k++)
			a[k] += dtp_vexpf(x[j + k] - mx);
	for (int k = 0; j < V; j++, k++)
		a[k] += dtp_vexpf(x[j] - mx);
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* logits (N,V), targets (N) -> sum of losses; dlogits (N,V) (may alias logits, may be NULL) */
DTP_VEC_CLONES
double dtp_xent(const float *logits, const int32_t *targets, int N, int V,
		float *dlogits, float grad_scale, int *correct)
{
	double total = 0.0;
	int hits = 0;

	for (int n = 0; n < N; n++)
		if (targets[n] < 0 || targets[n] >= V)
			return NAN;
	for (int n = 0; n < N; n++) {
		const float *x = logits + (size_t)n * V;
		float *d = dlogits ? dlogits + (size_t)n * V : NULL;
		int t = targets[n], arg = 0;
		float mx = dtp_vmax(x, V), xt = x[t], sum;

		while (arg < V - 1 && x[arg] != mx)   /* the first maximum, as a > scan finds */
			arg++;
		hits += arg == t;
		if (d) {
			/* x may be d: each x[j] is read once, before d[j] is written */
			for (int j = 0; j < V; j++)
				d[j] = dtp_vexpf(x[j] - mx);
			sum = dtp_vsum(d, V);
			float s = grad_scale / sum;

			for (int j = 0; j < V; j++)
				d[j] *= s;
			d[t] -= grad_scale;
		} else {
			sum = sum_exp(x, mx, V);
		}
		total += log((double)sum) - ((double)xt - (double)mx);
	}
	if (correct)
		*correct = hits;
	return total;
}
