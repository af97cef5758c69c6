# tests for partition
UNIT_TESTS += tests/partition/test_plan
check_PROGRAMS += tests/partition/test_plan
tests_partition_test_plan_SOURCES = tests/partition/test_plan.c
tests_partition_test_plan_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_plan_LDADD = $(CMOCKA_TEST_LIBS)
