# model core benchmark (not installed); run scripts/bench-model.sh
noinst_PROGRAMS += tools/dtpipe-bench-model
tools_dtpipe_bench_model_SOURCES = tools/dtpipe-bench-model.c
tools_dtpipe_bench_model_LDADD = $(DTP_ALL_LIBS)
