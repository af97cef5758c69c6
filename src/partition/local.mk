noinst_LIBRARIES += src/partition/libdtp_partition.a
src_partition_libdtp_partition_a_SOURCES = \
	src/partition/plan.h src/partition/plan.c \
	src/partition/plan_parse.h src/partition/plan_parse.c src/partition/plan_load.c \
	src/partition/plan_chunks.c \
	src/partition/place.h src/partition/place.c src/partition/place_int.h \
	src/partition/topo.h src/partition/topo.c \
	src/partition/nic_place.h src/partition/nic_place.c \
	src/partition/baseline.h src/partition/baseline.c \
	src/partition/partition.h src/partition/partition.c \
	src/partition/profile.h src/partition/profile.c src/partition/profile_plan.c \
	src/partition/cluster.h src/partition/cluster.c
