# how much of each core this process gets now (not installed); run by the
# benchmark scripts (scripts/bench-lib.sh) before and after each timed round
noinst_PROGRAMS += tools/dtpipe-bench-cores
tools_dtpipe_bench_cores_SOURCES = tools/dtpipe-bench-cores.c
tools_dtpipe_bench_cores_LDADD = src/base/libdtp_base.a $(PTHREAD_LIBS)
