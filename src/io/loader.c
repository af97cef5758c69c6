/* The loader: the dataset, the epoch's sample order and the read ring.
 *
 * Sample order (docs/record-shard-format.md, "Sample order"): for epoch e the
 * shards are permuted with Fisher-Yates drawn from dtp_rng(seed, 2e) (file
 * order without shuffle); the epoch's stream is the concatenation of their
 * samples. With shuffle the stream is cut into blocks of W samples (the
 * window) and block b is delivered in the Fisher-Yates permutation drawn from
 * dtp_rng(seed + golden * (b + 1), 2e + 1). The order is a function of the seed,
 * the epoch, W and the shard list only: any two loaders with the same config
 * over the same shards deliver the same samples, and a position (epoch,
 * sample) is enough to resume. */
#include "config.h"
#include "io/decode.h"
#include "io/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DTP_INDEX_BYTES_PER_SHARD 512   /* fixed estimate: W must not depend on path lengths */
#define DTP_GOLDEN 0x9E3779B97F4A7C15ull

struct dtp_loader {
	struct dtp_loader_config cfg;
	char *path;
	struct dtp_dataset ds;
	struct dtp_ring ring;
	uint32_t *order;        /* this epoch's shard order */
	uint64_t *prefix;       /* samples before order[k] */
	uint8_t *scratch;       /* one sample that straddles two ring buffers */
	uint8_t *win;           /* W samples of the current window block */
	uint32_t *perm;         /* the window slot of each delivery of the block (see fill_block) */
	size_t W, win_n, win_o; /* window size, current block's samples, delivered of them */
	size_t nxt_n, nxt_f;    /* next block's samples (0: none this epoch), read of them */
	size_t memory_bytes;
	uint64_t epoch, pos;    /* position: samples delivered in this epoch */
	int sk;                 /* stream cursor: order position and sample in it */
	uint64_t sj;
	/* the sample layout, fixed at open (what decode needs per run) */
	size_t in_elems, tg_elems;  /* delivered per sample */
	size_t feat_bytes;      /* records: feature bytes before the label */
	int feat_u8, label_u8;  /* records: u8 features / u8 label */
	int token_bytes;        /* tokens: 2 or 4 */
};

void dtp_loader_config_default(struct dtp_loader_config *c)
{
	memset(c, 0, sizeof(*c));
	c->budget_bytes = 64u << 20;
	c->shuffle = 1;
	c->shuffle_window = 0;   /* as many samples as the budget allows */
	c->wrap = 1;
	c->direct = -1;
	c->queue_depth = 8;
	c->block_bytes = 1u << 20;
	c->register_buffers = -1;
}

/* Fisher-Yates over a[0..n) as it stands: a[j] becomes a0[pi[j]], pi the
 * permutation the same draws make of the identity */
