# data loader benchmark (not installed); run scripts/bench-io.sh
noinst_PROGRAMS += tools/dtpipe-bench-io
tools_dtpipe_bench_io_SOURCES = tools/dtpipe-bench-io.c
tools_dtpipe_bench_io_LDADD = $(DTP_ALL_LIBS)
