noinst_LIBRARIES += src/base/libdtp_base.a
src_base_libdtp_base_a_SOURCES = \
	src/base/base.h \
	src/base/err.h src/base/err.c src/base/exit.h \
	src/base/log.h src/base/log.c \
	src/base/prng.h src/base/prng.c \
	src/base/mem.h src/base/mem.c \
	src/base/clock.h \
	src/base/bytes.h \
	src/base/sync.h src/base/sync.c \
	src/base/fdio.h src/base/fdio.c \
	src/base/parse.h src/base/parse.c \
	src/base/proc.h src/base/proc.c \
	src/base/crc32c.h src/base/crc32c.c \
	src/base/durable.h src/base/durable.c \
	src/base/preempt.h src/base/preempt.c \
	src/base/cpuprobe.h src/base/cpuprobe.c \
	src/base/cpuid.h src/base/cpuid.c \
	src/base/stats.h
