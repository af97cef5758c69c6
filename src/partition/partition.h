/* The min-max partitioner: split a chain of units into K contiguous stages so
 * that the slowest stage is as fast as possible, exactly (dynamic programming
 * over the chain), with the activation transfer on each cut charged to both
 * stages beside it and an optional per-stage memory cap.
 *
 * Cost model of stage s holding units [a, b) (all per micro-batch):
 *   time(s) = sum_u time[u] / speed[s] + (a > 0 ? cut_bytes[a-1] : 0) / bandwidth
 *                           + (b < n ? cut_bytes[b-1] : 0) / bandwidth
 *   mem(s)  = sum_u state_mem[u] + sum over the stage's unit kinds k of
 *             max_{u of kind k} shared_mem[u]
 *             + slots(s) * (in_mem[a] + sum_u save_mem[u])
 * where slots(s) = micro-batches stage s keeps in flight, given by the caller
 * (the pipeline computes them from the schedule that will run:
 * dtp_schedule_stash_slots; partition does not depend on pipeline); with
 * recompute only the stage input is kept per slot and the saves of one
 * micro-batch: sum state + shared + slots * in_mem[a] + sum save. */
#ifndef DTP_PARTITION_PARTITION_H
#define DTP_PARTITION_PARTITION_H

#include <stddef.h>

#include "base/base.h"
#include "partition/plan.h"

/* kinds of units whose shared_mem a stage counts apart (more: they share) */
#define DTP_CHAIN_KINDS 8

struct dtp_chain_unit {
	double time;          /* seconds per micro-batch, forward + backward */
	size_t state_mem;     /* parameters, gradients and optimizer state, bytes */
	size_t shared_mem;    /* scratch units of one kind share: a stage holds the
			       * largest of each kind's among its units */
	int kind;             /* units of one kind have the same; 0 .. DTP_CHAIN_KINDS - 1 */
	size_t save_mem;      /* what forward keeps for backward, bytes per micro-batch */
	size_t in_mem;        /* this unit's input, bytes per micro-batch */
	size_t cut_bytes;     /* bytes crossing a cut after this unit per micro-batch
			       * (activation forward + its gradient back) */
};

struct dtp_partition_opts {
	int stages;            /* K >= 1 */
	double bandwidth;      /* bytes/s between stages; 0 = transfers are free */
	size_t mem_cap;        /* per-stage bytes; 0 = no cap */
	int stash_slots[DTP_MAX_STAGES];   /* per stage s < stages: micro-batches in
					    * flight (>= 1; dtp_schedule_stash_slots) */
	int recompute;
	/* NULL, or K relative speeds: stage s computes speed[s] times as fast as
	 * the profile (more cores, a faster node type); transfers do not scale */
	const double *speed;
};

struct dtp_stage_cost {
	int first, last;       /* units [first, last) */
	double time;           /* per micro-batch, with transfers */
	double compute;        /* per micro-batch, without transfers */
	size_t mem;
};

/* Time and memory of stage s holding [a, b) under opts. */
struct dtp_stage_cost dtp_stage_cost(const struct dtp_chain_unit *u, int n, int a, int b, int s,
				     const struct dtp_partition_opts *o);

/* Best split of n units into o->stages stages: bounds[0] = 0 < bounds[1] < ...
 * < bounds[K] = n (K + 1 entries), and the slowest stage's time.
 * -EINVAL: K < 1 or K > n; -ERANGE: no split meets the memory cap (the message
 * gives the least cap any split could meet). */
int dtp_partition_chain(const struct dtp_chain_unit *u, int n, const struct dtp_partition_opts *o,
			int *bounds, double *slowest, struct dtp_err *err);

#endif
