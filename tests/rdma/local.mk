# tests for src/rdma (tcp, shm, the shared transport suite)
include tests/rdma/verbs.mk
