/* Round trip: Fashion-MNIST converted by dtpipe-shard and read back by the
 * loader matches the IDX files decoded here independently with zlib; bad IDX
 * input makes the tool exit 2. Needs $DTP_BUILDDIR/tools/dtpipe-shard and the
 * dataset-fashion-mnist package (a failure without it: set-up installs it). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <zlib.h>

#include "io_fixture.h"

#define SRC "/usr/share/datasets/fashion-mnist"

static char *tool(void)
{
	const char *b = getenv("DTP_BUILDDIR");
	char *p;

	if (asprintf(&p, "%s/tools/dtpipe-shard", b && *b ? b : ".") < 0)
		abort();
	return p;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the whole gz file decoded */
static unsigned char *gunzip(const char *path, size_t *len)
{
	gzFile g = gzopen(path, "rb");
	size_t cap = 1 << 20, n = 0;
	unsigned char *b = malloc(cap);
	int r;

	assert_non_null(g);
	while ((r = gzread(g, b + n, (unsigned)(cap - n))) > 0) {
		n += (size_t)r;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	gzclose(g);
	*len = n;
	return b;
}

static void check_split(const char *dir, const char *split, uint32_t count)
{
	char ip[256], lp[256];
	unsigned char *img, *lab;
	size_t il, ll;
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_dataset_info info;
	struct dtp_err err;
	float in[64 * 784];
	int32_t tg[64];
	uint32_t i = 0;
	int n, k, j;

	snprintf(ip, sizeof(ip), SRC "/%s-images-idx3-ubyte.gz", split);
	snprintf(lp, sizeof(lp), SRC "/%s-labels-idx1-ubyte.gz", split);
	img = gunzip(ip, &il);
	lab = gunzip(lp, &ll);
	assert_int_equal(il, 16 + (size_t)count * 784);
	assert_int_equal(ll, 8 + (size_t)count);
	dtp_loader_config_default(&c);
	c.path = dir;
	c.shuffle = 0;
	c.wrap = 0;
	if (dtp_loader_open(&c, &l, &err))
		fail_msg("%s", err.msg);
	dtp_loader_info(l, &info);
	assert_int_equal(info.samples, count);
	assert_int_equal(info.input_elems, 784);
	assert_int_equal(info.num_classes, 10);
	while ((n = dtp_loader_next(l, 64, in, tg, &err)) > 0) {
		for (k = 0; k < n; k++, i++) {
			assert_int_equal(tg[k], lab[8 + i]);
			for (j = 0; j < 784; j++)
				assert_true(in[k * 784 + j] == (float)img[16 + (size_t)i * 784 + j] / 255.0f);
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(i, count);
	dtp_loader_close(l);
	free(img);
	free(lab);
}

static void test_round_trip(void **state)
{
	char *dir, *t, cmd[8192], sub[4200];

	/* scripts/setup.sh installs the package: a missing dataset is a failure, not a skip */
	if (access(SRC "/train-images-idx3-ubyte.gz", R_OK) != 0)
		fail_msg("%s missing: apt-get install dataset-fashion-mnist", SRC "/train-images-idx3-ubyte.gz");
	dir = fx_tmpdir();
	t = tool();
	snprintf(cmd, sizeof(cmd), "'%s' fashion-mnist --out '%s/new/fm' --records-per-shard 7000 2>/dev/null", t, dir);
	assert_int_equal(run(cmd), 0);
	/* --out creates missing parents (new/fm) */
	/* each split's directory has its dataset index (tests/io/test_index checks its contents) */
	snprintf(sub, sizeof(sub), "%.4000s/new/fm/train/.dtpipe-index", dir);
	assert_int_equal(access(sub, R_OK), 0);
	snprintf(sub, sizeof(sub), "%.4000s/new/fm/test/.dtpipe-index", dir);
	assert_int_equal(access(sub, R_OK), 0);
	snprintf(sub, sizeof(sub), "%.4000s/new/fm/train", dir);
	check_split(sub, "train", 60000);
	snprintf(sub, sizeof(sub), "%.4000s/new/fm/test", dir);
	check_split(sub, "t10k", 10000);
	fx_rmtree(dir);
	free(dir);
	free(t);
}

static void test_bad_idx_exit_2(void **state)
{
	char *dir = fx_tmpdir(), *t = tool(), cmd[8192], p[4400];
	gzFile g;

	/* labels and images with a wrong magic */
	snprintf(p, sizeof(p), "%.4000s/train-images-idx3-ubyte.gz", dir);
	g = gzopen(p, "wb");
	gzwrite(g, "\0\0\x08\x01\0\0\0\1", 8);
	gzclose(g);
	snprintf(cmd, sizeof(cmd), "'%s' fashion-mnist --src '%s' --out '%s/o' 2>/dev/null", t, dir, dir);
	assert_int_equal(run(cmd), 2);
	/* missing source files, unknown command, bad counts */
	snprintf(cmd, sizeof(cmd), "'%s' fashion-mnist --src '%s/none' --out '%s/o' 2>/dev/null", t, dir, dir);
	assert_int_equal(run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "'%s' nonsense --out '%s/o' 2>/dev/null", t, dir);
	assert_int_equal(run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "'%s' text /etc/hostname --out '%s/o' --tokens-per-shard 0 2>/dev/null", t, dir);
	assert_int_equal(run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "'%s' --help >/dev/null", t);
	assert_int_equal(run(cmd), 0);
	fx_rmtree(dir);
	free(dir);
	free(t);
}

static void test_text_tokens(void **state)
{
	char *dir = fx_tmpdir(), *t = tool(), cmd[8192], p[4400];
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_err err;
	int32_t in[8], tg[8];
	const char *text = "the quick brown fox jumps over the lazy dog";
	FILE *f;
	int n, i, k;

	snprintf(p, sizeof(p), "%.4000s/in.txt", dir);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' text '%s' --out '%s/tok' --tokens-per-shard 20 2>/dev/null", t, p, dir);
	assert_int_equal(run(cmd), 0);
	snprintf(p, sizeof(p), "%.4000s/tok", dir);
	dtp_loader_config_default(&c);
	c.path = p;
	c.seq_len = 8;
	c.shuffle = 0;
	c.wrap = 0;
	c.block_bytes = 4096;
	if (dtp_loader_open(&c, &l, &err))
		fail_msg("%s", err.msg);
	/* shards of 20, 20, 3 tokens: windows of 9 at 0 and 8 in each of the first two */
	for (i = 0; (n = dtp_loader_next(l, 1, in, tg, &err)) > 0; i++) {
		int base = (i / 2) * 20 + (i % 2) * 8;

		for (k = 0; k < 8; k++) {
			assert_int_equal(in[k], (unsigned char)text[base + k]);
			assert_int_equal(tg[k], (unsigned char)text[base + k + 1]);
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(i, 4);
	dtp_loader_close(l);
	fx_rmtree(dir);
	free(dir);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_idx_exit_2),
		cmocka_unit_test(test_text_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
