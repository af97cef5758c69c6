/* Unit tests for the small shared helpers of src/base: little-endian
 * packing (base/bytes.h), deadlines in milliseconds (base/clock.h), futex
 * waits and the CPU pause (base/sync.h), whole-buffer writes (base/fdio.h), the per-core speed probe
 * (base/cpuprobe.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"

static void test_le_layout_and_round_trip(void **state)
{
	uint8_t b[8];

	(void)state;
	dtp_put_le16(b, 0x1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(dtp_le16(b), 0x1234);
	dtp_put_le32(b, 0xa1b2c3d4u);
	assert_memory_equal(b, "\xd4\xc3\xb2\xa1", 4);
	assert_int_equal(dtp_le32(b), 0xa1b2c3d4u);
	dtp_put_le64(b, 0x0102030405060708ull);
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(dtp_le64(b) == 0x0102030405060708ull);
	/* the top bits survive (no sign extension through int promotion) */
	dtp_put_le64(b, UINT64_MAX - 1);
	assert_true(dtp_le64(b) == UINT64_MAX - 1);
	assert_int_equal(dtp_le32(b), UINT32_MAX - 1);
	assert_int_equal(dtp_le16(b + 6), 0xffff);
}

static void test_ms_left_rounds_up_and_ends_at_zero(void **state)
{
	uint64_t now = dtp_now_ns();
	int ms;

	(void)state;
	assert_int_equal(dtp_ms_left(0), 0);
	assert_int_equal(dtp_ms_left(now), 0);
	/* a deadline less than a millisecond away still waits (rounded up) */
	ms = dtp_ms_left(dtp_now_ns() + 300000u);
	assert_true(ms == 1 || ms == 0);
	ms = dtp_ms_left(dtp_now_ns() + 2500000000ull);
	assert_true(ms > 0 && ms <= 2500);
	/* far away: capped, never negative */
	assert_int_equal(dtp_ms_left(UINT64_MAX), INT32_MAX);
}

struct waiter {
	_Atomic uint32_t word;
	_Atomic int woke;
};

static void *wait_for_word(void *v)
{
	struct waiter *w = v;

	while (atomic_load(&w->word) == 0)
		dtp_futex_wait(&w->word, 0, -1, 0);
	atomic_store(&w->woke, 1);
	return NULL;
}

static void test_futex_wait_and_wake(void **state)
{
	struct waiter w = { 0, 0 };
	pthread_t t;

	(void)state;
	/* the word no longer holds the value: returns at once */
	w.word = 5;
	dtp_futex_wait(&w.word, 4, -1, 0);
	dtp_futex_wait(&w.word, 4, -1, 1);
	/* a timed wait on an unchanged word comes back by itself */
	dtp_futex_wait(&w.word, 5, 1000000, 0);
	dtp_futex_wait(&w.word, 5, 1000000, 1);
	/* a waiter without a time limit is woken */
	w.word = 0;
	assert_int_equal(pthread_create(&t, NULL, wait_for_word, &w), 0);
	for (int i = 0; i < 1000; i++)
		dtp_cpu_pause();
	atomic_store(&w.word, 1);
	dtp_futex_wake(&w.word, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&w.woke), 1);
}

static void test_write_all(void **state)
{
	char path[] = "/tmp/dtp-test-helpers-XXXXXX";
	size_t n = 3u << 20;
	char *src = malloc(n), *back = malloc(n);
	int fd = mkstemp(path), p[2];

	(void)state;
	assert_non_null(src);
	assert_non_null(back);
	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < n; i++)
		src[i] = (char)(i * 131 + (i >> 12));
	assert_int_equal(dtp_write_all(fd, src, n), 0);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(src, back, n);
	/* the reads: whole, at the position or at an offset; the end of the
	 * file first is -EBADMSG */
	memset(back, 0, n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(dtp_read_all(fd, back, n), 0);
	assert_memory_equal(src, back, n);
	assert_int_equal(dtp_read_all(fd, back, 1), -EBADMSG);
	assert_int_equal(dtp_pread_all(fd, back, 100, n - 100), 0);
	assert_memory_equal(src + n - 100, back, 100);
	assert_int_equal(dtp_pread_all(fd, back, 101, n - 100), -EBADMSG);
	assert_int_equal(dtp_pwrite_all(fd, "ab", 2, n), 0);
	assert_int_equal(dtp_pread_all(fd, back, 2, n), 0);
	assert_memory_equal(back, "ab", 2);
	close(fd);
	/* errors come back as -errno */
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		assert_int_equal(dtp_write_all(fd, src, 4096), -ENOSPC);
		close(fd);
	}
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(dtp_write_all(p[1], src, 16), -EPIPE);
	close(p[1]);
	assert_int_equal(dtp_write_all(-1, src, 16), -EBADF);
	assert_int_equal(dtp_write_all(-1, src, 0), 0);
	free(src);
	free(back);
}

