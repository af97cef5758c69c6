/* safetensors: dtypes and the validating reader (the writer is in
 * safetensors_write.c). The whole header is checked at open, so a read never
 * goes outside the file and every error names the file and the tensor. */
#include "config.h"
#include "io/safetensors.h"
#include "base/crc32c.h"
#include "io/dio.h"
#include "base/durable.h"
#include "base/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies bytes as they are"
#endif

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[DTP_ST_BOOL] = { "BOOL", 1 }, [DTP_ST_U8] = { "U8", 1 }, [DTP_ST_I8] = { "I8", 1 },
	[DTP_ST_F8_E5M2] = { "F8_E5M2", 1 }, [DTP_ST_F8_E4M3] = { "F8_E4M3", 1 },
	[DTP_ST_I16] = { "I16", 2 }, [DTP_ST_U16] = { "U16", 2 }, [DTP_ST_F16] = { "F16", 2 },
	[DTP_ST_BF16] = { "BF16", 2 }, [DTP_ST_I32] = { "I32", 4 }, [DTP_ST_U32] = { "U32", 4 },
	[DTP_ST_F32] = { "F32", 4 }, [DTP_ST_F64] = { "F64", 8 }, [DTP_ST_I64] = { "I64", 8 },
	[DTP_ST_U64] = { "U64", 8 },
};
#define N_DTYPES ((int)(sizeof(dtypes) / sizeof(dtypes[0])))

int dtp_st_dtype_parse(const char *name)
{
	for (int i = 1; i < N_DTYPES; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return i;
	return -EINVAL;
}

const char *dtp_st_dtype_name(enum dtp_st_dtype dt)
{
	return (int)dt > 0 && (int)dt < N_DTYPES ? dtypes[dt].name : "?";
}

size_t dtp_st_dtype_size(enum dtp_st_dtype dt)
{
	return (int)dt > 0 && (int)dt < N_DTYPES ? dtypes[dt].size : 0;
}

char *dtp_st_shape_str(int ndim, const uint64_t *shape, char *buf, size_t len)
{
	size_t at = 0;

	at += (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < ndim && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64, d ? ", " : "", shape[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
	return buf;
}

struct dtp_st_file {
	char *path;
	int fd;
	uint64_t size, header_len, data_off, data_size;
	json_t *root, *meta;
	struct dtp_st_tensor *t;      /* n, sorted by begin */
	int n;
	struct st_direct *direct;     /* the O_DIRECT stream, opened on the first read */
};

/* reads use dio.h where the file system takes O_DIRECT */
struct st_direct {
	int state;                    /* 0 not tried, 1 open, -1 refused or turned off */
	struct dtp_dio *d;
};

static int parse_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* one tensor entry of the header */
static int parse_tensor(struct dtp_st_file *f, const char *name, json_t *v,
			struct dtp_st_tensor *t, struct dtp_err *err)
{
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
	       *off = json_object_get(v, "data_offsets");
	uint64_t bytes;
	int k;

	t->name = name;
	if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(sh) ||
	    !json_is_array(off) || json_array_size(off) != 2)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": the header entry needs \"dtype\" (a string), \"shape\" (an array) and \"data_offsets\" ([begin, end]); the file is corrupt or not safetensors",
				      f->path, name);
	k = dtp_st_dtype_parse(json_string_value(dt));
	if (k < 0)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": unknown dtype \"%s\" (safetensors defines BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
				      f->path, name, json_string_value(dt));
	t->dtype = (enum dtp_st_dtype)k;
	if (json_array_size(sh) > DTP_ST_MAX_DIMS)
		return dtp_errf_input(err, -EBADMSG, "%s: tensor \"%s\": %zu dimensions, at most %d are read",
				      f->path, name, json_array_size(sh), DTP_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	bytes = dtp_st_dtype_size(t->dtype);
	for (int d = 0; d < t->ndim; d++) {
		if (parse_u64(json_array_get(sh, (size_t)d), &t->shape[d]))
			return dtp_errf_input(err, -EBADMSG,
					      "%s: tensor \"%s\": shape entry %d is not a non-negative integer",
					      f->path, name, d);
		if (t->shape[d] && bytes > UINT64_MAX / t->shape[d])
			return dtp_errf_input(err, -EBADMSG, "%s: tensor \"%s\": the shape's size overflows",
					      f->path, name);
		bytes *= t->shape[d];
	}
	if (parse_u64(json_array_get(off, 0), &t->begin) ||
	    parse_u64(json_array_get(off, 1), &t->end) || t->begin > t->end)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": data_offsets must be two non-negative integers [begin, end] with begin <= end",
				      f->path, name);
	if (t->end > f->data_size)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 ") reach beyond the data buffer (%" PRIu64 " bytes): the file is truncated or corrupt",
				      f->path, name, t->begin, t->end, f->data_size);
	if (t->end - t->begin != bytes) {
		char s[160];

		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": shape %s of %s is %" PRIu64 " bytes but data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64,
				      f->path, name, dtp_st_shape_str(t->ndim, t->shape, s, sizeof(s)),
				      dtypes[t->dtype].name, bytes, t->begin, t->end, t->end - t->begin);
	}
	return 0;
}

