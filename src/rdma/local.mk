noinst_LIBRARIES += src/rdma/libdtp_rdma.a
src_rdma_libdtp_rdma_a_SOURCES = \
	src/rdma/transport.h src/rdma/link.h \
	src/rdma/hello.c
# the verbs transport keeps its rules in its own fragment
include src/rdma/verbs.mk
