/* safetensors writer: tensors are added by pointer (not copied) and streamed
 * to the file, the CRC-32C of each piece computed while it is in cache. The
 * header's length is known before the data (the CRCs are fixed-width hex), so
 * the data goes first at its final offset and the header, with the CRCs, last.
 * The header is padded so that the data starts on a DTP_IO_ALIGN boundary:
 * then the data can go with O_DIRECT through dio.h's staging buffers (no copy
 * into the page cache, no dirty write-back throttling), and it does wherever
 * the file system takes O_DIRECT; elsewhere, or when the first request is
 * refused, it is written buffered. The bytes of the file are the same. */
#include "config.h"
#include "io/safetensors.h"
#include "base/crc32c.h"
#include "base/durable.h"
#include "base/fdio.h"
#include "io/dio.h"
#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* longest tensor name written (its CRC key must fit the key buffer below) */
#define ST_NAME_MAX 512

struct st_wtensor {
	struct dtp_st_tensor t;
	char *name;
	const void *data;
};

struct dtp_st_writer {
	struct st_wtensor *v;
	int n, cap;
	json_t *meta;            /* the caller's metadata strings */
	uint64_t data_bytes;
	int direct;              /* -1: where the file system takes it; 0: never */
	int used_direct;         /* the last write's data went with O_DIRECT */
};

int dtp_st_writer_create(struct dtp_st_writer **out, struct dtp_err *err)
{
	struct dtp_st_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || !(w->meta = json_object())) {
		free(w);
		return dtp_errf_runtime(err, -ENOMEM, "safetensors writer: out of memory");
	}
	w->direct = -1;
	*out = w;
	return 0;
}

void dtp_st_writer_destroy(struct dtp_st_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->v[i].name);
	free(w->v);
	json_decref(w->meta);
	free(w);
}

int dtp_st_writer_add(struct dtp_st_writer *w, const char *name, enum dtp_st_dtype dt,
		      int ndim, const uint64_t *shape, const void *data, struct dtp_err *err)
{
	uint64_t bytes = dtp_st_dtype_size(dt);
	struct st_wtensor *e;

	if (!name || !*name || strcmp(name, "__metadata__") == 0 || strlen(name) > ST_NAME_MAX)
		return dtp_errf_input(err, -EINVAL,
				      "safetensors writer: bad tensor name \"%.64s\" (empty, \"__metadata__\" or over %d bytes)",
				      name ? name : "(null)", ST_NAME_MAX);
	json_t *utf8 = json_string(name);

	if (!utf8)
		return dtp_errf_input(err, -EINVAL, "safetensors writer: tensor name \"%s\" is not UTF-8",
				      name);
	json_decref(utf8);
	if (!bytes)
		return dtp_errf_input(err, -EINVAL, "safetensors writer: tensor \"%s\": unknown dtype %d",
				      name, (int)dt);
	if (ndim < 0 || ndim > DTP_ST_MAX_DIMS)
		return dtp_errf_input(err, -EINVAL, "safetensors writer: tensor \"%s\": %d dimensions (0 to %d)",
				      name, ndim, DTP_ST_MAX_DIMS);
	for (int d = 0; d < ndim; d++) {
		if (shape[d] && bytes > (uint64_t)INT64_MAX / 2 / shape[d])
			return dtp_errf_input(err, -EINVAL, "safetensors writer: tensor \"%s\": size overflows",
					      name);
		bytes *= shape[d];
	}
	if (bytes && !data)
		return dtp_errf_input(err, -EINVAL, "safetensors writer: tensor \"%s\": no data", name);
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->v[i].name, name) == 0)
			return dtp_errf_input(err, -EINVAL,
					      "safetensors writer: tensor \"%s\" added twice", name);
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 16;
		struct st_wtensor *v = realloc(w->v, (size_t)cap * sizeof(*v));

		if (!v)
			return dtp_errf_runtime(err, -ENOMEM, "safetensors writer: out of memory");
		w->v = v;
		w->cap = cap;
	}
	e = &w->v[w->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return dtp_errf_runtime(err, -ENOMEM, "safetensors writer: out of memory");
	e->t.name = e->name;
	e->t.dtype = dt;
	e->t.ndim = ndim;
	for (int d = 0; d < ndim; d++)
		e->t.shape[d] = shape[d];
	e->t.begin = w->data_bytes;
	e->t.end = w->data_bytes + bytes;
	e->data = data;
	w->data_bytes += bytes;
	w->n++;
	return 0;
}

