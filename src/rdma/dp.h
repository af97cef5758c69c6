/* Data-parallel replicas over MPI: R copies of a K-stage pipeline, R x K
 * processes started by mpirun or srun --mpi=pmix. World rank = replica x K +
 * stage (the K stages of a replica are neighbours in rank order, so block
 * placement keeps a replica's pipeline links inside nodes); each stage's R
 * copies form one communicator (MPI_Comm_split by stage) over which its
 * gradients are summed. The pipeline links between the stages of a replica
 * stay dtpipe's own (transport.h). Built without MPI (configure
 * --without-mpi), dtp_dp_open fails with a message saying so. */
#ifndef DTP_RDMA_DP_H
#define DTP_RDMA_DP_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct dtp_dp;   /* this process's place in the R x K job (opaque) */

/* 1 when this build has MPI */
int dtp_dp_built(void);

/* 1 when an MPI launcher started this process: OMPI_COMM_WORLD_SIZE (Open
 * MPI's mpirun), PMIX_RANK (srun --mpi=pmix, prrte) or PMI_RANK / PMI_SIZE
 * (MPICH's hydra); SLURM_PROCID alone (srun without --mpi) is not. */
int dtp_dp_launched(void);

/* MPI_Init (funneled threads) and the stage communicators. The world must
 * have exactly replicas x stages ranks (-EINVAL naming both counts and how
 * to launch). Without MPI: -ENOTSUP with the configure hint. */
int dtp_dp_open(int replicas, int stages, struct dtp_dp **out, struct dtp_err *err);
/* MPI_Finalize and free (NULL: nothing) */
void dtp_dp_close(struct dtp_dp *dp);
/* End every rank of the job now with `status` (MPI_Abort): a rank that
 * failed calls it so that none waits on it in a collective. */
void dtp_dp_abort(struct dtp_dp *dp, int status);

int dtp_dp_world_rank(const struct dtp_dp *dp);
int dtp_dp_replica(const struct dtp_dp *dp);
int dtp_dp_replicas(const struct dtp_dp *dp);
int dtp_dp_stage(const struct dtp_dp *dp);
/* This rank's index among the ranks on its node, and their number
 * (MPI_Comm_split_type shared): the share of the node's cores it takes. */
void dtp_dp_node(const struct dtp_dp *dp, int *local_rank, int *local_size);

/* Wait until every rank of the world is here (MPI_Barrier). */
int dtp_dp_barrier(struct dtp_dp *dp, struct dtp_err *err);
/* World rank 0's value of *v on every rank (MPI_Bcast over the world). */
int dtp_dp_bcast_u64(struct dtp_dp *dp, uint64_t *v, struct dtp_err *err);
/* Sum n doubles over this stage's replicas, in place, the same on every one. */
int dtp_dp_sum_doubles(struct dtp_dp *dp, double *v, int n, struct dtp_err *err);

/* Gradient buckets: up to `max` in-place sums (MPI_SUM over this stage's
 * replicas) per step; the room is allocated once (dtp_dp_buckets), a step
 * allocates nothing. overlap = 0: each sum is a blocking MPI_Allreduce, done
 * when dtp_dp_bucket_start returns; 1: an MPI_Iallreduce in flight until
 * dtp_dp_wait (Open MPI's libnbc, its ring algorithm unless the user chose
 * one: OMPI_MCA_coll_libnbc_iallreduce_algorithm). For two replicas both give
 * the same bits (a + b); for more, each is deterministic on its own. */
int dtp_dp_buckets(struct dtp_dp *dp, int max, int overlap, struct dtp_err *err);
/* Start (overlap) or do the sum of buf[0..n) over this stage's replicas. */
int dtp_dp_bucket_start(struct dtp_dp *dp, float *buf, size_t n, struct dtp_err *err);
/* Let the started sums progress (MPI_Testall); call between computations. */
int dtp_dp_progress(struct dtp_dp *dp, struct dtp_err *err);
/* Wait for every started sum (MPI_Waitall); the buckets are free again. */
int dtp_dp_wait(struct dtp_dp *dp, struct dtp_err *err);

/* Yardstick for benchmarks: the median time (seconds) of `reps` blocking
 * MPI_Allreduce calls summing buf[0..n) over this stage's replicas. */
int dtp_dp_bare_allreduce(struct dtp_dp *dp, float *buf, size_t n, int reps, double *seconds,
			  struct dtp_err *err);

#endif
