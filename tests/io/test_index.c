/* The dataset index (DIR/.dtpipe-index): written by dtpipe-shard and by the
 * first open, used when it matches the directory (no header read at open,
 * each header read on the shard's first use instead), ignored and rebuilt
 * when stale or corrupt, skipped on a read-only directory, and a shard
 * corrupted behind its back is still a clear error.
 *
 * Shards are backdated (utimensat) where a test needs the index trusted: an
 * entry whose mtime is within DTP_INDEX_RACY_NS of the scan that wrote it is
 * not trusted (see index.h), and the tests must not sleep. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <zlib.h>

#include "io_fixture.h"
#include "io/index.h"

#define FEAT 60    /* record bytes 64 */
#define PER 100    /* records per shard */

/* path: the directory's index file */
static int setup(void **state)
{
	return fx_file_setup(state, DTP_INDEX_NAME);
}

static int teardown(void **state)
{
	struct fx_file *f = *state;

	chmod(f->dir, 0700);
	return fx_file_teardown(state);
}

/* mtime = now - secs (+ ns, to tell touches apart) */
static void backdate(const char *path, int secs, long ns)
{
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= secs;
	t[0].tv_nsec = ns;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static int64_t mtime_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
}

static void set_mtime(const char *path, int64_t ns)
{
	struct timespec t[2];

	t[0].tv_sec = (time_t)(ns / 1000000000ll);
	t[0].tv_nsec = (long)(ns % 1000000000ll);
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* shard k of dir: name_k.dtpr with n records, ids from 1000 k, backdated */
static void shard(const char *dir, const char *name, int k, int n)
{
	char p[4400];

	snprintf(p, sizeof(p), "%s/%s_%d.dtpr", dir, name, k);
	assert_int_equal(fx_record_shard(p, FEAT, 1000u * (unsigned)k, (uint64_t)n), 0);
	backdate(p, 60, 1000 * k);
}

struct opened {
	int rc;
	uint64_t samples;
	struct dtp_loader_io_stats st;
	struct dtp_err err;
};

/* opens path; reads the epoch (file order, no wrap) when read_all: every
 * label must come, in order; stats after the reads */
static struct opened open_ds(const char *path, int seq_len, int read_all)
{
	struct dtp_loader_config c;
	struct dtp_dataset_info info;
	struct dtp_loader *l = NULL;
	struct opened o;
	int32_t tg[64 * 16];   /* B = 64 samples of up to T = 16 targets */
	int n = 0;

	memset(&o, 0, sizeof(o));
	dtp_loader_config_default(&c);
	c.path = path;
	assert_true(seq_len <= 16);
	c.seq_len = seq_len;
	c.shuffle = 0;
	c.wrap = 0;
	c.queue_depth = 2;
	c.block_bytes = 4096;
	c.budget_bytes = 1u << 20;
	dtp_err_clear(&o.err);
	o.rc = dtp_loader_open(&c, &l, &o.err);
	if (o.rc)
		return o;
	dtp_loader_info(l, &info);
	o.samples = info.samples;
	while (read_all && (n = dtp_loader_next(l, 64, NULL, tg, &o.err)) > 0)
		;
	if (read_all && n < 0)
		o.rc = n;
	dtp_loader_io_stats(l, &o.st);
	dtp_loader_close(l);
	return o;
}

static void expect_scan(const char *path, int nshards, uint64_t samples)
{
	struct opened o = open_ds(path, 4, 0);

	if (o.rc)
		fail_msg("open %s: %s", path, o.err.msg);
	assert_int_equal(o.samples, samples);
	assert_int_equal(o.st.index_used, 0);
	assert_int_equal(o.st.headers_scanned, nshards);
}

static void expect_indexed(const char *path, uint64_t samples)
{
	struct opened o = open_ds(path, 4, 1);

	if (o.rc)
		fail_msg("open %s: %s", path, o.err.msg);
	assert_int_equal(o.samples, samples);
	assert_int_equal(o.st.index_used, 1);
	assert_int_equal(o.st.headers_scanned, 0);
}

/* the index on disk holds exactly these shards, as they are now */
static void expect_index_file(const char *dir, const char *const *names, int n)
{
	struct dtp_index ix;
	struct dtp_err err;
	char p[4400];
	int i;

	dtp_err_clear(&err);
	if (dtp_index_load(dir, 4, &ix, &err))
		fail_msg("index of %s: %s", dir, err.msg);
	assert_int_equal(ix.n, n);
	for (i = 0; i < n; i++) {
		const struct dtp_shard *e = dtp_index_find(&ix, names[i]);
		struct dtp_shard s;

		assert_non_null(e);
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		assert_int_equal(dtp_shard_probe(p, 4, &s, &err), 0);
		assert_int_equal(e->file_bytes, s.file_bytes);
		assert_true(e->mtime_ns == s.mtime_ns);
		assert_int_equal(e->kind, s.kind);
		assert_int_equal(e->items, s.items);
		assert_int_equal(e->samples, s.samples);
		assert_int_equal(e->record_bytes, s.record_bytes);
		assert_int_equal(e->token_bytes, s.token_bytes);
		dtp_shard_free(&s);
	}
	dtp_index_free(&ix);
}

static void test_first_open_builds_then_uses(void **state)
{
	struct fx_file *f = *state;
	const char *names[] = { "s_0.dtpr", "s_1.dtpr", "s_2.dtpr" };
	struct opened o;
	int k;

	for (k = 0; k < 3; k++)
		shard(f->dir, "s", k, PER);
	assert_int_equal(access(f->path, F_OK), -1);
	expect_scan(f->dir, 3, 3 * PER);
	expect_index_file(f->dir, names, 3);
	/* used: no header read at open; each read once on first use, and
	 * the whole epoch comes */
	o = open_ds(f->dir, 0, 1);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.st.index_used, 1);
	assert_int_equal(o.st.headers_scanned, 0);
	assert_int_equal(o.st.headers_checked, 3);
	assert_int_equal(o.st.bytes_read, 3 * (64 + PER * (FEAT + 4)));   /* reads start at offset 0 */
	/* a glob of the directory's files uses it too */
	{
		char g[4400];

		snprintf(g, sizeof(g), "%s/s_[12].dtpr", f->dir);
		expect_indexed(g, 2 * PER);
	}
}

