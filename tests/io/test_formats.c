/* Shard formats: good files open; every corruption is refused with the file
 * named and the right errno. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "io_fixture.h"
#include "io/shard.h"

#include <zlib.h>

static int setup(void **state)
{
	return fx_file_setup(state, "a.dtpr");
}

static int teardown(void **state)
{
	return fx_file_teardown(state);
}

/* opening the dataset fails with `code` and a message naming the file and `what` */
static void expect_open_error(const char *path, int seq_len, int code, const char *name, const char *what)
{
	struct dtp_loader_config c;
	struct dtp_loader *l = NULL;
	struct dtp_err err;

	dtp_loader_config_default(&c);
	c.path = path;
	c.seq_len = seq_len;
	dtp_err_clear(&err);
	assert_int_equal(dtp_loader_open(&c, &l, &err), code);
	assert_null(l);
	assert_int_equal(err.code, code);
	assert_non_null(strstr(err.msg, name));
	if (!strstr(err.msg, what))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, what);
	assert_int_equal(dtp_err_exit(&err, code), DTP_EXIT_BADINPUT);
}

static void test_records_good(void **state)
{
	struct fx_file *f = *state;
	struct dtp_shard s;
	struct dtp_err err;

	assert_int_equal(fx_record_shard(f->path, 10, 0, 33), 0);
	assert_int_equal(dtp_shard_probe(f->path, 0, &s, &err), 0);
	assert_int_equal(s.kind, DTP_DATASET_RECORDS);
	assert_int_equal(s.samples, 33);
	assert_int_equal(s.record_bytes, 14);
	assert_int_equal(s.file_bytes, 64 + 33 * 14);
	assert_int_equal(s.rec.dims[0], 10);
	dtp_shard_free(&s);
}

static void test_records_corrupt(void **state)
{
	struct fx_file *f = *state;
	uint8_t b4[4];
	uint8_t h[64];
	FILE *fp;

	/* wrong magic */
	assert_int_equal(fx_record_shard(f->path, 10, 0, 5), 0);
	fx_patch(f->path, 0, "XXXX", 4);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "wrong magic");
	/* checksum: one byte of the header changed */
	assert_int_equal(fx_record_shard(f->path, 10, 0, 5), 0);
	fx_patch(f->path, 24, "\x07", 1);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "checksum");
	/* version (with a valid checksum, so the version check is what fires) */
	assert_int_equal(fx_record_shard(f->path, 10, 0, 5), 0);
	fp = fopen(f->path, "rb");
	assert_int_equal(fread(h, 1, 64, fp), 64);
	fclose(fp);
	dtp_put_le32(h + 4, 2);
	dtp_put_le32(h + 60, (uint32_t)crc32(0, h, 60));
	fx_patch(f->path, 0, h, 64);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "version 2");
	/* dtype */
	dtp_put_le32(h + 4, 1);
	dtp_put_le32(h + 16, 9);
	dtp_put_le32(h + 60, (uint32_t)crc32(0, h, 60));
	fx_patch(f->path, 0, h, 64);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "dtype 9");
	/* truncated */
	assert_int_equal(fx_record_shard(f->path, 10, 0, 5), 0);
	assert_int_equal(truncate(f->path, 64 + 4 * 14 + 3), 0);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "truncated");
	assert_int_equal(truncate(f->path, 30), 0);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "truncated");
	/* size mismatch: bytes after the last record */
	assert_int_equal(fx_record_shard(f->path, 10, 0, 5), 0);
	memset(b4, 0, sizeof(b4));
	fx_patch(f->path, 64 + 5 * 14, b4, 4);
	expect_open_error(f->path, 0, -EBADMSG, f->path, "size mismatch");
}

static void test_tokens_good(void **state)
{
	struct fx_file *f = *state;
	struct dtp_shard s;
	struct dtp_err err;
	int tb;

	for (tb = 2; tb <= 4; tb += 2) {
		snprintf(f->path, sizeof(f->path), "%s/t%d.bin", f->dir, tb);
		assert_int_equal(fx_token_shard(f->path, 0, 101, tb), 0);
		assert_int_equal(dtp_shard_probe(f->path, 10, &s, &err), 0);
		assert_int_equal(s.kind, DTP_DATASET_TOKENS);
		assert_int_equal(s.token_bytes, tb);
		assert_int_equal(s.items, 101);
		assert_int_equal(s.samples, 10);   /* (101 - 1) / 10 */
		assert_int_equal(s.file_bytes, 1024 + 101 * tb);
		dtp_shard_free(&s);
	}
}

