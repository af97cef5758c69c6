/* Internal to src/io: the dataset index, DIR/.dtpipe-index, a cache of each
 * shard's header facts (docs/record-shard-format.md, "Dataset index"). An
 * entry is trusted only while its shard's name, size and mtime are what the
 * index recorded, and the mtime is older than the scan that wrote it by more
 * than DTP_INDEX_RACY_NS (a shard rewritten within one timestamp tick of the
 * scan would otherwise keep its old mtime). */
#ifndef DTP_IO_INDEX_H
#define DTP_IO_INDEX_H

#include "io/shard.h"

#define DTP_INDEX_MAGIC 0x58505444u   /* "DTPX" little-endian */
#define DTP_INDEX_VERSION 1u
#define DTP_INDEX_HEADER_BYTES 32u
#define DTP_INDEX_ENTRY_BYTES 68u     /* fixed part; the name follows */
#define DTP_INDEX_MAX_BYTES (64u << 20)
#define DTP_INDEX_RACY_NS 2000000000ll

struct dtp_index {
	struct dtp_shard *e;       /* sorted by name; path = the shard's name in the directory */
	int n;
	int64_t scan_ns;           /* CLOCK_REALTIME when the scan that wrote it began */
};

/* DIR/.dtpipe-index: 0, -ENOENT when there is none, -EBADMSG when it is
 * corrupt (magic, version, length, CRC, an entry no shard could have) */
int dtp_index_load(const char *dir, int seq_len, struct dtp_index *out, struct dtp_err *err);
/* the entry named name (a file name, no directory), or NULL */
const struct dtp_shard *dtp_index_find(const struct dtp_index *ix, const char *name);
/* 1 when e may stand for the file whose stat gave size and mtime */
int dtp_index_trusted(const struct dtp_index *ix, const struct dtp_shard *e, uint64_t size, int64_t mtime_ns);
void dtp_index_free(struct dtp_index *ix);
/* writes DIR/.dtpipe-index atomically (temporary file, rename) with the
 * shards (paths: only the part after the last '/' is kept), n >= 0 */
int dtp_index_write(const char *dir, const struct dtp_shard *shards, int n, int64_t scan_ns,
		    struct dtp_err *err);
int64_t dtp_index_now_ns(void);
/* the file name part of a path */
const char *dtp_index_basename(const char *path);

#endif
