/* The sharded optimizer step (ZeRO-1) on MPI: each bucket cut into one part
 * per replica at the optimizer's block boundaries, a part's reduce-scatter
 * (dp_mpi.c's ring) leaves each replica the sum of its part; after each
 * replica's update of its part, MPI_Allgatherv gives every replica the whole
 * parameters again (or, on one node with shm_reduce, the shared array holds
 * them already); the optimizer state gathered the same way before a
 * checkpoint. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "rdma/dp.h"
#include "rdma/dp_mpi.h"
/* the block boundary of bucket bk nearest `target` in [from, bk end]
 * (ties: the lower): a unit's first float + k x DTP_GRAD_BLOCK, or the end */
static size_t nearest_cut(const struct dtp_dp *dp, const struct dp_bucket *bk, size_t from,
			  size_t target)
{
	size_t end = bk->off + bk->len, best = end;
	size_t dbest = end > target ? end - target : target - end;

	for (int u = bk->lo; u < bk->hi; u++)
		for (size_t c = dp->unit_off[u - dp->first]; c < dp->unit_off[u - dp->first + 1];
		     c += DTP_GRAD_BLOCK) {
			size_t d = c > target ? c - target : target - c;

			if (c >= from && (d < dbest || (d == dbest && c < best))) {
				best = c;
				dbest = d;
			}
		}
	return best;
}

int dtp_dp_cut_parts(struct dtp_dp *dp, size_t *biggest, struct dtp_err *err)
{
	int R = dp->replicas, ns = 0;

	free(dp->counts);
	free(dp->spans);
	dp->counts = calloc((size_t)dp->nb * 2 * (size_t)R, sizeof(*dp->counts));
	dp->spans = calloc((size_t)dp->nb, sizeof(*dp->spans));
	if (!dp->counts || !dp->spans)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for the optimizer shards");
	*biggest = 0;
	/* the buckets come last unit first; the spans go up */
	for (int i = dp->nb - 1; i >= 0; i--) {
		struct dp_bucket *bk = &dp->b[i];
		size_t at = bk->off;

		if (bk->len > INT_MAX)
			return dtp_errf_runtime(err, -E2BIG,
						"a gradient bucket of %zu floats is over MPI's int count: make [parallel] bucket_size smaller",
						bk->len);
		bk->cnt = dp->counts + (size_t)i * 2 * (size_t)R;
		bk->disp = bk->cnt + R;
		for (int r = 0; r < R; r++) {
			size_t target = bk->off + bk->len * (size_t)(r + 1) / (size_t)R;
			size_t cut = r == R - 1 ? bk->off + bk->len : nearest_cut(dp, bk, at, target);

			bk->disp[r] = (int)(at - bk->off);
			bk->cnt[r] = (int)(cut - at);
			at = cut;
			*biggest = (size_t)bk->cnt[r] > *biggest ? (size_t)bk->cnt[r] : *biggest;
		}
		if (bk->cnt[dp->replica])
			dp->spans[ns++] = (struct dtp_param_span){
				.off = bk->off + (size_t)bk->disp[dp->replica],
				.n = (size_t)bk->cnt[dp->replica] };
	}
	dp->n_spans = ns;
	return 0;
}

int dtp_dp_shard(struct dtp_dp *dp, float *params, float *grads, struct dtp_err *err)
{
	size_t biggest;
	int r = dtp_dp_cut_parts(dp, &biggest, err);

	if (r)
		return r;
	free(dp->ring_buf);
	dp->ring_buf = malloc((biggest ? biggest : 1) * sizeof(float));
	if (!dp->ring_buf)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for a gradient part of %zu floats",
					biggest);
	dp->params = params;
	dp->grads = grads;
	dp->sharded = 1;
	return 0;
}

int dtp_dp_node_arrays(struct dtp_dp *dp, size_t floats, int share_params, float **params,
		       float **grads, struct dtp_err *err)
{
	size_t biggest;
	int r;

	*params = *grads = NULL;
	if (dp->replicas < 2 || dp->shm)
		return 0;
	if (!dp->nb)
		return dtp_errf_runtime(err, -EINVAL, "node-shared arrays before the gradient buckets");
	if ((r = dtp_dp_shm_open(dp, floats, share_params, params, grads, err)) || !dp->shm)
		return r;
	/* the parts each replica sums (sharded: cut again by dtp_dp_shard, the
	 * same); the shared path makes no nonblocking call */
	dp->overlap = 0;
	return dtp_dp_cut_parts(dp, &biggest, err);
}

int dtp_dp_node_arrays_ready(struct dtp_dp *dp, struct dtp_err *err)
{
	return dtp_dp_shm_ready(dp, err);
}

