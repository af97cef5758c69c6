# programs: each tool's rules are in tools/<tool>.mk
include tools/bench-model.mk
include tools/dtpipe-shard.mk
include tools/bench-io.mk
include tools/bench-net.mk
include tools/dtpipe.mk
include tools/dtpipe-partition.mk
include tools/dtpipe-export.mk
include tools/bench-ckpt.mk
include tools/bench-split.mk
include tools/bench-cores.mk
