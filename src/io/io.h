/* dtpipe io: sharded datasets streamed from disk with io_uring.
 *
 * A dataset is a directory (or glob) of shards of one format:
 *   - record shards (dtpipe's own, docs/record-shard-format.md): fixed-size
 *     records of features (u8 or f32) and an int32 label;
 *   - token shards (llm.c .bin: magic 20240520 v1 uint16 tokens, or magic
 *     20240801 v7 uint32 tokens). A sample is a window of T+1 tokens at
 *     offsets i*T: inputs the first T, targets the last T (shifted by one).
 * The loader keeps a fixed ring of aligned buffers fed by io_uring reads and
 * never holds more than its budget, whatever the dataset size. The sample
 * order is a function of (seed, epoch) only, so the first stage (inputs) and
 * the last stage (targets) of a pipeline see the same samples.
 */
#ifndef DTP_IO_H
#define DTP_IO_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* O_DIRECT offsets and lengths are multiples of this (the loader's
 * block_bytes must be one) */
#define DTP_IO_ALIGN 4096u

enum dtp_dataset_kind { DTP_DATASET_RECORDS = 1, DTP_DATASET_TOKENS = 2 };

struct dtp_dataset_info {
	enum dtp_dataset_kind kind;
	uint64_t samples;          /* per epoch */
	int num_shards;
	size_t input_elems;        /* per sample: features, or T tokens */
	size_t target_elems;       /* per sample: 1 label, or T tokens */
	int num_classes;           /* records: from the header (0 if unknown); tokens: 0 */
	uint64_t total_bytes;      /* sum of shard sizes */
};

struct dtp_loader_config {
	const char *path;          /* directory of shards, or a glob ("data/train_*.bin") */
	size_t budget_bytes;       /* all loader memory (ring + index + shuffle window); default 64 MiB */
	uint64_t seed;
	int seq_len;               /* T for token shards; ignored for records */
	int shuffle;               /* 0: file order (evaluation); 1: seeded shard order + window shuffle */
	size_t shuffle_window;     /* samples held for the window shuffle (bounded by the budget) */
	int wrap;                  /* 1: epochs follow each other (training); 0: stop at epoch end */
	int direct;                /* -1 auto (O_DIRECT where accepted), 0 never, 1 required */
	int queue_depth;           /* io_uring reads in flight, > 1; default 8 */
	size_t block_bytes;        /* read size; default 1 MiB */
	int register_buffers;      /* -1 auto (fall back when refused), 0 never */
};
void dtp_loader_config_default(struct dtp_loader_config *c);

struct dtp_loader;

/* Opens the dataset, checks every shard (magic, version, dtype, size), builds or
 * reads the index. Bad input: -EINVAL / -EBADMSG / -ENOENT with a message that
 * names the file and what is wrong. */
int dtp_loader_open(const struct dtp_loader_config *cfg, struct dtp_loader **out, struct dtp_err *err);
void dtp_loader_info(const struct dtp_loader *l, struct dtp_dataset_info *out);
/* The next up to B samples in the seeded order.
 *   inputs  (if not NULL): records -> float32 (B, features), u8 features scaled by
 *           1/255; tokens -> int32 (B, T)
 *   targets (if not NULL): records -> int32 (B); tokens -> int32 (B, T)
 * Returns the number of samples delivered (B, or fewer at the end of an epoch
 * when wrap == 0, then 0), or a negative errno (a shard that became short or
 * unreadable: named in err). */
int dtp_loader_next(struct dtp_loader *l, int B, void *inputs, int32_t *targets, struct dtp_err *err);

/* Exact position, for checkpoints: a resumed loader continues with the same samples. */
struct dtp_loader_pos {
	uint64_t epoch;
	uint64_t sample;           /* samples delivered in this epoch */
};
void dtp_loader_tell(const struct dtp_loader *l, struct dtp_loader_pos *out);
int dtp_loader_seek(struct dtp_loader *l, const struct dtp_loader_pos *pos, struct dtp_err *err);
void dtp_loader_close(struct dtp_loader *l);

