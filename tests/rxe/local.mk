# the Soft-RoCE VM harness: runs the verbs transport tests on real verbs
# (inside a QEMU VM with rdma_rxe when this host has no RDMA device)
if DTP_HAVE_VERBS
INTEGRATION_TESTS += tests/rxe/verbs-suite.sh tests/rxe/verbs-pipeline.sh
dist_check_SCRIPTS += tests/rxe/verbs-suite.sh tests/rxe/verbs-pipeline.sh tests/rxe/rxe-vm.sh \
	tests/rxe/verbs-host.sh
endif
