noinst_LIBRARIES += src/io/libdtp_io.a
src_io_libdtp_io_a_SOURCES = \
	src/io/io.h