int dtp_st_writer_meta(struct dtp_st_writer *w, const char *key, const char *value,
		       struct dtp_err *err)
{
	if (strncmp(key, DTP_ST_CRC_PREFIX, strlen(DTP_ST_CRC_PREFIX)) == 0)
		return dtp_errf_input(err, -EINVAL,
				      "safetensors writer: metadata key \"%s\" is reserved for CRCs", key);
	if (json_object_set_new(w->meta, key, json_string(value)) != 0)
		return dtp_errf_input(err, -EINVAL,
				      "safetensors writer: metadata \"%s\": not valid UTF-8, or out of memory",
				      key);
	return 0;
}

int dtp_st_writer_count(const struct dtp_st_writer *w)
{
	return w->n;
}

const struct dtp_st_tensor *dtp_st_writer_tensor(const struct dtp_st_writer *w, int i)
{
	return i >= 0 && i < w->n ? &w->v[i].t : NULL;
}

uint64_t dtp_st_writer_data_bytes(const struct dtp_st_writer *w)
{
	return w->data_bytes;
}

void dtp_st_writer_set_direct(struct dtp_st_writer *w, int mode)
{
	w->direct = mode ? -1 : 0;
}

int dtp_st_writer_direct_used(const struct dtp_st_writer *w)
{
	return w->used_direct;
}

/* the header JSON text, with each tensor's CRC (zeros before they are known) */
static char *header_text(const struct dtp_st_writer *w)
{
	json_t *root = json_object(), *meta = json_deep_copy(w->meta);
	char key[ST_NAME_MAX + sizeof(DTP_ST_CRC_PREFIX)], hex[9];
	char *text = NULL;

	if (!root || !meta)
		goto out_free;
	for (int i = 0; i < w->n; i++) {
		snprintf(key, sizeof(key), DTP_ST_CRC_PREFIX "%s", w->v[i].name);
		snprintf(hex, sizeof(hex), "%08" PRIx32, w->v[i].t.crc32c);
		if (json_object_set_new(meta, key, json_string(hex)))
			goto out_free;
	}
	if (json_object_set(root, "__metadata__", meta))
		goto out_free;
	for (int i = 0; i < w->n; i++) {
		const struct dtp_st_tensor *t = &w->v[i].t;
		json_t *shape = json_array(), *e;

		for (int d = 0; d < t->ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtp_st_dtype_name(t->dtype),
			      "shape", shape, "data_offsets", (json_int_t)t->begin,
			      (json_int_t)t->end);
		if (!e || json_object_set_new(root, t->name, e))
			goto out_free;
	}
	text = json_dumps(root, JSON_COMPACT);
out_free:
	json_decref(meta);
	json_decref(root);
	return text;
}

/* stream tensor i to fd at `at`, computing its CRC (buffered writes) */
static int write_tensor(struct st_wtensor *e, int fd, uint64_t at, const char *what,
			struct dtp_err *err)
{
	const char *p = e->data;
	uint64_t n = e->t.end - e->t.begin, done = 0;
	uint32_t crc = 0;

	while (done < n) {
		size_t b = n - done < DTP_ST_IO_BLOCK ? (size_t)(n - done) : DTP_ST_IO_BLOCK;
		int r;

		crc = dtp_crc32c(crc, p + done, b);
		r = dtp_pwrite_all(fd, p + done, b, at + done);
		if (r)
			return dtp_errf_runtime(err, r, "%s: tensor \"%s\": cannot write: %s", what,
						e->name, strerror(-r));
		done += b;
	}
	e->t.crc32c = crc;
	e->t.has_crc = 1;
	return 0;
}