static void permute_u32(uint32_t *a, uint64_t n, uint64_t seed, uint64_t stream)
{
	struct dtp_rng r;
	uint64_t i, j;
	uint32_t t;

	dtp_rng_init(&r, seed, stream);
	for (i = n; i > 1; i--) {
		j = dtp_rng_below(&r, i);
		t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void shuffle_u32(uint32_t *a, uint64_t n, uint64_t seed, uint64_t stream)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	permute_u32(a, n, seed, stream);
}

static void make_order(struct dtp_loader *l, uint64_t epoch)
{
	int k, S = l->ds.num_shards;

	if (l->cfg.shuffle)
		shuffle_u32(l->order, (uint64_t)S, l->cfg.seed, 2 * epoch);
	else
		for (k = 0; k < S; k++)
			l->order[k] = (uint32_t)k;
	l->prefix[0] = 0;
	for (k = 0; k < S; k++)
		l->prefix[k + 1] = l->prefix[k] + l->ds.shards[l->order[k]].samples;
}

/* the next run of up to max (>= 1) consecutive samples of the epoch's
 * stream, all from one shard and one ring buffer (file order in the shard) */
static int stream_span(struct dtp_loader *l, uint64_t max, int nowait, const uint8_t **out,
		       uint64_t *count, struct dtp_err *err)
{
	const struct dtp_shard *s = &l->ds.shards[l->order[l->sk]];
	uint64_t cnt;
	int rc;

	while (l->sj >= s->samples) {
		l->sk++;
		l->sj = 0;
		if (l->sk >= l->ds.num_shards)
			return dtp_errf_runtime(err, -EIO, "loader: internal error: stream ran past the epoch");
		s = &l->ds.shards[l->order[l->sk]];
	}
	if (max > s->samples - l->sj)
		max = s->samples - l->sj;
	rc = dtp_ring_span(&l->ring, l->sk, s->data_offset + l->sj * l->ds.stride_bytes, max, nowait,
			   l->scratch, out, &cnt, err);
	if (rc)
		return rc;
	l->sj += cnt;
	*count = cnt;
	return 0;
}

/* The window is far larger than the caches and delivery walks it in a random
 * order, so each sample's first lines are cache misses the hardware
 * prefetcher cannot foresee (perf: half the decode's time on its first
 * load). The walk asks for the samples DTP_PREFETCH_AHEAD deliveries ahead
 * (rw 0: to read them; 1: to write them, for refill). */
#define DTP_PREFETCH_AHEAD 4

static void prefetch_sample(const uint8_t *p, size_t bytes, int rw)
{
	size_t o;

	for (o = 0; o < bytes; o += DTP_CACHELINE) {
		if (rw)
			__builtin_prefetch(p + o, 1, 3);
		else
			__builtin_prefetch(p + o, 0, 3);
	}
	if (rw)
		__builtin_prefetch(p + bytes - 1, 1, 3);
	else
		__builtin_prefetch(p + bytes - 1, 0, 3);
}

/* The window refills as it drains. While block b is delivered, the slots it
 * has delivered from (perm[0..win_o)) are free, and block b+1's stream
 * samples are read into them as the ring has them: sample i of block b+1 goes
 * to slot perm[i]. The reads of the next block thus overlap the delivery of
 * this one instead of stalling once per window. */

/* read block b+1's samples up to upto (<= win_o) into their slots; nowait:
 * stop at the first one whose read is still in flight */
static int refill(struct dtp_loader *l, size_t upto, int nowait, struct dtp_err *err)
{
	size_t sb = l->ds.sample_bytes, st = l->ds.stride_bytes;
	const uint8_t *p;
	uint64_t cnt, j;
	int rc;

	while (l->nxt_f < upto) {
		rc = stream_span(l, upto - l->nxt_f, nowait, &p, &cnt, err);
		if (rc)
			return rc;
		if (cnt == 0)
			break;
		for (j = 0; j < cnt; j++) {   /* random slots: ask for them ahead */
			if (l->nxt_f + j + DTP_PREFETCH_AHEAD < upto)
				prefetch_sample(l->win + (size_t)l->perm[l->nxt_f + j + DTP_PREFETCH_AHEAD] * sb, sb, 1);
			memcpy(l->win + (size_t)l->perm[l->nxt_f + j] * sb, p + j * st, sb);
		}
		l->nxt_f += (size_t)cnt;
	}
	return 0;
}

/* samples in the window block after the one that holds stream index p */
static size_t block_after(const struct dtp_loader *l, uint64_t p)
{
	uint64_t next = (p / l->W + 1) * l->W;

	return next >= l->ds.samples ? 0 : (size_t)(l->ds.samples - next < l->W ? l->ds.samples - next : l->W);
}

/* make the next block current (all slots free): finish reading it, then
 * permute its slot map with the block's Fisher-Yates draws, so delivery j
 * reads slot perm[j], which holds stream sample pi[j] of the block
 * (docs/record-shard-format.md, "Sample order") */
static int fill_block(struct dtp_loader *l, struct dtp_err *err)
{
	uint64_t b = l->pos / l->W;
	int rc;

	rc = refill(l, l->nxt_n, 0, err);
	if (rc)
		return rc;
	permute_u32(l->perm, l->nxt_n, l->cfg.seed + DTP_GOLDEN * (b + 1), 2 * l->epoch + 1);
	l->win_n = l->nxt_n;
	l->win_o = 0;
	l->nxt_n = block_after(l, l->pos);
	l->nxt_f = 0;
	return 0;
}

static int start_at(struct dtp_loader *l, uint64_t epoch, uint64_t q, struct dtp_err *err)
{
	uint64_t p0 = l->W ? (q / l->W) * l->W : q;
	int lo = 0, hi = l->ds.num_shards, rc;

	make_order(l, epoch);
	l->epoch = epoch;
	l->win_n = l->win_o = l->nxt_n = l->nxt_f = 0;
	if (p0 >= l->ds.samples) {   /* at the end of the epoch */
		l->pos = q;
		l->sk = l->ds.num_shards;
		return dtp_ring_start(&l->ring, l->order, l->ds.num_shards, l->ds.num_shards, 0, err);
	}
	while (hi - lo > 1) {        /* prefix[lo] <= p0 < prefix[hi] */
		int mid = (lo + hi) / 2;

		if (l->prefix[mid] <= p0)
			lo = mid;
		else
			hi = mid;
	}
	l->sk = lo;
	l->sj = p0 - l->prefix[lo];
	rc = dtp_ring_start(&l->ring, l->order, l->ds.num_shards, l->sk, l->sj, err);
	if (rc)
		return rc;
	l->pos = p0;
	if (l->W) {
		size_t i, n = l->ds.samples - p0 < l->W ? (size_t)(l->ds.samples - p0) : l->W;

		for (i = 0; i < n; i++)   /* an empty window: block p0 / W goes to slot i */
			l->perm[i] = (uint32_t)i;
		l->nxt_n = n;
		l->nxt_f = 0;
		rc = fill_block(l, err);
		if (rc)
			return rc;
		l->win_o = (size_t)(q - p0);
	}
	l->pos = q;
	return 0;
}

static int check_config(const struct dtp_loader_config *c, struct dtp_err *err)
{
	if (c->queue_depth < 2 || c->queue_depth > 4096)
		return dtp_errf_input(err, -EINVAL, "loader: queue depth %d, expected 2..4096", c->queue_depth);
	if (c->block_bytes < DTP_IO_ALIGN || c->block_bytes % DTP_IO_ALIGN || c->block_bytes > (1u << 30))
		return dtp_errf_input(err, -EINVAL, "loader: block size %zu: expected a multiple of %u up to 1 GiB",
				      c->block_bytes, DTP_IO_ALIGN);
	if (c->direct < -1 || c->direct > 1)
		return dtp_errf_input(err, -EINVAL, "loader: direct = %d, expected -1 (auto), 0 or 1", c->direct);
	return 0;
}

int dtp_loader_open(const struct dtp_loader_config *cfg, struct dtp_loader **out, struct dtp_err *err)
{
	struct dtp_loader *l;
	size_t ring_bytes, index_bytes, avail, sb;
	int S, rc;

	rc = check_config(cfg, err);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l)
		return dtp_errf_runtime(err, -ENOMEM, "loader: out of memory");
	l->cfg = *cfg;
	l->path = strdup(cfg->path ? cfg->path : "");
	if (!l->path) {
		rc = dtp_errf_runtime(err, -ENOMEM, "loader: out of memory");
		goto out_free;
	}
	l->cfg.path = l->path;
	rc = dtp_dataset_open(l->path, cfg->seq_len, &l->ds, err);
	if (rc)
		goto out_free;
	S = l->ds.num_shards;
	sb = l->ds.sample_bytes;
	if (sb > (size_t)(cfg->queue_depth - 1) * cfg->block_bytes) {
		rc = dtp_errf_input(err, -EINVAL, "%s: a sample is %zu bytes, more than (queue depth - 1) x block (%d x %zu): raise block_bytes",
				    l->path, sb, cfg->queue_depth - 1, cfg->block_bytes);
		goto out_close_ds;
	}
	ring_bytes = (size_t)cfg->queue_depth * (cfg->block_bytes + sizeof(struct dtp_ring_buf));
	index_bytes = (size_t)S * DTP_INDEX_BYTES_PER_SHARD;
	if (ring_bytes + index_bytes + sb > cfg->budget_bytes) {
		rc = dtp_errf_input(err, -EINVAL, "%s: budget %zu bytes is too small: the read ring alone needs %zu (queue depth %d x block %zu) and the index %zu",
				    l->path, cfg->budget_bytes, ring_bytes, cfg->queue_depth, cfg->block_bytes, index_bytes);
		goto out_close_ds;
	}
	avail = cfg->budget_bytes - ring_bytes - index_bytes - sb;
	if (cfg->shuffle) {
		l->W = avail / (sb + sizeof(uint32_t));
		if (cfg->shuffle_window && cfg->shuffle_window < l->W)
			l->W = cfg->shuffle_window;
		if (l->W > l->ds.samples)
			l->W = (size_t)l->ds.samples;
		if (l->W < 1) {
			rc = dtp_errf_input(err, -EINVAL, "%s: budget %zu bytes leaves no room for a shuffle window", l->path,
					    cfg->budget_bytes);
			goto out_close_ds;
		}
	}
	l->order = calloc((size_t)S, sizeof(*l->order));
	l->prefix = calloc((size_t)S + 1, sizeof(*l->prefix));
	l->scratch = dtp_alloc_aligned(sb, DTP_CACHELINE);
	if (l->W) {
		l->win = dtp_io_alloc(l->W * sb);   /* huge pages: a random walk, few TLB misses */
		l->perm = calloc(l->W, sizeof(*l->perm));
	}
	if (!l->order || !l->prefix || !l->scratch || (l->W && (!l->win || !l->perm))) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for the loader", l->path);
		goto out_free_arrays;
	}
	l->memory_bytes = ring_bytes + index_bytes + sb + l->W * (sb + sizeof(uint32_t));
	if (l->ds.kind == DTP_DATASET_RECORDS) {
		const struct dtp_shard *s0 = &l->ds.shards[0];

		l->feat_bytes = s0->record_bytes - dtp_rec_dtype_size(s0->rec.label_dtype);
		l->feat_u8 = s0->rec.feature_dtype == DTP_REC_U8;
		l->label_u8 = s0->rec.label_dtype == DTP_REC_U8;
		l->in_elems = l->feat_bytes / dtp_rec_dtype_size(s0->rec.feature_dtype);
		l->tg_elems = 1;
	} else {
		l->token_bytes = l->ds.shards[0].token_bytes;
		l->in_elems = l->tg_elems = (size_t)cfg->seq_len;
	}
	rc = dtp_ring_init(&l->ring, &l->ds, cfg->queue_depth, cfg->block_bytes, cfg->direct,
			   cfg->register_buffers != 0, err);
	if (rc)
		goto out_free_arrays;
	rc = start_at(l, 0, 0, err);
	if (rc)
		goto out_ring;
	*out = l;
	return 0;
