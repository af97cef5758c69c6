noinst_LIBRARIES += src/rdma/libdtp_rdma.a
src_rdma_libdtp_rdma_a_SOURCES = \
	src/rdma/transport.h src/rdma/link.h src/rdma/transport.c \
	src/rdma/hello.c \
	src/rdma/stream.h src/rdma/stream_engine.h src/rdma/stream.c \
	src/rdma/stream_post.c src/rdma/sock.h src/rdma/sock.c \
	src/rdma/tcp.c src/rdma/shm.h src/rdma/shm.c src/rdma/shm_place.c \
	src/rdma/shm_fast.c src/rdma/shm_file.c \
	src/rdma/bootstrap.h src/rdma/bootstrap.c \
	src/rdma/heartbeat.h src/rdma/heartbeat.c \
	src/rdma/dp.h src/rdma/dp_common.c
# data-parallel replicas: on MPI when configure found it, else the refusal
# (MPI_CFLAGS is empty without MPI)
src_rdma_libdtp_rdma_a_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS)
if DTP_HAVE_MPI
src_rdma_libdtp_rdma_a_SOURCES += src/rdma/dp_mpi.h src/rdma/dp_mpi.c src/rdma/dp_mpi_shard.c \
	src/rdma/dp_shm.c
else
src_rdma_libdtp_rdma_a_SOURCES += src/rdma/dp_none.c
endif
# the verbs transport keeps its rules in its own fragment
include src/rdma/verbs.mk
