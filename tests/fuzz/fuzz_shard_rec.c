/* Fuzz target: the record shard header (src/io/shard.c); seeds are record
 * shards (docs/record-shard-format.md). The harness is fuzz_shard.h. */
#include "fuzz_shard.h"
