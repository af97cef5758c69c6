/* Planning for a whole cluster: R data-parallel replicas of a K-stage
 * pipeline on N nodes of C cores, M micro-batches per replica, chosen for the
 * least predicted step time at a fixed global batch.
 *
 * Cost model (docs/benchmarks.md states it with its figures):
 * - ranks rank = replica x K + stage are packed on the nodes in blocks of
 *   P = R K / N processes (R K a multiple of N, P <= C), C / P cores each;
 *   a stage's compute is the 1-core profile divided by its cores (linear);
 *   with oversubscribe, P may exceed C: process q of a node then shares core
 *   q % C with the others there (dtpipe's placement) and runs at C / P of a
 *   core (exact where the processes on one core are in step: the replicas of
 *   one stage, as in R x K = 2 x 2 on 2 cores);
 * - the cut points are the min-max split (dtp_partition_chain) with the link
 *   bandwidth of the pipeline links (the network when one leaves a node, else
 *   shared memory) and the per-process memory cap; each node's processes
 *   together stay under the node memory;
 * - the pipeline step comes from the schedule simulator (a callback: the
 *   simulator lives in src/pipeline, above this module), with one transfer
 *   time: the largest activation over its link, bytes / bw + latency;
 * - the gradient sum of each stage is a ring all-reduce over its R replicas,
 *   2 (R-1)/R x bytes / bw + 2 x latency; the groups that span nodes
 *   share each node's NIC (its load: the ring bytes of every stage present on
 *   the node); with overlap = no (dtpipe's default: a blocking MPI_Allreduce
 *   per unit as its last backward ends) every stage's sums add to the step,
 *   since the backward below and the gradient sent down wait for them; with
 *   overlap = yes the buckets leave as each unit's last backward ends, so all
 *   but the last unit's share of a stage's last backward hides the sum, and
 *   stage s (whose backward ends s x (b + xfer) before stage 0's) hides that
 *   too.
 * - the per-step work of every stage (dtp_profile_step_work: the optimizer
 *   step and zeroing before the step's first op, the norm's sum of squares
 *   after its last backward; 1/R of the optimizer and norm each with
 *   shard_optimizer, then an all-gather of the stage's parameters, (R-1)/R x
 *   bytes / bw + (R-1) x latency), placed where the executor runs it: stage
 *   s's pre-step work hides behind the s forwards and transfers before its
 *   first input arrives, its sum of squares behind the backwards that end
 *   after its last one;
 * - the end-of-step exchange (src/pipeline/ctrl.c): the norm's sums go up the
 *   chain from stage 0 to the last stage and the clip factor back down, one
 *   small message per link and direction (its latency: the few hundred
 *   bytes add under 0.1 us at a GB/s); with R > 1
 *   the last stages agree on stopping (a small all-reduce: recursive
 *   doubling, log2 R latencies), and with shard_optimizer the sums of
 *   squares are summed over the replicas too (another);
 * - with busy (the profile's _busy figures, measured beside a busy core) the
 *   compute and per-step work of every process is the one measured while the
 *   other cores compute: a node's processes all compute at once; and
 *   oversubscribed, also slower by what sharing a core costs beyond the
 *   turns (dtp_profile_share_penalty: each evicts the other's cache).
 * Start-up is not modelled. */
#ifndef DTP_PARTITION_CLUSTER_H
#define DTP_PARTITION_CLUSTER_H

#include <stddef.h>

#include "base/base.h"
#include "partition/partition.h"
#include "partition/plan.h"
#include "partition/profile.h"

/* a link: bandwidth in bytes/s and latency in seconds */
struct dtp_network {
	char name[24];
	double bw, lat;
};

/* "ib-hdr", "ib-ndr", "roce-100", "eth-25" or "GB/s,us" (e.g. "25,1.5"). */
int dtp_network_parse(const char *s, struct dtp_network *out, struct dtp_err *err);
/* The link between processes on one node (shared memory). */
struct dtp_network dtp_network_shm(void);
/* The names dtp_network_parse knows, for help texts: "ib-hdr|ib-ndr|..." */
const char *dtp_network_names(void);

/* The schedule, seen from here: stash slots and the simulated step of K
 * stages with M micro-batches (the tool and the tests fill these with the
 * pipeline's dtp_schedule_stash_slots and dtp_schedule_predict). */
struct dtp_cluster_sim {
	int (*stash_slots)(void *ctx, int K, int M, int *slots, struct dtp_err *err);
	int (*predict)(void *ctx, int K, int M, const double *fwd, const double *bwd, double xfer,
		       double *step, double *bubble, struct dtp_err *err);
	void *ctx;
};