static void test_tokens_corrupt(void **state)
{
	struct fx_file *f = *state;
	uint8_t b4[4];

	snprintf(f->path, sizeof(f->path), "%s/t.bin", f->dir);
	/* version 7 with the uint16 magic */
	assert_int_equal(fx_token_shard(f->path, 0, 50, 2), 0);
	dtp_put_le32(b4, 7);
	fx_patch(f->path, 4, b4, 4);
	expect_open_error(f->path, 4, -EBADMSG, f->path, "version 7");
	/* wrong magic */
	assert_int_equal(fx_token_shard(f->path, 0, 50, 2), 0);
	dtp_put_le32(b4, 12345);
	fx_patch(f->path, 0, b4, 4);
	expect_open_error(f->path, 4, -EBADMSG, f->path, "wrong magic");
	/* truncated */
	assert_int_equal(fx_token_shard(f->path, 0, 50, 4), 0);
	assert_int_equal(truncate(f->path, 1024 + 49 * 4), 0);
	expect_open_error(f->path, 4, -EBADMSG, f->path, "truncated");
	assert_int_equal(truncate(f->path, 500), 0);
	expect_open_error(f->path, 4, -EBADMSG, f->path, "truncated");
	/* size mismatch: a count smaller than the data */
	assert_int_equal(fx_token_shard(f->path, 0, 50, 2), 0);
	dtp_put_le32(b4, 40);
	fx_patch(f->path, 8, b4, 4);
	expect_open_error(f->path, 4, -EBADMSG, f->path, "size mismatch");
	/* too short for one window of T+1 */
	assert_int_equal(fx_token_shard(f->path, 0, 50, 2), 0);
	expect_open_error(f->path, 50, -EINVAL, f->path, "no samples");
}

static void test_dataset_errors(void **state)
{
	struct fx_file *f = *state;
	char p2[8400], sub[4200];

	/* empty directory */
	snprintf(sub, sizeof(sub), "%.4000s/empty", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	expect_open_error(sub, 0, -ENOENT, sub, "empty dataset directory");
	/* glob that matches nothing; missing directory */
	snprintf(p2, sizeof(p2), "%.4100s/nothing_*.bin", f->dir);
	expect_open_error(p2, 4, -ENOENT, p2, "no shard matches");
	/* unreadable file: a dangling link named like a shard */
	snprintf(p2, sizeof(p2), "%.4100s/gone.dtpr", sub);
	assert_int_equal(symlink("/nonexistent/dtp-shard", p2), 0);
	expect_open_error(sub, 0, -ENOENT, p2, "unreadable");
	unlink(p2);
	/* a directory named like a shard is not a regular file */
	assert_int_equal(mkdir(p2, 0755), 0);
	expect_open_error(sub, 0, -EINVAL, p2, "not a regular file");
	rmdir(p2);
	/* mixed shapes in one directory */
	snprintf(p2, sizeof(p2), "%.4100s/a.dtpr", sub);
	assert_int_equal(fx_record_shard(p2, 10, 0, 5), 0);
	snprintf(p2, sizeof(p2), "%.4100s/b.dtpr", sub);
	assert_int_equal(fx_record_shard(p2, 11, 0, 5), 0);
	expect_open_error(sub, 0, -EINVAL, p2, "differs");
	/* records and tokens mixed */
	snprintf(p2, sizeof(p2), "%.4100s/b.dtpr", sub);
	unlink(p2);
	snprintf(p2, sizeof(p2), "%.4100s/c.bin", sub);
	assert_int_equal(fx_token_shard(p2, 0, 50, 2), 0);
	expect_open_error(sub, 4, -EINVAL, p2, "differs");
	/* a bad shard among good ones is named */
	unlink(p2);
	{
		FILE *fp = fopen(p2, "wb");

		assert_non_null(fp);
		fputs("junk", fp);
		fclose(fp);
	}
	expect_open_error(sub, 4, -EBADMSG, p2, "wrong magic");
}

static void test_writer_checks(void **state)
{
	struct fx_file *f = *state;
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_U8, .ndim = 1, .dims = { 2 },
					.label_dtype = DTP_REC_I32, .num_classes = 3 };
	struct dtp_shard_writer *w;
	struct dtp_err err;
	uint8_t feat[2] = { 1, 2 };
	uint32_t big = 70000;

	assert_int_equal(dtp_shard_writer_records(f->path, &spec, &w, &err), 0);
	assert_int_equal(dtp_shard_writer_add_record(w, feat, 3, &err), -ERANGE);
	assert_int_equal(dtp_shard_writer_add_record(w, feat, 2, &err), 0);
	assert_int_equal(dtp_shard_writer_finish(w, &err), 0);
	assert_int_equal(access(f->path, R_OK), 0);
	snprintf(f->path, sizeof(f->path), "%s/t.bin", f->dir);
	assert_int_equal(dtp_shard_writer_tokens(f->path, 2, &w, &err), 0);
	assert_int_equal(dtp_shard_writer_add_tokens(w, &big, 1, &err), -ERANGE);
	dtp_shard_writer_abort(w);
	assert_int_equal(access(f->path, F_OK), -1);
	spec.ndim = 5;
	assert_int_equal(dtp_shard_writer_records(f->path, &spec, &w, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_checks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
