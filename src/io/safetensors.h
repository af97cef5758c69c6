/* safetensors files (the format of Hugging Face's `safetensors`, read by
 * PyTorch, numpy, JAX and others): an 8-byte little-endian header length N,
 * N bytes of JSON header (padded with spaces: dtpipe pads it so that the
 * data starts on a 4096-byte boundary, the format asks 8)
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [begin, end]}, ...}
 * then the data buffer: every tensor's raw little-endian, C-order bytes,
 * back to back without holes, offsets counted from the start of the buffer.
 *
 * dtpipe adds one CRC-32C per tensor as metadata ("dtpipe.crc32c.<name>": 8 hex
 * digits), which other readers ignore and which this reader checks on every read.
 * This module knows nothing of models or checkpoints: names, shapes and bytes. */
#ifndef DTP_IO_SAFETENSORS_H
#define DTP_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

enum dtp_st_dtype {
	DTP_ST_BOOL = 1, DTP_ST_U8, DTP_ST_I8, DTP_ST_F8_E5M2, DTP_ST_F8_E4M3,
	DTP_ST_I16, DTP_ST_U16, DTP_ST_F16, DTP_ST_BF16,
	DTP_ST_I32, DTP_ST_U32, DTP_ST_F32, DTP_ST_F64, DTP_ST_I64, DTP_ST_U64,
};
/* "F32" -> DTP_ST_F32; -EINVAL for a name the format does not define */
int dtp_st_dtype_parse(const char *name);
const char *dtp_st_dtype_name(enum dtp_st_dtype dt);   /* "?" when unknown */
size_t dtp_st_dtype_size(enum dtp_st_dtype dt);        /* bytes; 0 when unknown */

#define DTP_ST_MAX_DIMS 8
/* the largest header read (the reference implementation's limit too) */
#define DTP_ST_MAX_HEADER (100u << 20)
/* tensors are written and read in blocks of this many bytes */
#define DTP_ST_IO_BLOCK (8u << 20)
/* metadata key prefix of the per-tensor CRC-32C */
#define DTP_ST_CRC_PREFIX "dtpipe.crc32c."

struct dtp_st_tensor {
	const char *name;              /* owned by the writer or the open file */
	enum dtp_st_dtype dtype;
	int ndim;
	uint64_t shape[DTP_ST_MAX_DIMS];
	uint64_t begin, end;           /* data_offsets: bytes in the data buffer */
	uint32_t crc32c;               /* of the tensor's bytes */
	int has_crc;                   /* writer: after a write; reader: the file has one */
};

/* ---------------------------------------------------------------- writer */

struct dtp_st_writer;
int dtp_st_writer_create(struct dtp_st_writer **out, struct dtp_err *err);
void dtp_st_writer_destroy(struct dtp_st_writer *w);
/* Add a tensor (stored in the order added). `data` (product(shape) x dtype
 * size bytes) is not copied and must stay valid until the write. A repeated or
 * empty name, "__metadata__", ndim outside [0, 8] or a size overflow: -EINVAL. */
int dtp_st_writer_add(struct dtp_st_writer *w, const char *name, enum dtp_st_dtype dt,
		      int ndim, const uint64_t *shape, const void *data, struct dtp_err *err);
/* a __metadata__ string (keys starting with DTP_ST_CRC_PREFIX are reserved) */
int dtp_st_writer_meta(struct dtp_st_writer *w, const char *key, const char *value,
		       struct dtp_err *err);
/* Write the file to `fd` from offset 0 (truncating it to the file's size),
 * streaming each tensor in blocks and computing its CRC-32C on the way; no
 * fsync. `what` names the file in messages. */
int dtp_st_writer_write_fd(struct dtp_st_writer *w, int fd, const char *what,
			   struct dtp_err *err);
/* Write `path` atomically: a temporary file beside it, fsync, rename, fsync of
 * the directory. On failure `path` is untouched and no temporary file is left. */
int dtp_st_writer_write(struct dtp_st_writer *w, const char *path, struct dtp_err *err);
/* The data goes with O_DIRECT (io/dio.h) where the file system takes it
 * (mode -1, the default) or never (0); the file's bytes are the same. */
void dtp_st_writer_set_direct(struct dtp_st_writer *w, int mode);
/* 1 when the last write's data went with O_DIRECT (benchmarks print it) */
int dtp_st_writer_direct_used(const struct dtp_st_writer *w);
/* the tensors in the order added, with their CRC-32C once written */
int dtp_st_writer_count(const struct dtp_st_writer *w);
const struct dtp_st_tensor *dtp_st_writer_tensor(const struct dtp_st_writer *w, int i);
/* bytes of the data buffer so far */
uint64_t dtp_st_writer_data_bytes(const struct dtp_st_writer *w);

/* ---------------------------------------------------------------- reader */

struct dtp_st_file;
/* Open and validate the header: length within the file (and at most
 * DTP_ST_MAX_HEADER), well-formed JSON object with unique names, known dtypes,
 * shape product x dtype size == end - begin, offsets inside the data buffer,
 * tensors contiguous from 0 to the buffer's end without overlap or hole, CRC
 * metadata well-formed. Errors name the file and the tensor: -ENOENT (no such
 * file), -EBADMSG (corrupt or truncated), other -errno for I/O. */
int dtp_st_open(const char *path, struct dtp_st_file **out, struct dtp_err *err);
void dtp_st_close(struct dtp_st_file *f);
const char *dtp_st_path(const struct dtp_st_file *f);
int dtp_st_count(const struct dtp_st_file *f);
/* tensors in data-buffer order */
const struct dtp_st_tensor *dtp_st_tensor_at(const struct dtp_st_file *f, int i);
const struct dtp_st_tensor *dtp_st_find(const struct dtp_st_file *f, const char *name);
/* a __metadata__ value, or NULL */
const char *dtp_st_meta(const struct dtp_st_file *f, const char *key);
/* Read tensor `name` into buf (`bytes` long). Its dtype must be `dt` and its
 * shape (ndim, shape) as given, else -EINVAL naming both; a missing tensor
 * -ENOENT; data that does not match the file's CRC-32C -EBADMSG (buf then holds
 * the bad bytes: the caller must not use it). */
int dtp_st_read(const struct dtp_st_file *f, const char *name, enum dtp_st_dtype dt, int ndim,
		const uint64_t *shape, void *buf, size_t bytes, struct dtp_err *err);
/* dtp_st_read and dtp_st_verify read with O_DIRECT (io/dio.h: read ahead
 * through staging buffers, the CRC in the same pass) where the file system
 * takes it (on, the default) or never (0): the same bytes either way. */
void dtp_st_set_direct(struct dtp_st_file *f, int on);
/* Read every tensor and check its CRC-32C (a file without CRCs passes). */
int dtp_st_verify(const struct dtp_st_file *f, struct dtp_err *err);
/* "[784, 1024]" into buf; returns buf */
char *dtp_st_shape_str(int ndim, const uint64_t *shape, char *buf, size_t len);

#endif
