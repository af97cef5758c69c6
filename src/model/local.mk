noinst_LIBRARIES += src/model/libdtp_model.a
src_model_libdtp_model_a_SOURCES = \
	src/model/model.h \
	src/model/kernels.h \
	src/model/stage.h \
	src/model/vecmath.h \
	src/model/pool.h \
	src/model/pool.c \
	src/model/par.c \
	src/model/linear.c \
	src/model/colsum.c \
	src/model/activation.c \
	src/model/vec_avx512.c \
	src/model/layernorm.c \
	src/model/embedding.c \
	src/model/attention.c \
	src/model/block_shared.h \
	src/model/block.c \
	src/model/block_backward.c \
	src/model/head.c \
	src/model/xent.c \
	src/model/spec.c \
	src/model/init.c \
	src/model/stage.c \
	src/model/stage_engine.c \
	src/model/backward.c \
	src/model/optim.c \
	src/model/matmuls.c \
	src/model/tensors.h src/model/tensors.c \
	src/model/precision.c \
	src/model/blas.c \
	src/model/bf16.h \
	src/model/bf16.c \
	src/model/dnnl_matmul.h \
	src/model/dnnl_engine.h \
	src/model/dnnl_matmul.c \
	src/model/dnnl_matmul_run.c \
	src/model/dnnl_matmul_run16.c \
	src/model/dnnl_matmul_f32.c \
	src/model/dnnl_reference.c \
	src/model/dnnl_none.c \
	src/model/dnnl_attention.h \
	src/model/dnnl_attention_engine.h \
	src/model/dnnl_attention.c \
	src/model/dnnl_attention_run.c
# gcc 12 at -O2 only vectorizes loops whose trip count is a known multiple of
# the vector width ("very-cheap" cost model); the elementwise kernels here have
# run-time lengths. An explicit -f option wins over the -O level whatever the
# order, so this survives the user's CFLAGS. No -ffast-math: float
# arithmetic is never reassociated behind our back; the reductions that
# vectorize do so because vecmath.h spells out their lanes.
# -fno-trapping-math: a float compare may raise the "invalid" flag on a NaN,
# so under the default -ftrapping-math gcc will not if-convert a clamp or a
# ReLU select and the loop stays scalar; nothing here reads the FP flags.
# -fno-math-errno: sqrtf becomes one instruction (vectorizable) instead of a
# call on the errno path; nothing here reads errno after math calls.
# Neither option changes a computed value.
src_model_libdtp_model_a_CFLAGS = $(AM_CFLAGS) $(DTP_VECT_CFLAGS) \
	-fno-trapping-math -fno-math-errno
