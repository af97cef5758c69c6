/* The reference epoch (io.h, dtp_io_reference_epoch): the simplest loop that
 * delivers what the loader delivers, a yardstick for dtpipe-bench-io. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/decode.h"
#include "io/shard.h"

/* one shard's samples (stride bytes apart from base, each stride bytes long
 * for this purpose) decoded in file order into out (B samples, reused);
 * buf: DTP_IO_ALIGN-aligned, lead + block bytes, lead >= stride rounded up */
static int ref_shard(const struct dtp_shard *s, int direct, size_t block, uint8_t *buf, size_t lead,
		     uint64_t base, size_t stride, int B, int deliver, void *out, uint64_t *bytes,
		     uint64_t *samples, dtp_io_sample_fn *each, void *arg)
{
	uint64_t off = base & ~(uint64_t)(DTP_IO_ALIGN - 1), left = s->samples, end;
	size_t have = 0, used, k = 0, skip, cut;   /* have: sample bytes not decoded yet, at p */
	int fd = open(s->path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	ssize_t got;
	/* 32-bit words a delivered sample has */
	size_t elems = s->kind == DTP_DATASET_TOKENS ? stride / (size_t)s->token_bytes
		       : deliver == 2 ? 1 : (stride - dtp_rec_dtype_size(s->rec.label_dtype)) /
					     dtp_rec_dtype_size(s->rec.feature_dtype);

	if (fd < 0)
		return -errno;
	end = base + left * stride;
	while (left > 0) {
		const uint8_t *p;

		got = pread(fd, buf + lead, block, (off_t)off);
		if (got <= 0) {
			close(fd);
			return got < 0 ? -errno : -EBADMSG;
		}
		*bytes += (uint64_t)got;
		/* the new bytes that are sample bytes: from base (the first block
		 * starts in the header) up to end (the last one reads past it) */
		skip = off < base ? (size_t)(base - off) : 0;
		cut = off + (uint64_t)got > end ? (size_t)(off + (uint64_t)got - end) : 0;
		off += (uint64_t)got;
		p = buf + lead - have + skip;   /* have or skip is 0: skip only in the first block */
		have += (size_t)got - skip - cut;
		for (used = 0; left > 0 && have - used >= stride; used += stride, left--, k = (k + 1) % (size_t)B) {
			const uint8_t *q = p + used;

			if (s->kind == DTP_DATASET_RECORDS && deliver == 1) {
				size_t fb = stride - dtp_rec_dtype_size(s->rec.label_dtype);

				if (s->rec.feature_dtype == DTP_REC_U8)
					dtp_decode_u8_f32((float *)out + k * fb, q, fb);
				else
					dtp_decode_le32((float *)out + k * (fb / 4), q, fb / 4);
			} else if (s->kind == DTP_DATASET_RECORDS) {
				size_t fb = stride - dtp_rec_dtype_size(s->rec.label_dtype);

				((int32_t *)out)[k] = s->rec.label_dtype == DTP_REC_U8 ? q[fb] : (int32_t)dtp_le32(q + fb);
			} else if (s->token_bytes == 2) {
				dtp_decode_u16_i32((int32_t *)out + k * (stride / 2), q, stride / 2);
			} else {
				dtp_decode_le32((int32_t *)out + k * (stride / 4), q, stride / 4);
			}
			if (each)
				each(arg, (uint32_t *)out + k * elems, elems);
		}
		*samples += used / stride;
		have -= used;            /* a sample cut by the block: keep its start */
		memmove(buf + lead - have, p + used, have);
	}
	close(fd);
	return 0;
}

int dtp_io_reference_epoch(const struct dtp_loader_config *c, int deliver, int B,
			   struct dtp_io_reference *out, dtp_io_sample_fn *each, void *arg,
			   struct dtp_err *err)
{
	struct dtp_dataset ds;
	size_t lead, elems;
	uint8_t *buf;
	void *batch;
	int i, rc;

	memset(out, 0, sizeof(*out));
	rc = dtp_dataset_open(c->path, c->seq_len, &ds, err);
	if (rc)
		return rc;
	if (B <= 0)
		B = ds.kind == DTP_DATASET_TOKENS ? 8 : 64;
	out->batch = B;
	lead = dtp_align_up(ds.stride_bytes, DTP_IO_ALIGN);
	elems = ds.kind == DTP_DATASET_TOKENS ? (size_t)c->seq_len : deliver == 1 ? ds.stride_bytes : 1;
	buf = dtp_alloc_aligned(lead + c->block_bytes, DTP_IO_ALIGN);
	batch = calloc((size_t)B * elems, 4);
	if (!buf || !batch) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory for the reference loop (%zu + %zu bytes)",
				      lead + c->block_bytes, (size_t)B * elems * 4);
		goto out_free;
	}
	for (i = 0, rc = 0; i < ds.num_shards && rc == 0; i++) {
		const struct dtp_shard *s = &ds.shards[i];
		/* token targets are the windows one token on */
		uint64_t base = s->data_offset + (ds.kind == DTP_DATASET_TOKENS && deliver == 2 ? (uint64_t)s->token_bytes : 0);

		rc = ref_shard(s, c->direct == 1, c->block_bytes, buf, lead, base, ds.stride_bytes, B, deliver,
			       batch, &out->bytes, &out->samples, each, arg);
		if (rc)
			dtp_errf_runtime(err, rc, "%s: %s", s->path, strerror(-rc));
	}
out_free:
	free(batch);
	dtp_free(buf);
	dtp_dataset_close(&ds);
	return rc;
}
