/* Unit tests for src/base: the PRNG streams, arenas, error messages. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "base/base.h"

/* Philox4x32-10 known-answer vectors from the Random123 distribution (kat_vectors):
 * counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8 */
static void test_philox_known_answer(void **state)
{
	uint32_t key[2] = { 0, 0 }, out[4];

	(void)state;
	dtp_philox4x32(key, 0, out);
	assert_int_equal(out[0], 0x6627e8d5u);
	assert_int_equal(out[1], 0xe169c58du);
	assert_int_equal(out[2], 0xbc57ac4cu);
	assert_int_equal(out[3], 0x9b00dbd8u);
}

static void test_streams_are_reproducible_and_distinct(void **state)
{
	struct dtp_rng a, b, c;

	(void)state;
	dtp_rng_init(&a, 42, 7);
	dtp_rng_init(&b, 42, 7);
	dtp_rng_init(&c, 42, 8);
	int same_c = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t x = dtp_rng_u32(&a);
		assert_int_equal(x, dtp_rng_u32(&b));
		same_c += x == dtp_rng_u32(&c);
	}
	assert_true(same_c < 3);
}

static void test_uniform_and_normal_moments(void **state)
{
	struct dtp_rng r;
	double su = 0, sn = 0, sn2 = 0;
	const int n = 200000;

	(void)state;
	dtp_rng_init(&r, 1, 0);
	for (int i = 0; i < n; i++) {
		float u = dtp_rng_uniform(&r);
		assert_true(u >= 0.0f && u < 1.0f);
		su += u;
		float z = dtp_rng_normal(&r);
		sn += z;
		sn2 += (double)z * z;
	}
	/* standard errors: uniform mean 0.29/sqrt(n)=6.5e-4, normal mean 2.2e-3, var 3.2e-3 */
	assert_true(su / n > 0.5 - 0.004 && su / n < 0.5 + 0.004);
	assert_true(sn / n > -0.012 && sn / n < 0.012);
	assert_true(sn2 / n > 0.98 && sn2 / n < 1.02);
}

static void test_below_is_in_range(void **state)
{
	struct dtp_rng r;
	int hist[7] = { 0 };

	(void)state;
	dtp_rng_init(&r, 3, 3);
	for (int i = 0; i < 70000; i++) {
		uint64_t x = dtp_rng_below(&r, 7);
		assert_true(x < 7);
		hist[x]++;
	}
	for (int i = 0; i < 7; i++)
		assert_true(hist[i] > 9500 && hist[i] < 10500);
}

static void test_arena(void **state)
{
	struct dtp_arena a;

	(void)state;
	assert_int_equal(dtp_arena_init(&a, 10000), 0);
	assert_true(a.size >= 10000 && a.size % DTP_PAGE == 0);
	char *p = dtp_arena_take(&a, 100, 64);
	char *q = dtp_arena_take(&a, 100, 4096);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 64, 0);
	assert_int_equal((uintptr_t)q % 4096, 0);
	assert_true(q >= p + 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(q[i], 0);
	assert_null(dtp_arena_take(&a, a.size, 64));
	dtp_arena_release(&a);
	assert_null(a.base);
}

/* regions of a huge page or more start on one and span whole ones (the
 * MADV_HUGEPAGE advice itself is a hint THP may not take); zeroed, writable
 * to the last byte; smaller ones as before */
static void test_huge_regions(void **state)
{
	size_t big = 3 * DTP_HUGE_PAGE + 12345;
	struct dtp_arena a;
	char *p, *q;

	(void)state;
	assert_int_equal(dtp_arena_init(&a, big), 0);
	assert_int_equal((uintptr_t)a.base % DTP_HUGE_PAGE, 0);
	assert_true(a.size >= big && a.size % DTP_HUGE_PAGE == 0);
	assert_int_equal(a.size, dtp_mapped_bytes(big));
	assert_int_equal(dtp_mapped_bytes(0), DTP_PAGE);
	assert_int_equal(dtp_mapped_bytes(DTP_HUGE_PAGE - 1), DTP_HUGE_PAGE);
	assert_int_equal(dtp_mapped_bytes(DTP_HUGE_PAGE - DTP_PAGE - 1), DTP_HUGE_PAGE - DTP_PAGE);
	assert_int_equal(dtp_mapped_bytes(DTP_HUGE_PAGE + 1), 2 * DTP_HUGE_PAGE);
	p = dtp_arena_take(&a, big, 64);
	assert_non_null(p);
	assert_true(p[0] == 0 && p[big - 1] == 0);
	memset(p, 0x5a, big);
	dtp_arena_release(&a);
	p = dtp_alloc_aligned(big, DTP_CACHELINE);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % DTP_HUGE_PAGE, 0);
	for (size_t i = 0; i < big; i += 4096)
		assert_int_equal(p[i], 0);
	memset(p, 0x5a, big);
	dtp_free(p);
	q = dtp_map_huge(DTP_HUGE_PAGE);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % DTP_HUGE_PAGE, 0);
	q[DTP_HUGE_PAGE - 1] = 1;
	munmap(q, DTP_HUGE_PAGE);
	p = dtp_alloc_aligned(1000, DTP_CACHELINE);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % DTP_CACHELINE, 0);
	dtp_free(p);
}

