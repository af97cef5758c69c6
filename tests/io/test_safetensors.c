/* Unit tests for src/io/safetensors*.c: a round trip through the writer and
 * the reader, and every kind of corrupt file refused with a message that names
 * the file and the tensor. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "io_fixture.h"
#include "io/safetensors.h"
#include "base/crc32c.h"

static int setup(void **state)
{
	return fx_file_setup(state, "t.safetensors");
}

static int teardown(void **state)
{
	return fx_file_teardown(state);
}

/* a raw file: 8-byte length, header text, `data` zero bytes */
static void write_raw(const char *path, const char *header, size_t data)
{
	FILE *fp = fopen(path, "wb");
	uint64_t n = strlen(header);
	unsigned char le[8];

	assert_non_null(fp);
	for (int b = 0; b < 8; b++)
		le[b] = (unsigned char)(n >> (8 * b));
	fwrite(le, 1, 8, fp);
	fwrite(header, 1, n, fp);
	for (size_t i = 0; i < data; i++)
		fputc(0, fp);
	fclose(fp);
}

/* opening `path` fails with `code` and a message holding the path and `want` */
static void refused(const char *path, int code, const char *want)
{
	struct dtp_st_file *f = NULL;
	struct dtp_err e;

	dtp_err_clear(&e);
	assert_int_equal(dtp_st_open(path, &f, &e), code);
	assert_null(f);
	if (!strstr(e.msg, path) || !strstr(e.msg, want))
		fail_msg("message \"%s\" lacks \"%s\" or the path", e.msg, want);
}

static float A[6] = { 1, -2, 3.5f, 4, 5e-8f, -6 };
static int32_t B[4] = { 7, -8, 9, 1 << 30 };
static float S = 42.0f;

static void write_sample(const char *path, float *big, size_t nbig)
{
	struct dtp_st_writer *w;
	struct dtp_err e;
	uint64_t sa[2] = { 2, 3 }, sb[1] = { 4 }, sz[1] = { 0 }, sbig[1] = { nbig };

	assert_int_equal(dtp_st_writer_create(&w, &e), 0);
	assert_int_equal(dtp_st_writer_add(w, "a", DTP_ST_F32, 2, sa, A, &e), 0);
	assert_int_equal(dtp_st_writer_add(w, "b.int", DTP_ST_I32, 1, sb, B, &e), 0);
	assert_int_equal(dtp_st_writer_add(w, "scalar", DTP_ST_F32, 0, NULL, &S, &e), 0);
	assert_int_equal(dtp_st_writer_add(w, "empty", DTP_ST_F32, 1, sz, NULL, &e), 0);
	if (big)
		assert_int_equal(dtp_st_writer_add(w, "big", DTP_ST_F32, 1, sbig, big, &e), 0);
	assert_int_equal(dtp_st_writer_meta(w, "format", "pt", &e), 0);
	/* refused: a repeated name, a reserved key */
	assert_int_equal(dtp_st_writer_add(w, "a", DTP_ST_F32, 2, sa, A, &e), -EINVAL);
	assert_int_equal(dtp_st_writer_meta(w, DTP_ST_CRC_PREFIX "a", "0", &e), -EINVAL);
	{
		char longname[600];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(dtp_st_writer_add(w, longname, DTP_ST_F32, 2, sa, A, &e), -EINVAL);
	}
	assert_int_equal(dtp_st_writer_write(w, path, &e), 0);
	assert_int_equal(dtp_st_writer_tensor(w, 0)->crc32c, dtp_crc32c(0, A, sizeof(A)));
	dtp_st_writer_destroy(w);
}

