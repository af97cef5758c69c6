/* Reading and checking shard headers: dtpipe record shards and llm.c token
 * shards. Every error names the file and what is wrong with it. */
#include "config.h"
#include "io/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

size_t dtp_rec_dtype_size(int dtype)
{
	switch (dtype) {
	case DTP_REC_U8: return 1;
	case DTP_REC_F32: return 4;
	case DTP_REC_I32: return 4;
	default: return 0;
	}
}

/* layout: magic, version, records (u64), feature dtype, label dtype,
 * num classes, ndim, dims[4], record bytes, header bytes, reserved, crc32 */
void dtp_rec_header_encode(const struct dtp_record_spec *spec, uint64_t records,
			   uint8_t out[DTP_REC_HEADER_BYTES])
{
	size_t elems = 1;
	int i;

	memset(out, 0, DTP_REC_HEADER_BYTES);
	for (i = 0; i < spec->ndim && i < DTP_REC_MAX_DIMS; i++)
		elems *= spec->dims[i];
	dtp_put_le32(out + 0, DTP_REC_MAGIC);
	dtp_put_le32(out + 4, DTP_REC_VERSION);
	dtp_put_le64(out + 8, records);
	dtp_put_le32(out + 16, (uint32_t)spec->feature_dtype);
	dtp_put_le32(out + 20, (uint32_t)spec->label_dtype);
	dtp_put_le32(out + 24, (uint32_t)spec->num_classes);
	dtp_put_le32(out + 28, (uint32_t)spec->ndim);
	for (i = 0; i < DTP_REC_MAX_DIMS; i++)
		dtp_put_le32(out + 32 + 4 * i, i < spec->ndim ? spec->dims[i] : 0);
	dtp_put_le32(out + 48, (uint32_t)(elems * dtp_rec_dtype_size(spec->feature_dtype) +
					  dtp_rec_dtype_size(spec->label_dtype)));
	dtp_put_le32(out + 52, DTP_REC_HEADER_BYTES);
	dtp_put_le32(out + 60, (uint32_t)crc32(0L, out, 60));
}

/* the file holds exactly the want bytes its header promises (items of unit) */
static int size_matches(const char *path, uint64_t size, uint64_t items, const char *unit,
			uint64_t want, struct dtp_err *err)
{
	if (size < want)
		return dtp_errf_input(err, -EBADMSG, "%s: truncated: %llu bytes, the header promises %llu %s (%llu bytes)",
				      path, (unsigned long long)size, (unsigned long long)items, unit,
				      (unsigned long long)want);
	if (size > want)
		return dtp_errf_input(err, -EBADMSG, "%s: size mismatch: %llu bytes, the header promises %llu %s (%llu bytes)",
				      path, (unsigned long long)size, (unsigned long long)items, unit,
				      (unsigned long long)want);
	return 0;
}

static int probe_records(const char *path, const uint8_t *h, uint64_t size, struct dtp_shard *s,
			 struct dtp_err *err)
{
	uint64_t want, elems = 1;
	uint32_t crc = (uint32_t)crc32(0L, h, 60);
	int i, r;

