/* Writing shards: dtpipe record shards and llm.c token shards. The file is
 * written as PATH.tmp and renamed into place when the header is final, so a
 * reader never sees a half-written shard under the real name. */
#include "config.h"
#include "io/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dtp_shard_writer {
	FILE *f;
	char *path;
	char *tmp;
	enum dtp_dataset_kind kind;
	struct dtp_record_spec spec;
	size_t feature_bytes;
	int token_bytes;
	uint64_t count;
};

static int writer_new(const char *path, enum dtp_dataset_kind kind, size_t header,
		      struct dtp_shard_writer **out, struct dtp_err *err)
{
	static const uint8_t zeros[DTP_TOK_HEADER_BYTES];
	struct dtp_shard_writer *w = calloc(1, sizeof(*w));
	size_t pl = strlen(path);
	int rc;

	if (!w)
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
	w->kind = kind;
	w->path = strdup(path);
	w->tmp = malloc(pl + 5);
	if (!w->path || !w->tmp) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	memcpy(w->tmp, path, pl);
	memcpy(w->tmp + pl, ".tmp", 5);
	w->f = fopen(w->tmp, "wbe");
	if (!w->f) {
		rc = dtp_errf_input(err, -errno, "%s: cannot create: %s", w->tmp, strerror(errno));
		goto out_free;
	}
	if (fwrite(zeros, 1, header, w->f) != header) {
		rc = dtp_errf_runtime(err, -EIO, "%s: write failed", w->tmp);
		goto out_close;
	}
	*out = w;
	return 0;
out_close:
	fclose(w->f);
	unlink(w->tmp);
out_free:
	free(w->tmp);
	free(w->path);
	free(w);
	return rc;
}

int dtp_shard_writer_records(const char *path, const struct dtp_record_spec *spec,
			     struct dtp_shard_writer **out, struct dtp_err *err)
{
	struct dtp_shard_writer *w;
	size_t elems = 1;
	int i, rc;

	if ((spec->feature_dtype != DTP_REC_U8 && spec->feature_dtype != DTP_REC_F32) ||
	    (spec->label_dtype != DTP_REC_U8 && spec->label_dtype != DTP_REC_I32) ||
	    spec->ndim < 1 || spec->ndim > DTP_REC_MAX_DIMS || spec->num_classes < 0)
		return dtp_errf_input(err, -EINVAL, "%s: bad record spec (dtype, rank 1..4, classes)", path);
	for (i = 0; i < spec->ndim; i++) {
		if (spec->dims[i] == 0)
			return dtp_errf_input(err, -EINVAL, "%s: feature dimension %d is 0", path, i);
		elems *= spec->dims[i];
	}
	rc = writer_new(path, DTP_DATASET_RECORDS, DTP_REC_HEADER_BYTES, &w, err);
	if (rc)
		return rc;
	w->spec = *spec;
	w->feature_bytes = elems * dtp_rec_dtype_size(spec->feature_dtype);
	*out = w;
	return 0;
}

int dtp_shard_writer_tokens(const char *path, int token_bytes, struct dtp_shard_writer **out,
			    struct dtp_err *err)
{
	struct dtp_shard_writer *w;
	int rc;

	if (token_bytes != 2 && token_bytes != 4)
		return dtp_errf_input(err, -EINVAL, "%s: token size %d, expected 2 or 4", path, token_bytes);
	rc = writer_new(path, DTP_DATASET_TOKENS, DTP_TOK_HEADER_BYTES, &w, err);
	if (rc)
		return rc;
	w->token_bytes = token_bytes;
	*out = w;
	return 0;
}

int dtp_shard_writer_add_record(struct dtp_shard_writer *w, const void *features, int32_t label,
				struct dtp_err *err)
{
	uint8_t lb[4];
	size_t ln = dtp_rec_dtype_size(w->spec.label_dtype);

