# dtpipe-bench-net: transport bandwidth and latency (scripts/bench-net.sh)
noinst_PROGRAMS += tools/dtpipe-bench-net
tools_dtpipe_bench_net_SOURCES = tools/dtpipe-bench-net.c
tools_dtpipe_bench_net_LDADD = $(DTP_ALL_LIBS)
