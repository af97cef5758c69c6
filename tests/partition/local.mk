# tests for partition
UNIT_TESTS += tests/partition/test_plan tests/partition/test_place tests/partition/test_partition \
	tests/partition/test_profile tests/partition/test_nic_place tests/partition/test_cluster \
	tests/partition/test_share
check_PROGRAMS += tests/partition/test_plan tests/partition/test_place tests/partition/test_partition \
	tests/partition/test_profile tests/partition/test_nic_place tests/partition/test_cluster \
	tests/partition/test_share
tests_partition_test_plan_SOURCES = tests/partition/test_plan.c
tests_partition_test_plan_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_plan_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_place_SOURCES = tests/partition/test_place.c
tests_partition_test_place_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_place_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_partition_SOURCES = tests/partition/test_partition.c
tests_partition_test_partition_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_partition_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_profile_SOURCES = tests/partition/test_profile.c
tests_partition_test_profile_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_profile_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_nic_place_SOURCES = tests/partition/test_nic_place.c
tests_partition_test_nic_place_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_nic_place_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_cluster_SOURCES = tests/partition/test_cluster.c
tests_partition_test_cluster_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_cluster_LDADD = $(CMOCKA_TEST_LIBS)
tests_partition_test_share_SOURCES = tests/partition/test_share.c tools/partition-share.c
tests_partition_test_share_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_share_LDADD = $(CMOCKA_TEST_LIBS)
# the report's replay of a stage's op list (tools/partition-replay.c)
UNIT_TESTS += tests/partition/test_replay
check_PROGRAMS += tests/partition/test_replay
tests_partition_test_replay_SOURCES = tests/partition/test_replay.c tools/partition-replay.c \
	tools/partition-replay.h
tests_partition_test_replay_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_replay_LDADD = $(CMOCKA_TEST_LIBS)
INTEGRATION_TESTS += tests/partition/test_tool.sh
dist_check_SCRIPTS += tests/partition/test_tool.sh
EXTRA_DIST += tests/partition/topo
# interleaved plans: chunk lists, the tiling, the schedule's constraints
UNIT_TESTS += tests/partition/test_plan_chunks
check_PROGRAMS += tests/partition/test_plan_chunks
tests_partition_test_plan_chunks_SOURCES = tests/partition/test_plan_chunks.c
tests_partition_test_plan_chunks_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_partition_test_plan_chunks_LDADD = $(CMOCKA_TEST_LIBS)
# dtpipe-partition plan/report with --schedule interleaved --virtual-stages
INTEGRATION_TESTS += tests/partition/test_tool_chunks.sh
dist_check_SCRIPTS += tests/partition/test_tool_chunks.sh
# dtpipe-partition in the job's precision (--precision, --fp32-matmul)
INTEGRATION_TESTS += tests/partition/test_tool_bf16.sh
dist_check_SCRIPTS += tests/partition/test_tool_bf16.sh
