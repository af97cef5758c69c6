/* Internal to src/io: the two shard formats and the dataset (list of shards).
 * Record shards: docs/record-shard-format.md. Token shards: llm.c .bin. */
#ifndef DTP_IO_SHARD_H
#define DTP_IO_SHARD_H

#include <stdint.h>
#include <stddef.h>

#include "base/bytes.h"
#include "io/io.h"

#define DTP_REC_MAGIC 0x52505444u   /* "DTPR" little-endian */
#define DTP_REC_VERSION 1u
#define DTP_REC_HEADER_BYTES 64u
#define DTP_REC_MAX_DIMS 4

#define DTP_TOK_HEADER_BYTES 1024u
#define DTP_TOK_MAGIC_U16 20240520
#define DTP_TOK_VERSION_U16 1
#define DTP_TOK_MAGIC_U32 20240801
#define DTP_TOK_VERSION_U32 7

/* the dataset index, a hidden file in the dataset directory (index.h) */
#define DTP_INDEX_NAME ".dtpipe-index"

struct dtp_shard {
	char *path;
	enum dtp_dataset_kind kind;
	uint64_t file_bytes;
	int64_t mtime_ns;
	uint64_t data_offset;      /* first byte of the records or tokens */
	uint64_t items;            /* records, or tokens */
	uint64_t samples;          /* records, or (tokens - 1) / T for a sequence length T */
	struct dtp_record_spec rec;  /* records only */
	uint32_t record_bytes;     /* records only */
	int token_bytes;           /* tokens only: 2 or 4 */
	int indexed;               /* 1: taken from the dataset index, header not read yet */
};

/* Reads and checks one shard's header and size (seq_len: T for tokens). */
/* open a shard read-only (O_NONBLOCK | flags) after checking it is a regular
 * file: fd, or -EINVAL / -ENOENT named in err (bare -EOPNOTSUPP, err
 * untouched, when flags has O_DIRECT and the file system refuses it) */
struct stat;
int dtp_shard_open(const char *path, int flags, struct stat *st, struct dtp_err *err);
int dtp_shard_probe(const char *path, int seq_len, struct dtp_shard *out, struct dtp_err *err);
void dtp_shard_free(struct dtp_shard *s);
/* frees the n shards of the array *s and the array; *s = NULL, *n = 0 */
void dtp_shards_free(struct dtp_shard **s, int *n);
/* Checks a header already read: h holds hlen bytes (zero-padded to
 * DTP_TOK_HEADER_BYTES) of a file of size bytes; sets everything but path
 * and mtime_ns. The same checks as dtp_shard_probe, which uses it. */
int dtp_shard_parse(const char *path, const uint8_t *h, size_t hlen, uint64_t size, int seq_len,
		    struct dtp_shard *out, struct dtp_err *err);
/* Reads s->path's header again (s came from the dataset index): the probe's
 * error if it is bad now, -EBADMSG if it differs from s. */
int dtp_shard_verify(const struct dtp_shard *s, struct dtp_err *err);

/* sizes of the record format's dtypes, 0 for an unknown code */
size_t dtp_rec_dtype_size(int dtype);
/* encode / decode the 64-byte record header (little-endian, CRC over bytes 0..59) */
void dtp_rec_header_encode(const struct dtp_record_spec *spec, uint64_t records, uint8_t out[DTP_REC_HEADER_BYTES]);

struct dtp_dataset {
	struct dtp_shard *shards;
	int num_shards;
	enum dtp_dataset_kind kind;
	uint64_t samples;           /* per epoch */
	uint64_t total_bytes;
	size_t sample_bytes;        /* bytes one sample spans in a shard */
	size_t stride_bytes;        /* bytes between consecutive samples (tokens: T tokens) */
	int index_used;             /* 1: the shard list came from the dataset index */
	int headers_read;           /* shard headers read while opening */
};

/* path: directory (every *.bin and *.dtpr file in it) or glob. */
int dtp_dataset_open(const char *path, int seq_len, struct dtp_dataset *out, struct dtp_err *err);
void dtp_dataset_close(struct dtp_dataset *ds);

#endif
