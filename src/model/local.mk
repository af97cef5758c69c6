noinst_LIBRARIES += src/model/libdtp_model.a
src_model_libdtp_model_a_SOURCES = \
	src/model/model.h \
	src/model/kernels.h \
	src/model/stage.h \
	src/model/linear.c \
	src/model/activation.c \
	src/model/layernorm.c \
	src/model/embedding.c \
	src/model/attention.c \
	src/model/block.c \
	src/model/head.c \
	src/model/xent.c \
	src/model/spec.c \
	src/model/init.c \
	src/model/stage.c \
	src/model/optim.c \
	src/model/matmuls.c
