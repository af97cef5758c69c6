noinst_LIBRARIES += src/model/libdtp_model.a
src_model_libdtp_model_a_SOURCES = \
	src/model/model.h
