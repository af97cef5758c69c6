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
# gcc 12 at -O2 only vectorizes loops whose trip count is a known multiple of
# the vector width ("very-cheap" cost model); the elementwise kernels here have
# run-time lengths. An explicit -f option wins over the -O level whatever the
# order, so this survives the user's CFLAGS. Float reductions stay in order
# (no -ffast-math), so results do not change, only speed.
src_model_libdtp_model_a_CFLAGS = $(AM_CFLAGS) -fvect-cost-model=dynamic
