/* The dataset index file (index.h, docs/record-shard-format.md "Dataset
 * index"): reading it back with every field checked, and writing it
 * atomically. It only caches header facts; the loader decides when to trust
 * it (dataset.c) and re-reads each header on first use (ring.c). */
#include "config.h"
#include "io/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int64_t dtp_index_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

const char *dtp_index_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

void dtp_index_free(struct dtp_index *ix)
{
	dtp_shards_free(&ix->e, &ix->n);
}

static int cmp_entry(const void *key, const void *e)
{
	return strcmp((const char *)key, ((const struct dtp_shard *)e)->path);
}

const struct dtp_shard *dtp_index_find(const struct dtp_index *ix, const char *name)
{
	if (ix->n == 0)
		return NULL;
	return bsearch(name, ix->e, (size_t)ix->n, sizeof(*ix->e), cmp_entry);
}

int dtp_index_trusted(const struct dtp_index *ix, const struct dtp_shard *e, uint64_t size, int64_t mtime_ns)
{
	return e && e->file_bytes == size && e->mtime_ns == mtime_ns && mtime_ns < ix->scan_ns - DTP_INDEX_RACY_NS;
}

/* one entry at p (len bytes left) -> s, its size in *used; the header facts
 * go through the shard format's own checks (a header is rebuilt from them) */
static int decode_entry(const char *ipath, const uint8_t *p, size_t len, int seq_len, struct dtp_shard *out,
			size_t *used, struct dtp_err *err)
{
	struct dtp_record_spec spec;
	uint8_t h[DTP_TOK_HEADER_BYTES];
	struct dtp_shard s;
	uint32_t L, kind, tb;
	uint64_t items;
	int i, rc;

	if (len < DTP_INDEX_ENTRY_BYTES)
		return dtp_errf_input(err, -EBADMSG, "%s: entry cut short", ipath);
	L = dtp_le32(p);
	if (L == 0 || L > 4095 || len - DTP_INDEX_ENTRY_BYTES < L ||
	    memchr(p + DTP_INDEX_ENTRY_BYTES, '/', L) || memchr(p + DTP_INDEX_ENTRY_BYTES, '\0', L))
		return dtp_errf_input(err, -EBADMSG, "%s: entry with a bad name", ipath);
	kind = dtp_le32(p + 4);
	items = dtp_le64(p + 24);
	tb = dtp_le32(p + 32);
	memset(h, 0, sizeof(h));
	if (kind == DTP_DATASET_RECORDS) {
		memset(&spec, 0, sizeof(spec));
		spec.feature_dtype = (int)dtp_le32(p + 36);
		spec.label_dtype = (int)dtp_le32(p + 40);
		spec.num_classes = (int)dtp_le32(p + 44);
		spec.ndim = (int)dtp_le32(p + 48);
		for (i = 0; i < DTP_REC_MAX_DIMS; i++)
			spec.dims[i] = dtp_le32(p + 52 + 4 * i);
		dtp_rec_header_encode(&spec, items, h);
	} else if (kind == DTP_DATASET_TOKENS && (tb == 2 || tb == 4) && items <= INT32_MAX) {
		dtp_put_le32(h, (uint32_t)(tb == 2 ? DTP_TOK_MAGIC_U16 : DTP_TOK_MAGIC_U32));
		dtp_put_le32(h + 4, (uint32_t)(tb == 2 ? DTP_TOK_VERSION_U16 : DTP_TOK_VERSION_U32));
		dtp_put_le32(h + 8, (uint32_t)items);
	} else {
		return dtp_errf_input(err, -EBADMSG, "%s: entry of unknown kind %u", ipath, kind);
	}
	rc = dtp_shard_parse(ipath, h, sizeof(h), dtp_le64(p + 8), seq_len, &s, err);
	if (rc)
		return rc;
	s.mtime_ns = (int64_t)dtp_le64(p + 16);
	s.indexed = 1;
	s.path = strndup((const char *)p + DTP_INDEX_ENTRY_BYTES, L);
	if (!s.path)
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", ipath);
	*out = s;
	*used = DTP_INDEX_ENTRY_BYTES + L;
	return 0;
}

