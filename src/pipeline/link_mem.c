/* What a stage's shm links make resident in its process (dtp_stage_link_mem,
 * pipeline.h): the neighbours' buffer arenas it maps for the one-copy
 * placement, and each link's control area and ring. One home for the
 * formula: the start-up memory cap (dtp_stage_mem_predict), schedule = auto
 * and dtpipe-partition report all count it from here. */
#include "config.h"
#include "pipeline/stage.h"
#include "rdma/transport.h"

#include <string.h>

static int same_host(const struct dtp_plan *p, int a, int b)
{
	const char *x = p->stages[a].host, *y = p->stages[b].host;

	if (!x[0] || strcmp(x, "localhost") == 0)
		x = "";
	if (!y[0] || strcmp(y, "localhost") == 0)
		y = "";
	return strcmp(x, y) == 0;
}

int dtp_plan_link_is_shm(const struct dtp_plan *p, int a, int b)
{
	if (strcmp(p->transport, "shm") == 0)
		return 1;
	if (p->transport[0] && strcmp(p->transport, "auto") != 0)
		return 0;
	return same_host(p, a, b);
}

int dtp_stage_link_mem(const struct dtp_plan *p, int s, size_t *out, struct dtp_err *err)
{
	int K = p->num_stages, v = dtp_plan_chunks(p), J = K * v, r;
	size_t arena[DTP_MAX_VIRTUAL_STAGES], sum = 0;

	*out = 0;
	for (int c = 0; c < v; c++) {
		int j = c * K + s;

		for (int n = j - 1; n <= j + 1; n += 2) {
			if (n < 0 || n >= J || !dtp_plan_link_is_shm(p, s, n % K))
				continue;
			r = dtp_stage_chunk_arenas(p, n % K, arena, err);
			if (r)
				return r;
			sum += arena[n / K] + dtp_shm_link_resident_bytes();
		}
	}
	*out = sum;
	return 0;
}