	if (size < DTP_REC_HEADER_BYTES)
		return dtp_errf_input(err, -EBADMSG, "%s: truncated record shard: %llu bytes, the header alone is %u",
				      path, (unsigned long long)size, DTP_REC_HEADER_BYTES);
	if (dtp_le32(h + 4) != DTP_REC_VERSION)
		return dtp_errf_input(err, -EBADMSG, "%s: record shard version %u, this dtpipe reads version %u",
				      path, dtp_le32(h + 4), DTP_REC_VERSION);
	if (dtp_le32(h + 60) != crc)
		return dtp_errf_input(err, -EBADMSG, "%s: record shard header checksum mismatch (crc32 %08x, header says %08x): the header is corrupt",
				      path, crc, dtp_le32(h + 60));
	s->kind = DTP_DATASET_RECORDS;
	s->items = dtp_le64(h + 8);
	s->rec.feature_dtype = (int)dtp_le32(h + 16);
	s->rec.label_dtype = (int)dtp_le32(h + 20);
	s->rec.num_classes = (int)dtp_le32(h + 24);
	s->rec.ndim = (int)dtp_le32(h + 28);
	if (s->rec.feature_dtype != DTP_REC_U8 && s->rec.feature_dtype != DTP_REC_F32)
		return dtp_errf_input(err, -EBADMSG, "%s: unknown feature dtype %d (1 = u8, 2 = f32)",
				      path, s->rec.feature_dtype);
	if (s->rec.label_dtype != DTP_REC_I32 && s->rec.label_dtype != DTP_REC_U8)
		return dtp_errf_input(err, -EBADMSG, "%s: unknown label dtype %d (1 = u8, 3 = int32)",
				      path, s->rec.label_dtype);
	if (s->rec.ndim < 1 || s->rec.ndim > DTP_REC_MAX_DIMS)
		return dtp_errf_input(err, -EBADMSG, "%s: feature rank %d, expected 1..%d", path, s->rec.ndim,
				      DTP_REC_MAX_DIMS);
	for (i = 0; i < DTP_REC_MAX_DIMS; i++) {
		s->rec.dims[i] = dtp_le32(h + 32 + 4 * i);
		if (i < s->rec.ndim) {
			if (s->rec.dims[i] == 0)
				return dtp_errf_input(err, -EBADMSG, "%s: feature dimension %d is 0", path, i);
			elems *= s->rec.dims[i];
		}
	}
	if (s->rec.num_classes < 0)
		return dtp_errf_input(err, -EBADMSG, "%s: negative class count", path);
	want = elems * dtp_rec_dtype_size(s->rec.feature_dtype) + dtp_rec_dtype_size(s->rec.label_dtype);
	if (want > UINT32_MAX || dtp_le32(h + 48) != want)
		return dtp_errf_input(err, -EBADMSG, "%s: record size %u does not match the feature shape and dtypes (%llu bytes)",
				      path, dtp_le32(h + 48), (unsigned long long)want);
	if (dtp_le32(h + 52) != DTP_REC_HEADER_BYTES)
		return dtp_errf_input(err, -EBADMSG, "%s: header size %u, expected %u", path, dtp_le32(h + 52),
				      DTP_REC_HEADER_BYTES);
	s->record_bytes = (uint32_t)want;
	s->data_offset = DTP_REC_HEADER_BYTES;
	if (s->items > (UINT64_MAX - DTP_REC_HEADER_BYTES) / want)
		return dtp_errf_input(err, -EBADMSG, "%s: record count %llu is impossible", path,
				      (unsigned long long)s->items);
	want = DTP_REC_HEADER_BYTES + s->items * want;
	r = size_matches(path, size, s->items, "records", want, err);
	if (r)
		return r;
	s->samples = s->items;
	return 0;
}

static int probe_tokens(const char *path, const uint8_t *h, uint64_t size, int seq_len,
			struct dtp_shard *s, struct dtp_err *err)
{
	int32_t magic = (int32_t)dtp_le32(h), version = (int32_t)dtp_le32(h + 4);
	int32_t count = (int32_t)dtp_le32(h + 8);
	uint64_t want;
	int r;

	if (size < DTP_TOK_HEADER_BYTES)
		return dtp_errf_input(err, -EBADMSG, "%s: truncated token shard: %llu bytes, the header alone is %u",
				      path, (unsigned long long)size, DTP_TOK_HEADER_BYTES);
	if (magic == DTP_TOK_MAGIC_U16 && version == DTP_TOK_VERSION_U16)
		s->token_bytes = 2;
	else if (magic == DTP_TOK_MAGIC_U32 && version == DTP_TOK_VERSION_U32)
		s->token_bytes = 4;
	else
		return dtp_errf_input(err, -EBADMSG, "%s: token shard magic %d with version %d: expected %d v%d (uint16 tokens) or %d v%d (uint32 tokens)",
				      path, magic, version, DTP_TOK_MAGIC_U16, DTP_TOK_VERSION_U16,
				      DTP_TOK_MAGIC_U32, DTP_TOK_VERSION_U32);
	if (count < 0)
		return dtp_errf_input(err, -EBADMSG, "%s: negative token count %d", path, count);
	s->kind = DTP_DATASET_TOKENS;
	s->items = (uint64_t)count;
	s->data_offset = DTP_TOK_HEADER_BYTES;
	want = DTP_TOK_HEADER_BYTES + s->items * (uint64_t)s->token_bytes;
	r = size_matches(path, size, s->items, "tokens", want, err);
	if (r)
		return r;
	s->samples = (seq_len > 0 && s->items > 0) ? (s->items - 1) / (uint64_t)seq_len : 0;
	return 0;
}

int dtp_shard_parse(const char *path, const uint8_t *h, size_t hlen, uint64_t size, int seq_len,
		    struct dtp_shard *out, struct dtp_err *err)
{
	struct dtp_shard s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (hlen < 4)
		return dtp_errf_input(err, -EBADMSG, "%s: truncated: %zu bytes, too short for any shard header", path, hlen);
	if (dtp_le32(h) == DTP_REC_MAGIC)
		rc = probe_records(path, h, size, &s, err);
	else if ((int32_t)dtp_le32(h) == DTP_TOK_MAGIC_U16 || (int32_t)dtp_le32(h) == DTP_TOK_MAGIC_U32)
		rc = probe_tokens(path, h, size, seq_len, &s, err);
	else
		rc = dtp_errf_input(err, -EBADMSG, "%s: wrong magic 0x%08x: not a dtpipe record shard (0x%08x) nor an llm.c token shard (%d or %d)",
				    path, dtp_le32(h), DTP_REC_MAGIC, DTP_TOK_MAGIC_U16, DTP_TOK_MAGIC_U32);
	if (rc)
		return rc;
	s.file_bytes = size;
	*out = s;
	return 0;
}

