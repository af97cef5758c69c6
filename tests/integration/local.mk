# multi-process tests of the pipeline: stages as processes over tcp/shm on localhost
check_PROGRAMS += tests/integration/mkdata
tests_integration_mkdata_SOURCES = tests/integration/mkdata.c
tests_integration_mkdata_LDADD = $(DTP_ALL_LIBS)
INTEGRATION_TESTS += tests/integration/bit_identical.sh
dist_check_SCRIPTS += tests/integration/bit_identical.sh
EXTRA_DIST += tests/integration/lib.sh
INTEGRATION_TESTS += tests/integration/resume.sh tests/integration/failure.sh \
	tests/integration/observe.sh tests/integration/memcap.sh
dist_check_SCRIPTS += tests/integration/resume.sh tests/integration/failure.sh \
	tests/integration/observe.sh tests/integration/memcap.sh
INTEGRATION_TESTS += tests/integration/bf16.sh
dist_check_SCRIPTS += tests/integration/bf16.sh