static int cmp_begin(const void *a, const void *b)
{
	const struct dtp_st_tensor *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* __metadata__: strings only; CRC entries parsed into the tensors */
static int parse_meta(struct dtp_st_file *f, struct dtp_err *err)
{
	const size_t pl = strlen(DTP_ST_CRC_PREFIX);
	const char *key;
	json_t *v;

	if (!f->meta)
		return 0;
	if (!json_is_object(f->meta))
		return dtp_errf_input(err, -EBADMSG, "%s: \"__metadata__\" is not an object", f->path);
	json_object_foreach(f->meta, key, v) {
		const struct dtp_st_tensor *c;
		char *end;
		unsigned long crc;

		if (!json_is_string(v))
			return dtp_errf_input(err, -EBADMSG,
					      "%s: __metadata__ \"%s\": values must be strings", f->path, key);
		if (strncmp(key, DTP_ST_CRC_PREFIX, pl) != 0)
			continue;
		c = dtp_st_find(f, key + pl);
		if (!c)
			return dtp_errf_input(err, -EBADMSG,
					      "%s: __metadata__ has a CRC-32C for tensor \"%s\", which the file does not hold",
					      f->path, key + pl);
		errno = 0;
		crc = strtoul(json_string_value(v), &end, 16);
		if (errno || *end || json_string_length(v) != 8 || crc > 0xfffffffful)
			return dtp_errf_input(err, -EBADMSG,
					      "%s: tensor \"%s\": CRC-32C \"%s\" is not 8 hex digits",
					      f->path, key + pl, json_string_value(v));
		((struct dtp_st_tensor *)c)->crc32c = (uint32_t)crc;
		((struct dtp_st_tensor *)c)->has_crc = 1;
	}
	return 0;
}

/* sorted tensors must tile [0, data_size) exactly */
static int check_tiling(struct dtp_st_file *f, struct dtp_err *err)
{
	uint64_t at = 0;

	for (int i = 0; i < f->n; i++) {
		const struct dtp_st_tensor *t = &f->t[i];

		if (t->begin < at)
			return dtp_errf_input(err, -EBADMSG,
					      "%s: tensor \"%s\" [%" PRIu64 ", %" PRIu64 ") overlaps tensor \"%s\" [%" PRIu64 ", %" PRIu64 "): the file is corrupt",
					      f->path, t->name, t->begin, t->end, f->t[i - 1].name,
					      f->t[i - 1].begin, f->t[i - 1].end);
		if (t->begin > at)
			return dtp_errf_input(err, -EBADMSG,
					      "%s: tensor \"%s\" starts at %" PRIu64 " but the data before it ends at %" PRIu64 " (a hole): the file is corrupt",
					      f->path, t->name, t->begin, at);
		at = t->end;
	}
	if (at != f->data_size)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: the tensors end at byte %" PRIu64 " of a %" PRIu64 "-byte data buffer: %s",
				      f->path, at, f->data_size,
				      at < f->data_size ? "trailing bytes, the file is corrupt"
							: "the file is truncated");
	return 0;
}

