/* The loader: every sample exactly once per epoch in the seeded order (checked
 * against an in-memory reference of the order docs/record-shard-format.md
 * defines), agreement between loaders, tell/seek resume, token windows, and
 * the fallback paths (buffered, no registered buffers, RLIMIT_MEMLOCK). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "io_fixture.h"

#define NSHARDS 5
static const uint64_t counts[NSHARDS] = { 300, 0, 517, 129, 1000 };   /* one empty shard */
#define NTOTAL 1946
#define FEAT 7   /* 11-byte records: samples straddle the 4 KiB read blocks */

static int setup(void **state)
{
	struct fx_file *f;

	fx_file_setup(state, NULL);
	f = *state;
	assert_int_equal(fx_record_set(f->dir, "a", FEAT, counts, NSHARDS), 0);
	return 0;
}

static int teardown(void **state)
{
	return fx_file_teardown(state);
}

/* ---- the reference order, written from the documented definition ---- */
static void ref_perm(uint32_t *a, uint64_t n, uint64_t seed, uint64_t stream)
{
	struct dtp_rng r;
	uint64_t i;

	for (i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	dtp_rng_init(&r, seed, stream);
	for (i = n; i > 1; i--) {
		uint64_t j = dtp_rng_below(&r, i);
		uint32_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ids of epoch e in delivery order */
static void ref_epoch(uint64_t seed, uint64_t e, size_t W, int shuffle, int32_t *out)
{
	uint32_t order[NSHARDS], perm[NTOTAL];
	int32_t stream[NTOTAL], first[NSHARDS];
	size_t n = 0, b, o;
	int k, s;
	uint64_t i;

	for (s = 0, first[0] = 0; s + 1 < NSHARDS; s++)
		first[s + 1] = first[s] + (int32_t)counts[s];
	if (shuffle)
		ref_perm(order, NSHARDS, seed, 2 * e);
	else
		for (k = 0; k < NSHARDS; k++)
			order[k] = (uint32_t)k;
	for (k = 0; k < NSHARDS; k++)
		for (i = 0; i < counts[order[k]]; i++)
			stream[n++] = first[order[k]] + (int32_t)i;
	if (!shuffle) {
		memcpy(out, stream, sizeof(stream));
		return;
	}
	for (b = 0; b * W < NTOTAL; b++) {
		size_t m = NTOTAL - b * W < W ? NTOTAL - b * W : W;

		ref_perm(perm, m, seed + 0x9E3779B97F4A7C15ull * (b + 1), 2 * e + 1);
		for (o = 0; o < m; o++)
			out[b * W + o] = stream[b * W + perm[o]];
	}
}

static void config(struct fx_file *f, struct dtp_loader_config *c)
{
	dtp_loader_config_default(c);
	c->path = f->dir;
	c->seed = 42;
	c->block_bytes = 4096;
	c->queue_depth = 4;
	c->shuffle_window = 100;
}

/* read n samples, check each one's features against its id */
static void read_ids(struct dtp_loader *l, int n, int B, int32_t *ids)
{
	float in[13 * FEAT];
	struct dtp_err err;
	int got = 0, r, i, k;

	while (got < n) {
		int want = n - got < B ? n - got : B;

		r = dtp_loader_next(l, want, in, ids + got, &err);
		if (r < 0)
			fail_msg("next: %s", err.msg);
		assert_int_equal(r, want);
		for (i = 0; i < r; i++)
			for (k = 0; k < FEAT; k++)
				assert_true(in[i * FEAT + k] == (float)(uint8_t)(ids[got + i] * 7 + k) / 255.0f);
		got += r;
	}
}

static void test_seeded_order_exactly_once(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_dataset_info info;
	static int32_t got[3 * NTOTAL], want[NTOTAL];
	static char seen[NTOTAL];
	int e, i;

	config(*state, &c);
	l = fx_open_loader(&c);
	dtp_loader_info(l, &info);
	assert_int_equal(info.samples, NTOTAL);
	assert_int_equal(info.num_shards, NSHARDS);
	assert_int_equal(info.input_elems, FEAT);
	read_ids(l, 3 * NTOTAL, 13, got);   /* batches of 13 run across epoch ends */
	for (e = 0; e < 3; e++) {
		memset(seen, 0, sizeof(seen));
		for (i = 0; i < NTOTAL; i++) {
			assert_true(got[e * NTOTAL + i] >= 0 && got[e * NTOTAL + i] < NTOTAL);
			assert_int_equal(seen[got[e * NTOTAL + i]], 0);
			seen[got[e * NTOTAL + i]] = 1;
		}
		ref_epoch(c.seed, (uint64_t)e, 100, 1, want);
		assert_memory_equal(got + e * NTOTAL, want, sizeof(want));
	}
	dtp_loader_close(l);
}

static void test_same_seed_agrees_other_seed_differs(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *a, *b;
	static int32_t x[NTOTAL], y[NTOTAL];
	struct dtp_err err;

	config(*state, &c);
	a = fx_open_loader(&c);
	c.queue_depth = 3;     /* read geometry does not change the order */
	c.block_bytes = 8192;
	b = fx_open_loader(&c);
	read_ids(a, NTOTAL, 13, x);
	/* the last stage asks for targets only */
	assert_int_equal(dtp_loader_next(b, NTOTAL, NULL, y, &err), NTOTAL);
	assert_memory_equal(x, y, sizeof(x));
	dtp_loader_close(b);
	c.seed = 43;
	b = fx_open_loader(&c);
	assert_int_equal(dtp_loader_next(b, NTOTAL, NULL, y, &err), NTOTAL);
	assert_memory_not_equal(x, y, sizeof(x));
	dtp_loader_close(b);
	dtp_loader_close(a);
}

static void test_tell_seek_resume(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *a, *b;
	struct dtp_loader_pos pos, p2;
	static int32_t x[600], y[600];
	static int32_t skip[NTOTAL + 777];
	struct dtp_err err;
	int round;

	config(*state, &c);
	for (round = 0; round < 2; round++) {
		c.shuffle = round == 0;
		a = fx_open_loader(&c);
		read_ids(a, NTOTAL + 777, 13, skip);   /* into epoch 1, mid-window */
		dtp_loader_tell(a, &pos);
		assert_int_equal(pos.epoch, 1);
		assert_int_equal(pos.sample, 777);
		read_ids(a, 600, 7, x);
		b = fx_open_loader(&c);
		assert_int_equal(dtp_loader_seek(b, &pos, &err), 0);
		dtp_loader_tell(b, &p2);
		assert_int_equal(p2.sample, 777);
		read_ids(b, 600, 13, y);
		assert_memory_equal(x, y, sizeof(x));
		/* seeking backwards in the same loader replays too */
		assert_int_equal(dtp_loader_seek(a, &pos, &err), 0);
		read_ids(a, 600, 11, y);
		assert_memory_equal(x, y, sizeof(x));
		pos.sample = NTOTAL + 1;
		assert_int_equal(dtp_loader_seek(a, &pos, &err), -ERANGE);
		dtp_loader_close(b);
		dtp_loader_close(a);
	}
}

static void test_file_order_no_wrap(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *l;
	static int32_t got[NTOTAL + 20], want[NTOTAL];
	struct dtp_err err;
	int n = 0, r;

	config(*state, &c);
	c.shuffle = 0;
	c.wrap = 0;
	l = fx_open_loader(&c);
	while ((r = dtp_loader_next(l, 20, NULL, got + n, &err)) > 0)
		n += r;
	assert_int_equal(r, 0);
	assert_int_equal(n, NTOTAL);
	ref_epoch(0, 0, 0, 0, want);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(dtp_loader_next(l, 20, NULL, got, &err), 0);
	dtp_loader_close(l);
}

static void test_tokens(void **state)
{
	struct fx_file *f = *state;
	static const uint64_t ntok[3] = { 3001, 57, 1500 };
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_dataset_info info;
	struct dtp_err err;
	int32_t in[2 * 5], tg[2 * 5];
	char dir[4400], p[8800];
	int tb, s, i, t, total;
	int seen[3][700];

	for (tb = 2; tb <= 4; tb += 2) {
		snprintf(dir, sizeof(dir), "%.4000s/tok%d", f->dir, tb);
		assert_int_equal(mkdir(dir, 0755), 0);
		for (s = 0; s < 3; s++) {
			snprintf(p, sizeof(p), "%s/train_%06d.bin", dir, s);
			assert_int_equal(fx_token_shard(p, s, ntok[s], tb), 0);
		}
		dtp_loader_config_default(&c);
		c.path = dir;
		c.seq_len = 5;
		c.block_bytes = 4096;
		c.queue_depth = 2;
		c.shuffle_window = 64;
		l = fx_open_loader(&c);
		dtp_loader_info(l, &info);
		total = 600 + 11 + 299;
		assert_int_equal(info.samples, total);
		assert_int_equal(info.input_elems, 5);
		memset(seen, 0, sizeof(seen));
		/* each window is found by its first token; it must match its shard */
		for (i = 0; i < total; i += 2) {
			int r = dtp_loader_next(l, 2, in, tg, &err);
			int k;

			assert_int_equal(r, 2);
			for (k = 0; k < 2; k++) {
				int found = 0;

				for (s = 0; s < 3 && !found; s++)
					for (t = 0; (uint64_t)t < (ntok[s] - 1) / 5 && !found; t++)
						if ((uint32_t)in[k * 5] == fx_token(s, (uint64_t)t * 5, tb) &&
						    (uint32_t)in[k * 5 + 4] == fx_token(s, (uint64_t)t * 5 + 4, tb)) {
							int m;

							found = 1;
							seen[s][t]++;
							for (m = 0; m < 5; m++) {
								assert_int_equal((uint32_t)in[k * 5 + m], fx_token(s, (uint64_t)t * 5 + m, tb));
								assert_int_equal((uint32_t)tg[k * 5 + m], fx_token(s, (uint64_t)t * 5 + m + 1, tb));
							}
						}
				assert_true(found);
			}
		}
		for (s = 0; s < 3; s++)
			for (t = 0; (uint64_t)t < (ntok[s] - 1) / 5; t++)
				assert_int_equal(seen[s][t], 1);
		dtp_loader_close(l);
	}
}

/* drop CAP_IPC_LOCK so that RLIMIT_MEMLOCK applies to root too */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return -1;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	return (int)syscall(SYS_capset, &h, d);
}

static void check_full_epoch(struct dtp_loader *l, uint64_t seed, int shuffle)
{
	static int32_t got[NTOTAL], want[NTOTAL];

	read_ids(l, NTOTAL, 13, got);
	ref_epoch(seed, 0, 100, shuffle, want);
	assert_memory_equal(got, want, sizeof(want));
}

static void test_fallbacks(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *l = NULL;
	struct dtp_loader_io_stats st;
	struct dtp_err err;
	pid_t pid;
	int status;

	config(*state, &c);
	/* buffered reads, plain (not registered) buffers */
	c.direct = 0;
	c.register_buffers = 0;
	l = fx_open_loader(&c);
	dtp_loader_io_stats(l, &st);
	assert_int_equal(st.direct, 0);
	assert_int_equal(st.fixed_buffers, 0);
	check_full_epoch(l, c.seed, 1);
	dtp_loader_close(l);
	/* O_DIRECT where the file system takes it, registered buffers */
	c.direct = 1;
	c.register_buffers = -1;
	if (dtp_loader_open(&c, &l, &err) == 0) {
		dtp_loader_io_stats(l, &st);
		assert_int_equal(st.direct, 1);
		assert_int_equal(st.fixed_buffers, 1);
		check_full_epoch(l, c.seed, 1);
		dtp_loader_io_stats(l, &st);
		assert_true(st.bytes_read >= 1946 * 11);
		dtp_loader_close(l);
	} else {
		/* $TMPDIR refuses O_DIRECT: required fails, auto falls back */
		assert_non_null(strstr(err.msg, "O_DIRECT"));
		c.direct = -1;
		l = fx_open_loader(&c);
		dtp_loader_io_stats(l, &st);
		assert_int_equal(st.direct, 0);
		check_full_epoch(l, c.seed, 1);
		dtp_loader_close(l);
	}
	/* RLIMIT_MEMLOCK refuses the registered buffers: plain reads, same data */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 2 << 20, 2 << 20 };   /* room for the rings, not 8 MiB of buffers */

		c.direct = -1;
		c.queue_depth = 8;
		c.block_bytes = 1 << 20;
		if (drop_ipc_lock() != 0 || setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			_exit(3);
		if (dtp_loader_open(&c, &l, &err) != 0) {
			fprintf(stderr, "memlock child: %s\n", err.msg);
			_exit(4);
		}
		dtp_loader_io_stats(l, &st);
		if (st.fixed_buffers != 0)
			_exit(5);
		check_full_epoch(l, c.seed, 1);
		dtp_loader_close(l);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_config_errors(void **state)
{
	struct dtp_loader_config c;
	struct dtp_loader *l = NULL;
	struct dtp_err err;

	config(*state, &c);
	c.queue_depth = 1;
	assert_int_equal(dtp_loader_open(&c, &l, &err), -EINVAL);
	config(*state, &c);
	c.block_bytes = 5000;
	assert_int_equal(dtp_loader_open(&c, &l, &err), -EINVAL);
	config(*state, &c);
	c.budget_bytes = 8192;
	assert_int_equal(dtp_loader_open(&c, &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "budget"));
	assert_null(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seeded_order_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_seed_agrees_other_seed_differs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tell_seek_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_order_no_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