/* the whole file at path, at most DTP_INDEX_MAX_BYTES */
static int slurp(const char *path, uint8_t **out, size_t *len, struct dtp_err *err)
{
	struct stat st;
	uint8_t *b;
	size_t got = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block */
	if (fd < 0)
		return dtp_errf_input(err, errno == ENOENT ? -ENOENT : -EBADMSG, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)DTP_INDEX_MAX_BYTES) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: not a regular file of at most %u bytes", path, DTP_INDEX_MAX_BYTES);
		goto out_close_fd;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_close_fd;
	}
	while (got < (size_t)st.st_size) {
		n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0) {
			rc = dtp_errf_input(err, -EBADMSG, "%s: read: %s", path, n < 0 ? strerror(errno) : "file shrank");
			free(b);
			goto out_close_fd;
		}
		got += (size_t)n;
	}
	*out = b;
	*len = got;
out_close_fd:
	close(fd);
	return rc;
}

int dtp_index_load(const char *dir, int seq_len, struct dtp_index *out, struct dtp_err *err)
{
	struct dtp_index ix;
	char path[4200];
	uint8_t *b = NULL;
	size_t len = 0, off, used = 0;
	uint32_t count, i;
	int rc;

	memset(&ix, 0, sizeof(ix));
	snprintf(path, sizeof(path), "%.4000s/%s", dir, DTP_INDEX_NAME);
	rc = slurp(path, &b, &len, err);
	if (rc)
		return rc;
	if (len < DTP_INDEX_HEADER_BYTES + 4 || dtp_le32(b) != DTP_INDEX_MAGIC) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: not a dtpipe dataset index (bad magic or too short)", path);
		goto out_free;
	}
	if (dtp_le32(b + 4) != DTP_INDEX_VERSION) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: index version %u, this dtpipe writes %u", path,
				    dtp_le32(b + 4), DTP_INDEX_VERSION);
		goto out_free;
	}
	if (dtp_le64(b + 24) != len ||
	    dtp_le32(b + len - 4) != (uint32_t)crc32(0L, b, (uInt)(len - 4))) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: length or CRC mismatch: the index is corrupt", path);
		goto out_free;
	}
	count = dtp_le32(b + 8);
	if (count > (len - DTP_INDEX_HEADER_BYTES) / DTP_INDEX_ENTRY_BYTES) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: %u entries cannot fit in %zu bytes", path, count, len);
		goto out_free;
	}
	ix.scan_ns = (int64_t)dtp_le64(b + 16);
	ix.e = calloc(count ? count : 1, sizeof(*ix.e));
	if (!ix.e) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	for (i = 0, off = DTP_INDEX_HEADER_BYTES; i < count; i++, off += used) {
		rc = decode_entry(path, b + off, len - 4 - off, seq_len, &ix.e[i], &used, err);
		if (rc)
			goto out_free_ix;
		ix.n = (int)i + 1;
		if (i > 0 && strcmp(ix.e[i - 1].path, ix.e[i].path) >= 0) {
			rc = dtp_errf_input(err, -EBADMSG, "%s: entries out of order", path);
			goto out_free_ix;
		}
	}
	if (off != len - 4) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: %zu bytes after the last entry", path, len - 4 - off);
		goto out_free_ix;
	}
	free(b);
	*out = ix;
	return 0;
out_free_ix:
	dtp_index_free(&ix);
out_free:
	free(b);
	return rc;
}

static int cmp_shard_name(const void *a, const void *b)
{
	return strcmp(dtp_index_basename((*(const struct dtp_shard *const *)a)->path),
		      dtp_index_basename((*(const struct dtp_shard *const *)b)->path));
}