static void test_errf_and_exit_codes(void **state)
{
	struct dtp_err e;

	(void)state;
	dtp_err_clear(&e);
	assert_int_equal(dtp_errf_input(&e, -EINVAL, "%s:%d: unknown key '%s'", "plan.ini", 12, "foo"),
			 -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.msg, "plan.ini:12: unknown key 'foo'");
	dtp_err_prefix(&e, "stage %d: ", 3);
	assert_string_equal(e.msg, "stage 3: plan.ini:12: unknown key 'foo'");
	assert_int_equal(dtp_err_exit(&e, 0), 0);
	assert_int_equal(dtp_err_exit(&e, -EINVAL), 2);
	dtp_errf_runtime(&e, -ECONNRESET, "peer gone");
	assert_int_equal(dtp_err_exit(&e, -ECONNRESET), 1);
}

/* the class set where the error is made decides the exit status, never the
 * errno value: the same codes exit 1 or 2 as their makers say */
static void test_err_class_decides_exit_status(void **state)
{
	struct dtp_err e, c;

	(void)state;
	dtp_err_clear(&e);
	assert_int_equal(e.cls, DTP_ERRC_NONE);
	/* an unreadable plan (EACCES) is bad input when its maker says so */
	assert_int_equal(dtp_errf_input(&e, -EACCES, "plan.ini: cannot open"), -EACCES);
	assert_int_equal(e.code, -EACCES);
	assert_int_equal(e.cls, DTP_ERRC_INPUT);
	assert_string_equal(e.msg, "plan.ini: cannot open");
	assert_int_equal(dtp_err_exit(&e, -EACCES), DTP_EXIT_BADINPUT);
	/* the prefix keeps the class */
	dtp_err_prefix(&e, "stage %d: ", 1);
	assert_int_equal(e.cls, DTP_ERRC_INPUT);
	assert_int_equal(dtp_err_exit(&e, -EACCES), 2);
	/* so does a copy, and it returns the code */
	dtp_err_clear(&c);
	assert_int_equal(dtp_err_copy(&c, &e), -EACCES);
	assert_int_equal(c.cls, DTP_ERRC_INPUT);
	assert_string_equal(c.msg, e.msg);
	assert_int_equal(dtp_err_exit(&c, -EACCES), 2);
	/* a file that vanishes mid-run (ENOENT) is a runtime failure when said so */
	dtp_errf_runtime(&e, -ENOENT, "shard disappeared");
	assert_int_equal(e.cls, DTP_ERRC_RUNTIME);
	assert_int_equal(dtp_err_exit(&e, -ENOENT), DTP_EXIT_FAIL);
	/* a corrupt frame or a tag mismatch (EPROTO) is a runtime failure; peers
	 * started with different plans (also EPROTO) are bad input */
	dtp_errf_runtime(&e, -EPROTO, "corrupt frame");
	assert_int_equal(dtp_err_exit(&e, -EPROTO), 1);
	dtp_errf_input(&e, -EPROTO, "peer's plan hash differs");
	assert_int_equal(dtp_err_exit(&e, -EPROTO), 2);
	/* a bare code that no err describes (none, or another error) is a runtime
	 * failure, whatever the errno: nothing guesses "bad input" from it */
	assert_int_equal(dtp_err_exit(&e, -EIO), 1);
	assert_int_equal(dtp_err_exit(NULL, -EBADMSG), 1);
	assert_int_equal(dtp_err_exit(NULL, -EINVAL), 1);
	assert_int_equal(dtp_err_exit(&e, 0), 0);
	assert_int_equal(dtp_err_class(NULL, 0), DTP_ERRC_NONE);
	/* a success recorded through errf has no class */
	dtp_errf_input(&e, 0, "nothing");
	assert_int_equal(e.cls, DTP_ERRC_NONE);
	dtp_err_clear(&e);
	assert_int_equal(e.cls, DTP_ERRC_NONE);
}

/* one table of statuses (base/exit.h) */
static void test_exit_status_of_class(void **state)
{
	(void)state;
	assert_int_equal(dtp_exit_status(DTP_ERRC_NONE, 0), 0);
	assert_int_equal(dtp_exit_status(DTP_ERRC_RUNTIME, 0), 1);
	assert_int_equal(dtp_exit_status(DTP_ERRC_INPUT, 0), 2);
	assert_int_equal(dtp_exit_status(DTP_ERRC_INTERRUPTED, SIGINT), 130);
	assert_int_equal(dtp_exit_status(DTP_ERRC_INTERRUPTED, SIGTERM), 143);
	assert_int_equal(dtp_exit_status(DTP_ERRC_INTERRUPTED, SIGHUP), 129);
	assert_int_equal(dtp_exit_status(DTP_ERRC_INTERRUPTED, 0), DTP_EXIT_SIGINT);
	/* the signal matters only for an interruption */
	assert_int_equal(dtp_exit_status(DTP_ERRC_RUNTIME, SIGKILL), DTP_EXIT_FAIL);
	assert_int_equal(DTP_EXIT_SIGTERM, 143);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_philox_known_answer),
		cmocka_unit_test(test_streams_are_reproducible_and_distinct),
		cmocka_unit_test(test_uniform_and_normal_moments),
		cmocka_unit_test(test_below_is_in_range),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_huge_regions),
		cmocka_unit_test(test_errf_and_exit_codes),
		cmocka_unit_test(test_err_class_decides_exit_status),
		cmocka_unit_test(test_exit_status_of_class),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