static void test_round_trip(void **state)
{
	struct fx_file *fx = *state;
	size_t nbig = DTP_ST_IO_BLOCK / 4 + 1000;    /* more than one block */
	float *big = malloc(nbig * sizeof(float)), *got = malloc(nbig * sizeof(float));
	struct dtp_st_file *f;
	struct dtp_err e;
	float a[6], s;
	int32_t b[4];
	uint64_t sa[2] = { 2, 3 }, sb[1] = { 4 }, sbig[1] = { nbig }, wrong[2] = { 3, 2 };
	unsigned char le[8];
	uint64_t hlen = 0;

	for (size_t i = 0; i < nbig; i++)
		big[i] = (float)i * 0.5f;
	write_sample(fx->path, big, nbig);
	assert_int_equal(dtp_st_open(fx->path, &f, &e), 0);
	assert_int_equal(dtp_st_count(f), 5);
	assert_string_equal(dtp_st_tensor_at(f, 0)->name, "a");
	assert_string_equal(dtp_st_meta(f, "format"), "pt");
	assert_int_equal(dtp_st_read(f, "a", DTP_ST_F32, 2, sa, a, sizeof(a), &e), 0);
	assert_memory_equal(a, A, sizeof(A));
	assert_int_equal(dtp_st_read(f, "b.int", DTP_ST_I32, 1, sb, b, sizeof(b), &e), 0);
	assert_memory_equal(b, B, sizeof(B));
	assert_int_equal(dtp_st_read(f, "scalar", DTP_ST_F32, 0, NULL, &s, 4, &e), 0);
	assert_true(s == S);
	assert_int_equal(dtp_st_read(f, "big", DTP_ST_F32, 1, sbig, got, nbig * 4, &e), 0);
	assert_memory_equal(got, big, nbig * 4);
	assert_int_equal(dtp_st_verify(f, &e), 0);
	assert_true(dtp_st_find(f, "b.int")->has_crc);
	/* wrong shape, dtype, name: refused, naming both */
	dtp_err_clear(&e);
	assert_int_equal(dtp_st_read(f, "a", DTP_ST_F32, 2, wrong, a, sizeof(a), &e), -EINVAL);
	assert_non_null(strstr(e.msg, "\"a\" has shape [2, 3], [3, 2] was expected"));
	assert_int_equal(dtp_st_read(f, "a", DTP_ST_I32, 2, sa, a, sizeof(a), &e), -EINVAL);
	assert_non_null(strstr(e.msg, "is F32, I32 was expected"));
	assert_int_equal(dtp_st_read(f, "nope", DTP_ST_F32, 2, sa, a, sizeof(a), &e), -ENOENT);
	assert_non_null(strstr(e.msg, fx->path));
	dtp_st_close(f);
	/* the header is padded so the data starts 8-aligned */
	{
		int fd = open(fx->path, O_RDONLY);

		assert_int_equal(read(fd, le, 8), 8);
		close(fd);
		for (int i = 7; i >= 0; i--)
			hlen = hlen << 8 | le[i];
		assert_int_equal(hlen % 8, 0);
	}
	free(big);
	free(got);
}

static void test_bad_crc(void **state)
{
	struct fx_file *fx = *state;
	struct dtp_st_file *f;
	struct dtp_err e;
	int32_t b[4];
	uint64_t sb[1] = { 4 };
	const struct dtp_st_tensor *t;
	unsigned char le[8], x;
	uint64_t hlen = 0;
	int fd;

	write_sample(fx->path, NULL, 0);
	assert_int_equal(dtp_st_open(fx->path, &f, &e), 0);
	t = dtp_st_find(f, "b.int");
	fd = open(fx->path, O_RDONLY);
	assert_int_equal(read(fd, le, 8), 8);
	close(fd);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | le[i];
	/* one bit of b.int flipped */
	fd = open(fx->path, O_RDONLY);
	assert_int_equal(pread(fd, &x, 1, (off_t)(8 + hlen + t->begin + 5)), 1);
	close(fd);
	x ^= 0x04;
	fx_patch(fx->path, (long)(8 + hlen + t->begin + 5), &x, 1);
	dtp_err_clear(&e);
	assert_int_equal(dtp_st_read(f, "b.int", DTP_ST_I32, 1, sb, b, sizeof(b), &e), -EBADMSG);
	assert_non_null(strstr(e.msg, fx->path));
	assert_non_null(strstr(e.msg, "\"b.int\": CRC-32C mismatch"));
	dtp_err_clear(&e);
	assert_int_equal(dtp_st_verify(f, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "\"b.int\""));
	dtp_st_close(f);
}