	if (w->kind != DTP_DATASET_RECORDS)
		return dtp_errf_input(err, -EINVAL, "%s: not a record shard", w->path);
	if (w->spec.label_dtype == DTP_REC_U8 && (label < 0 || label > 255))
		return dtp_errf_input(err, -ERANGE, "%s: label %d does not fit u8", w->path, label);
	if (w->spec.num_classes > 0 && (label < 0 || label >= w->spec.num_classes))
		return dtp_errf_input(err, -ERANGE, "%s: label %d outside 0..%d", w->path, label,
				      w->spec.num_classes - 1);
	dtp_put_le32(lb, (uint32_t)label);
	if (fwrite(features, 1, w->feature_bytes, w->f) != w->feature_bytes ||
	    fwrite(lb, 1, ln, w->f) != ln)
		return dtp_errf_runtime(err, -EIO, "%s: write failed", w->tmp);
	w->count++;
	return 0;
}

int dtp_shard_writer_add_tokens(struct dtp_shard_writer *w, const uint32_t *tokens, size_t n,
				struct dtp_err *err)
{
	uint8_t b[4];
	size_t i;

	if (w->kind != DTP_DATASET_TOKENS)
		return dtp_errf_input(err, -EINVAL, "%s: not a token shard", w->path);
	if (w->count + n > INT32_MAX)
		return dtp_errf_input(err, -EOVERFLOW, "%s: more than %d tokens in one shard", w->path, INT32_MAX);
	for (i = 0; i < n; i++) {
		if (w->token_bytes == 2 && tokens[i] > 0xffff)
			return dtp_errf_input(err, -ERANGE, "%s: token %u does not fit uint16", w->path, tokens[i]);
		dtp_put_le32(b, tokens[i]);
		if (fwrite(b, 1, (size_t)w->token_bytes, w->f) != (size_t)w->token_bytes)
			return dtp_errf_runtime(err, -EIO, "%s: write failed", w->tmp);
	}
	w->count += n;
	return 0;
}

uint64_t dtp_shard_writer_count(const struct dtp_shard_writer *w)
{
	return w->count;
}

static void writer_free(struct dtp_shard_writer *w)
{
	free(w->tmp);
	free(w->path);
	free(w);
}

void dtp_shard_writer_abort(struct dtp_shard_writer *w)
{
	if (!w)
		return;
	fclose(w->f);
	unlink(w->tmp);
	writer_free(w);
}

int dtp_shard_writer_finish(struct dtp_shard_writer *w, struct dtp_err *err)
{
	uint8_t h[DTP_TOK_HEADER_BYTES];
	size_t hn;
	int rc = 0;

	memset(h, 0, sizeof(h));
	if (w->kind == DTP_DATASET_RECORDS) {
		dtp_rec_header_encode(&w->spec, w->count, h);
		hn = DTP_REC_HEADER_BYTES;
	} else {
		dtp_put_le32(h, (uint32_t)(w->token_bytes == 2 ? DTP_TOK_MAGIC_U16 : DTP_TOK_MAGIC_U32));
		dtp_put_le32(h + 4, (uint32_t)(w->token_bytes == 2 ? DTP_TOK_VERSION_U16 : DTP_TOK_VERSION_U32));
		dtp_put_le32(h + 8, (uint32_t)w->count);
		hn = DTP_TOK_HEADER_BYTES;
	}
	if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, hn, w->f) != hn || fflush(w->f) != 0) {
		rc = dtp_errf_runtime(err, -EIO, "%s: write failed: %s", w->tmp, strerror(errno));
		goto out_abort;
	}
	if (fclose(w->f) != 0) {
		w->f = NULL;
		unlink(w->tmp);
		rc = dtp_errf_runtime(err, -EIO, "%s: write failed: %s", w->tmp, strerror(errno));
		goto out_free;
	}
	if (rename(w->tmp, w->path) != 0) {
		rc = dtp_errf_runtime(err, -errno, "%s: cannot rename into place: %s", w->path, strerror(errno));
		unlink(w->tmp);
	}
	goto out_free;
out_abort:
	dtp_shard_writer_abort(w);
	return rc;
out_free:
	writer_free(w);
	return rc;
}
