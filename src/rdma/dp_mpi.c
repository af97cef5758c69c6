/* Data-parallel replicas on MPI (standard API only: Open MPI and MPICH).
 *
 * World rank w runs stage w % K of replica w / K. MPI_Comm_split by stage
 * (key = replica) gives each stage the communicator its gradients are summed
 * over. Sums are in place, MPI_SUM on floats; with a fixed communicator size
 * and a fixed bucket list (one bucket per model unit, whatever the cuts) the
 * library runs the same algorithm on the same sizes every step and every
 * run, so the result is the same bit for bit from run to run and for any K.
 * Only the thread that called dtp_dp_open makes MPI calls (funneled). The
 * sharded optimizer step's collectives are dp_mpi_shard.c. */
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

int dtp_dp_built(void)
{
	return 1;
}

int dtp_dp_mpi_failed(struct dtp_err *err, int rc, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
		snprintf(msg, sizeof(msg), "MPI error %d", rc);
	return dtp_errf_runtime(err, -EIO, "%s failed: %s (a rank of the job stopped or died; see its own message)",
				what, msg);
}

int dtp_dp_open(int replicas, int stages, struct dtp_dp **out, struct dtp_err *err)
{
	struct dtp_dp *dp;
	MPI_Comm node;
	int inited = 0, provided = 0, rc;

	*out = NULL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	MPI_Initialized(&inited);
	if (!inited) {
		/* overlap = yes: libnbc's ring all-reduce, which was 2x faster than
		 * its default choice for gradient buckets here (a user's setting wins) */
		setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
		rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
		if (rc != MPI_SUCCESS) {
			free(dp);
			return dtp_errf_runtime(err, -EIO, "MPI_Init failed (%d): is this rank started by mpirun or srun --mpi=pmix?", rc);
		}
		dp->own_init = 1;
	}
	/* errors come back as codes (a dead peer), they do not abort here */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &dp->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &dp->size);
	dp->replicas = replicas;
	dp->stages = stages;
	dp->stage_comm = MPI_COMM_NULL;
	if (dp->size != replicas * stages) {
		rc = dtp_errf_input(err, -EINVAL,
				    "the MPI job has %d ranks, and the plan's %d replicas x %d stages need %d: start it with mpirun -np %d or srun --mpi=pmix -n %d (srun without --mpi=pmix starts %d separate one-rank jobs)",
				    dp->size, replicas, stages, replicas * stages, replicas * stages,
				    replicas * stages, dp->size);
		dtp_dp_close(dp);
		return rc;
	}
	dp->replica = dp->rank / stages;
	dp->stage = dp->rank % stages;
	rc = MPI_Comm_split(MPI_COMM_WORLD, dp->stage, dp->replica, &dp->stage_comm);
	if (rc != MPI_SUCCESS) {
		dtp_dp_mpi_failed(err, rc, "MPI_Comm_split (the stage communicators)");
		dtp_dp_close(dp);
		return -EIO;
	}
	dp->own_comm = 1;
	MPI_Comm_set_errhandler(dp->stage_comm, MPI_ERRORS_RETURN);
	rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dp->rank, MPI_INFO_NULL,
				 &node);
	if (rc != MPI_SUCCESS) {
		dtp_dp_mpi_failed(err, rc, "MPI_Comm_split_type (the ranks of this node)");
		dtp_dp_close(dp);
		return -EIO;
	}
	MPI_Comm_rank(node, &dp->local_rank);
	MPI_Comm_size(node, &dp->local_size);
	MPI_Comm_free(&node);
	*out = dp;
	return 0;
}

int dtp_dp_chunk_open(struct dtp_dp *dp, struct dtp_dp **out, struct dtp_err *err)
{
	struct dtp_dp *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	c->rank = dp->rank;
	c->size = dp->size;
	c->replica = dp->replica;
	c->replicas = dp->replicas;
	c->stage = dp->stage;
	c->stages = dp->stages;
	c->local_rank = dp->local_rank;
	c->local_size = dp->local_size;
	c->stage_comm = dp->stage_comm;   /* shared: dp's to free */
	*out = c;
	return 0;
}

void dtp_dp_close(struct dtp_dp *dp)
{
	if (!dp)
		return;
	dtp_dp_shm_close(dp);
	if (dp->own_comm && dp->stage_comm != MPI_COMM_NULL)
		MPI_Comm_free(&dp->stage_comm);
	free(dp->b);
	free(dp->unit_bucket);
	free(dp->reqs);
	free(dp->t_call);
	free(dp->unit_off);
	free(dp->counts);
	free(dp->spans);
	free(dp->ring_buf);
	if (dp->own_init)
		MPI_Finalize();
	free(dp);
}

