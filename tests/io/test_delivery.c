/* The delivery path of dtp_loader_next: runs of consecutive samples decoded
 * at once (file order) and window samples decoded one by one (shuffle) must
 * give exactly what an independent per-element decode gives, for inputs only
 * (the first stage), targets only (the last stage) and both, at batch sizes
 * that cut runs anywhere, with read blocks small enough that samples straddle
 * ring buffers. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "io_fixture.h"

static int setup(void **state)
{
	return fx_file_setup(state, NULL);
}

static int teardown(void **state)
{
	return fx_file_teardown(state);
}

#define T 5
static const uint64_t ntok[3] = { 3001, 57, 1500 };   /* 600, 11, 299 windows */
#define NWIN 910

/* token shards in DIR/tokTB; returns the directory in dir */
static void make_tokens(struct fx_file *f, int tb, char *dir, size_t len)
{
	char p[8800];
	int s;

	snprintf(dir, len, "%.4000s/tok%d", f->dir, tb);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (s = 0; s < 3; s++) {
		snprintf(p, sizeof(p), "%s/train_%06d.bin", dir, s);
		assert_int_equal(fx_token_shard(p, s, ntok[s], tb), 0);
	}
}

/* file order, no wrap: every window's inputs and targets against the
 * token formula, asking for inputs only, targets only, or both */
static void test_tokens_file_order(void **state)
{
	static const int Bs[] = { 1, 7, 64, 1000 };
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_err err;
	static int32_t in[1000 * T], tg[1000 * T];
	char dir[4400];
	int tb, bi, mode, r, n, i, m;

	for (tb = 2; tb <= 4; tb += 2) {
		make_tokens(*state, tb, dir, sizeof(dir));
		for (bi = 0; bi < 4; bi++) {
			for (mode = 0; mode < 3; mode++) {   /* 0 inputs, 1 targets, 2 both */
				int s = 0;
				uint64_t w = 0;

				dtp_loader_config_default(&c);
				c.path = dir;
				c.seq_len = T;
				c.shuffle = 0;
				c.wrap = 0;
				c.block_bytes = 4096;   /* 2-byte tokens: windows straddle blocks */
				c.queue_depth = 3;
				l = fx_open_loader(&c);
				n = 0;
				memset(in, 0xff, sizeof(in));
				memset(tg, 0xff, sizeof(tg));
				while ((r = dtp_loader_next(l, Bs[bi], mode != 1 ? in : NULL,
							    mode != 0 ? tg : NULL, &err)) > 0) {
					for (i = 0; i < r; i++, w++) {
						while (w >= (ntok[s] - 1) / T) {
							s++;
							w = 0;
						}
						for (m = 0; m < T; m++) {
							if (mode != 1)
								assert_int_equal((uint32_t)in[i * T + m],
										 fx_token(s, w * T + (uint64_t)m, tb));
							if (mode != 0)
								assert_int_equal((uint32_t)tg[i * T + m],
										 fx_token(s, w * T + (uint64_t)m + 1, tb));
						}
					}
					n += r;
				}
				if (r < 0)
					fail_msg("next: %s", err.msg);
				assert_int_equal(n, NWIN);
				assert_int_equal(s, 2);
				assert_int_equal(w, (ntok[2] - 1) / T);
				dtp_loader_close(l);
			}
		}
	}
}

/* shuffled: the first stage (inputs only) and the last stage (targets only)
 * each in its own loader, small batches; every target window is its input
 * window shifted by one token, so the two loaders agree sample by sample */
static void test_tokens_split_stages(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *a, *b;
	struct dtp_err err;
	static int32_t in[3 * NWIN * T], tg[3 * NWIN * T];
	char dir[4400];
	int tb, n, r, i, m;

	for (tb = 2; tb <= 4; tb += 2) {
		make_tokens(*state, tb, dir, sizeof(dir));
		dtp_loader_config_default(&c);
		c.path = dir;
		c.seq_len = T;
		c.seed = 7;
		c.block_bytes = 4096;
		c.queue_depth = 2;
		c.shuffle_window = 100;
		a = fx_open_loader(&c);
		b = fx_open_loader(&c);
		for (n = 0; n < 3 * NWIN; n += r) {   /* three epochs, batches of 8 across their ends */
			int want = 3 * NWIN - n < 8 ? 3 * NWIN - n : 8;

			r = dtp_loader_next(a, want, in + n * T, NULL, &err);
			assert_int_equal(r, want);
			assert_int_equal(dtp_loader_next(b, want, NULL, tg + n * T, &err), want);
		}
		for (i = 0; i < 3 * NWIN; i++) {
			/* the window's shard and index, found from its first two tokens */
			int s, found = 0;

			for (s = 0; s < 3 && !found; s++) {
				uint64_t w;

				for (w = 0; w < (ntok[s] - 1) / T && !found; w++) {
					if ((uint32_t)in[i * T] != fx_token(s, w * T, tb) ||
					    (uint32_t)in[i * T + 1] != fx_token(s, w * T + 1, tb))
						continue;
					found = 1;
					for (m = 0; m < T; m++) {
						assert_int_equal((uint32_t)in[i * T + m], fx_token(s, w * T + (uint64_t)m, tb));
						assert_int_equal((uint32_t)tg[i * T + m], fx_token(s, w * T + (uint64_t)m + 1, tb));
					}
				}
			}
			assert_true(found);
		}
		dtp_loader_close(b);
		dtp_loader_close(a);
	}
}