static int parse_header(struct dtp_st_file *f, const char *text, struct dtp_err *err)
{
	json_error_t je;
	const char *key;
	json_t *v;
	int i = 0, r;

	f->root = json_loadb(text, (size_t)f->header_len, JSON_REJECT_DUPLICATES, &je);
	if (!f->root)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: the header is not valid JSON (%s, at byte %d of the header): the file is corrupt or not safetensors",
				      f->path, je.text, je.position);
	if (!json_is_object(f->root))
		return dtp_errf_input(err, -EBADMSG, "%s: the header is not a JSON object", f->path);
	f->meta = json_object_get(f->root, "__metadata__");
	f->t = calloc(json_object_size(f->root) + 1, sizeof(*f->t));
	if (!f->t)
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for the header", f->path);
	json_object_foreach(f->root, key, v) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		r = parse_tensor(f, key, v, &f->t[i], err);
		if (r)
			return r;
		i++;
	}
	f->n = i;
	qsort(f->t, (size_t)f->n, sizeof(*f->t), cmp_begin);
	r = check_tiling(f, err);
	return r ? r : parse_meta(f, err);
}

int dtp_st_open(const char *path, struct dtp_st_file **out, struct dtp_err *err)
{
	struct dtp_st_file *f = calloc(1, sizeof(*f));
	unsigned char le[8];
	struct stat sb;
	char *text = NULL;
	int r;

	*out = NULL;
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
	}
	f->direct = calloc(1, sizeof(*f->direct));
	if (!f->direct) {
		r = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		r = dtp_errf_input(err, -errno, "%s: cannot open: %s", path, strerror(errno));
		goto out_free;
	}
	if (fstat(f->fd, &sb) != 0) {
		r = dtp_errf_input(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
		goto out_free;
	}
	f->size = (uint64_t)sb.st_size;
	if (f->size < 8) {
		r = dtp_errf_input(err, -EBADMSG,
				   "%s: %" PRIu64 " bytes, shorter than the 8-byte header length: the file is truncated",
				   path, f->size);
		goto out_free;
	}
	r = dtp_pread_all(f->fd, le, 8, 0);
	if (r) {
		r = dtp_errf_runtime(err, r, "%s: cannot read: %s", path, strerror(-r));
		goto out_free;
	}
	for (int b = 7; b >= 0; b--)
		f->header_len = f->header_len << 8 | le[b];
	if (f->header_len > f->size - 8 || f->header_len > DTP_ST_MAX_HEADER ||
	    f->header_len < 2) {
		r = dtp_errf_input(err, -EBADMSG,
				   "%s: header length %" PRIu64 " does not fit a %" PRIu64 "-byte file (at most %u): the file is truncated, corrupt or not safetensors",
				   path, f->header_len, f->size, DTP_ST_MAX_HEADER);
		goto out_free;
	}
	f->data_off = 8 + f->header_len;
	f->data_size = f->size - f->data_off;
	text = malloc((size_t)f->header_len);
	if (!text) {
		r = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for the header", path);
		goto out_free;
	}
	r = dtp_pread_all(f->fd, text, (size_t)f->header_len, 8);
	if (r) {
		r = dtp_errf_runtime(err, r, "%s: cannot read the header: %s", path, strerror(-r));
		goto out_free;
	}
	r = parse_header(f, text, err);
	if (r)
		goto out_free;
	free(text);
	*out = f;
	return 0;
out_free:
	free(text);
	dtp_st_close(f);
	return r;
}

void dtp_st_close(struct dtp_st_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->direct)
		dtp_dio_rclose(f->direct->d);
	free(f->direct);
	json_decref(f->root);
	free(f->t);
	free(f->path);
	free(f);
}

const char *dtp_st_path(const struct dtp_st_file *f)
{
	return f->path;
}

int dtp_st_count(const struct dtp_st_file *f)
{
	return f->n;
}

