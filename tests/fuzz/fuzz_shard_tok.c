/* Fuzz target: the llm.c token shard header (src/io/shard.c); seeds are
 * token shards of both widths. The harness is fuzz_shard.h. */
#include "fuzz_shard.h"
