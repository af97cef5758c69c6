# the cost of splitting the backward (not installed); run by scripts/bench-pipeline.sh
noinst_PROGRAMS += tools/dtpipe-bench-split
tools_dtpipe_bench_split_SOURCES = tools/dtpipe-bench-split.c
tools_dtpipe_bench_split_LDADD = $(DTP_ALL_LIBS)