out_ring:
	dtp_ring_destroy(&l->ring);
out_free_arrays:
	free(l->perm);
	dtp_io_free(l->win, l->W * l->ds.sample_bytes);
	dtp_free(l->scratch);
	free(l->prefix);
	free(l->order);
out_close_ds:
	dtp_dataset_close(&l->ds);
out_free:
	free(l->path);
	free(l);
	return rc;
}

void dtp_loader_info(const struct dtp_loader *l, struct dtp_dataset_info *out)
{
	const struct dtp_shard *s = &l->ds.shards[0];
	size_t elems = 1;
	int i;

	memset(out, 0, sizeof(*out));
	out->kind = l->ds.kind;
	out->samples = l->ds.samples;
	out->num_shards = l->ds.num_shards;
	out->total_bytes = l->ds.total_bytes;
	if (l->ds.kind == DTP_DATASET_RECORDS) {
		for (i = 0; i < s->rec.ndim; i++)
			elems *= s->rec.dims[i];
		out->input_elems = elems;
		out->target_elems = 1;
		out->num_classes = s->rec.num_classes;
	} else {
		out->input_elems = out->target_elems = (size_t)l->cfg.seq_len;
	}
}

/* n samples stride bytes apart from p (records):
 * -> in (n, features) float32 or f32, tg (n) int32 labels */