static void test_corrupt_headers(void **state)
{
	struct fx_file *fx = *state;
	const char *p = fx->path;

	/* shape x dtype size != end - begin */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20);
	refused(p, -EBADMSG, "\"w\": shape [2, 3] of F32 is 24 bytes");
	/* offsets beyond the data buffer */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[250],\"data_offsets\":[0,1000]}}", 16);
	refused(p, -EBADMSG, "\"w\": data_offsets [0, 1000) reach beyond the data buffer");
	/* overlapping */
	write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
	refused(p, -EBADMSG, "\"b\" [8, 24) overlaps tensor \"a\"");
	/* a hole */
	write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[20,36]}}", 36);
	refused(p, -EBADMSG, "\"b\" starts at 20");
	/* unknown dtype */
	write_raw(p, "{\"w\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	refused(p, -EBADMSG, "\"w\": unknown dtype \"F31\"");
	/* bad JSON */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],", 4);
	refused(p, -EBADMSG, "not valid JSON");
	/* not an object entry */
	write_raw(p, "{\"w\":[1,2]}", 0);
	refused(p, -EBADMSG, "\"w\"");
	/* names must be unique */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
	refused(p, -EBADMSG, "duplicate");
	/* negative shape, bad offsets */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
	refused(p, -EBADMSG, "\"w\": shape entry 0");
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4);
	refused(p, -EBADMSG, "\"w\": data_offsets must be");
	/* trailing bytes after the last tensor */
	write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12);
	refused(p, -EBADMSG, "trailing bytes");
	/* a CRC for a tensor the file lacks, and a malformed one */
	write_raw(p, "{\"__metadata__\":{\"dtpipe.crc32c.v\":\"00000000\"},"
		     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	refused(p, -EBADMSG, "tensor \"v\"");
	write_raw(p, "{\"__metadata__\":{\"dtpipe.crc32c.w\":\"xyz\"},"
		     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	refused(p, -EBADMSG, "\"w\": CRC-32C \"xyz\"");
	/* metadata values must be strings */
	write_raw(p, "{\"__metadata__\":{\"k\":1}}", 0);
	refused(p, -EBADMSG, "\"k\"");
	/* padded with spaces and a tensor-less file are fine */
	write_raw(p, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}     ", 4);
	{
		struct dtp_st_file *f;

		assert_int_equal(dtp_st_open(p, &f, NULL), 0);
		assert_int_equal(dtp_st_find(f, "w")->dtype, DTP_ST_BF16);
		assert_false(dtp_st_find(f, "w")->has_crc);
		dtp_st_close(f);
	}
}

static void test_truncated_and_missing(void **state)
{
	struct fx_file *fx = *state;
	unsigned char huge[8] = { 0, 0, 0, 0, 1, 0, 0, 0 };
	char missing[4300];
	struct stat sb;

	write_sample(fx->path, NULL, 0);
	assert_int_equal(stat(fx->path, &sb), 0);
	/* truncated in the last tensor's data */
	assert_int_equal(truncate(fx->path, sb.st_size - 2), 0);
	refused(fx->path, -EBADMSG, "\"scalar\": data_offsets");
	/* truncated in the header */
	assert_int_equal(truncate(fx->path, 40), 0);
	refused(fx->path, -EBADMSG, "header length");
	/* shorter than the length field */
	assert_int_equal(truncate(fx->path, 5), 0);
	refused(fx->path, -EBADMSG, "truncated");
	/* a header length beyond the file */
	write_sample(fx->path, NULL, 0);
	fx_patch(fx->path, 0, huge, 8);
	refused(fx->path, -EBADMSG, "header length 4294967296");
	/* no such file */
	snprintf(missing, sizeof(missing), "%s/none.safetensors", fx->dir);
	refused(missing, -ENOENT, "cannot open");
}

/* examples/safetensors_read.py (numpy only) reads what the writer wrote:
 * a file any safetensors reader can use. numpy is required, not optional
 * (scripts/setup.sh --test installs python3-numpy). */
static void test_python_reader(void **state)
{
	static const char *pythons[] = { "python3", "/usr/bin/python3" };
	struct fx_file *fx = *state;
	const char *src = getenv("DTP_SRCDIR"), *py = NULL;
	char cmd[9000], line[4096];
	int seen = 0;
	FILE *out;

	for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]) && !py; i++) {
		snprintf(cmd, sizeof(cmd), "%s -c 'import numpy' >/dev/null 2>&1", pythons[i]);
		if (system(cmd) == 0)
			py = pythons[i];
	}
	if (!py)
		fail_msg("no python3 with numpy: install python3-numpy (scripts/setup.sh --test)");
	write_sample(fx->path, NULL, 0);
	snprintf(cmd, sizeof(cmd), "%s '%s/examples/safetensors_read.py' '%s'", py,
		 src ? src : "..", fx->path);
	out = popen(cmd, "r");
	assert_non_null(out);
	while (fgets(line, sizeof(line), out)) {
		char *save = NULL, *name = strtok_r(line, " \n", &save),
		     *dtype = strtok_r(NULL, " \n", &save), *shape = strtok_r(NULL, " \n", &save),
		     *v;
		int k = 0;

		assert_non_null(shape);
		if (strcmp(name, "a") == 0) {
			assert_string_equal(dtype, "float32");
			assert_string_equal(shape, "shape=2,3");
			while ((v = strtok_r(NULL, " \n", &save)))
				assert_true(strtof(v, NULL) == A[k++]);
			assert_int_equal(k, 6);
		} else if (strcmp(name, "b.int") == 0) {
			assert_string_equal(dtype, "int32");
			assert_string_equal(shape, "shape=4");
			while ((v = strtok_r(NULL, " \n", &save)))
				assert_int_equal(strtol(v, NULL, 10), B[k++]);
			assert_int_equal(k, 4);
		} else if (strcmp(name, "scalar") == 0) {
			assert_string_equal(shape, "shape=");
			v = strtok_r(NULL, " \n", &save);
			assert_non_null(v);
			assert_true(strtof(v, NULL) == S);
		} else {
			assert_string_equal(name, "empty");
			assert_string_equal(shape, "shape=0");
		}
		seen++;
	}
	assert_int_equal(pclose(out), 0);
	assert_int_equal(seen, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_crc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_python_reader, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
