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
#include "model/model.h"

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
/* A second handle on dp's place in the job, for a process that holds several
 * chunks of units of its stage (an interleaved plan: one per chunk): the same
 * rank, replica, stage and stage communicator, with its own gradient buckets,
 * shards and times (dtp_dp_buckets and what follows act on it alone). The
 * chunks' collectives share the communicator, so every replica of the stage
 * must issue them in the same order: the same chunks, in the same order of
 * the same op list, which the replicas of a stage share. Close it (before dp)
 * with dtp_dp_close, which then leaves MPI and the communicator alone. */
int dtp_dp_chunk_open(struct dtp_dp *dp, struct dtp_dp **out, struct dtp_err *err);
/* MPI_Finalize and free (NULL: nothing); a chunk's handle: free it alone */
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

/* The default bucket size for two replicas (PyTorch DDP's 25 MB): on the
 * 2-core test machine fewer, larger sums beat one per unit (docs/benchmarks.md) */
#define DTP_DP_BUCKET_BYTES ((size_t)25 << 20)
/* The bucket size a run uses: the plan's [parallel] bucket_size, or when not
 * given (`given` = 0) DTP_DP_BUCKET_BYTES for two replicas and 0 (one bucket
 * per unit) for more, so that by default R > 2 replicas also give the same
 * bits for any cuts (see below). */
size_t dtp_dp_bucket_bytes(size_t plan_bytes, int given, int replicas);

/* Gradient buckets. The units' gradients are fused into buckets of about
 * `bucket_bytes` (0: one bucket per unit), formed over the whole model from
 * its last unit down (so the boundaries are the same for any cuts; a stage
 * cut inside a bucket ends it there); a bucket is the contiguous stretch of
 * its units' gradients in the stage's arena (no copy), summed in place
 * (MPI_SUM over this stage's replicas) as soon as its lowest unit's last
 * backward is done. overlap = 0: each sum is a blocking MPI_Allreduce there;
 * 1: an MPI_Iallreduce, progressed (MPI_Testall) at each later unit_done and
 * waited for by dtp_dp_wait (Open MPI's libnbc, its ring algorithm unless the
 * user chose one: OMPI_MCA_coll_libnbc_iallreduce_algorithm). For two
 * replicas every bucketing gives the same bits (a + b); for more, each
 * element's order of addition is the library's and may depend on its place in
 * its bucket: fixed run to run, and the same for any K when the cuts fall on
 * bucket boundaries (bucket_bytes = 0, the default for R > 2: any cuts).
 * measure = 1 (benchmarks): dtp_dp_wait also takes the all-reduce calls' own
 * time (below). Units
 * [first, last) of `spec` are this stage's; everything is allocated here, a
 * step allocates nothing. */
int dtp_dp_buckets(struct dtp_dp *dp, const struct dtp_model_spec *spec, int first, int last,
		   size_t bucket_bytes, int overlap, int measure, struct dtp_err *err);
/* this stage's number of buckets */
int dtp_dp_n_buckets(const struct dtp_dp *dp);
/* Unit `unit` (global index) has its whole gradient grads[0..n): units come
 * last to first, each once per step; the bucket it completes starts. */
int dtp_dp_unit_done(struct dtp_dp *dp, int unit, float *grads, size_t n, struct dtp_err *err);
/* After the step's backward: wait for every started sum (MPI_Waitall); the
 * buckets are free again. */
int dtp_dp_wait(struct dtp_dp *dp, struct dtp_err *err);

/* Node-shared sums ([parallel] shm_reduce, default yes). Call after
 * dtp_dp_buckets and before the stage model exists, on every replica of the
 * stage (collective). When all the stage's replicas run on this node
 * (MPI_Comm_split_type shared of its communicator has all R), *params and
 * *grads are `floats` floats each (dtp_stage_model_array_floats) of a
 * mapping shared by the R of them, where the stage model is to be built
 * (dtp_stage_model_create_in): the gradients this replica's own, the
 * parameters too, or with share_params (the sharded step) one array for all
 * R; it lives until dtp_dp_close, after the model. Then each bucket's sum
 * is each replica adding its part of the bucket from every replica's
 * gradients, read in place, in replica order (g_0 + g_1 + ...: the same
 * bits on every replica, and for two replicas the MPI path's a + b), with
 * no MPI call; unsharded it then copies the other parts' sums; sharded each
 * replica updates its part of the shared parameters and
 * dtp_dp_gather_params only waits for the others' (dp_shm.c: the protocol
 * and its waits). Blocking (overlap has no effect there). Otherwise
 * (replicas on several nodes, or no shared memory to be had: a warning)
 * both NULL and the MPI path stays. */