#define NREC 1300
#define RFEAT 257   /* odd size: runs of records cut the 4 KiB blocks anywhere */

/* u8 records in both orders, inputs only and targets only in separate loaders,
 * features checked against the scalar (float)x / 255.0f of each byte; the ids
 * make every byte value 0..255 appear at every feature position */
static void test_records_u8(void **state)
{
	struct fx_file *f = *state;
	struct dtp_loader_config c;
	struct dtp_loader *a, *b;
	struct dtp_err err;
	static float in[NREC * RFEAT];
	static int32_t ids[NREC];
	char p[4400];
	int sh, n, r, i, k;

	snprintf(p, sizeof(p), "%.4000s/u8_0.dtpr", f->dir);
	assert_int_equal(fx_record_shard(p, RFEAT, 0, 700), 0);
	snprintf(p, sizeof(p), "%.4000s/u8_1.dtpr", f->dir);
	assert_int_equal(fx_record_shard(p, RFEAT, 700, NREC - 700), 0);
	for (sh = 0; sh < 2; sh++) {
		dtp_loader_config_default(&c);
		c.path = f->dir;
		c.seed = 3;
		c.shuffle = sh;
		c.shuffle_window = 333;
		c.wrap = 0;
		c.block_bytes = 4096;
		c.queue_depth = 3;
		a = fx_open_loader(&c);
		c.block_bytes = 8192;   /* the read geometry does not change what is delivered */
		b = fx_open_loader(&c);
		for (n = 0; n < NREC; n += r) {
			r = dtp_loader_next(a, 64, in + (size_t)n * RFEAT, NULL, &err);
			assert_true(r > 0);
			assert_int_equal(dtp_loader_next(b, 64, NULL, ids + n, &err), r);
		}
		assert_int_equal(n, NREC);
		assert_int_equal(dtp_loader_next(a, 64, in, NULL, &err), 0);
		for (i = 0; i < NREC; i++) {
			assert_true(ids[i] >= 0 && ids[i] < NREC);
			if (!sh)
				assert_int_equal(ids[i], i);
			for (k = 0; k < RFEAT; k++) {
				float want = (float)(uint8_t)(ids[i] * 7 + k) / 255.0f;

				if (memcmp(&in[(size_t)i * RFEAT + k], &want, sizeof(want)) != 0)
					fail_msg("record %d feature %d: got %a, want %a", ids[i], k,
						 (double)in[(size_t)i * RFEAT + k], (double)want);
			}
		}
		dtp_loader_close(b);
		dtp_loader_close(a);
	}
}

/* f32 features and u8 labels: copied bit for bit, in runs */
static void test_records_f32(void **state)
{
	struct fx_file *f = *state;
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_F32, .ndim = 2, .dims = { 3, 5 },
					.label_dtype = DTP_REC_U8, .num_classes = 200 };
	struct dtp_shard_writer *w;
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_err err;
	static float in[500 * 15];
	static int32_t tg[500];
	float feat[15];
	char dir[4400], p[8800];
	int i, k, n, r;

	snprintf(dir, sizeof(dir), "%.4000s/f32", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/f_0.dtpr", dir);
	assert_int_equal(dtp_shard_writer_records(p, &spec, &w, NULL), 0);
	for (i = 0; i < 500; i++) {
		for (k = 0; k < 15; k++)
			feat[k] = (float)i * 0.37f - (float)k * 1.5e-3f;
		assert_int_equal(dtp_shard_writer_add_record(w, feat, i % 200, NULL), 0);
	}
	assert_int_equal(dtp_shard_writer_finish(w, NULL), 0);
	dtp_loader_config_default(&c);
	c.path = dir;
	c.shuffle = 0;
	c.wrap = 0;
	c.block_bytes = 4096;
	c.queue_depth = 2;
	l = fx_open_loader(&c);
	for (n = 0; n < 500; n += r) {
		r = dtp_loader_next(l, 37, in + n * 15, tg + n, &err);
		assert_true(r > 0);
	}
	for (i = 0; i < 500; i++) {
		assert_int_equal(tg[i], i % 200);
		for (k = 0; k < 15; k++) {
			float want = (float)i * 0.37f - (float)k * 1.5e-3f;

			assert_memory_equal(&in[i * 15 + k], &want, sizeof(want));
		}
	}
	dtp_loader_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tokens_file_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_split_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_u8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_f32, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
