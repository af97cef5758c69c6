/* Internal to the data-parallel module on MPI (dp_mpi.c: handles, buckets,
 * the MPI collectives; dp_shm.c: the node-shared path, the stage's replicas
 * on one node summing from each other's memory). */
#ifndef DTP_RDMA_DP_MPI_H
#define DTP_RDMA_DP_MPI_H

#include <mpi.h>
#include <stddef.h>

#include "base/base.h"
#include "model/model.h"
#include "rdma/dp.h"

struct dp_shm;

struct dtp_dp {
	int rank, size, replica, replicas, stage, stages;
	int local_rank, local_size;  /* among the ranks on this node */
	int own_init;              /* this call initialised MPI (and finalises it) */
	int own_comm;              /* stage_comm is this handle's (0: a chunk's handle) */
	MPI_Comm stage_comm;       /* the R copies of this stage, ordered by replica */
	/* gradient buckets (dtp_dp_buckets) */
	struct dp_bucket *b;       /* this stage's, last first */
	int nb;
	int first, n_units;        /* this stage's units */
	int *unit_bucket;          /* [n_units]: the bucket each unit is in */
	MPI_Request *reqs;         /* sums in flight (overlap) */
	int n_req, n_started;
	int overlap, measure;
	double *t_call, *t_min;    /* [n_units + 1]: this step's time in each call, wait last */
	size_t *unit_off;          /* [n_units + 1]: each unit's first float in the stage */
	/* sharded (dtp_dp_shard): the stage's arrays and this replica's parts */
	int sharded;
	float *params, *grads;
	int *counts;               /* [nb x 2R]: each bucket's part sizes, then offsets */
	struct dtp_param_span *spans;
	int n_spans;
	float *ring_buf;           /* [largest part]: a part coming in (ring_reduce_scatter) */
	/* node-shared (dp_shm.c): every replica's slot of one shared mapping */
	struct dp_shm *shm;        /* NULL: the MPI path */
	struct dtp_dp_times kept[DTP_DP_TIMES_KEPT];   /* the newest steps', a ring */
	long steps;
};

/* one bucket: units [lo, hi) of this stage, their gradients (filled as the
 * units report, from hi - 1 down) at buf[0..n); floats [off, off + len) of
 * the stage's arrays; sharded: part r is cnt[r] floats at disp[r] */
struct dp_bucket {
	int lo, hi;
	float *buf;
	size_t n, off, len;
	int *cnt, *disp;
};

/* a failed MPI call's message for people (-EIO) */
int dtp_dp_mpi_failed(struct dtp_err *err, int rc, const char *what);
/* each bucket's parts (cnt, disp: one per replica on gradient-block
 * boundaries) and the biggest part's floats (dp_mpi.c) */
int dtp_dp_cut_parts(struct dtp_dp *dp, size_t *biggest, struct dtp_err *err);

/* dp_shm.c. Map the stage's node-shared slots when all its replicas are on
 * this node: *arrays = this replica's `floats` (NULL: not co-located, the
 * MPI path stays). Collective over the stage's replicas. */
int dtp_dp_shm_open(struct dtp_dp *dp, size_t floats, int share_params, float **params,
		    float **grads, struct dtp_err *err);
/* shared parameters: a barrier once every replica built its model in them */
int dtp_dp_shm_ready(struct dtp_dp *dp, struct dtp_err *err);
void dtp_dp_shm_close(struct dtp_dp *dp);
/* bucket bk's gradients are complete here: sum this replica's part from
 * every replica's gradients (replica order), and unsharded copy the others'
 * summed parts */
int dtp_dp_shm_reduce(struct dtp_dp *dp, struct dp_bucket *bk, struct dtp_err *err);
/* sharded: every other replica's updated part of the parameters (shared
 * parameters: only the wait for the updates) */
int dtp_dp_shm_gather(struct dtp_dp *dp, struct dtp_err *err);
/* wait until no replica reads this one's gradients of the last step */
int dtp_dp_shm_grads_free(struct dtp_dp *dp, struct dtp_err *err);
/* tell the peers waiting on this replica to give up (before MPI_Abort) */
void dtp_dp_shm_abort(struct dtp_dp *dp);

#endif
