/* Unit tests for src/base/crc32c.c and src/base/durable.c: CRC-32C against
 * published vectors (both implementations), chaining, and atomic files. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "base/crc32c.h"
#include "base/durable.h"
#include "base/fdio.h"
#include "../io/io_fixture.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue's check value */
static void check_vectors(crc_fn f)
{
	unsigned char b[32];

	assert_int_equal(f(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(f(0, "", 0), 0u);
	memset(b, 0, sizeof(b));
	assert_int_equal(f(0, b, 32), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(f(0, b, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(f(0, b, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	assert_int_equal(f(0, b, 32), 0x113fdb5cu);
}

static void test_known_vectors(void **state)
{
	(void)state;
	check_vectors(dtp_crc32c);
	check_vectors(dtp_crc32c_portable);
}

/* every length and alignment up to 64 and split points: the two versions
 * agree, and a chained CRC equals the one-shot CRC */
static void test_chaining_and_alignment(void **state)
{
	unsigned char buf[256];
	struct dtp_rng r;

	(void)state;
	dtp_rng_init(&r, 7, 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)dtp_rng_u32(&r);
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n <= 64; n++) {
			uint32_t one = dtp_crc32c(0, buf + off, n);

			assert_int_equal(one, dtp_crc32c_portable(0, buf + off, n));
			for (size_t k = 0; k <= n; k += 5)
				assert_int_equal(one, dtp_crc32c(dtp_crc32c(0, buf + off, k),
								 buf + off + k, n - k));
		}
	/* one flipped bit changes it */
	uint32_t a = dtp_crc32c(0, buf, sizeof(buf));
	buf[100] ^= 0x10;
	assert_int_not_equal(a, dtp_crc32c(0, buf, sizeof(buf)));
}

/* long buffers (the three interleaved streams of 8 KiB and their joins):
 * lengths around multiples of 24 KiB, odd starts and chained pieces, against
 * the byte-at-a-time table */
static void test_long_buffers(void **state)
{
	static const size_t lens[] = { 24575, 24576, 24577, 3 * 24576 + 13, 200000 };
	size_t cap = 200000 + 16;
	unsigned char *buf = malloc(cap);
	struct dtp_rng r;

	(void)state;
	dtp_rng_init(&r, 11, 0);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (unsigned char)dtp_rng_u32(&r);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
		for (size_t off = 0; off < 9; off += 3) {
			uint32_t want = dtp_crc32c_portable(0x12345678u, buf + off, lens[l]);
			size_t k = lens[l] / 3;

			assert_int_equal(dtp_crc32c(0x12345678u, buf + off, lens[l]), want);
			assert_int_equal(dtp_crc32c(dtp_crc32c(0x12345678u, buf + off, k), buf + off + k,
						    lens[l] - k), want);
		}
	free(buf);
}

static void test_atomic_file(void **state)
{
	char *dir = fx_tmpdir(), path[4200], bad[4200], got[16] = { 0 };
	struct dtp_atomic_file f;
	struct dtp_err e;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/latest", dir);
	assert_int_equal(dtp_write_file_atomic(path, "one", 3, &e), 0);
	assert_int_equal(dtp_write_file_atomic(path, "second", 6, &e), 0);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(got, 1, sizeof(got), fp), 6);
	fclose(fp);
	assert_string_equal(got, "second");
	/* an aborted write leaves the target and no temporary file */
	assert_int_equal(dtp_atomic_open(&f, path, &e), 0);
	assert_int_equal(dtp_pwrite_all(f.fd, "xx", 2, 0), 0);
	snprintf(bad, sizeof(bad), "%s", f.tmp);
	dtp_atomic_abort(&f);
	assert_int_not_equal(access(bad, F_OK), 0);
	fp = fopen(path, "rb");
	assert_int_equal(fread(got, 1, sizeof(got), fp), 6);
	fclose(fp);
	/* a missing directory: an error naming the file */
	snprintf(bad, sizeof(bad), "%s/no/such/file", dir);
	dtp_err_clear(&e);
	assert_int_equal(dtp_write_file_atomic(bad, "x", 1, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no/such/file"));
	/* reading past the end */
	{
		char b[8];
		int fd = open(path, O_RDONLY);

		assert_int_equal(dtp_pread_all(fd, b, 6, 0), 0);
		assert_int_equal(dtp_pread_all(fd, b, 7, 0), -EBADMSG);
		close(fd);
	}
	fx_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_chaining_and_alignment),
		cmocka_unit_test(test_long_buffers),
		cmocka_unit_test(test_atomic_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
