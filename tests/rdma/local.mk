# tests for src/rdma: CMocka units (handshake, frame header, bootstrap, the shm
# segment's clean-up, heartbeats), and
# the transport suite run per transport by small wrappers
UNIT_TESTS += tests/rdma/test_wire tests/rdma/test_bootstrap tests/rdma/test_shm_segment \
	tests/rdma/test_heartbeat
check_PROGRAMS += tests/rdma/test_wire tests/rdma/test_bootstrap tests/rdma/test_transport \
	tests/rdma/test_shm_segment tests/rdma/test_heartbeat
tests_rdma_test_wire_SOURCES = tests/rdma/test_wire.c
tests_rdma_test_wire_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_wire_LDADD = $(CMOCKA_TEST_LIBS)
tests_rdma_test_bootstrap_SOURCES = tests/rdma/test_bootstrap.c
tests_rdma_test_bootstrap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_bootstrap_LDADD = $(CMOCKA_TEST_LIBS)
# the shm segment under /dev/shm is never left behind
tests_rdma_test_shm_segment_SOURCES = tests/rdma/test_shm_segment.c tests/rdma/loopback.h
tests_rdma_test_shm_segment_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_shm_segment_LDADD = $(CMOCKA_TEST_LIBS)
# heartbeats: the beat's bytes; two ends over loopback
tests_rdma_test_heartbeat_SOURCES = tests/rdma/test_heartbeat.c tests/rdma/loopback.h
tests_rdma_test_heartbeat_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_heartbeat_LDADD = $(CMOCKA_TEST_LIBS)
# a build without MPI refuses replicas > 1 (dp_none.c linked here in any build)
UNIT_TESTS += tests/rdma/test_dp_none
check_PROGRAMS += tests/rdma/test_dp_none
tests_rdma_test_dp_none_SOURCES = tests/rdma/test_dp_none.c src/rdma/dp_none.c
tests_rdma_test_dp_none_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_dp_none_LDADD = $(CMOCKA_TEST_LIBS)
# one suite program, --transport tcp|shm|verbs (the verbs run is in tests/rxe)
tests_rdma_test_transport_SOURCES = tests/rdma/transport_suite.h \
	tests/rdma/transport_suite.c tests/rdma/transport_shared.c \
	tests/rdma/transport_small.c
tests_rdma_test_transport_LDADD = $(DTP_ALL_LIBS)
INTEGRATION_TESTS += tests/rdma/transport-tcp.sh tests/rdma/transport-shm.sh
dist_check_SCRIPTS += tests/rdma/transport-tcp.sh tests/rdma/transport-shm.sh
# verbs tests: CMocka fakes of the verbs state machine, and the Soft-RoCE VM runs
include tests/rdma/verbs.mk