static void decode_records(const struct dtp_loader *l, const uint8_t *p, size_t stride, size_t n,
			   float *in, int32_t *tg)
{
	size_t j, fe = l->in_elems, fb = l->feat_bytes;

	if (in && l->feat_u8)
		for (j = 0; j < n; j++)
			dtp_decode_u8_f32(in + j * fe, p + j * stride, fe);
	else if (in)
		for (j = 0; j < n; j++)
			dtp_decode_le32(in + j * fe, p + j * stride, fe);
	if (tg && l->label_u8)
		for (j = 0; j < n; j++)
			tg[j] = p[j * stride + fb];
	else if (tg)
		for (j = 0; j < n; j++)
			tg[j] = (int32_t)dtp_le32(p + j * stride + fb);
}

/* tokens from p (count of them) -> out (count) int32 */
static void decode_tokens(const struct dtp_loader *l, const uint8_t *p, size_t count, int32_t *out)
{
	if (l->token_bytes == 2)
		dtp_decode_u16_i32(out, p, count);
	else
		dtp_decode_le32(out, p, count);
}

/* n consecutive samples of the stream at p (file order, no shuffle):
 * records -> in (n, F), tg (n); tokens -> in (n, T), tg (n, T). Consecutive
 * token windows are contiguous, so their inputs (and their targets, one token
 * on) are each one run of n*T tokens. */
static void decode_run(const struct dtp_loader *l, const uint8_t *p, size_t n, float *in, int32_t *tg)
{
	if (l->ds.kind == DTP_DATASET_RECORDS) {
		decode_records(l, p, l->ds.stride_bytes, n, in, tg);
		return;
	}
	if (in)
		decode_tokens(l, p, n * l->in_elems, (int32_t *)in);
	if (tg)
		decode_tokens(l, p + l->token_bytes, n * l->tg_elems, tg);
}