void dtp_dp_abort(struct dtp_dp *dp, int status)
{
	if (dp)
		dtp_dp_shm_abort(dp);
	MPI_Abort(MPI_COMM_WORLD, status);
}

int dtp_dp_world_rank(const struct dtp_dp *dp) { return dp->rank; }
int dtp_dp_replica(const struct dtp_dp *dp) { return dp->replica; }
int dtp_dp_replicas(const struct dtp_dp *dp) { return dp->replicas; }
int dtp_dp_stage(const struct dtp_dp *dp) { return dp->stage; }

void dtp_dp_node(const struct dtp_dp *dp, int *local_rank, int *local_size)
{
	*local_rank = dp->local_rank;
	*local_size = dp->local_size;
}

int dtp_dp_barrier(struct dtp_dp *dp, struct dtp_err *err)
{
	int rc = MPI_Barrier(MPI_COMM_WORLD);

	return rc == MPI_SUCCESS ? 0 : dtp_dp_mpi_failed(err, rc, "MPI_Barrier over every rank");
}

int dtp_dp_bcast_u64(struct dtp_dp *dp, uint64_t *v, struct dtp_err *err)
{
	int rc = MPI_Bcast(v, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);

	return rc == MPI_SUCCESS ? 0 : dtp_dp_mpi_failed(err, rc, "MPI_Bcast from rank 0");
}

int dtp_dp_sum_doubles(struct dtp_dp *dp, double *v, int n, struct dtp_err *err)
{
	int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, dp->stage_comm);

	return rc == MPI_SUCCESS ? 0 : dtp_dp_mpi_failed(err, rc, "MPI_Allreduce over the replicas");
}

int dtp_dp_buckets(struct dtp_dp *dp, const struct dtp_model_spec *spec, int first, int last,
		   size_t bucket_bytes, int overlap, int measure, struct dtp_err *err)
{
	int n_units = last - first, nb = 0, total = dtp_model_num_units(spec), r;
	size_t acc = 0;
	struct dtp_unit_info ui;

	if (first < 0 || n_units < 1 || last > total)
		return dtp_errf_runtime(err, -EINVAL, "gradient buckets for units %d..%d of a %d-unit model",
					first, last - 1, total);
	free(dp->b);
	free(dp->unit_bucket);
	free(dp->reqs);
	free(dp->t_call);
	free(dp->unit_off);
	dp->b = calloc((size_t)n_units, sizeof(*dp->b));
	dp->unit_bucket = calloc((size_t)n_units, sizeof(*dp->unit_bucket));
	dp->reqs = calloc((size_t)n_units, sizeof(*dp->reqs));
	dp->t_call = calloc(2 * ((size_t)n_units + 1), sizeof(*dp->t_call));
	dp->unit_off = calloc((size_t)n_units + 1, sizeof(*dp->unit_off));
	if (!dp->b || !dp->unit_bucket || !dp->reqs || !dp->t_call || !dp->unit_off)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for %d gradient buckets", n_units);
	dp->t_min = dp->t_call + n_units + 1;
	/* the stage's units lie packed in order (model.h) */
	for (int u = first; u < last; u++) {
		if ((r = dtp_unit_describe(spec, u, &ui)))
			return dtp_errf_runtime(err, r, "gradient buckets: unit %d of the model", u);
		dp->unit_off[u - first + 1] = dp->unit_off[u - first] + ui.n_params;
	}
	/* the whole model's buckets (gid) from its last unit down; this stage's
	 * are their parts in [first, last) */
	for (int u = total - 1, gid = 0, cur = -1; u >= first; u--) {
		if ((r = dtp_unit_describe(spec, u, &ui)))
			return dtp_errf_runtime(err, r, "gradient buckets: unit %d of the model", u);
		if (u < last) {
			if (gid != cur)
				dp->b[nb++] = (struct dp_bucket){ .hi = u + 1 };
			cur = gid;
			dp->b[nb - 1].lo = u;
			dp->unit_bucket[u - first] = nb - 1;
		}
		acc += ui.n_params * sizeof(float);
		if (acc >= bucket_bytes) {   /* u is the bucket's lowest unit */
			acc = 0;
			gid++;
		}
	}
	for (int i = 0; i < nb; i++) {
		dp->b[i].off = dp->unit_off[dp->b[i].lo - first];
		dp->b[i].len = dp->unit_off[dp->b[i].hi - first] - dp->b[i].off;
	}
	dp->nb = nb;
	dp->first = first;
	dp->n_units = n_units;
	dp->n_req = dp->n_started = 0;
	dp->overlap = overlap;
	dp->measure = measure;
	return 0;
}

