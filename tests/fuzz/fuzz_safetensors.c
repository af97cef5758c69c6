/* Fuzz target: the safetensors reader (dtp_st_open, dtp_st_read;
 * src/io/safetensors.c) on the input as a file (a memfd). A file must be
 * refused with a message that names it, or every tensor it lists must be in
 * bounds, tile the data buffer to the file's end, and read back as exactly its
 * bytes; a tensor whose bytes do not match its CRC-32C must be refused at read
 * (-EBADMSG, naming the file). */
#include "config.h"

#include <errno.h>

#include "fuzz.h"
#include "base/crc32c.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_memfd_path(data, size);
	struct dtp_err err = { 0 };
	struct dtp_st_file *f;
	uint64_t hl = 0, next = 0, data_bytes;
	int rc, n, bad = 0;

	rc = dtp_st_open(path, &f, &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		FUZZ_CHECK(strstr(err.msg, path));
		return 0;
	}
	FUZZ_CHECK(size >= 8);
	for (int i = 7; i >= 0; i--)
		hl = hl << 8 | data[i];
	FUZZ_CHECK(hl <= size - 8 && hl <= DTP_ST_MAX_HEADER);
	data_bytes = size - 8 - hl;
	FUZZ_CHECK(strcmp(dtp_st_path(f), path) == 0);
	n = dtp_st_count(f);
	FUZZ_CHECK(n >= 0);
	for (int i = 0; i < n; i++) {
		const struct dtp_st_tensor *t = dtp_st_tensor_at(f, i);
		const uint8_t *bytes = data + 8 + hl + t->begin;
		uint64_t elems = 1, len;
		uint8_t *buf;

		FUZZ_CHECK(t && t->name && dtp_st_find(f, t->name) == t);
		FUZZ_CHECK(dtp_st_dtype_size(t->dtype) > 0);
		FUZZ_CHECK(t->ndim >= 0 && t->ndim <= DTP_ST_MAX_DIMS);
		/* in data-buffer order, back to back from 0 */
		FUZZ_CHECK(t->begin == next && t->begin <= t->end && t->end <= data_bytes);
		next = t->end;
		len = t->end - t->begin;
		for (int d = 0; d < t->ndim; d++)
			elems *= t->shape[d];
		FUZZ_CHECK(elems * dtp_st_dtype_size(t->dtype) == len);
		buf = malloc(len + 1);
		FUZZ_CHECK(buf);
		memset(&err, 0, sizeof(err));
		rc = dtp_st_read(f, t->name, t->dtype, t->ndim, t->shape, buf, (size_t)len, &err);
		if (t->has_crc && dtp_crc32c(0, bytes, (size_t)len) != t->crc32c) {
			bad = 1;
			FUZZ_CHECK(rc == -EBADMSG);
			FUZZ_CHECK_ERR(rc, err);
			FUZZ_CHECK(strstr(err.msg, path));
		} else {
			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(memcmp(buf, bytes, (size_t)len) == 0);
		}
		free(buf);
	}
	FUZZ_CHECK(next == data_bytes);
	memset(&err, 0, sizeof(err));
	/* verify fails exactly when a tensor does not match its CRC */
	rc = dtp_st_verify(f, &err);
	if (bad)
		FUZZ_CHECK(rc == -EBADMSG && err.msg[0] != '\0');
	else
		FUZZ_CHECK(rc == 0);
	dtp_st_close(f);
	return 0;
}