/* n samples of the window in the order perm[0..n) -> in, tg */
static void decode_perm(const struct dtp_loader *l, const uint32_t *perm, size_t n, float *in, int32_t *tg)
{
	size_t j, sb = l->ds.sample_bytes, T = l->in_elems;
	const uint8_t *w = l->win;

	for (j = 0; j < n && j < DTP_PREFETCH_AHEAD; j++)
		prefetch_sample(w + (size_t)perm[j] * sb, sb, 0);
	if (l->ds.kind == DTP_DATASET_RECORDS) {
		for (j = 0; j < n; j++) {
			if (j + DTP_PREFETCH_AHEAD < n)
				prefetch_sample(w + (size_t)perm[j + DTP_PREFETCH_AHEAD] * sb, sb, 0);
			decode_records(l, w + (size_t)perm[j] * sb, sb, 1, in ? in + j * T : NULL,
				       tg ? tg + j : NULL);
		}
		return;
	}
	for (j = 0; j < n; j++) {
		const uint8_t *p = w + (size_t)perm[j] * sb;

		if (j + DTP_PREFETCH_AHEAD < n)
			prefetch_sample(w + (size_t)perm[j + DTP_PREFETCH_AHEAD] * sb, sb, 0);
		if (in)
			decode_tokens(l, p, T, (int32_t *)in + j * T);
		if (tg)
			decode_tokens(l, p + l->token_bytes, T, tg + j * T);
	}
}

int dtp_loader_next(struct dtp_loader *l, int B, void *inputs, int32_t *targets, struct dtp_err *err)
{
	const uint8_t *p;
	uint64_t want, cnt;
	size_t n = 0;
	int rc;

	if (B < 0)
		return dtp_errf_input(err, -EINVAL, "loader: batch size %d", B);
	while (n < (size_t)B) {
		float *in = inputs ? (float *)inputs + n * l->in_elems : NULL;
		int32_t *tg = targets ? targets + n * l->tg_elems : NULL;

		if (l->pos >= l->ds.samples) {
			if (!l->cfg.wrap)
				break;
			rc = start_at(l, l->epoch + 1, 0, err);
			if (rc)
				return rc;
		}
		want = l->ds.samples - l->pos;
		if (want > (size_t)B - n)
			want = (size_t)B - n;
		if (l->W) {
			if (l->win_o == l->win_n) {
				rc = fill_block(l, err);
				if (rc)
					return rc;
			}
			cnt = l->win_n - l->win_o;
			if (cnt > want)
				cnt = want;
			if (inputs || targets)
				decode_perm(l, l->perm + l->win_o, (size_t)cnt, in, tg);
			l->win_o += (size_t)cnt;
		} else {
			rc = stream_span(l, want, 0, &p, &cnt, err);
			if (rc)
				return rc;
			if (inputs || targets)
				decode_run(l, p, (size_t)cnt, in, tg);
		}
		l->pos += cnt;
		n += (size_t)cnt;
	}
	if (l->W && l->nxt_n) {   /* read what the ring has of the next block into the freed slots */
		rc = refill(l, l->win_o < l->nxt_n ? l->win_o : l->nxt_n, 1, err);
		if (rc)
			return rc;
	}
	return (int)n;
}

void dtp_loader_tell(const struct dtp_loader *l, struct dtp_loader_pos *out)
{
	out->epoch = l->epoch;
	out->sample = l->pos;
}

int dtp_loader_seek(struct dtp_loader *l, const struct dtp_loader_pos *pos, struct dtp_err *err)
{
	if (pos->sample > l->ds.samples)
		return dtp_errf_input(err, -ERANGE, "%s: position %llu is past the epoch's %llu samples", l->path,
				      (unsigned long long)pos->sample, (unsigned long long)l->ds.samples);
	return start_at(l, pos->epoch, pos->sample, err);
}

void dtp_loader_io_stats(const struct dtp_loader *l, struct dtp_loader_io_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->direct = l->ring.direct;
	out->fixed_buffers = l->ring.fixed;
	out->queue_depth = l->ring.qd;
	out->block_bytes = l->ring.block;
	out->window_samples = l->W;
	out->memory_bytes = l->memory_bytes;
	out->reads = l->ring.reads;
	out->requeued = l->ring.requeued;
	out->bytes_read = l->ring.bytes_read;
	out->index_used = l->ds.index_used;
	out->headers_scanned = l->ds.headers_read;
	out->headers_checked = l->ring.headers_checked;
}

void dtp_loader_close(struct dtp_loader *l)
{
	if (!l)
		return;
	dtp_ring_destroy(&l->ring);
	free(l->perm);
	dtp_io_free(l->win, l->W * l->ds.sample_bytes);
	dtp_free(l->scratch);
	free(l->prefix);
	free(l->order);
	dtp_dataset_close(&l->ds);
	free(l->path);
	free(l);
}