static int write_data_buffered(struct dtp_st_writer *w, int fd, uint64_t at, const char *what,
			       struct dtp_err *err)
{
	for (int i = 0; i < w->n; i++) {
		int r = write_tensor(&w->v[i], fd, at + w->v[i].t.begin, what, err);

		if (r)
			return r;
	}
	return 0;
}

/* Every tensor's data from file offset `at` (DTP_IO_ALIGN-aligned) with
 * O_DIRECT: 0; -EINVAL when it cannot (the file system refuses O_DIRECT, no
 * io_uring, no staging memory): then the caller writes buffered, over
 * whatever went; another -errno (a full device, an I/O error) with a message. */
static int write_data_direct(struct dtp_st_writer *w, int fd, uint64_t at, const char *what,
			     struct dtp_err *err)
{
	struct dtp_dio *d;
	int r = dtp_dio_wopen(&d, fd, at, w->data_bytes), rc;

	if (r)
		return -EINVAL;
	for (int i = 0; i < w->n && !r; i++) {
		struct st_wtensor *e = &w->v[i];

		e->t.crc32c = 0;
		r = dtp_dio_write(d, e->data, e->t.end - e->t.begin, &e->t.crc32c);
		e->t.has_crc = !r;
	}
	rc = dtp_dio_wclose(d);
	if (!r)
		r = rc;
	if (r == -EINVAL)
		return -EINVAL;
	if (r)
		return dtp_errf_runtime(err, r, "%s: cannot write the data: %s", what, strerror(-r));
	w->used_direct = 1;
	return 0;
}

int dtp_st_writer_write_fd(struct dtp_st_writer *w, int fd, const char *what,
			   struct dtp_err *err)
{
	char *text = header_text(w), *head = NULL;
	size_t len, padded;
	int r;

	if (!text)
		return dtp_errf_runtime(err, -ENOMEM, "%s: cannot build the header (out of memory)", what);
	len = strlen(text);
	/* the data starts DTP_IO_ALIGN-aligned (so 8-aligned too) */
	padded = dtp_align_up(8 + len, DTP_IO_ALIGN) - 8;
	w->used_direct = 0;
	r = w->direct && w->data_bytes ? write_data_direct(w, fd, 8 + padded, what, err) : -EINVAL;
	if (r == -EINVAL)
		r = write_data_buffered(w, fd, 8 + padded, what, err);
	if (r)
		goto out_free;
	free(text);
	text = header_text(w);
	head = malloc(8 + padded);
	if (!text || !head) {
		r = dtp_errf_runtime(err, -ENOMEM, "%s: cannot build the header (out of memory)", what);
		goto out_free;
	}
	if (strlen(text) != len) {
		r = dtp_errf_runtime(err, -EPROTO, "%s: internal error: the header changed length", what);
		goto out_free;
	}
	for (int b = 0; b < 8; b++)
		head[b] = (char)((uint64_t)padded >> (8 * b) & 0xff);
	memcpy(head + 8, text, len);
	memset(head + 8 + len, ' ', padded - len);
	r = dtp_pwrite_all(fd, head, 8 + padded, 0);
	if (r) {
		r = dtp_errf_runtime(err, r, "%s: cannot write the header: %s", what, strerror(-r));
		goto out_free;
	}
	if (ftruncate(fd, (off_t)(8 + padded + w->data_bytes)) != 0)
		r = dtp_errf_runtime(err, -errno, "%s: cannot set the size: %s", what, strerror(errno));
out_free:
	free(head);
	free(text);
	return r;
}

int dtp_st_writer_write(struct dtp_st_writer *w, const char *path, struct dtp_err *err)
{
	struct dtp_atomic_file f;
	int r = dtp_atomic_open(&f, path, err);

	if (r)
		return r;
	r = dtp_st_writer_write_fd(w, f.fd, path, err);
	if (r) {
		dtp_atomic_abort(&f);
		return r;
	}
	return dtp_atomic_commit(&f, err);
}
