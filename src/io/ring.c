/* The io_uring read ring (see ring.h). liburing 2.3 calls only:
 * io_uring_queue_init, io_uring_register_buffers, io_uring_get_sqe,
 * io_uring_prep_read(_fixed), io_uring_submit, io_uring_wait_cqe,
 * io_uring_cqe_seen. */
#include "config.h"
#include "io/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

enum { DTP_RB_FREE, DTP_RB_INFLIGHT, DTP_RB_READY };

static uint64_t align_down(uint64_t x)
{
	return x & ~(uint64_t)(DTP_IO_ALIGN - 1);
}

void *dtp_io_alloc(size_t bytes)
{
	size_t len = dtp_align_up(bytes ? bytes : 1, DTP_IO_ALIGN);
	void *p = dtp_map_huge(len);

	if (p)
		memset(p, 0, len);   /* fault it in now, not on the read path */
	return p;
}

void dtp_io_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, dtp_align_up(bytes ? bytes : 1, DTP_IO_ALIGN));
}

static void close_fds(struct dtp_ring *r)
{
	int i;

	for (i = 0; i < r->ds->num_shards; i++) {
		if (r->fds[i] >= 0)
			close(r->fds[i]);
		r->fds[i] = -1;
	}
}

static int open_shard(struct dtp_ring *r, int shard, struct dtp_err *err)
{
	const char *path = r->ds->shards[shard].path;
	int fd = -1;

	if (r->fds[shard] >= 0)
		return 0;
	if (r->ds->shards[shard].indexed && !r->checked[shard]) {
		/* the dataset came from the index: the header was not read at
		 * open, so it is checked here, before any of the shard's data */
		int rc = dtp_shard_verify(&r->ds->shards[shard], err);

		if (rc)
			return rc;
		r->checked[shard] = 1;
		r->headers_checked++;
	}
	if (r->direct) {
		fd = dtp_shard_open(path, O_DIRECT, NULL, err);
		if (fd == -EOPNOTSUPP && r->direct_req < 0) {
			dtp_debug("%s: O_DIRECT refused by the file system, reading buffered", path);
			r->direct = 0;
		} else if (fd == -EOPNOTSUPP) {
			return dtp_errf_input(err, -EINVAL, "%s: the file system refuses O_DIRECT; set direct = -1 or 0", path);
		} else if (fd < 0) {
			return fd;
		}
	}
	if (fd < 0 && !r->direct)
		fd = dtp_shard_open(path, 0, NULL, err);
	if (fd < 0)
		return fd;
	r->fds[shard] = fd;
	return 0;
}

static int prep(struct dtp_ring *r, struct dtp_ring_buf *b, struct dtp_err *err)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	unsigned len = b->want - b->got;

	if (!sqe) {
		io_uring_submit(&r->uring);
		sqe = io_uring_get_sqe(&r->uring);
		if (!sqe)
			return dtp_errf_runtime(err, -EBUSY, "io_uring submission queue full");
	}
	if (r->fixed)
		io_uring_prep_read_fixed(sqe, r->fds[b->shard], b->mem + b->got, len, b->off + b->got,
					 (int)(b - r->bufs));
	else
		io_uring_prep_read(sqe, r->fds[b->shard], b->mem + b->got, len, b->off + b->got);
	io_uring_sqe_set_data(sqe, b);
	b->state = DTP_RB_INFLIGHT;
	b->direct = r->direct;
	r->inflight++;
	r->reads++;
	return 0;
}

/* producer cursor to sample j of order[k], skipping shards with no samples */
static void prod_seek(struct dtp_ring *r, int k, uint64_t j)
{
	const struct dtp_dataset *ds = r->ds;
	const struct dtp_shard *s = NULL;

	for (; k < r->norder; k++, j = 0) {
		s = &ds->shards[r->order[k]];
		if (j < s->samples)
			break;
	}
	r->pk = k;
	if (k >= r->norder)
		return;
	r->poff = align_down(s->data_offset + j * ds->stride_bytes);
	r->pend = s->data_offset + s->samples * ds->stride_bytes + (ds->sample_bytes - ds->stride_bytes);
}

static int fill(struct dtp_ring *r, struct dtp_err *err)
{
	int n = 0, rc;

	while (r->used < r->qd && r->pk < r->norder) {
		struct dtp_ring_buf *b = &r->bufs[(r->head + r->used) % r->qd];
		int shard = (int)r->order[r->pk];
		uint64_t need = r->pend - r->poff;

		rc = open_shard(r, shard, err);
		if (rc)
			return rc;
		if (need > r->block)
			need = r->block;
		b->kpos = r->pk;
		b->shard = shard;
		b->off = r->poff;
		b->need = (uint32_t)need;
		b->want = r->direct ? (uint32_t)dtp_align_up(need, DTP_IO_ALIGN) : (uint32_t)need;
		b->got = 0;
		rc = prep(r, b, err);
		if (rc)
			return rc;
		r->used++;
		n++;
		r->poff += need;
		if (r->poff >= r->pend)
			prod_seek(r, r->pk + 1, 0);
	}
	if (n)
		io_uring_submit(&r->uring);
	return 0;
}