int dtp_dp_n_buckets(const struct dtp_dp *dp)
{
	return dp->nb;
}

/* Blocking reduce-scatter of bucket bk over the stage's replicas, on the
 * ring (replica r sends to r + 1): at step s = 0 .. R - 2 replica r sends its
 * sum so far of part r - 1 - s and adds part r - 2 - s as it comes in
 * (ring_buf), so that after R - 1 steps it holds the whole sum of its own
 * part r, in place (sum = mine + incoming: a fixed order, so the same bits
 * every run and for any cuts that give the same parts; for two replicas a + b
 * like MPI_SUM). Open MPI's MPI_Reduce_scatter in place copied the whole
 * bucket to a new buffer each call and was slower than the all-reduce of the
 * same bytes here (docs/benchmarks.md). */
static int ring_reduce_scatter(struct dtp_dp *dp, struct dp_bucket *bk)
{
	int R = dp->replicas, me = dp->replica, next = (me + 1) % R, prev = (me + R - 1) % R;

	for (int step = 0; step < R - 1; step++) {
		int out = ((me - 1 - step) % R + R) % R, in = ((me - 2 - step) % R + R) % R;
		float *dst = bk->buf + bk->disp[in];
		const float *src = dp->ring_buf;
		int n = bk->cnt[in];
		int rc = MPI_Sendrecv(bk->buf + bk->disp[out], bk->cnt[out], MPI_FLOAT, next, 0,
				      dp->ring_buf, n, MPI_FLOAT, prev, 0, dp->stage_comm,
				      MPI_STATUS_IGNORE);

		if (rc != MPI_SUCCESS)
			return rc;
		for (int j = 0; j < n; j++)
			dst[j] = dst[j] + src[j];
	}
	return MPI_SUCCESS;
}

int dtp_dp_unit_done(struct dtp_dp *dp, int unit, float *grads, size_t n, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	struct dp_bucket *bk;
	int i = unit - dp->first, rc = MPI_SUCCESS, done = 0;

	if (i < 0 || i >= dp->n_units)
		return dtp_errf_runtime(err, -EINVAL, "unit %d is not one of this stage's", unit);
	bk = &dp->b[dp->unit_bucket[i]];
	/* the units below come later and lie just before: the bucket grows down */
	if (unit == bk->hi - 1) {
		bk->buf = grads;
		bk->n = n;
	} else if (grads + n == bk->buf) {
		bk->buf = grads;
		bk->n += n;
	} else {
		return dtp_errf_runtime(err, -EINVAL, "unit %d's gradients are not next to unit %d's", unit,
					unit + 1);
	}
	if (unit == bk->lo) {
		if (bk->n > INT_MAX)
			return dtp_errf_runtime(err, -E2BIG,
						"a gradient bucket of %zu floats is over MPI's int count: make [parallel] bucket_size smaller",
						bk->n);
		if (dp->sharded && (bk->buf != dp->grads + bk->off || bk->n != bk->len))
			return dtp_errf_runtime(err, -EINVAL, "units %d..%d's gradients are not where the shard expects them",
						bk->lo, bk->hi - 1);
		if (dp->shm) {
			int r = dtp_dp_shm_reduce(dp, bk, err);

			if (r)
				return r;
		} else if (dp->sharded && !dp->overlap)
			rc = ring_reduce_scatter(dp, bk);
		else if (dp->sharded)
			rc = MPI_Ireduce_scatter(MPI_IN_PLACE, bk->buf, bk->cnt, MPI_FLOAT, MPI_SUM,
						 dp->stage_comm, &dp->reqs[dp->n_req++]);
		else if (!dp->overlap)
			rc = MPI_Allreduce(MPI_IN_PLACE, bk->buf, (int)bk->n, MPI_FLOAT, MPI_SUM,
					   dp->stage_comm);
		else
			rc = MPI_Iallreduce(MPI_IN_PLACE, bk->buf, (int)bk->n, MPI_FLOAT, MPI_SUM,
					    dp->stage_comm, &dp->reqs[dp->n_req++]);
		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "the sum of a gradient bucket over the replicas");
		dp->n_started++;
	} else if (dp->n_req) {
		rc = MPI_Testall(dp->n_req, dp->reqs, &done, MPI_STATUSES_IGNORE);
		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "the gradient sum over the replicas");
	}
	dp->t_call[i] = (double)(dtp_now_ns() - t0) * 1e-9;
	return 0;
}