const struct dtp_st_tensor *dtp_st_tensor_at(const struct dtp_st_file *f, int i)
{
	return i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const struct dtp_st_tensor *dtp_st_find(const struct dtp_st_file *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

const char *dtp_st_meta(const struct dtp_st_file *f, const char *key)
{
	return json_string_value(json_object_get(f->meta, key));
}

void dtp_st_set_direct(struct dtp_st_file *f, int on)
{
	if (f->direct->state == 1)
		dtp_dio_rclose(f->direct->d);
	f->direct->d = NULL;
	f->direct->state = on ? 0 : -1;
}

/* n bytes of the data buffer from `off` into buf with O_DIRECT, the CRC-32C
 * carried on in the same pass: 0, -EINVAL when O_DIRECT is not to be had
 * (read buffered), another -errno */
static int read_direct(const struct dtp_st_file *f, uint64_t off, char *buf, size_t n,
		       uint32_t *crc)
{
	struct st_direct *sd = f->direct;

	if (sd->state == 0)
		sd->state = dtp_dio_ropen(&sd->d, f->path, f->size) == 0 ? 1 : -1;
	if (sd->state < 0)
		return -EINVAL;
	return dtp_dio_read(sd->d, f->data_off + off, buf, n, crc);
}

/* Read t's bytes, checking the CRC-32C: into buf (all of the tensor) when
 * `fill`, else in blocks through buf as a DTP_ST_IO_BLOCK scratch; with
 * O_DIRECT where it can (refused at once: buffered from the start). */
static int read_checked(const struct dtp_st_file *f, const struct dtp_st_tensor *t, char *buf,
			int fill, struct dtp_err *err)
{
	uint64_t n = t->end - t->begin, done = 0;
	uint32_t crc = 0;
	int direct = 1, r;

	while (done < n) {
		size_t b = n - done < DTP_ST_IO_BLOCK ? (size_t)(n - done) : DTP_ST_IO_BLOCK;
		char *to = fill ? buf + done : buf;

		if (direct) {
			if (fill)
				b = (size_t)(n - done);
			r = read_direct(f, t->begin + done, to, b, &crc);
			if (r == -EINVAL) {        /* buffered, from the start */
				direct = 0;
				done = 0;
				crc = 0;
				continue;
			}
		} else {
			r = dtp_pread_all(f->fd, to, b, f->data_off + t->begin + done);
			if (r == 0)
				crc = dtp_crc32c(crc, to, b);
		}
		if (r == -EBADMSG)
			return dtp_errf_input(err, r, "%s: tensor \"%s\": the file ended while reading it (truncated since it was opened?)",
					      f->path, t->name);
		if (r)
			return dtp_errf_runtime(err, r, "%s: tensor \"%s\": read error: %s", f->path, t->name,
						strerror(-r));
		done += b;
	}
	if (t->has_crc && crc != t->crc32c)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": CRC-32C mismatch (the header says %08" PRIx32 ", the data gives %08" PRIx32 "): the file is corrupt",
				      f->path, t->name, t->crc32c, crc);
	return 0;
}

int dtp_st_read(const struct dtp_st_file *f, const char *name, enum dtp_st_dtype dt, int ndim,
		const uint64_t *shape, void *buf, size_t bytes, struct dtp_err *err)
{
	const struct dtp_st_tensor *t = dtp_st_find(f, name);
	char a[160], b[160];
	int same;

	if (!t)
		return dtp_errf_input(err, -ENOENT, "%s: no tensor \"%s\" in the file", f->path, name);
	if (t->dtype != dt)
		return dtp_errf_input(err, -EINVAL, "%s: tensor \"%s\" is %s, %s was expected", f->path,
				      name, dtypes[t->dtype].name, dtp_st_dtype_name(dt));
	same = t->ndim == ndim;
	for (int d = 0; same && d < ndim; d++)
		same = t->shape[d] == shape[d];
	if (!same)
		return dtp_errf_input(err, -EINVAL, "%s: tensor \"%s\" has shape %s, %s was expected",
				      f->path, name, dtp_st_shape_str(t->ndim, t->shape, a, sizeof(a)),
				      dtp_st_shape_str(ndim, shape, b, sizeof(b)));
	if (t->end - t->begin != bytes)
		return dtp_errf_input(err, -EINVAL,
				      "%s: tensor \"%s\" is %" PRIu64 " bytes, the buffer %zu", f->path,
				      name, t->end - t->begin, bytes);
	return read_checked(f, t, buf, 1, err);
}

int dtp_st_verify(const struct dtp_st_file *f, struct dtp_err *err)
{
	char *buf = malloc(DTP_ST_IO_BLOCK);
	int r = 0;

	if (!buf)
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory to verify", f->path);
	for (int i = 0; i < f->n && !r; i++)
		r = read_checked(f, &f->t[i], buf, 0, err);
	free(buf);
	return r;
}