static void test_parse(void **state)
{
	static const char *const words[] = { "sgd", "adamw" };
	long v = 7;

	(void)state;
	assert_int_equal(dtp_parse_long("42", 1, 64, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(dtp_parse_long("65", 1, 64, &v), -EINVAL);
	assert_int_equal(dtp_parse_long("0", 1, 64, &v), -EINVAL);
	assert_int_equal(dtp_parse_long("4x", 1, 64, &v), -EINVAL);
	assert_int_equal(dtp_parse_long("", 1, 64, &v), -EINVAL);
	assert_int_equal(dtp_parse_long("99999999999999999999", 1, 1L << 40, &v), -EINVAL);
	assert_int_equal(v, 42);   /* untouched on failure */
	assert_int_equal(dtp_parse_word("adamw", words, 2), 1);
	assert_int_equal(dtp_parse_word("sgd", words, 2), 0);
	assert_int_equal(dtp_parse_word("adam", words, 2), -1);
}

/* cpuid.h: the family and model /proc/cpuinfo gives, the ISA flags gcc's
 * own detection gives, a key without spaces */
static void test_cpu_ident(void **state)
{
	struct dtp_cpu_ident id;
	char line[256], key[64], want[64], buf[256];
	int fam = -1, mod = -1;
	FILE *f;

	(void)state;
	dtp_cpu_ident(&id);
	dtp_cpu_ident_str(&id, line, sizeof(line));
	dtp_cpu_ident_key(&id, key, sizeof(key));
	assert_null(strchr(key, ' '));
	assert_true(line[0] != 0);
#if defined(__x86_64__) && defined(__GNUC__)
	assert_true(id.vendor[0] != 0);
	f = fopen("/proc/cpuinfo", "r");
	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f) && (fam < 0 || mod < 0)) {
		if (fam < 0 && sscanf(buf, "cpu family : %d", &fam) == 1)
			continue;
		if (mod < 0)
			sscanf(buf, "model : %d", &mod);
	}
	fclose(f);
	assert_int_equal(id.family, fam);
	assert_int_equal(id.model, mod);
	assert_int_equal(id.avx512, !!__builtin_cpu_supports("avx512f"));
	assert_int_equal(id.bf16, !!__builtin_cpu_supports("avx512bf16"));
	snprintf(want, sizeof(want), " family %d model %d", fam, mod);
	assert_non_null(strstr(line, want));
	snprintf(want, sizeof(want), "%s-%d-%d", id.vendor, fam, mod);
	assert_string_equal(key, want);
#else
	(void)f, (void)fam, (void)mod, (void)buf, (void)want;
#endif
}

/* cpuprobe.h: the allowed CPUs as sched_getaffinity gives them; a rate for
 * each, in turn and all at once; bad arguments and a CPU outside the set
 * refused */
static void test_cpu_probe(void **state)
{
	int cpus[DTP_CPU_PROBE_MAX], n = dtp_cpu_allowed(cpus, DTP_CPU_PROBE_MAX), outside = -1;
	double rates[DTP_CPU_PROBE_MAX];
	cpu_set_t set;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	assert_int_equal(n, CPU_COUNT(&set));
	for (int i = 0; i < n; i++) {
		assert_true(CPU_ISSET(cpus[i], &set));
		if (i)
			assert_true(cpus[i] > cpus[i - 1]);
	}
	assert_int_equal(dtp_cpu_allowed(cpus, 1), 1);
	n = dtp_cpu_allowed(cpus, DTP_CPU_PROBE_MAX);
	for (int together = 0; together <= 1; together++) {
		for (int i = 0; i < n; i++)
			rates[i] = -1;
		assert_int_equal(dtp_cpu_rates(cpus, n, 0.02, together, rates), 0);
		for (int i = 0; i < n; i++)
			assert_true(rates[i] > 0);
	}
	assert_int_equal(dtp_cpu_rates(cpus, 0, 0.02, 0, rates), -EINVAL);
	assert_int_equal(dtp_cpu_rates(cpus, 1, 0, 0, rates), -EINVAL);
	assert_int_equal(dtp_cpu_rates((int[]){ -1 }, 1, 0.02, 0, rates), -EINVAL);
	for (int c = 0; c < CPU_SETSIZE && outside < 0; c++)
		if (!CPU_ISSET(c, &set))
			outside = c;
	if (outside >= 0) {
		assert_int_equal(dtp_cpu_rates(&outside, 1, 0.02, 0, rates), -EINVAL);
		assert_int_equal(dtp_cpu_rates(&outside, 1, 0.02, 1, rates), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_layout_and_round_trip),
		cmocka_unit_test(test_ms_left_rounds_up_and_ends_at_zero),
		cmocka_unit_test(test_futex_wait_and_wake),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cpu_ident),
		cmocka_unit_test(test_cpu_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