static void encode_entry(const struct dtp_shard *s, uint8_t *p)
{
	const char *name = dtp_index_basename(s->path);
	uint32_t L = (uint32_t)strlen(name);
	int i;

	memset(p, 0, DTP_INDEX_ENTRY_BYTES);
	dtp_put_le32(p, L);
	dtp_put_le32(p + 4, (uint32_t)s->kind);
	dtp_put_le64(p + 8, s->file_bytes);
	dtp_put_le64(p + 16, (uint64_t)s->mtime_ns);
	dtp_put_le64(p + 24, s->items);
	if (s->kind == DTP_DATASET_TOKENS) {
		dtp_put_le32(p + 32, (uint32_t)s->token_bytes);
	} else {
		dtp_put_le32(p + 36, (uint32_t)s->rec.feature_dtype);
		dtp_put_le32(p + 40, (uint32_t)s->rec.label_dtype);
		dtp_put_le32(p + 44, (uint32_t)s->rec.num_classes);
		dtp_put_le32(p + 48, (uint32_t)s->rec.ndim);
		for (i = 0; i < DTP_REC_MAX_DIMS; i++)
			dtp_put_le32(p + 52 + 4 * i, s->rec.dims[i]);
	}
	memcpy(p + DTP_INDEX_ENTRY_BYTES, name, L);
}

int dtp_index_write(const char *dir, const struct dtp_shard *shards, int n, int64_t scan_ns,
		    struct dtp_err *err)
{
	const struct dtp_shard **sorted;
	char tmp[4200], path[4200];
	size_t len = DTP_INDEX_HEADER_BYTES + 4, off, L;
	uint8_t *b = NULL;
	int i, fd, rc = 0;

	sorted = calloc(n > 0 ? (size_t)n : 1, sizeof(*sorted));
	if (!sorted)
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", dir);
	for (i = 0; i < n; i++) {
		L = strlen(dtp_index_basename(shards[i].path));
		if (L == 0 || L > 4095) {
			rc = dtp_errf_input(err, -ENAMETOOLONG, "%s: shard name of %zu bytes", shards[i].path, L);
			goto out_free;
		}
		sorted[i] = &shards[i];
		len += DTP_INDEX_ENTRY_BYTES + L;
	}
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_shard_name);
	for (i = 1; i < n; i++)
		if (cmp_shard_name(&sorted[i - 1], &sorted[i]) == 0) {
			rc = dtp_errf_input(err, -EINVAL, "%s: two shards named %s", dir,
					    dtp_index_basename(sorted[i]->path));
			goto out_free;
		}
	b = calloc(1, len);
	if (!b) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", dir);
		goto out_free;
	}
	dtp_put_le32(b, DTP_INDEX_MAGIC);
	dtp_put_le32(b + 4, DTP_INDEX_VERSION);
	dtp_put_le32(b + 8, (uint32_t)n);
	dtp_put_le64(b + 16, (uint64_t)scan_ns);
	dtp_put_le64(b + 24, len);
	for (i = 0, off = DTP_INDEX_HEADER_BYTES; i < n; i++) {
		encode_entry(sorted[i], b + off);
		off += DTP_INDEX_ENTRY_BYTES + strlen(dtp_index_basename(sorted[i]->path));
	}
	dtp_put_le32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4)));
	snprintf(tmp, sizeof(tmp), "%.4000s/%s.XXXXXX", dir, DTP_INDEX_NAME);
	snprintf(path, sizeof(path), "%.4000s/%s", dir, DTP_INDEX_NAME);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = dtp_errf_input(err, -errno, "%s: cannot create the dataset index: %s", tmp, strerror(errno));
		goto out_free;
	}
	rc = dtp_write_all(fd, b, len);
	if (!rc && fchmod(fd, 0644) != 0)
		rc = -errno;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		dtp_errf_runtime(err, rc, "%s: cannot write the dataset index: %s", path, strerror(-rc));
		unlink(tmp);
	}
out_free:
	free(b);
	free(sorted);
	return rc;
}