static void test_tokens_count_not_samples(void **state)
{
	struct fx_file *f = *state;
	char p[4400];
	struct opened o;

	snprintf(p, sizeof(p), "%s/t_0.bin", f->dir);
	assert_int_equal(fx_token_shard(p, 0, 101, 2), 0);
	backdate(p, 60, 0);
	o = open_ds(f->dir, 4, 0);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.samples, 25);
	/* another T: the index holds the token count, samples follow T */
	o = open_ds(f->dir, 10, 1);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.st.index_used, 1);
	assert_int_equal(o.samples, 10);
}

/* a shard written just now may change again within one timestamp tick:
 * its entry is not trusted yet, the header is read (its time set a minute
 * ahead, so that a stalled runner cannot age it past the tick between the
 * scans) */
static void test_fresh_shards_not_trusted(void **state)
{
	struct fx_file *f = *state;
	char p[4400];

	snprintf(p, sizeof(p), "%s/n_0.dtpr", f->dir);
	assert_int_equal(fx_record_shard(p, FEAT, 0, PER), 0);
	backdate(p, -60, 0);
	expect_scan(f->dir, 1, PER);
	assert_int_equal(access(f->path, F_OK), 0);
	expect_scan(f->dir, 1, PER);
	backdate(p, 60, 0);
	expect_scan(f->dir, 1, PER);   /* touched: stale */
	expect_indexed(f->dir, PER);
}

static void test_stale_rebuilt(void **state)
{
	struct fx_file *f = *state;
	char p[4400];
	int k;

	for (k = 0; k < 3; k++)
		shard(f->dir, "s", k, PER);
	expect_scan(f->dir, 3, 3 * PER);
	expect_indexed(f->dir, 3 * PER);
	/* touched (same size) */
	snprintf(p, sizeof(p), "%s/s_1.dtpr", f->dir);
	backdate(p, 50, 7);
	expect_scan(f->dir, 3, 3 * PER);
	expect_indexed(f->dir, 3 * PER);
	/* resized: rewritten with more records */
	shard(f->dir, "s", 1, PER + 20);
	expect_scan(f->dir, 3, 3 * PER + 20);
	expect_indexed(f->dir, 3 * PER + 20);
	/* added */
	shard(f->dir, "s", 3, 10);
	expect_scan(f->dir, 4, 3 * PER + 30);
	expect_indexed(f->dir, 3 * PER + 30);
	/* removed */
	snprintf(p, sizeof(p), "%s/s_0.dtpr", f->dir);
	assert_int_equal(unlink(p), 0);
	expect_scan(f->dir, 3, 2 * PER + 30);
	expect_indexed(f->dir, 2 * PER + 30);
	{
		const char *names[] = { "s_1.dtpr", "s_2.dtpr", "s_3.dtpr" };

		expect_index_file(f->dir, names, 3);
	}
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	b = malloc((size_t)n);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	fclose(fp);
}

