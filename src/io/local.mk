noinst_LIBRARIES += src/io/libdtp_io.a
src_io_libdtp_io_a_SOURCES = \
	src/io/io.h \
	src/io/shard.h src/io/shard.c \
	src/io/writer.c \
	src/io/dataset.c \
	src/io/ring.h src/io/ring.c \
	src/io/loader.c
