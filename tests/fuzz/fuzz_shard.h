/* The shard-header fuzz targets (fuzz_shard_rec.c, fuzz_shard_tok.c): the
 * same harness, each with its own seeds. Input: one mode byte, then the
 * shard file. Mode bit 0: write the right CRC into a record header (else the
 * fuzzer never gets past the checksum), bits 1-7: the sequence length T.
 * The file is probed through a memfd (dtp_shard_probe: open, fstat, pread),
 * and its header checked again from memory (dtp_shard_parse); both must
 * agree, and a shard that passes must be consistent with its size. */
#include "config.h"
#include "fuzz.h"

#include <zlib.h>

#include "io/shard.h"

static void check_shard(const struct dtp_shard *s, uint64_t size, int seq_len)
{
	uint64_t elems = 1;

	FUZZ_CHECK(s->file_bytes == size);
	if (s->kind == DTP_DATASET_RECORDS) {
		FUZZ_CHECK(s->rec.ndim >= 1 && s->rec.ndim <= DTP_REC_MAX_DIMS);
		for (int i = 0; i < s->rec.ndim; i++)
			elems *= s->rec.dims[i];
		FUZZ_CHECK(s->record_bytes > 0);
		FUZZ_CHECK(s->record_bytes == elems * dtp_rec_dtype_size(s->rec.feature_dtype) +
						  dtp_rec_dtype_size(s->rec.label_dtype));
		FUZZ_CHECK(s->data_offset == DTP_REC_HEADER_BYTES);
		FUZZ_CHECK(s->data_offset + s->items * s->record_bytes == size);
		FUZZ_CHECK(s->samples == s->items);
	} else {
		FUZZ_CHECK(s->kind == DTP_DATASET_TOKENS);
		FUZZ_CHECK(s->token_bytes == 2 || s->token_bytes == 4);
		FUZZ_CHECK(s->data_offset == DTP_TOK_HEADER_BYTES);
		FUZZ_CHECK(s->data_offset + s->items * (uint64_t)s->token_bytes == size);
		FUZZ_CHECK(s->samples == (seq_len > 0 && s->items > 0 ? (s->items - 1) / (uint64_t)seq_len : 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *file, h[DTP_TOK_HEADER_BYTES];
	struct dtp_shard a, b;
	struct dtp_err ea = { 0 }, eb = { 0 };
	const char *path;
	int seq_len, ra, rb;

	file = fuzz_after_mode(data, size, &size);
	if (!file)
		return 0;
	seq_len = data[0] >> 1;
	if ((data[0] & 1) && size >= DTP_REC_HEADER_BYTES)
		dtp_put_le32(file + 60, (uint32_t)crc32(0L, file, 60));
	path = fuzz_memfd_path(file, size);
	ra = dtp_shard_probe(path, seq_len, &a, &ea);
	memset(h, 0, sizeof(h));
	memcpy(h, file, size < sizeof(h) ? size : sizeof(h));
	rb = dtp_shard_parse("fuzz", h, size < sizeof(h) ? size : sizeof(h), size, seq_len, &b, &eb);
	FUZZ_CHECK(ra == rb);
	if (ra == 0) {
		FUZZ_CHECK(a.path && strcmp(a.path, path) == 0 && !b.path);
		check_shard(&a, size, seq_len);
		check_shard(&b, size, seq_len);
		FUZZ_CHECK(a.kind == b.kind && a.items == b.items && a.samples == b.samples);
		dtp_shard_free(&a);
	} else {
		FUZZ_CHECK_ERR(ra, ea);
		FUZZ_CHECK_ERR(rb, eb);
	}
	free(file);
	return 0;
}
