/* Fuzz target: the dataset index (src/io/index.c, DIR/.dtpipe-index). Input:
 * one mode byte, then the index file. Mode bit 0: write the right length and
 * CRC into it (else the fuzzer never gets past the checksum), bits 1-7: the
 * sequence length T. An index that loads must hold sorted, findable entries,
 * each a shard the header checks accept, and must write and load back the
 * same; a refused one must come with a message. */
#include "config.h"
#include "fuzz.h"

#include <errno.h>
#include <zlib.h>

#include "io/index.h"

static void check_index(const struct dtp_index *ix)
{
	FUZZ_CHECK(ix->n >= 0);
	for (int i = 0; i < ix->n; i++) {
		const struct dtp_shard *e = &ix->e[i];

		FUZZ_CHECK(e->path && e->path[0] && !strchr(e->path, '/'));
		FUZZ_CHECK(e->indexed == 1);
		FUZZ_CHECK(e->kind == DTP_DATASET_RECORDS || e->kind == DTP_DATASET_TOKENS);
		FUZZ_CHECK(i == 0 || strcmp(ix->e[i - 1].path, e->path) < 0);
		FUZZ_CHECK(dtp_index_find(ix, e->path) == e);
	}
}

static int same_entry(const struct dtp_shard *a, const struct dtp_shard *b)
{
	return strcmp(a->path, b->path) == 0 && a->kind == b->kind && a->items == b->items &&
	       a->file_bytes == b->file_bytes && a->mtime_ns == b->mtime_ns &&
	       a->samples == b->samples && a->data_offset == b->data_offset &&
	       (a->kind == DTP_DATASET_TOKENS ? a->token_bytes == b->token_bytes :
		a->record_bytes == b->record_bytes && a->rec.ndim == b->rec.ndim &&
		memcmp(a->rec.dims, b->rec.dims, sizeof(a->rec.dims)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dtp_index a, b;
	struct dtp_err err = { 0 };
	const char *dir = fuzz_tmpdir();
	uint8_t *file;
	int seq_len, rc;

	file = fuzz_after_mode(data, size, &size);
	if (!file)
		return 0;
	seq_len = data[0] >> 1;
	if ((data[0] & 1) && size >= DTP_INDEX_HEADER_BYTES + 4) {
		dtp_put_le64(file + 24, size);
		dtp_put_le32(file + size - 4, (uint32_t)crc32(0L, file, (uInt)(size - 4)));
	}
	fuzz_write_file(dir, DTP_INDEX_NAME, file, size);
	free(file);
	rc = dtp_index_load(dir, seq_len, &a, &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		FUZZ_CHECK(rc == -EBADMSG || rc == -ENOMEM);
		return 0;
	}
	check_index(&a);
	FUZZ_CHECK(dtp_index_write(dir, a.e, a.n, a.scan_ns, &err) == 0);
	FUZZ_CHECK(dtp_index_load(dir, seq_len, &b, &err) == 0);
	FUZZ_CHECK(b.n == a.n && b.scan_ns == a.scan_ns);
	for (int i = 0; i < a.n; i++)
		FUZZ_CHECK(same_entry(&a.e[i], &b.e[i]));
	dtp_index_free(&b);
	dtp_index_free(&a);
	return 0;
}
