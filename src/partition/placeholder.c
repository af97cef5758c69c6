/* placeholder until the partition module lands */
#include "config.h"
#include "partition/partition.h"
int dtp_partition_placeholder(void);
int dtp_partition_placeholder(void) { return 0; }
