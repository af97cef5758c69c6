/* Data-parallel replicas on MPI (standard API only: Open MPI and MPICH).
 *
 * World rank w runs stage w % K of replica w / K. MPI_Comm_split by stage
 * (key = replica) gives each stage the communicator its gradients are summed
 * over. Sums are in place, MPI_SUM on floats; with a fixed communicator size
 * and a fixed bucket list (one bucket per model unit, whatever the cuts) the
 * library runs the same algorithm on the same sizes every step and every
 * run, so the result is the same bit for bit from run to run and for any K.
 * Only the thread that called dtp_dp_open makes MPI calls (funneled). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/dp.h"

struct dtp_dp {
	int rank, size, replica, replicas, stage, stages;
	int local_rank, local_size;  /* among the ranks on this node */
	int own_init;              /* this call initialised MPI (and finalises it) */
	MPI_Comm stage_comm;       /* the R copies of this stage, ordered by replica */
	MPI_Request *reqs;         /* bucket sums in flight */
	int max, n;
	int overlap;               /* nonblocking bucket sums (dtp_dp_buckets) */
};

int dtp_dp_built(void)
{
	return 1;
}

static int mpi_failed(struct dtp_err *err, int rc, const char *what)
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
		mpi_failed(err, rc, "MPI_Comm_split (the stage communicators)");
		dtp_dp_close(dp);
		return -EIO;
	}
	MPI_Comm_set_errhandler(dp->stage_comm, MPI_ERRORS_RETURN);
	rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dp->rank, MPI_INFO_NULL,
				 &node);
	if (rc != MPI_SUCCESS) {
		mpi_failed(err, rc, "MPI_Comm_split_type (the ranks of this node)");
		dtp_dp_close(dp);
		return -EIO;
	}
	MPI_Comm_rank(node, &dp->local_rank);
	MPI_Comm_size(node, &dp->local_size);
	MPI_Comm_free(&node);
	*out = dp;
	return 0;
}

void dtp_dp_close(struct dtp_dp *dp)
{
	if (!dp)
		return;
	if (dp->stage_comm != MPI_COMM_NULL)
		MPI_Comm_free(&dp->stage_comm);
	free(dp->reqs);
	if (dp->own_init)
		MPI_Finalize();
	free(dp);
}

void dtp_dp_abort(struct dtp_dp *dp, int status)
{
	(void)dp;
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

	return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "MPI_Barrier over every rank");
}

int dtp_dp_bcast_u64(struct dtp_dp *dp, uint64_t *v, struct dtp_err *err)
{
	int rc = MPI_Bcast(v, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);

	return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "MPI_Bcast from rank 0");
}

int dtp_dp_sum_doubles(struct dtp_dp *dp, double *v, int n, struct dtp_err *err)
{
	int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, dp->stage_comm);

	return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "MPI_Allreduce over the replicas");
}

int dtp_dp_buckets(struct dtp_dp *dp, int max, int overlap, struct dtp_err *err)
{
	MPI_Request *r = realloc(dp->reqs, (size_t)(max > 0 ? max : 1) * sizeof(*r));

	if (!r)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory for %d gradient buckets", max);
	dp->reqs = r;
	dp->max = max;
	dp->n = 0;
	dp->overlap = overlap;
	return 0;
}

int dtp_dp_bucket_start(struct dtp_dp *dp, float *buf, size_t n, struct dtp_err *err)
{
	int rc;

	if (dp->n == dp->max)
		return dtp_errf_runtime(err, -ENOSPC, "more than %d gradient buckets in one step", dp->max);
	if (n > INT_MAX)
		return dtp_errf_runtime(err, -E2BIG, "a gradient bucket of %zu floats is over MPI's int count", n);
	if (!dp->overlap) {
		rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, dp->stage_comm);
		if (rc != MPI_SUCCESS)
			return mpi_failed(err, rc, "MPI_Allreduce of a gradient bucket");
		return 0;
	}
	rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, dp->stage_comm,
			    &dp->reqs[dp->n]);
	if (rc != MPI_SUCCESS)
		return mpi_failed(err, rc, "MPI_Iallreduce of a gradient bucket");
	dp->n++;
	return 0;
}

int dtp_dp_progress(struct dtp_dp *dp, struct dtp_err *err)
{
	int done = 0, rc;

	if (dp->n == 0)
		return 0;
	rc = MPI_Testall(dp->n, dp->reqs, &done, MPI_STATUSES_IGNORE);
	return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "the gradient sum over the replicas");
}

int dtp_dp_wait(struct dtp_dp *dp, struct dtp_err *err)
{
	int rc = dp->n ? MPI_Waitall(dp->n, dp->reqs, MPI_STATUSES_IGNORE) : MPI_SUCCESS;

	dp->n = 0;
	return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "the gradient sum over the replicas");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
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
			return mpi_failed(err, rc, "the bare MPI_Allreduce");
		t[i] = MPI_Wtime() - t0;
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	*seconds = t[reps / 2];
	return 0;
}