static const char *file_kind(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* A shard is a regular file: anything else (a FIFO would block open() and
 * every stage with it) is refused by its type before it is opened, and the
 * open itself does not block (O_NONBLOCK) should the path change between. */
int dtp_shard_open(const char *path, int flags, struct stat *st, struct dtp_err *err)
{
	struct stat s;
	int fd;

	if (stat(path, &s) == 0 && !S_ISREG(s.st_mode))
		return dtp_errf_input(err, -EINVAL, "%s: %s, not a regular file: a shard must be a regular file; remove it from the dataset", path, file_kind(s.st_mode));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
	if (fd < 0)
		return errno == EINVAL && (flags & O_DIRECT) ? -EOPNOTSUPP :
		       dtp_errf_input(err, errno == ENOENT ? -ENOENT : -EINVAL, "%s: unreadable shard: %s",
				      path, strerror(errno));
	if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode)) {
		close(fd);
		return dtp_errf_input(err, -EINVAL, "%s: %s, not a regular file: a shard must be a regular file; remove it from the dataset", path, file_kind(s.st_mode));
	}
	if (st)
		*st = s;
	return fd;
}

int dtp_shard_probe(const char *path, int seq_len, struct dtp_shard *out, struct dtp_err *err)
{
	uint8_t h[DTP_TOK_HEADER_BYTES];
	struct dtp_shard s;
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = dtp_shard_open(path, 0, &st, err);
	if (fd < 0)
		return fd;
	memset(h, 0, sizeof(h));
	n = pread(fd, h, sizeof(h), 0);
	if (n < 0) {
		rc = dtp_errf_input(err, -EINVAL, "%s: unreadable shard: %s", path, strerror(errno));
		goto out_close_fd;
	}
	rc = dtp_shard_parse(path, h, (size_t)n, (uint64_t)st.st_size, seq_len, &s, err);
	if (rc)
		goto out_close_fd;
	s.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
	s.path = strdup(path);
	if (!s.path) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_close_fd;
	}
	*out = s;
out_close_fd:
	close(fd);
	return rc;
}

/* the first field of a shard's header that differs between was and now:
 * its name, and both values in buf; NULL when they agree */
static const char *changed_field(const struct dtp_shard *was, const struct dtp_shard *now,
				 char *buf, size_t len)
{
#define CMP(name, field) \
	if (now->field != was->field) { \
		snprintf(buf, len, "%llu, the index said %llu", (unsigned long long)now->field, \
			 (unsigned long long)was->field); \
		return name; \
	}
	CMP("kind (1 records, 2 tokens)", kind)
	CMP(now->kind == DTP_DATASET_TOKENS ? "number of tokens" : "number of records", items)
	CMP("size in bytes", file_bytes)
	CMP("data offset", data_offset)
	if (now->kind == DTP_DATASET_TOKENS) {
		CMP("token bytes", token_bytes)
		return NULL;
	}
	CMP("record bytes", record_bytes)
	CMP("feature dtype", rec.feature_dtype)
	CMP("label dtype", rec.label_dtype)
	CMP("number of classes", rec.num_classes)
	CMP("number of dimensions", rec.ndim)
	for (int i = 0; i < DTP_REC_MAX_DIMS; i++) {
		CMP("feature shape", rec.dims[i])
	}
#undef CMP
	return NULL;
}

/* the shard's header as it is now against what the index said of it */
int dtp_shard_verify(const struct dtp_shard *s, struct dtp_err *err)
{
	struct dtp_shard now;
	const char *field;
	char vals[96];
	int rc;

	rc = dtp_shard_probe(s->path, 0, &now, err);
	if (rc)
		return rc;
	field = changed_field(s, &now, vals, sizeof(vals));
	if (field)
		rc = dtp_errf_input(err, -EBADMSG, "%s: the shard changed after the dataset was opened from its index (" DTP_INDEX_NAME "): its %s is now %s; open the dataset again",
				    s->path, field, vals);
	dtp_shard_free(&now);
	return rc;
}

void dtp_shard_free(struct dtp_shard *s)
{
	free(s->path);
	s->path = NULL;
}

void dtp_shards_free(struct dtp_shard **s, int *n)
{
	for (int i = 0; i < *n; i++)
		dtp_shard_free(&(*s)[i]);
	free(*s);
	*s = NULL;
	*n = 0;
}
