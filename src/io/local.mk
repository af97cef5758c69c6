noinst_LIBRARIES += src/io/libdtp_io.a
src_io_libdtp_io_a_SOURCES = \
	src/io/io.h \
	src/io/shard.h src/io/shard.c \
	src/io/writer.c \
	src/io/index.h src/io/index.c \
	src/io/dataset.c \
	src/io/ring.h src/io/ring.c \
	src/io/dio.h src/io/dio.c \
	src/io/decode.h src/io/decode.c \
	src/io/loader.c \
	src/io/reference.c \
	src/io/safetensors.h src/io/safetensors.c src/io/safetensors_write.c
# gcc 12 at -O2 vectorizes only loops whose trip count is a known multiple of
# the vector width; the decode loops (decode.c) have run-time lengths. The
# dynamic cost model lets them vectorize (an explicit -f option wins over the
# user's -O level). It changes no computed value: the u8 -> f32 loop still
# divides by 255.0f, lane by lane.
src_io_libdtp_io_a_CFLAGS = $(AM_CFLAGS) $(DTP_VECT_CFLAGS)