/* How the loader's reads are being done, for tests and benchmarks. */
struct dtp_loader_io_stats {
	int direct;                /* 1: O_DIRECT reads, 0: buffered */
	int fixed_buffers;         /* 1: registered buffers (read_fixed) */
	int queue_depth;
	size_t block_bytes;
	size_t window_samples;     /* shuffle window actually used (0 without shuffle) */
	size_t memory_bytes;       /* loader memory held (ring + window + index) */
	uint64_t reads;            /* reads submitted, re-queued ones included */
	uint64_t requeued;         /* short reads and -EAGAIN resubmitted */
	uint64_t bytes_read;
	/* the dataset index (docs/record-shard-format.md, "Dataset index") */
	int index_used;            /* 1: the shard list came from DIR/.dtpipe-index */
	int headers_scanned;       /* shard headers read by dtp_loader_open (0 with the index) */
	uint64_t headers_checked;  /* indexed shards whose header was read on first use */
};
void dtp_loader_io_stats(const struct dtp_loader *l, struct dtp_loader_io_stats *out);

/* A yardstick for benchmarks (dtpipe-bench-io --reference): one epoch
 * delivered by the simplest loop, not the loader: each shard in file order,
 * pread of cfg->block_bytes at a time (O_DIRECT with cfg->direct == 1), each
 * sample decoded by the loader's conversions into a batch of B (0: 64
 * records or 8 token windows), no shuffle, no window, no io_uring, one read
 * at a time. deliver 1: inputs, 2: targets. each (if not NULL) sees every
 * sample's delivered 32-bit words in order. Counts in *out; 0 or -errno
 * (named in err). */
struct dtp_io_reference {
	uint64_t bytes;            /* read from the shards */
	uint64_t samples;          /* delivered */
	int batch;                 /* B used */
};
typedef void dtp_io_sample_fn(void *arg, const uint32_t *words, size_t n);
int dtp_io_reference_epoch(const struct dtp_loader_config *cfg, int deliver, int B,
			   struct dtp_io_reference *out, dtp_io_sample_fn *each, void *arg,
			   struct dtp_err *err);

/* Reads the header of every shard in dir (as a dataset directory) and
 * writes dir/.dtpipe-index, atomically. dtp_loader_open keeps it up to date
 * by itself where it can write; dtpipe-shard calls this after its shards.
 * A bad shard is its usual error; a write failure -errno, named. */
int dtp_dataset_index(const char *dir, struct dtp_err *err);

/* Record shard writer (docs/record-shard-format.md) and llm.c token shard
 * writer. The shard is written to PATH.tmp and renamed on finish. */
enum dtp_rec_dtype { DTP_REC_U8 = 1, DTP_REC_F32 = 2, DTP_REC_I32 = 3 };

struct dtp_record_spec {
	int feature_dtype;         /* DTP_REC_U8 or DTP_REC_F32 */
	int ndim;                  /* 1..4 */
	uint32_t dims[4];          /* feature shape, e.g. {28, 28} */
	int label_dtype;           /* DTP_REC_I32 (or DTP_REC_U8) */
	int num_classes;           /* 0 if unknown */
};

struct dtp_shard_writer;
int dtp_shard_writer_records(const char *path, const struct dtp_record_spec *spec,
			     struct dtp_shard_writer **out, struct dtp_err *err);
/* token_bytes 2 (magic 20240520 v1) or 4 (magic 20240801 v7) */
int dtp_shard_writer_tokens(const char *path, int token_bytes, struct dtp_shard_writer **out,
			    struct dtp_err *err);
/* one record: features in the spec's dtype (little-endian), and its label */
int dtp_shard_writer_add_record(struct dtp_shard_writer *w, const void *features, int32_t label,
				struct dtp_err *err);
int dtp_shard_writer_add_tokens(struct dtp_shard_writer *w, const uint32_t *tokens, size_t n,
				struct dtp_err *err);
uint64_t dtp_shard_writer_count(const struct dtp_shard_writer *w);
/* writes the header, flushes, renames into place, frees w (also on error) */
int dtp_shard_writer_finish(struct dtp_shard_writer *w, struct dtp_err *err);
/* drops the temporary file and frees w */
void dtp_shard_writer_abort(struct dtp_shard_writer *w);

#endif