int dtp_dp_node_shared(const struct dtp_dp *dp)
{
	return dp->shm != NULL;
}

int dtp_dp_grads_free(struct dtp_dp *dp, struct dtp_err *err)
{
	return dp->shm ? dtp_dp_shm_grads_free(dp, err) : 0;
}

int dtp_dp_sharded(const struct dtp_dp *dp)
{
	return dp->sharded;
}

int dtp_dp_shard_spans(const struct dtp_dp *dp, const struct dtp_param_span **spans)
{
	*spans = dp->spans;
	return dp->n_spans;
}

/* every replica's part of every bucket of arr (laid out like the params) */
static int allgather_parts(struct dtp_dp *dp, float *arr)
{
	int rc = MPI_SUCCESS;

	for (int i = 0; rc == MPI_SUCCESS && i < dp->nb; i++) {
		struct dp_bucket *bk = &dp->b[i];

		rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, arr + bk->off, bk->cnt,
				    bk->disp, MPI_FLOAT, dp->stage_comm);
	}
	return rc;
}

int dtp_dp_gather_params(struct dtp_dp *dp, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	int rc = dp->shm ? MPI_SUCCESS : allgather_parts(dp, dp->params);
	int r = dp->shm ? dtp_dp_shm_gather(dp, err) : 0;
	double t = (double)(dtp_now_ns() - t0) * 1e-9, t_min = t;
	struct dtp_dp_times *k;

	if (r)
		return r;
	if (rc != MPI_SUCCESS)
		return dtp_dp_mpi_failed(err, rc, "the all-gather of the updated parameters over the replicas");
	if (dp->measure) {
		rc = MPI_Allreduce(&t, &t_min, 1, MPI_DOUBLE, MPI_MIN, dp->stage_comm);
		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "MPI_Allreduce of the all-gather's times");
	}
	if (dp->steps == 0)
		return 0;
	/* the step dtp_dp_wait recorded */
	k = &dp->kept[(dp->steps - 1) % DTP_DP_TIMES_KEPT];
	k->gather_s = t;
	k->mpi_s += t;
	if (dp->measure) {
		k->gather_own_s = t_min;
		k->own_s += t_min;
		k->partner_s = k->mpi_s - k->own_s;
	}
	return 0;
}

int dtp_dp_gather_state(struct dtp_dp *dp, float *state, size_t n_params, int n_arrays,
			struct dtp_err *err)
{
	for (int a = 0; a < n_arrays; a++) {
		int rc = allgather_parts(dp, state + (size_t)a * n_params);

		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "the all-gather of the optimizer state for a checkpoint");
	}
	return 0;
}

int dtp_dp_bare_rs_ag(struct dtp_dp *dp, float *buf, size_t n, int reps, double *rs_seconds,
		      double *ag_seconds, struct dtp_err *err)
{
	double trs[64], tag[64];
	int R = dp->replicas, *cnt, *disp, rc = MPI_SUCCESS;

	if (reps < 1 || reps > 64 || n > INT_MAX)
		return dtp_errf_runtime(err, -EINVAL, "bare reduce-scatter: %d repetitions of %zu floats",
					reps, n);
	cnt = calloc(2 * (size_t)R, sizeof(*cnt));
	if (!cnt)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	disp = cnt + R;
	for (int r = 0; r < R; r++) {
		disp[r] = (int)(n * (size_t)r / (size_t)R);
		cnt[r] = (int)(n * (size_t)(r + 1) / (size_t)R) - disp[r];
	}
	MPI_Barrier(dp->stage_comm);
	for (int i = 0; rc == MPI_SUCCESS && i < reps; i++) {
		double t0 = MPI_Wtime();

		rc = MPI_Reduce_scatter(MPI_IN_PLACE, buf, cnt, MPI_FLOAT, MPI_SUM, dp->stage_comm);
		trs[i] = MPI_Wtime() - t0;
		if (rc != MPI_SUCCESS)
			break;
		t0 = MPI_Wtime();
		rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, disp, MPI_FLOAT,
				    dp->stage_comm);
		tag[i] = MPI_Wtime() - t0;
	}
	free(cnt);
	if (rc != MPI_SUCCESS)
		return dtp_dp_mpi_failed(err, rc, "the bare MPI_Reduce_scatter / MPI_Allgatherv");
	dtp_sort_doubles(trs, (size_t)reps);
	dtp_sort_doubles(tag, (size_t)reps);
	*rs_seconds = trs[reps / 2];
	*ag_seconds = tag[reps / 2];
	return 0;
}