struct dtp_cluster_opts {
	int nodes, cores_per_node;       /* N >= 1, C >= 1 */
	struct dtp_network net, shm;     /* between nodes; inside a node */
	long global_batch;               /* samples per step, a multiple of micro_batch */
	int micro_batch;                 /* samples per micro-batch (the profile's) */
	size_t mem_cap;                  /* per process, 0 = none */
	size_t node_mem;                 /* per node, 0 = none */
	int recompute;
	int max_stages;                  /* 0: min(units, DTP_MAX_STAGES) */
	int oversubscribe;               /* 1: up to 4 processes per core (they time-share) */
	int overlap;                     /* [parallel] overlap: 1 = nonblocking sums */
	int shard_optimizer;             /* [parallel] shard_optimizer (ZeRO-1): 1 = yes */
	int no_zero_grads;               /* 1: the code does not zero gradients each step */
	int busy;                        /* 1: use the profile's _busy times (if measured)
					  * when a node has more than one core */
};

struct dtp_layout {
	int R, K, M;                     /* replicas, stages, micro-batches per replica */
	int per_node, cores;             /* processes per node, cores per process (>= 1) */
	double speed;                    /* a process's speed in cores: cores, or C / per_node < 1
					  * when oversubscribed */
	int bounds[DTP_MAX_STAGES + 1];  /* cut points, bounds[0] = 0 .. bounds[K] = n */
	int cross_links;                 /* pipeline links that leave a node */
	int spans;                       /* 1: the all-reduce groups span nodes */
	double pipe, bubble;             /* simulated pipeline step (s), its bubble */
	double xfer;                     /* one activation over the slowest link (s) */
	double allreduce;                /* the slowest stage's gradient sum (s) */
	double exposed;                  /* what the backward does not hide (s) */
	double step_work;                /* per-step work on the step's critical path, the
					  * all-gather included (s) */
	double ctrl;                     /* the end-of-step exchange (s) */
	double gather;                   /* shard_optimizer: the slowest stage's all-gather (s) */
	double step;                     /* pipe + exposed + step_work + ctrl (s) */
	double samples_per_s;
	size_t mem_max;                  /* the largest stage's memory (bytes) */
	size_t node_mem_max;             /* the fullest node's (bytes) */
};

struct dtp_cluster_stats {
	int tried;                       /* (R, K) pairs that fit the nodes and batch */
	int over_mem;                    /* of those, refused for memory */
};

/* Every feasible layout, fastest first (*out: malloc'd, *n of them; ties,
 * steps equal to 1e-9, go to fewer stages, then fewer replicas). chain: dtp_profile_chain of p (one
 * core, micro-batch o->micro_batch). -ERANGE with a message when no layout
 * fits the memory, -EINVAL for options that admit none. */
int dtp_cluster_plan(const struct dtp_profile *p, const struct dtp_chain_unit *chain,
		     const struct dtp_cluster_opts *o, const struct dtp_cluster_sim *sim,
		     struct dtp_layout **out, int *n, struct dtp_cluster_stats *st,
		     struct dtp_err *err);

/* Ring all-reduce of `bytes` over R ranks on link l (0 for R = 1):
 * 2 (R-1)/R x bytes / bw + 2 x latency. */
double dtp_ring_allreduce_s(double bytes, int R, const struct dtp_network *l);
/* What stage work adds to a pipeline step, in seconds. K stages; fwd[s] and
 * bwd[s] a micro-batch's forward and backward (with any recompute) on stage
 * s, xfer one transfer; pre[s] the work stage s does before its first op
 * (optimizer step, zeroing, all-gather), post[s] after its last backward
 * (sum of squares); hop[s] one control message over the link s -> s+1 (K-1
 * entries); agree the replicas' all-reduces at the end (0 for R = 1).
 * Stage s's first forward starts sum_{j<s} (fwd[j] + xfer) after stage 0's,
 * its last backward ends sum_{j<s} (bwd[j] + xfer) before stage 0's. *ctrl
 * gets the exchange alone; the return value is everything added. */
double dtp_step_overhead(int K, const double *fwd, const double *bwd, double xfer,
			 const double *pre, const double *post, const double *hop, double agree,
			 double *ctrl, double *work);

/* What each rank of that ring sends: 2 (R-1)/R x bytes (0 for R = 1). */
double dtp_ring_allreduce_bytes(double bytes, int R);

#endif