/* O_DIRECT was refused on the first reads: reopen everything buffered */
static int to_buffered(struct dtp_ring *r, const char *path, struct dtp_err *err)
{
	int i, rc;

	if (r->direct_req > 0)
		return dtp_errf_input(err, -EINVAL, "%s: O_DIRECT reads refused by the file system; set direct = -1 or 0", path);
	dtp_debug("%s: O_DIRECT read refused, reading buffered", path);
	r->direct = 0;
	for (i = 0; i < r->ds->num_shards; i++) {
		if (r->fds[i] < 0)
			continue;
		close(r->fds[i]);
		r->fds[i] = -1;
		rc = open_shard(r, i, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* one completion; discard: the ring is being restarted, drop the data;
 * nowait: return 1 at once when no completion is there */
static int reap(struct dtp_ring *r, int discard, int nowait, struct dtp_err *err)
{
	struct io_uring_cqe *cqe;
	struct dtp_ring_buf *b;
	const char *path;
	int res, rc;

	if (nowait) {
		rc = io_uring_peek_cqe(&r->uring, &cqe);
		if (rc == -EAGAIN)
			return 1;
	} else {
		rc = io_uring_wait_cqe(&r->uring, &cqe);
	}
	if (rc == -EINTR || rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return dtp_errf_runtime(err, rc, "io_uring_wait_cqe: %s", strerror(-rc));
	b = io_uring_cqe_get_data(cqe);
	res = cqe->res;
	io_uring_cqe_seen(&r->uring, cqe);
	r->inflight--;
	if (discard) {
		b->state = DTP_RB_FREE;
		return 0;
	}
	path = r->ds->shards[b->shard].path;
	if (res == -EAGAIN || res == -EINTR)
		goto requeue;
	if (res == -EINVAL && b->direct) {
		if (r->direct) {
			rc = to_buffered(r, path, err);
			if (rc)
				return rc;
		}
		goto requeue;
	}
	if (res < 0)
		return dtp_errf_runtime(err, res, "%s: read of %u bytes at offset %llu failed: %s", path,
					b->want - b->got, (unsigned long long)(b->off + b->got), strerror(-res));
	if (res == 0)
		return dtp_errf_input(err, -EBADMSG, "%s: end of file at offset %llu, expected data up to %llu: the shard became short while reading",
				      path, (unsigned long long)(b->off + b->got), (unsigned long long)(b->off + b->need));
	b->got += (uint32_t)res;
	r->bytes_read += (uint64_t)res;
	if (b->got >= b->need) {
		b->state = DTP_RB_READY;
		return 0;
	}
	if (b->direct)   /* a short O_DIRECT read: continue from an aligned offset */
		b->got = (uint32_t)align_down(b->got);
requeue:
	r->requeued++;
	rc = prep(r, b, err);
	if (rc)
		return rc;
	io_uring_submit(&r->uring);
	return 0;
}

int dtp_ring_init(struct dtp_ring *r, const struct dtp_dataset *ds, int qd, size_t block,
		  int direct, int register_buffers, struct dtp_err *err)
{
	struct iovec *iov;
	int i, rc;

	memset(r, 0, sizeof(*r));
	r->ds = ds;
	r->qd = qd;
	r->block = block;
	r->direct_req = direct;
	r->direct = direct != 0;
	r->fds = malloc((size_t)ds->num_shards * sizeof(*r->fds));
	r->checked = calloc((size_t)ds->num_shards, 1);
	r->bufs = calloc((size_t)qd, sizeof(*r->bufs));
	r->mem = dtp_io_alloc((size_t)qd * block);
	iov = calloc((size_t)qd, sizeof(*iov));
	if (!r->fds || !r->checked || !r->bufs || !r->mem || !iov) {
		rc = dtp_errf_runtime(err, -ENOMEM, "loader: cannot allocate %d x %zu bytes of read buffers", qd, block);
		goto out_free;
	}
	for (i = 0; i < ds->num_shards; i++)
		r->fds[i] = -1;
	for (i = 0; i < qd; i++) {
		r->bufs[i].mem = r->mem + (size_t)i * block;
		iov[i].iov_base = r->bufs[i].mem;
		iov[i].iov_len = block;
	}
	rc = io_uring_queue_init((unsigned)qd, &r->uring, 0);
	if (rc < 0) {
		rc = dtp_errf_runtime(err, rc, "io_uring_queue_init(%d): %s: %s", qd, strerror(-rc),
				      rc == -ENOMEM ? "raise RLIMIT_MEMLOCK (ulimit -l)"
						    : "is io_uring disabled (sysctl kernel.io_uring_disabled)?");
		goto out_free;
	}
	if (register_buffers) {
		rc = io_uring_register_buffers(&r->uring, iov, (unsigned)qd);
		if (rc == 0)
			r->fixed = 1;
		else
			dtp_debug("io_uring_register_buffers: %s (RLIMIT_MEMLOCK?): using plain reads",
				  strerror(-rc));
	}
	free(iov);
	return 0;
out_free:
	free(iov);
	dtp_io_free(r->mem, (size_t)r->qd * r->block);
	free(r->bufs);
	free(r->checked);
	free(r->fds);
	return rc;
}

static void drain(struct dtp_ring *r)
{
	while (r->inflight > 0)
		if (reap(r, 1, 0, NULL) < 0)
			break;
}

int dtp_ring_start(struct dtp_ring *r, const uint32_t *order, int norder, int k, uint64_t j,
		   struct dtp_err *err)
{
	int i;

	drain(r);
	for (i = 0; i < r->qd; i++)
		r->bufs[i].state = DTP_RB_FREE;
	r->head = r->used = 0;
	close_fds(r);
	r->order = order;
	r->norder = norder;
	prod_seek(r, k, j);
	return fill(r, err);
}

/* 0 when b is read, 1 (nowait only) when it is still in flight, or an error */
static int wait_ready(struct dtp_ring *r, struct dtp_ring_buf *b, int nowait, struct dtp_err *err)
{
	int rc;

	while (b->state != DTP_RB_READY) {
		rc = reap(r, 0, nowait, err);
		if (rc)
			return rc;
	}
	return 0;
}

int dtp_ring_span(struct dtp_ring *r, int k, uint64_t so, uint64_t max, int nowait, uint8_t *scratch,
		  const uint8_t **out, uint64_t *count, struct dtp_err *err)
{
	size_t n = r->ds->sample_bytes, copied = 0;
	struct dtp_ring_buf *b;
	int released = 0, i, rc;
	uint64_t pos;

	/* give back the buffers the consumer has walked past */
	while (r->used > 0) {
		b = &r->bufs[r->head];
		if (b->kpos > k || (b->kpos == k && b->off + b->need > so))
			break;
		rc = wait_ready(r, b, 0, err);   /* consumed, so read already */
		if (rc)
			return rc;
		b->state = DTP_RB_FREE;
		r->head = (r->head + 1) % r->qd;
		r->used--;
		released = 1;
		if ((r->used == 0 || r->bufs[r->head].kpos != b->kpos) && r->pk != b->kpos &&
		    r->fds[b->shard] >= 0) {
			close(r->fds[b->shard]);
			r->fds[b->shard] = -1;
		}
	}
	if (released || r->used == 0) {
		rc = fill(r, err);
		if (rc)
			return rc;
	}
	b = &r->bufs[r->head];
	if (r->used == 0 || b->kpos != k || b->off > so)
		return dtp_errf_runtime(err, -EIO, "loader: internal error: sample at offset %llu of shard %d not in the ring",
					(unsigned long long)so, k);
	rc = wait_ready(r, b, nowait, err);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		*count = 0;
		return 0;
	}
	if (so + n <= b->off + b->need) {
		/* every sample that ends inside this buffer, at most max */
		uint64_t whole = 1 + (b->off + b->need - (so + n)) / r->ds->stride_bytes;

		*out = b->mem + (so - b->off);
		*count = whole < max ? whole : max;
		return 0;
	}
	for (i = 0, pos = so; copied < n; i++) {
		size_t take;

		if (i >= r->used)
			return dtp_errf_runtime(err, -EIO, "loader: internal error: sample straddles more buffers than the ring holds");
		b = &r->bufs[(r->head + i) % r->qd];
		rc = wait_ready(r, b, nowait, err);
		if (rc < 0)
			return rc;
		if (rc > 0) {   /* a later piece is still in flight: nothing taken */
			*count = 0;
			return 0;
		}
		take = (size_t)(b->off + b->need - pos);
		if (take > n - copied)
			take = n - copied;
		memcpy(scratch + copied, b->mem + (pos - b->off), take);
		copied += take;
		pos += take;
	}
	*out = scratch;
	*count = 1;
	return 0;
}

void dtp_ring_destroy(struct dtp_ring *r)
{
	if (!r->mem)
		return;
	drain(r);
	close_fds(r);
	io_uring_queue_exit(&r->uring);
	dtp_io_free(r->mem, (size_t)r->qd * r->block);
	free(r->bufs);
	free(r->checked);
	free(r->fds);
	r->mem = NULL;
}
