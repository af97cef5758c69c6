# dtpipe-shard: Fashion-MNIST IDX -> record shards, text -> llm.c token shards
bin_PROGRAMS += tools/dtpipe-shard
tools_dtpipe_shard_SOURCES = tools/dtpipe-shard.c
tools_dtpipe_shard_LDADD = $(DTP_ALL_LIBS)
