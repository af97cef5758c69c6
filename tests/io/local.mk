# tests for io (each test makes its own shards in a temporary directory)
UNIT_TESTS += tests/io/test_formats
check_PROGRAMS += tests/io/test_formats
tests_io_test_formats_SOURCES = tests/io/test_formats.c tests/io/io_fixture.h
tests_io_test_formats_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_formats_LDADD = $(CMOCKA_TEST_LIBS)

UNIT_TESTS += tests/io/test_loader
check_PROGRAMS += tests/io/test_loader
tests_io_test_loader_SOURCES = tests/io/test_loader.c tests/io/io_fixture.h
tests_io_test_loader_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_loader_LDADD = $(CMOCKA_TEST_LIBS)

UNIT_TESTS += tests/io/test_budget
check_PROGRAMS += tests/io/test_budget
tests_io_test_budget_SOURCES = tests/io/test_budget.c tests/io/io_fixture.h
tests_io_test_budget_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_budget_LDADD = $(CMOCKA_TEST_LIBS)

# runs $(DTP_BUILDDIR)/tools/dtpipe-shard (built by `make all`, which check runs first)
UNIT_TESTS += tests/io/test_fmnist
check_PROGRAMS += tests/io/test_fmnist
tests_io_test_fmnist_SOURCES = tests/io/test_fmnist.c tests/io/io_fixture.h
tests_io_test_fmnist_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_fmnist_LDADD = $(CMOCKA_TEST_LIBS)

UNIT_TESTS += tests/io/test_delivery
check_PROGRAMS += tests/io/test_delivery
tests_io_test_delivery_SOURCES = tests/io/test_delivery.c tests/io/io_fixture.h
tests_io_test_delivery_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_delivery_LDADD = $(CMOCKA_TEST_LIBS)

# the dataset index; runs $(DTP_BUILDDIR)/tools/dtpipe-shard too
UNIT_TESTS += tests/io/test_index
check_PROGRAMS += tests/io/test_index
tests_io_test_index_SOURCES = tests/io/test_index.c tests/io/io_fixture.h
tests_io_test_index_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_index_LDADD = $(CMOCKA_TEST_LIBS)

# O_DIRECT at the benchmark geometry (huge-page ring) on unaligned records
UNIT_TESTS += tests/io/test_direct
check_PROGRAMS += tests/io/test_direct
tests_io_test_direct_SOURCES = tests/io/test_direct.c tests/io/io_fixture.h
tests_io_test_direct_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_direct_LDADD = $(CMOCKA_TEST_LIBS)

# safetensors writer and reader: round trip, every corruption refused
UNIT_TESTS += tests/io/test_safetensors
check_PROGRAMS += tests/io/test_safetensors
tests_io_test_safetensors_SOURCES = tests/io/test_safetensors.c tests/io/io_fixture.h
tests_io_test_safetensors_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_safetensors_LDADD = $(CMOCKA_TEST_LIBS)

# safetensors data with O_DIRECT and through the page cache: same bytes,
# same reads, same refusals, on tmpfs and on the build directory's fs
UNIT_TESTS += tests/io/test_st_direct
check_PROGRAMS += tests/io/test_st_direct
tests_io_test_st_direct_SOURCES = tests/io/test_st_direct.c tests/io/io_fixture.h
tests_io_test_st_direct_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_io_test_st_direct_LDADD = $(CMOCKA_TEST_LIBS)