int dtp_dp_wait(struct dtp_dp *dp, struct dtp_err *err)
{
	uint64_t t0 = dtp_now_ns();
	int rc = dp->n_req ? MPI_Waitall(dp->n_req, dp->reqs, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
	int started = dp->n_started, n = dp->n_units + 1;
	struct dtp_dp_times *t;

	dp->t_call[dp->n_units] = (double)(dtp_now_ns() - t0) * 1e-9;
	dp->n_req = dp->n_started = 0;
	if (rc != MPI_SUCCESS)
		return dtp_dp_mpi_failed(err, rc, "the gradient sum over the replicas");
	if (started != dp->nb)
		return dtp_errf_runtime(err, -EPROTO, "%d of the stage's %d gradient buckets were summed this step",
					started, dp->nb);
	/* an in-place MPI_Ireduce_scatter leaves this replica's part at the
	 * bucket's start: move it to its place */
	for (int i = 0; dp->sharded && dp->overlap && !dp->shm && i < dp->nb; i++) {
		struct dp_bucket *bk = &dp->b[i];
		int me = dp->replica;

		if (bk->disp[me] && bk->cnt[me])
			memmove(bk->buf + bk->disp[me], bk->buf, (size_t)bk->cnt[me] * sizeof(float));
	}
	t = &dp->kept[dp->steps++ % DTP_DP_TIMES_KEPT];
	*t = (struct dtp_dp_times){ .wait_s = dp->t_call[dp->n_units] };
	for (int i = 0; i < n; i++)
		t->mpi_s += dp->t_call[i];
	if (dp->measure) {
		rc = MPI_Allreduce(dp->t_call, dp->t_min, n, MPI_DOUBLE, MPI_MIN, dp->stage_comm);
		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "MPI_Allreduce of the gradient sums' times");
		for (int i = 0; i < n; i++)
			t->own_s += dp->t_min[i];
		t->partner_s = t->mpi_s - t->own_s;
	}
	memset(dp->t_call, 0, (size_t)n * sizeof(*dp->t_call));
	return 0;
}

static double median_of(const struct dtp_dp *dp, size_t field)
{
	double v[DTP_DP_TIMES_KEPT];
	int n = dp->steps < DTP_DP_TIMES_KEPT ? (int)dp->steps : DTP_DP_TIMES_KEPT;

	if (n == 0)
		return 0;
	for (int i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&dp->kept[i] + field, sizeof(double));
	return dtp_median_doubles(v, (size_t)n);
}

void dtp_dp_median_times(const struct dtp_dp *dp, struct dtp_dp_times *out)
{
	out->mpi_s = median_of(dp, offsetof(struct dtp_dp_times, mpi_s));
	out->wait_s = median_of(dp, offsetof(struct dtp_dp_times, wait_s));
	out->own_s = median_of(dp, offsetof(struct dtp_dp_times, own_s));
	out->partner_s = median_of(dp, offsetof(struct dtp_dp_times, partner_s));
	out->gather_s = median_of(dp, offsetof(struct dtp_dp_times, gather_s));
	out->gather_own_s = median_of(dp, offsetof(struct dtp_dp_times, gather_own_s));
}

int dtp_dp_bare_allreduce(struct dtp_dp *dp, float *buf, size_t n, int reps, double *seconds,
			  struct dtp_err *err)
{
	double t[64];
	int rc;

	if (reps < 1 || reps > 64 || n > INT_MAX)
		return dtp_errf_runtime(err, -EINVAL, "bare all-reduce: %d repetitions of %zu floats", reps, n);
	MPI_Barrier(dp->stage_comm);
	for (int i = 0; i < reps; i++) {
		double t0 = MPI_Wtime();

		rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, dp->stage_comm);
		if (rc != MPI_SUCCESS)
			return dtp_dp_mpi_failed(err, rc, "the bare MPI_Allreduce");
		t[i] = MPI_Wtime() - t0;
	}
	dtp_sort_doubles(t, (size_t)reps);
	*seconds = t[reps / 2];
	return 0;
}
