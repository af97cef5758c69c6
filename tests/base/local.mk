UNIT_TESTS += tests/base/test_base
check_PROGRAMS += tests/base/test_base
tests_base_test_base_SOURCES = tests/base/test_base.c
tests_base_test_base_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_base_test_base_LDADD = $(CMOCKA_TEST_LIBS)
UNIT_TESTS += tests/base/test_crc32c
check_PROGRAMS += tests/base/test_crc32c
tests_base_test_crc32c_SOURCES = tests/base/test_crc32c.c
tests_base_test_crc32c_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_base_test_crc32c_LDADD = $(CMOCKA_TEST_LIBS)
# the small shared helpers (bytes.h, clock.h, sync.h, fdio.h, parse.h)
UNIT_TESTS += tests/base/test_helpers
check_PROGRAMS += tests/base/test_helpers
tests_base_test_helpers_SOURCES = tests/base/test_helpers.c
tests_base_test_helpers_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_base_test_helpers_LDADD = $(CMOCKA_TEST_LIBS)
# stopping on request (preempt.h): signals, relays, statuses
UNIT_TESTS += tests/base/test_preempt
check_PROGRAMS += tests/base/test_preempt
tests_base_test_preempt_SOURCES = tests/base/test_preempt.c
tests_base_test_preempt_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_base_test_preempt_LDADD = $(CMOCKA_TEST_LIBS)
