/* dtpipe-partition for interleaved plans (partition-chunks.c). */
#ifndef DTP_TOOLS_PARTITION_CHUNKS_H
#define DTP_TOOLS_PARTITION_CHUNKS_H

#include <stdio.h>

#include "partition/partition.h"
#include "partition/profile.h"
#include "pipeline/pipeline.h"

/* The min-max split of the chain into K x v chunks (K = plan->num_stages),
 * chunk j going to stage j % K as its chunk j / K, each chunk's stash slots
 * from the interleaved schedule's lists and a v-th of the stage's memory cap;
 * written into plan (virtual_stages, each stage's chunks). bounds0 (K + 1)
 * gets the chunk-0 ranges, contiguous, for the placement. */
int dtp_tool_split_chunks(struct dtp_plan *plan, int v, const struct dtp_chain_unit *chain,
			  int n_units, const struct dtp_partition_opts *po, int *bounds0,
			  struct dtp_err *err);
/* The report of a chunked plan: each chunk's units, times and share, each
 * stage's predicted memory, the simulated step and bubble beside 1f1b's on
 * the same stage times and the ideal formulas; on the profile's times, or
 * with trace (else NULL) on the compute a run measured (dtpipe --trace). */
int dtp_tool_report_chunks(FILE *f, const struct dtp_plan *plan, const struct dtp_profile *prof,
			   const char *trace, struct dtp_err *err);

#endif
