# checkpoint store benchmark (not installed); run scripts/bench-ckpt.sh
noinst_PROGRAMS += tools/dtpipe-bench-ckpt
tools_dtpipe_bench_ckpt_SOURCES = tools/dtpipe-bench-ckpt.c
tools_dtpipe_bench_ckpt_LDADD = $(DTP_ALL_LIBS)
