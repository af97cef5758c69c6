/* The safetensors writer's and reader's two paths (io/dio.h): data with
 * O_DIRECT through staging buffers where the file system takes it, and
 * through the page cache. On a tmpfs (/dev/shm) and on the build
 * directory's file system (ext4 here): tensors of sizes that are not
 * multiples of 4 KiB, one crossing the 4 MiB staging blocks and more data
 * than all staging buffers hold, an empty one. Both writes give the same
 * bytes, the data starts 4096-aligned, the file ends at its last byte; both
 * reads give back every byte, in file order, backwards and repeated; a file
 * cut short after it was opened, and a flipped byte, are refused either way. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "io_fixture.h"
#include "io/safetensors.h"

#define NT 5
/* floats: 3, just over one 4 MiB block, none, 14 MiB + 7 (past the 16 MiB
 * of staging), 5 */
static const uint64_t sizes[NT] = { 3, (1u << 20) + 3001, 0, (7u << 19) + 7, 5 };
static const char *const names[NT] = { "t0", "t1.over_block", "t2.empty", "t3.big", "t4" };

struct fx {
	float *data[NT];
	char *dirs[2];
	int ndirs;
};

static float value(int t, uint64_t i)
{
	return (float)(int32_t)((i + 1) * 2654435761u ^ (uint64_t)t * 40503u) * 1e-6f;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char tmpl[64];

	for (int t = 0; t < NT; t++) {
		fx->data[t] = malloc((sizes[t] ? sizes[t] : 1) * sizeof(float));
		for (uint64_t i = 0; i < sizes[t]; i++)
			fx->data[t][i] = value(t, i);
	}
	snprintf(tmpl, sizeof(tmpl), "/dev/shm/dtp-st-direct-XXXXXX");
	if (mkdtemp(tmpl))
		fx->dirs[fx->ndirs++] = strdup(tmpl);
	snprintf(tmpl, sizeof(tmpl), "dtp-st-direct-XXXXXX");   /* the build directory */
	if (!mkdtemp(tmpl))
		abort();
	fx->dirs[fx->ndirs++] = strdup(tmpl);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	for (int d = 0; d < fx->ndirs; d++) {
		fx_rmtree(fx->dirs[d]);
		free(fx->dirs[d]);
	}
	for (int t = 0; t < NT; t++)
		free(fx->data[t]);
	free(fx);
	return 0;
}

static void write_file(struct fx *fx, const char *path, int direct, uint32_t *crcs)
{
	struct dtp_st_writer *w;
	struct dtp_err e;

	dtp_err_clear(&e);
	assert_int_equal(dtp_st_writer_create(&w, &e), 0);
	dtp_st_writer_set_direct(w, direct);
	for (int t = 0; t < NT; t++)
		assert_int_equal(dtp_st_writer_add(w, names[t], DTP_ST_F32, 1, &sizes[t],
						   sizes[t] ? fx->data[t] : NULL, &e), 0);
	if (dtp_st_writer_write(w, path, &e) != 0)
		fail_msg("write %s (direct %d): %s", path, direct, e.msg);
	for (int t = 0; t < NT; t++)
		crcs[t] = dtp_st_writer_tensor(w, t)->crc32c;
	dtp_st_writer_destroy(w);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	struct stat sb;
	unsigned char *p;
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	assert_int_equal(fstat(fileno(fp), &sb), 0);
	*n = (size_t)sb.st_size;
	p = malloc(*n ? *n : 1);
	assert_int_equal(fread(p, 1, *n, fp), *n);
	fclose(fp);
	return p;
}

/* read tensor t and compare; or expect `code` and `want` in the message */
static void read_one(struct fx *fx, struct dtp_st_file *f, int t, int code, const char *want)
{
	size_t bytes = sizes[t] * sizeof(float);
	float *buf = malloc(bytes ? bytes : 1);
	struct dtp_err e;
	int r;

	dtp_err_clear(&e);
	r = dtp_st_read(f, names[t], DTP_ST_F32, 1, &sizes[t], buf, bytes, &e);
	if (r != code)
		fail_msg("tensor %s: %d (%s), %d expected", names[t], r, e.msg, code);
	if (!code && bytes && memcmp(buf, fx->data[t], bytes) != 0)
		fail_msg("tensor %s read back differs", names[t]);
	if (code && (!strstr(e.msg, names[t]) || !strstr(e.msg, want)))
		fail_msg("message \"%s\" lacks \"%s\" or the tensor", e.msg, want);
	free(buf);
}

