/* Data-parallel replicas on one node: the node-shared gradient sum.
 *
 * When all R replicas of a stage run on one node ([parallel] shm_reduce,
 * default yes), their stage models keep the parameters and gradients in one
 * shared mapping, a slot per replica (dtp_dp_node_arrays), and the
 * collectives become loads from the peers' slots: no MPI call, no copy to a
 * transport's buffer. For each bucket, cut into R parts as the MPI path cuts
 * it (dtp_dp_cut_parts):
 *   - reduce-scatter: replica r sums part r of every replica's gradients in
 *     replica order (g_0 + g_1 + ... + g_{R-1}, the same bits whoever sums;
 *     for two replicas the MPI ring's a + b) into its own gradients;
 *   - sharded, the replicas share one parameter array (slot 0's): each
 *     updates its part in place in the optimizer step, and the all-gather
 *     is only a wait for the others' updates (no copy);
 *   - unsharded: each replica copies the other summed parts of the gradients.
 *
 * Synchronisation is counters in each slot's first page that only their
 * replica raises (release), and that the others wait on (acquire): ready
 * (buckets whose gradients are complete), summed (parts summed), copied
 * (unsharded: others' parts copied) and updated (sharded: parameter parts
 * updated). Every replica runs the same sequence of buckets and steps, so
 * "peer's count >= mine" means "the peer got here too". Start-up: every
 * replica's model initialises the shared parameters (the same values), and
 * dtp_dp_node_arrays_ready (a barrier) keeps any replica from loading a
 * checkpoint into them, or reading them, before the last has. The hazards
 * between steps:
 *   - a replica's next step writes its gradients (zeroing them at the step's
 *     start) while a slower peer may still read them: dtp_dp_grads_free
 *     waits, at the start of the step, until every peer's summed (sharded)
 *     or copied (unsharded) count has caught up with this one's;
 *   - sharded, a replica updates its part of the shared parameters in the
 *     next step's optimizer while a slower peer may still read them (its
 *     forward and backward): no wait is needed, since that update comes
 *     after the next step's reduce-scatter of every bucket, which waits for
 *     every peer's gradients of every unit of the next step, and a unit
 *     reports its gradients after its input gradient too (model.h,
 *     dtp_stage_backward_each), so the peer reads the parameters no more in
 *     that step; its next forward waits for the update (the all-gather's
 *     wait). A skipped step updates nothing;
 *   - within a step the writes are disjoint: a replica writes only its own
 *     part of its gradients (the sum), its own part of the shared
 *     parameters (sharded) or the others' parts of its own gradients (the
 *     unsharded copies); peers read only the other parts.
 * A replica that fails raises `gone` in its slot (dtp_dp_abort, close), and
 * a peer waiting on it returns an error instead of waiting for ever; a
 * killed rank ends the job through the launcher as on the MPI path. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "base/sync.h"
#include "rdma/dp_mpi.h"

#define DP_SHM_HEAD 4096u       /* a slot's counters, before its arrays */
#define DP_SHM_PAGE 4096u
#define DP_SHM_PAUSE_NS 20000u  /* a wait spins with pause, then with sched_yield */
#define DP_SHM_CHUNK 1024       /* floats summed per pass through a stack buffer */
#define DP_SHM_NAME 64

/* a slot's first page: what its replica has done, counted */
struct dp_flags {
	_Alignas(64) atomic_uint_least64_t ready;    /* buckets with complete gradients */
	_Alignas(64) atomic_uint_least64_t summed;   /* buckets whose own part it summed */
	_Alignas(64) atomic_uint_least64_t copied;   /* unsharded: others' parts copied */
	_Alignas(64) atomic_uint_least64_t updated;  /* sharded: parameter parts updated */
	_Alignas(64) atomic_int gone;                /* failed or closed: wait no more */
};
_Static_assert(sizeof(struct dp_flags) <= DP_SHM_HEAD, "the counters fit a slot's head");

struct dp_shm {
	char *map;
	size_t map_bytes, stride;
	int shared_params;                         /* one parameter array: slot 0's */
	uint64_t ready, summed, copied, updated;   /* this replica's counts */
	float **arr;                               /* [R]: each replica's arrays */
	const float **src;                         /* [R]: a part's addends (reduce) */
};

static struct dp_flags *flags_of(const struct dp_shm *sh, int r)
{
	return (struct dp_flags *)(void *)(sh->map + (size_t)r * sh->stride);
}

