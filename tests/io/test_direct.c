/* The read ring at its benchmark geometry (queue depth 8 x 1 MiB blocks, so
 * its memory comes from dtp_io_alloc's 2 MiB-aligned huge-page path) with
 * O_DIRECT on record shards whose 64-byte header puts every record off the
 * 4 KiB grid and whose sizes are not multiples of 4 KiB: every feature byte
 * and label of every record must arrive, in file order and shuffled, the last
 * partial block (read past the end of the file, cut short by it) included;
 * and the same epoch read buffered must be identical. Also dtp_io_alloc
 * itself: alignment, zeroed, every byte writable. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "io_fixture.h"
#include "io/ring.h"

#define FEAT 4093                 /* 4097-byte records: none is 4 KiB-aligned */
#define NSHARDS 3
static const uint64_t counts[NSHARDS] = { 700, 1, 333 };   /* 2.7 MiB, 4161 B, 1.3 MiB */
#define NTOTAL 1034
#define B 16

static int setup(void **state)
{
	struct fx_file *f;

	fx_file_setup(state, NULL);
	f = *state;
	assert_int_equal(fx_record_set(f->dir, "d", FEAT, counts, NSHARDS), 0);
	return 0;
}

static int teardown(void **state)
{
	return fx_file_teardown(state);
}

/* the bytes of the shards setup wrote: a 64-byte header, then the records */
static uint64_t file_bytes(void)
{
	uint64_t n = 0;

	for (int s = 0; s < NSHARDS; s++)
		n += 64 + counts[s] * (FEAT + 4);
	return n;
}

static void test_io_alloc(void **state)
{
	static const size_t sizes[] = { 1, 4095, 4096, (2u << 20) - 4096, 2u << 20, (8u << 20) + 4097 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = dtp_io_alloc(sizes[i]);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 4096, 0);
		if (sizes[i] >= (2u << 20))
			assert_int_equal((uintptr_t)p % (2u << 20), 0);
		for (j = 0; j < sizes[i]; j++)
			if (p[j] != 0)
				fail_msg("dtp_io_alloc(%zu): byte %zu is %u, not zero", sizes[i], j, p[j]);
		for (j = 0; j < sizes[i]; j++)
			p[j] = (uint8_t)(j * 31 + i);
		for (j = 0; j < sizes[i]; j++)
			assert_int_equal(p[j], (uint8_t)(j * 31 + i));
		dtp_io_free(p, sizes[i]);
	}
	dtp_io_free(NULL, 0);
}

/* one epoch; every feature byte checked against the record's id; ids out */
static void read_epoch(struct dtp_loader *l, int32_t *ids)
{
	static float in[B * FEAT];
	struct dtp_err err;
	int got = 0, r, i, k;

	while ((r = dtp_loader_next(l, B, in, ids + got, &err)) > 0) {
		assert_true(got + r <= NTOTAL);
		for (i = 0; i < r; i++)
			for (k = 0; k < FEAT; k++)
				if (in[i * FEAT + k] != (float)(uint8_t)(ids[got + i] * 7 + k) / 255.0f)
					fail_msg("record %d: feature %d is %g", ids[got + i], k, (double)in[i * FEAT + k]);
		got += r;
	}
	if (r < 0)
		fail_msg("next: %s", err.msg);
	assert_int_equal(got, NTOTAL);
}

static void config(struct fx_file *f, struct dtp_loader_config *c, int direct, int shuffle)
{
	dtp_loader_config_default(c);
	c->path = f->dir;
	c->seed = 5;
	c->wrap = 0;
	c->direct = direct;
	c->shuffle = shuffle;
	c->shuffle_window = 300;
	c->queue_depth = 8;
	c->block_bytes = 1u << 20;
}

static void test_direct_exact_bytes(void **state)
{
	struct fx_file *f = *state;
	static int32_t ids[NTOTAL], buffered[NTOTAL];
	static char seen[NTOTAL];
	struct dtp_loader_config c;
	struct dtp_loader_io_stats st;
	struct dtp_loader *l = NULL;
	struct dtp_err err;
	int shuffle, i;

	for (shuffle = 0; shuffle <= 1; shuffle++) {
		config(f, &c, 1, shuffle);
		if (dtp_loader_open(&c, &l, &err) != 0) {
			assert_non_null(strstr(err.msg, "O_DIRECT"));   /* $TMPDIR refuses it */
			skip();
		}
		read_epoch(l, ids);
		dtp_loader_io_stats(l, &st);
		assert_int_equal(st.direct, 1);
		/* every file read from offset 0 to its end, once (no re-queue here) */
		if (st.requeued == 0)
			assert_int_equal(st.bytes_read, file_bytes());
		assert_true(st.bytes_read >= file_bytes());
		dtp_loader_close(l);
		memset(seen, 0, sizeof(seen));
		for (i = 0; i < NTOTAL; i++) {
			assert_true(ids[i] >= 0 && ids[i] < NTOTAL);
			assert_int_equal(seen[ids[i]]++, 0);
			if (!shuffle)
				assert_int_equal(ids[i], i);
		}
		/* the same epoch read buffered: the same records in the same order */
		config(f, &c, 0, shuffle);
		l = NULL;
		l = fx_open_loader(&c);
		read_epoch(l, buffered);
		dtp_loader_io_stats(l, &st);
		assert_int_equal(st.direct, 0);
		dtp_loader_close(l);
		assert_memory_equal(ids, buffered, sizeof(ids));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_alloc),
		cmocka_unit_test_setup_teardown(test_direct_exact_bytes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
