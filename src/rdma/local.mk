noinst_LIBRARIES += src/rdma/libdtp_rdma.a
src_rdma_libdtp_rdma_a_SOURCES = \
	src/rdma/transport.h
