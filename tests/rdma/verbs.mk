# verbs tests: CMocka fakes of the verbs state machine (unit), and the real
# verbs link test program that tests/rxe/verbs-suite.sh runs in the Soft-RoCE VM
if DTP_HAVE_VERBS
UNIT_TESTS += tests/rdma/test_verbs_state
check_PROGRAMS += tests/rdma/test_verbs_state tests/rdma/test_verbs_link
tests_rdma_test_verbs_state_SOURCES = tests/rdma/test_verbs_state.c
tests_rdma_test_verbs_state_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rdma_test_verbs_state_LDADD = $(CMOCKA_TEST_LIBS)
tests_rdma_test_verbs_link_SOURCES = tests/rdma/test_verbs_link.c
tests_rdma_test_verbs_link_LDADD = $(DTP_ALL_LIBS)
endif