static struct dtp_st_file *open_file(const char *path, int direct)
{
	struct dtp_st_file *f;
	struct dtp_err e;

	if (dtp_st_open(path, &f, &e) != 0)
		fail_msg("open %s: %s", path, e.msg);
	dtp_st_set_direct(f, direct);
	return f;
}

static void test_write_read(void **state)
{
	struct fx *fx = *state;

	for (int d = 0; d < fx->ndirs; d++) {
		char pa[512], pb[512];
		uint32_t ca[NT], cb[NT];
		unsigned char *a, *b;
		size_t na, nb;
		uint64_t hlen = 0, data = 0;

		snprintf(pa, sizeof(pa), "%s/direct.safetensors", fx->dirs[d]);
		snprintf(pb, sizeof(pb), "%s/buffered.safetensors", fx->dirs[d]);
		write_file(fx, pa, 1, ca);
		write_file(fx, pb, 0, cb);
		assert_memory_equal(ca, cb, sizeof(ca));
		a = slurp(pa, &na);
		b = slurp(pb, &nb);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
		for (int i = 7; i >= 0; i--)
			hlen = hlen << 8 | a[i];
		for (int t = 0; t < NT; t++)
			data += sizes[t] * sizeof(float);
		assert_int_equal((8 + hlen) % 4096, 0);
		assert_int_equal(na, 8 + hlen + data);
		free(a);
		free(b);
		for (int direct = 1; direct >= 0; direct--) {
			struct dtp_st_file *f = open_file(pa, direct);

			for (int t = 0; t < NT; t++)          /* in file order */
				read_one(fx, f, t, 0, NULL);
			for (int t = NT - 1; t >= 0; t--)     /* backwards */
				read_one(fx, f, t, 0, NULL);
			read_one(fx, f, 3, 0, NULL);          /* again */
			read_one(fx, f, 1, 0, NULL);
			{
				struct dtp_err e;

				if (dtp_st_verify(f, &e) != 0)
					fail_msg("verify (direct %d): %s", direct, e.msg);
			}
			dtp_st_close(f);
		}
	}
}

static void test_refused(void **state)
{
	struct fx *fx = *state;

	for (int d = 0; d < fx->ndirs; d++) {
		char p[512];
		uint32_t c[NT];

		snprintf(p, sizeof(p), "%s/bad.safetensors", fx->dirs[d]);
		for (int direct = 1; direct >= 0; direct--) {
			struct dtp_st_file *f;
			unsigned char flip;
			struct stat sb;
			uint64_t off;

			/* a byte of t3 in its second staging block, flipped */
			write_file(fx, p, direct, c);
			assert_int_equal(stat(p, &sb), 0);
			off = (uint64_t)sb.st_size - sizes[4] * 4 - sizes[3] * 4 + (5u << 20) + 3;
			f = open_file(p, direct);
			read_one(fx, f, 3, 0, NULL);
			dtp_st_close(f);
			{
				int fd = open(p, O_RDWR);

				assert_true(fd >= 0);
				assert_int_equal(pread(fd, &flip, 1, (off_t)off), 1);
				flip ^= 0x10;
				assert_int_equal(pwrite(fd, &flip, 1, (off_t)off), 1);
				close(fd);
			}
			f = open_file(p, direct);
			read_one(fx, f, 1, 0, NULL);
			read_one(fx, f, 3, -EBADMSG, "CRC-32C mismatch");
			{
				struct dtp_err e;

				dtp_err_clear(&e);
				assert_int_equal(dtp_st_verify(f, &e), -EBADMSG);
				assert_non_null(strstr(e.msg, "t3.big"));
			}
			dtp_st_close(f);
			/* cut short after it was opened */
			f = open_file(p, direct);
			assert_int_equal(truncate(p, (off_t)(sb.st_size - 4096 * 3)), 0);
			read_one(fx, f, 1, 0, NULL);
			read_one(fx, f, 3, -EBADMSG, "the file ended");
			dtp_st_close(f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