static void test_corrupt_index_ignored(void **state)
{
	struct fx_file *f = *state;
	struct dtp_index ix;
	struct dtp_err err;
	uint8_t *good, *b;
	size_t len;
	int k, c;

	for (k = 0; k < 2; k++)
		shard(f->dir, "s", k, PER);
	expect_scan(f->dir, 2, 2 * PER);
	good = read_file(f->path, &len);
	b = malloc(len);
	for (c = 0; c < 5; c++) {
		memcpy(b, good, len);
		switch (c) {
		case 0: b[len / 2] ^= 0x40; break;          /* a flipped bit: CRC */
		case 1: memcpy(b, "XXXX", 4); break;         /* magic */
		case 2: len -= 9; break;                     /* truncated */
		case 3: b[4] = 9; break;                     /* version */
		case 4:  /* an entry no shard could have (record count vs size), CRC made valid */
			b[DTP_INDEX_HEADER_BYTES + 24] ^= 1;
			dtp_put_le32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4)));
			break;
		}
		write_file(f->path, b, len);
		dtp_err_clear(&err);
		assert_int_equal(dtp_index_load(f->dir, 0, &ix, &err), -EBADMSG);
		expect_scan(f->dir, 2, 2 * PER);
		expect_indexed(f->dir, 2 * PER);   /* rewritten */
		if (c == 2)
			len += 9;
	}
	free(b);
	free(good);
}

/* as an unprivileged user where the test runs as root (root writes
 * anywhere): 0 when the dataset opens, uses no index and none is written */
static int child_readonly(const char *dir, const char *ix, int expect_index_used, int64_t ix_mtime)
{
	struct opened o;
	DIR *d;
	struct dirent *de;

	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 77;
	if (access(dir, W_OK) == 0)
		return 77;   /* cannot make it read-only here */
	o = open_ds(dir, 0, 1);
	if (o.rc) {
		fprintf(stderr, "open: %s\n", o.err.msg);
		return 1;
	}
	if (o.samples != 2 * PER || o.st.index_used != expect_index_used)
		return 2;
	if (ix_mtime < 0 ? access(ix, F_OK) == 0 : mtime_of(ix) != ix_mtime)
		return 3;
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, DTP_INDEX_NAME ".", strlen(DTP_INDEX_NAME) + 1) == 0)
			return 4;   /* a temporary file left behind */
	if (d)
		closedir(d);
	return 0;
}

static int run_readonly(struct fx_file *f, int expect_index_used, int64_t ix_mtime)
{
	pid_t pid;
	int st;

	assert_int_equal(chmod(f->dir, 0555), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_readonly(f->dir, f->path, expect_index_used, ix_mtime));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_readonly_directory(void **state)
{
	struct fx_file *f = *state;
	char p[4400];
	int64_t m;
	int k, rc;

	for (k = 0; k < 2; k++)
		shard(f->dir, "s", k, PER);
	/* no index and none can be written: the headers are read */
	rc = run_readonly(f, 0, -1);
	if (rc == 77)
		skip();
	assert_int_equal(rc, 0);
	/* a good index is used from a read-only directory */
	expect_scan(f->dir, 2, 2 * PER);
	m = mtime_of(f->path);
	assert_int_equal(run_readonly(f, 1, m), 0);
	/* a stale one is ignored and left as it is */
	snprintf(p, sizeof(p), "%s/s_0.dtpr", f->dir);
	backdate(p, 40, 0);
	assert_int_equal(run_readonly(f, 0, m), 0);
}

/* the header changed after indexing but size and mtime were kept: the index
 * is trusted, the ring reads the header on the shard's first use */
static void expect_caught(const char *dir, const char *path, const char *what)
{
	struct opened o = open_ds(dir, 0, 1);

	assert_int_equal(o.rc, -EBADMSG);
	assert_int_equal(dtp_err_exit(&o.err, o.rc), DTP_EXIT_BADINPUT);
	if (!strstr(o.err.msg, path) || !strstr(o.err.msg, what))
		fail_msg("message \"%s\" does not name %s and say \"%s\"", o.err.msg, path, what);
}

static void test_shard_corrupted_after_indexing(void **state)
{
	struct fx_file *f = *state;
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_U8, .ndim = 1, .dims = { FEAT },
					.label_dtype = DTP_REC_I32, .num_classes = 0 };
	uint8_t h[DTP_REC_HEADER_BYTES];
	struct opened o;
	char p[4400];
	int64_t m;
	int k;

	for (k = 0; k < 3; k++)
		shard(f->dir, "s", k, PER);
	expect_scan(f->dir, 3, 3 * PER);
	snprintf(p, sizeof(p), "%s/s_2.dtpr", f->dir);
	m = mtime_of(p);
	/* a byte of the header: its CRC fails */
	fx_patch(p, 24, "\x07", 1);
	set_mtime(p, m);
	o = open_ds(f->dir, 0, 0);   /* opens from the index: the header is not read yet */
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.st.index_used, 1);
	expect_caught(f->dir, p, "checksum");
	/* a valid header that says something else than the index */
	spec.num_classes = 10;
	dtp_rec_header_encode(&spec, PER, h);
	fx_patch(p, 0, h, sizeof(h));
	set_mtime(p, m);
	/* naming the field that changed, with both values */
	expect_caught(f->dir, p, "number of classes is now 10, the index said 0");
	/* once touched the index is stale: the open-time scan finds it */
	backdate(p, 30, 0);
	o = open_ds(f->dir, 0, 0);
	assert_int_equal(o.rc, -EINVAL);
	assert_non_null(strstr(o.err.msg, p));
	assert_non_null(strstr(o.err.msg, "differs"));
}

