# verbs transport (built only when configure found libibverbs + librdmacm)
if DTP_HAVE_VERBS
src_rdma_libdtp_rdma_a_SOURCES += \
	src/rdma/verbs.h src/rdma/verbs.c src/rdma/verbs_cm.c \
	src/rdma/verbs_proto.h src/rdma/verbs_proto.c src/rdma/verbs_match.c \
	src/rdma/verbs_api.h src/rdma/verbs_api.c
endif
