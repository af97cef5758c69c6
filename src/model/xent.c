/* Softmax cross-entropy: loss sum and its gradient in one pass per row. */
#include "config.h"
#include "model/model.h"

#include <math.h>

/* logits (N,V), targets (N) -> sum of losses; dlogits (N,V) (may alias logits, may be NULL) */
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
		float mx = x[0], xt = x[t], sum = 0.0f;

		for (int j = 1; j < V; j++)
			if (x[j] > mx) {
				mx = x[j];
				arg = j;
			}
		hits += arg == t;
		if (d) {
			/* x may be d: each x[j] is read once, before d[j] is written */
			for (int j = 0; j < V; j++) {
				float e = expf(x[j] - mx);

				d[j] = e;
				sum += e;
			}
			float s = grad_scale / sum;

			for (int j = 0; j < V; j++)
				d[j] *= s;
			d[t] -= grad_scale;
		} else {
			for (int j = 0; j < V; j++)
				sum += expf(x[j] - mx);
		}
		total += log((double)sum) - ((double)xt - (double)mx);
	}
	if (correct)
		*correct = hits;
	return total;
}