/* a glob's files in one directory use and keep that directory's index; in
 * several directories no index is involved */
static void test_glob(void **state)
{
	struct fx_file *f = *state;
	const char *all[] = { "a_0.dtpr", "a_1.dtpr", "b_0.dtpr", "b_1.dtpr" };
	char g[4400], d2[4400];
	int k;

	for (k = 0; k < 2; k++) {
		shard(f->dir, "a", k, PER);
		shard(f->dir, "b", k, 10);
	}
	snprintf(g, sizeof(g), "%s/b_*.dtpr", f->dir);
	expect_scan(g, 2, 20);
	expect_index_file(f->dir, all, 4);   /* the other files' headers read for it */
	expect_indexed(g, 20);
	expect_indexed(f->dir, 2 * PER + 20);
	snprintf(d2, sizeof(d2), "%s/x", f->dir);
	assert_int_equal(mkdir(d2, 0755), 0);
	shard(d2, "b", 5, 10);
	snprintf(g, sizeof(g), "%s/*/b_*.dtpr", f->dir);   /* only x/ matches */
	expect_scan(g, 1, 10);
	expect_indexed(g, 10);
	/* x/b_5 and y/b_6: two directories, no index read or written */
	snprintf(d2, sizeof(d2), "%s/y", f->dir);
	assert_int_equal(mkdir(d2, 0755), 0);
	shard(d2, "b", 6, 10);
	snprintf(g, sizeof(g), "%s/[xy]/b_*.dtpr", f->dir);
	expect_scan(g, 2, 20);
	expect_scan(g, 2, 20);
	snprintf(g, sizeof(g), "%s/y/%s", f->dir, DTP_INDEX_NAME);
	assert_int_equal(access(g, F_OK), -1);
}

static void test_tool_writes_index(void **state)
{
	struct fx_file *f = *state;
	const char *names[] = { "text_000000.bin", "text_000001.bin", "text_000002.bin" };
	const char *b = getenv("DTP_BUILDDIR");
	char txt[4400], out[4400], cmd[9000];
	int i;

	snprintf(txt, sizeof(txt), "%s/in.txt", f->dir);
	snprintf(out, sizeof(out), "%s/tok", f->dir);
	{
		FILE *fp = fopen(txt, "w");

		assert_non_null(fp);
		for (i = 0; i < 250; i++)
			fputc('a' + i % 26, fp);
		fclose(fp);
	}
	snprintf(cmd, sizeof(cmd), "%s/tools/dtpipe-shard text %s --out %s --tokens-per-shard 100 2>/dev/null",
		 b && *b ? b : ".", txt, out);
	assert_int_equal(system(cmd), 0);
	expect_index_file(out, names, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_open_builds_then_uses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_count_not_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_shards_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_index_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shard_corrupted_after_indexing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_glob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool_writes_index, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
