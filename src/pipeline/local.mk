noinst_LIBRARIES += src/pipeline/libdtp_pipeline.a
src_pipeline_libdtp_pipeline_a_SOURCES = \
	src/pipeline/pipeline.h \
	src/pipeline/schedule.c \
	src/pipeline/simulate.c
