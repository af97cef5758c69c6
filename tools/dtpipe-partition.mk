# dtpipe-partition: profile units, plan a balanced pipeline, report balance
bin_PROGRAMS += tools/dtpipe-partition
tools_dtpipe_partition_SOURCES = tools/dtpipe-partition.c tools/partition-cluster.c \
	tools/partition-opts.h tools/partition-plan.c \
	tools/partition-report.c tools/partition-report.h tools/partition-report-cmd.c \
	tools/partition-cluster.h tools/partition-schedules.c \
	tools/partition-schedules.h tools/partition-share.c tools/partition-share.h \
	tools/timeline-svg.c tools/timeline-svg.h \
	tools/partition-chunks.c tools/partition-chunks.h \
	tools/partition-replay.c tools/partition-replay.h
tools_dtpipe_partition_LDADD = $(DTP_ALL_LIBS)
