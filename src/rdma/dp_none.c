/* Data-parallel replicas in a build without MPI (configure --without-mpi, or
 * no MPI found): a plan with replicas > 1 is refused with the way to get
 * one; nothing else here is ever reached (dtp_dp_open never succeeds). */
#include "config.h"

#include <errno.h>

#include "rdma/dp.h"

int dtp_dp_built(void)
{
	return 0;
}

int dtp_dp_open(int replicas, int stages, struct dtp_dp **out, struct dtp_err *err)
{
	*out = NULL;
	return dtp_errf_input(err, -ENOTSUP,
			      "[parallel] replicas = %d needs MPI, and this dtpipe was built without it: install libopenmpi-dev and openmpi-bin (or MPICH) and configure again (--with-mpi), or set replicas = 1",
			      replicas);
}

int dtp_dp_chunk_open(struct dtp_dp *dp, struct dtp_dp **out, struct dtp_err *err)
{
	(void)dp;
	*out = NULL;
	return dtp_errf_runtime(err, -ENOTSUP, "built without MPI");
}
void dtp_dp_close(struct dtp_dp *dp) { (void)dp; }
void dtp_dp_abort(struct dtp_dp *dp, int status) { (void)dp; (void)status; }
int dtp_dp_world_rank(const struct dtp_dp *dp) { (void)dp; return 0; }
int dtp_dp_replica(const struct dtp_dp *dp) { (void)dp; return 0; }
int dtp_dp_replicas(const struct dtp_dp *dp) { (void)dp; return 1; }
int dtp_dp_stage(const struct dtp_dp *dp) { (void)dp; return 0; }
void dtp_dp_node(const struct dtp_dp *dp, int *local_rank, int *local_size)
{
	(void)dp;
	*local_rank = 0;
	*local_size = 1;
}

static int none(struct dtp_err *err)
{
	return dtp_errf_runtime(err, -ENOTSUP, "built without MPI");
}

int dtp_dp_barrier(struct dtp_dp *dp, struct dtp_err *err) { return none(err); }
int dtp_dp_bcast_u64(struct dtp_dp *dp, uint64_t *v, struct dtp_err *err) { return none(err); }
int dtp_dp_sum_doubles(struct dtp_dp *dp, double *v, int n, struct dtp_err *err) { return none(err); }
int dtp_dp_buckets(struct dtp_dp *dp, const struct dtp_model_spec *spec, int first, int last,
		   size_t bucket_bytes, int overlap, int measure, struct dtp_err *err) { return none(err); }
int dtp_dp_n_buckets(const struct dtp_dp *dp) { (void)dp; return 0; }
int dtp_dp_unit_done(struct dtp_dp *dp, int unit, float *grads, size_t n, struct dtp_err *err) { return none(err); }
int dtp_dp_wait(struct dtp_dp *dp, struct dtp_err *err) { return none(err); }
void dtp_dp_median_times(const struct dtp_dp *dp, struct dtp_dp_times *out)
{
	(void)dp;
	*out = (struct dtp_dp_times){ 0 };
}
int dtp_dp_bare_allreduce(struct dtp_dp *dp, float *buf, size_t n, int reps, double *seconds,
			  struct dtp_err *err) { return none(err); }
int dtp_dp_shard(struct dtp_dp *dp, float *params, float *grads, struct dtp_err *err) { return none(err); }
int dtp_dp_sharded(const struct dtp_dp *dp) { (void)dp; return 0; }
int dtp_dp_node_arrays(struct dtp_dp *dp, size_t floats, int share_params, float **params,
		       float **grads, struct dtp_err *err)
{
	(void)floats;
	(void)share_params;
	*params = *grads = NULL;
	return none(err);
}
int dtp_dp_node_arrays_ready(struct dtp_dp *dp, struct dtp_err *err) { return none(err); }
int dtp_dp_node_shared(const struct dtp_dp *dp) { (void)dp; return 0; }
int dtp_dp_grads_free(struct dtp_dp *dp, struct dtp_err *err) { return none(err); }
int dtp_dp_shard_spans(const struct dtp_dp *dp, const struct dtp_param_span **spans)
{
	(void)dp;
	*spans = NULL;
	return 0;
}
int dtp_dp_gather_params(struct dtp_dp *dp, struct dtp_err *err) { return none(err); }
int dtp_dp_gather_state(struct dtp_dp *dp, float *state, size_t n_params, int n_arrays,
			struct dtp_err *err) { return none(err); }
int dtp_dp_bare_rs_ag(struct dtp_dp *dp, float *buf, size_t n, int reps, double *rs_seconds,
		      double *ag_seconds, struct dtp_err *err) { return none(err); }