int dtp_dp_shm_open(struct dtp_dp *dp, size_t floats, int share_params, float **params,
		    float **grads, struct dtp_err *err)
{
	int R = dp->replicas, me = dp->replica, n = 0, ok = 1, fd = -1, rc;
	char name[DP_SHM_NAME] = "";
	struct dp_shm *sh;
	MPI_Comm node;
	void *map = MAP_FAILED;
	size_t stride = dtp_align_up(DP_SHM_HEAD + 2 * floats * sizeof(float), DP_SHM_PAGE);

	*params = *grads = NULL;
	rc = MPI_Comm_split_type(dp->stage_comm, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &node);
	if (rc != MPI_SUCCESS)
		return dtp_dp_mpi_failed(err, rc, "MPI_Comm_split_type (the stage's replicas on this node)");
	MPI_Comm_size(node, &n);
	MPI_Comm_free(&node);
	if (n != R)   /* not all on this node: the MPI path */
		return 0;
	/* replica 0 makes the mapping's file and names it to the others, who
	 * open it; it is unlinked once every replica has it mapped */
	if (me == 0) {
		snprintf(name, sizeof(name), "/dtpipe-dp-%ld-%d-%llx", (long)getpid(), dp->stage,
			 (unsigned long long)dtp_now_ns());
		fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
		/* reserve the pages now: a full /dev/shm fails here, not as a
		 * SIGBUS in the backward */
		if (fd >= 0 && posix_fallocate(fd, 0, (off_t)(stride * (size_t)R))) {
			close(fd);
			shm_unlink(name);
			fd = -1;
		}
		if (fd < 0)
			name[0] = '\0';
	}
	rc = MPI_Bcast(name, DP_SHM_NAME, MPI_CHAR, 0, dp->stage_comm);
	if (rc != MPI_SUCCESS)
		return dtp_dp_mpi_failed(err, rc, "MPI_Bcast of the replicas' shared mapping");
	if (me != 0 && name[0])
		fd = shm_open(name, O_RDWR, 0);
	if (fd >= 0) {
		map = mmap(NULL, stride * (size_t)R, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	ok = map != MAP_FAILED;
	rc = MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, dp->stage_comm);
	if (me == 0 && name[0])
		shm_unlink(name);
	if (rc != MPI_SUCCESS) {
		if (map != MAP_FAILED)
			munmap(map, stride * (size_t)R);
		return dtp_dp_mpi_failed(err, rc, "MPI_Allreduce of the shared mapping's state");
	}
	if (!ok) {
		if (map != MAP_FAILED)
			munmap(map, stride * (size_t)R);
		if (me == 0)
			fprintf(stderr, "dtpipe: stage %d: no shared mapping of %zu bytes for its %d replicas on this node (is /dev/shm full?): their gradients are summed over MPI\n",
				dp->stage, stride * (size_t)R, R);
		return 0;
	}
	sh = calloc(1, sizeof(*sh));
	if (sh) {
		sh->arr = calloc((size_t)R, sizeof(*sh->arr));
		sh->src = calloc((size_t)R, sizeof(*sh->src));
	}
	if (!sh || !sh->arr || !sh->src) {
		if (sh) {
			free(sh->arr);
			free(sh->src);
		}
		free(sh);
		munmap(map, stride * (size_t)R);
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	}
	sh->map = map;
	sh->map_bytes = stride * (size_t)R;
	sh->stride = stride;
	for (int r = 0; r < R; r++)
		sh->arr[r] = (float *)(void *)(sh->map + (size_t)r * stride + DP_SHM_HEAD);
	sh->shared_params = share_params;
	dp->shm = sh;
	*params = share_params ? sh->arr[0] : sh->arr[me];
	*grads = sh->arr[me] + floats;
	return 0;
}

void dtp_dp_shm_abort(struct dtp_dp *dp)
{
	if (dp->shm)
		atomic_store_explicit(&flags_of(dp->shm, dp->replica)->gone, 1, memory_order_release);
}

void dtp_dp_shm_close(struct dtp_dp *dp)
{
	struct dp_shm *sh = dp->shm;

	if (!sh)
		return;
	/* whatever a peer may still wait for was raised before: `gone` only
	 * frees one that waits on a count this replica never reached */
	dtp_dp_shm_abort(dp);
	munmap(sh->map, sh->map_bytes);
	free(sh->arr);
	free(sh->src);
	free(sh);
	dp->shm = NULL;
}

/* wait until every peer's count at `field` is at least `want` */
static int wait_peers(struct dtp_dp *dp, size_t field, uint64_t want, const char *what,
		      struct dtp_err *err)
{
	struct dp_shm *sh = dp->shm;

	for (int q = 0; q < dp->replicas; q++) {
		struct dp_flags *f = flags_of(sh, q);
		atomic_uint_least64_t *c = (atomic_uint_least64_t *)(void *)((char *)f + field);
		uint64_t t0 = 0;

		if (q == dp->replica)
			continue;
		while (atomic_load_explicit(c, memory_order_acquire) < want) {
			if (atomic_load_explicit(&f->gone, memory_order_acquire) &&
			    atomic_load_explicit(c, memory_order_acquire) < want)
				return dtp_errf_runtime(err, -EPIPE,
							"replica %d of stage %d stopped while this one waited for its %s (see its own message)",
							q, dp->stage, what);
			if (!t0)
				t0 = dtp_now_ns();
			else if (dtp_now_ns() - t0 < DP_SHM_PAUSE_NS)
				dtp_cpu_pause();
			else   /* on a busy machine the peer may need this core */
				sched_yield();
		}
	}
	return 0;
}

static void raise_count(struct dtp_dp *dp, size_t field, uint64_t v)
{
	char *f = (char *)flags_of(dp->shm, dp->replica);

	atomic_store_explicit((atomic_uint_least64_t *)(void *)(f + field), v, memory_order_release);
}

/* dst[0..n) = src[0][..] + src[1][..] + ... + src[R-1][..], left to right;
 * dst may be one of the src (element by element: each is read before it is
 * written), so the sums go through a buffer on the stack, a whole chunk at
 * a time (the compiler vectorises the fixed-length loops) */
static void sum_parts(float *dst, const float **src, int R, size_t n)
{
	float tmp[DP_SHM_CHUNK];
	size_t at = 0;

	for (; at + DP_SHM_CHUNK <= n; at += DP_SHM_CHUNK) {
		for (int k = 0; k < DP_SHM_CHUNK; k++)
			tmp[k] = src[0][at + k] + src[1][at + k];
		for (int r = 2; r < R; r++)
			for (int k = 0; k < DP_SHM_CHUNK; k++)
				tmp[k] += src[r][at + k];
		memcpy(dst + at, tmp, sizeof(tmp));
	}
	for (; at < n; at++) {
		float s = src[0][at] + src[1][at];

		for (int r = 2; r < R; r++)
			s += src[r][at];
		dst[at] = s;
	}
}

int dtp_dp_shm_reduce(struct dtp_dp *dp, struct dp_bucket *bk, struct dtp_err *err)
{
	struct dp_shm *sh = dp->shm;
	int R = dp->replicas, me = dp->replica, r;
	size_t off = (size_t)(bk->buf - sh->arr[me]);   /* the bucket in every slot */

	raise_count(dp, offsetof(struct dp_flags, ready), ++sh->ready);
	r = wait_peers(dp, offsetof(struct dp_flags, ready), sh->ready, "gradients", err);
	if (r)
		return r;
	for (int q = 0; q < R; q++)
		sh->src[q] = sh->arr[q] + off + bk->disp[me];
	sum_parts(bk->buf + bk->disp[me], sh->src, R, (size_t)bk->cnt[me]);
	raise_count(dp, offsetof(struct dp_flags, summed), ++sh->summed);
	if (dp->sharded)
		return 0;
	r = wait_peers(dp, offsetof(struct dp_flags, summed), sh->summed, "gradient sum", err);
	if (r)
		return r;
	for (int q = 0; q < R; q++)
		if (q != me)
			memcpy(bk->buf + bk->disp[q], sh->arr[q] + off + bk->disp[q],
			       (size_t)bk->cnt[q] * sizeof(float));
	raise_count(dp, offsetof(struct dp_flags, copied), ++sh->copied);
	return 0;
}

int dtp_dp_shm_gather(struct dtp_dp *dp, struct dtp_err *err)
{
	struct dp_shm *sh = dp->shm;
	int me = dp->replica, r;
	size_t poff = (size_t)(dp->params - sh->arr[me]);

	raise_count(dp, offsetof(struct dp_flags, updated), ++sh->updated);
	r = wait_peers(dp, offsetof(struct dp_flags, updated), sh->updated, "updated parameters",
		       err);
	if (r || sh->shared_params)   /* one array: the peers updated it in place */
		return r;
	for (int i = 0; i < dp->nb; i++) {
		const struct dp_bucket *bk = &dp->b[i];

		for (int q = 0; q < dp->replicas; q++)
			if (q != me)
				memcpy(dp->params + bk->off + bk->disp[q],
				       sh->arr[q] + poff + bk->off + bk->disp[q],
				       (size_t)bk->cnt[q] * sizeof(float));
	}
	return 0;
}

int dtp_dp_shm_ready(struct dtp_dp *dp, struct dtp_err *err)
{
	int rc;

	if (!dp->shm || !dp->shm->shared_params)
		return 0;
	rc = MPI_Barrier(dp->stage_comm);
	return rc == MPI_SUCCESS ? 0 : dtp_dp_mpi_failed(err, rc, "MPI_Barrier of the stage's replicas");
}

int dtp_dp_shm_grads_free(struct dtp_dp *dp, struct dtp_err *err)
{
	struct dp_shm *sh = dp->shm;

	if (dp->sharded)
		return wait_peers(dp, offsetof(struct dp_flags, summed), sh->summed,
				  "sum of this replica's gradients", err);
	return wait_peers(dp, offsetof(struct dp_flags, copied), sh->copied,
			  "copy of this replica's gradient sums", err);
}
