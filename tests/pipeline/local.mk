# tests for src/pipeline
UNIT_TESTS += tests/pipeline/test_schedule
check_PROGRAMS += tests/pipeline/test_schedule
tests_pipeline_test_schedule_SOURCES = tests/pipeline/test_schedule.c
tests_pipeline_test_schedule_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_schedule_LDADD = $(CMOCKA_TEST_LIBS)
UNIT_TESTS += tests/pipeline/test_stage_mem
check_PROGRAMS += tests/pipeline/test_stage_mem
tests_pipeline_test_stage_mem_SOURCES = tests/pipeline/test_stage_mem.c
tests_pipeline_test_stage_mem_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_stage_mem_LDADD = $(CMOCKA_TEST_LIBS)
# the layout-free checkpoint store: reload under another split, corruptions, keep-N
UNIT_TESTS += tests/pipeline/test_ckpt_store
check_PROGRAMS += tests/pipeline/test_ckpt_store
tests_pipeline_test_ckpt_store_SOURCES = tests/pipeline/test_ckpt_store.c tests/pipeline/ckpt_fixture.h
tests_pipeline_test_ckpt_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_ckpt_store_LDADD = $(CMOCKA_TEST_LIBS)
# every one-bit flip of a manifest or a file header: refused or harmless
UNIT_TESTS += tests/pipeline/test_ckpt_flip
check_PROGRAMS += tests/pipeline/test_ckpt_flip
tests_pipeline_test_ckpt_flip_SOURCES = tests/pipeline/test_ckpt_flip.c tests/pipeline/ckpt_fixture.h
tests_pipeline_test_ckpt_flip_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_ckpt_flip_LDADD = $(CMOCKA_TEST_LIBS)
# interleaved 1F1B: every (K, M, v) up to 8, 32, 4 through the simulator
UNIT_TESTS += tests/pipeline/test_schedule_interleaved
check_PROGRAMS += tests/pipeline/test_schedule_interleaved
tests_pipeline_test_schedule_interleaved_SOURCES = tests/pipeline/test_schedule_interleaved.c
tests_pipeline_test_schedule_interleaved_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_schedule_interleaved_LDADD = $(CMOCKA_TEST_LIBS)
# when a neighbour's silence or standstill is a failure (liveness.c)

UNIT_TESTS += tests/pipeline/test_liveness
check_PROGRAMS += tests/pipeline/test_liveness
tests_pipeline_test_liveness_SOURCES = tests/pipeline/test_liveness.c
tests_pipeline_test_liveness_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_pipeline_test_liveness_LDADD = $(CMOCKA_TEST_LIBS)