int dtp_dp_node_arrays(struct dtp_dp *dp, size_t floats, int share_params, float **params,
		       float **grads, struct dtp_err *err);
/* After the stage model is built in them, on every replica: with shared
 * parameters, wait until every replica's model is (each initialised them,
 * the same values), so that none writes them again under a peer's
 * checkpoint load or forward; else nothing. */
int dtp_dp_node_arrays_ready(struct dtp_dp *dp, struct dtp_err *err);
/* 1 when dtp_dp_node_arrays gave arrays: the node-shared path runs */
int dtp_dp_node_shared(const struct dtp_dp *dp);
/* Before a step writes the stage's gradients (its start, before zeroing
 * them): on the node-shared path, wait until no replica still reads this
 * one's gradients of the step before; else nothing. */
int dtp_dp_grads_free(struct dtp_dp *dp, struct dtp_err *err);

/* Sharded optimizer step (ZeRO-1, [parallel] shard_optimizer): call after
 * dtp_dp_buckets. Each bucket is then reduce-scattered instead of
 * all-reduced (blocking: dtpipe's ring of MPI_Sendrecv, each replica adding
 * the incoming part to its own in a fixed order, faster here than Open MPI's
 * in-place MPI_Reduce_scatter; with overlap, MPI_Ireduce_scatter): the
 * bucket is cut into R parts, one per replica in replica order, each part's
 * ends on gradient-block boundaries (model.h's DTP_GRAD_BLOCK floats from a
 * unit's first) as near the even split as they fall, and after dtp_dp_wait
 * this replica's part holds the summed gradients, in place (the rest of the
 * bucket is garbage). The parts depend on the bucket's units only, so with
 * buckets that do not depend on the cuts (one per unit) neither do they.
 * params and grads are the stage's arrays (units packed in order from 0). */
int dtp_dp_shard(struct dtp_dp *dp, float *params, float *grads, struct dtp_err *err);
/* 1 when dtp_dp_shard was called */
int dtp_dp_sharded(const struct dtp_dp *dp);
/* this replica's parts, sorted by offset: their number, *spans points at them */
int dtp_dp_shard_spans(const struct dtp_dp *dp, const struct dtp_param_span **spans);
/* After the sharded optimizer step: every replica's updated part of each
 * bucket's parameters to every replica (MPI_Allgatherv in place, bucket by
 * bucket; node-shared, a wait for the others' updates of the one array);
 * its time goes into the step's dtp_dp_times. */
int dtp_dp_gather_params(struct dtp_dp *dp, struct dtp_err *err);
/* The same for the `n_arrays` optimizer-state arrays at state, state +
 * n_params, ... (laid out like the parameters): before a checkpoint, which
 * replica 0 writes whole. Every replica of the stage must call it. */
int dtp_dp_gather_state(struct dtp_dp *dp, float *state, size_t n_params, int n_arrays,
			struct dtp_err *err);

/* What a step's sums cost this rank, in seconds: in MPI calls (unit_done
 * and wait), of it after the backward (wait), and, with measure, the calls'
 * own time: call by call the shortest any replica spent in it (the replica
 * that came last waits for nobody), and partner = mpi - own, this rank's wait
 * for slower replicas (imbalance, not reduction); both 0 without measure.
 * Sharded: gather_s is the parameters' all-gather (in mpi_s too), and
 * gather_own_s its own time (in own_s too). */
struct dtp_dp_times {
	double mpi_s, wait_s, own_s, partner_s, gather_s, gather_own_s;
};
/* the newest DTP_DP_TIMES_KEPT steps' */
#define DTP_DP_TIMES_KEPT 64
/* each figure's median over the steps kept (0 before the first step) */
void dtp_dp_median_times(const struct dtp_dp *dp, struct dtp_dp_times *out);

/* Yardstick for benchmarks: the median time (seconds) of `reps` blocking
 * MPI_Allreduce calls summing buf[0..n) over this stage's replicas. */
int dtp_dp_bare_allreduce(struct dtp_dp *dp, float *buf, size_t n, int reps, double *seconds,
			  struct dtp_err *err);
/* The same for the sharded path's collectives of the same bytes: the median
 * of `reps` MPI_Reduce_scatter calls over buf[0..n) cut evenly into R parts
 * (*rs_seconds) and of as many in-place MPI_Allgather calls (*ag_seconds). */
int dtp_dp_bare_rs_ag(struct dtp_dp *dp, float *buf, size_t n, int reps, double *rs_seconds,
		      double *ag_seconds, struct dtp_err *err);

#endif
