/* Start-up and tear-down of one stage: the model and optimizer, the loaders,
 * the links to the neighbours, and ONE arena holding every buffer a step
 * uses (stash slots, send and receive buffers, control messages), registered
 * once with each link (arena.c). Nothing is allocated after this. */
#include "config.h"
#include "pipeline/ckpt_run.h"
#include "pipeline/ctrl.h"
#include "rdma/bootstrap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dtp_stage_opts_default(struct dtp_stage_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stage = -1;
	o->transport = -1;   /* not given: the plan's */
	o->steps = -1;
	o->epochs = -1;
	o->precision = -1;   /* not given: the plan's */
	o->fp32_matmul = -1;
}


static int open_loader(const struct dtp_plan *p, const char *path, int train,
		       struct dtp_loader **out, uint64_t *samples, struct dtp_err *err)
{
	struct dtp_loader_config c;
	struct dtp_dataset_info info;
	int r;

	dtp_loader_config_default(&c);
	c.path = path;
	if (p->loader_budget_bytes)
		c.budget_bytes = p->loader_budget_bytes;
	/* keep the read ring within half the budget (the rest: index and shuffle window) */
	if (c.queue_depth > 0 && c.block_bytes * (size_t)c.queue_depth > c.budget_bytes / 2 &&
	    c.budget_bytes / 2 / (size_t)c.queue_depth >= 65536)
		c.block_bytes = (c.budget_bytes / 2 / (size_t)c.queue_depth) & ~(size_t)65535;
	c.seed = p->seed;
	/* an mlp reads records, where seq_len is ignored: 1 lets token shards
	 * open, so that dtp_stage_check_data names the mismatch */
	c.seq_len = p->model.kind == DTP_MODEL_GPT ? p->model.seq_len : 1;
	c.shuffle = train;
	if (p->shuffle_window > 0)
		c.shuffle_window = (size_t)p->shuffle_window;
	c.wrap = train;
	r = dtp_loader_open(&c, out, err);
	if (r)
		return r;
	dtp_loader_info(*out, &info);
	r = dtp_stage_check_data(p, path, &info, err);
	if (r) {
		dtp_loader_close(*out);
		*out = NULL;
		return r;
	}
	*samples = info.samples;
	return 0;
}

/* the world rank (rdma/dp.h: replica x K + stage) of the process that runs
 * stage j of this replica's chain; a chunk's chain has K x v virtual stages,
 * virtual stage j running in process j % K (run_interleaved.c) */
static int world_rank(const struct dtp_stage *st, const struct dtp_stage_opts *o, int j)
{
	int procs = o->chain_procs > 0 ? o->chain_procs : st->K;

	return st->replica * procs + j % procs;
}

static int open_link(struct dtp_stage *st, const struct dtp_stage_opts *o, int peer,
		     struct dtp_link **out, struct dtp_err *err)
{
	const struct dtp_plan *p = st->plan;
	struct dtp_link_config c;
	int lower = peer < st->s ? peer : st->s;
	int port0 = st->replica * st->K;   /* this replica's links: base_port + port0 + j */
	const char *host = p->stages[lower].host;
	char slurm_host[256];
	struct dtp_err ignore = { 0 };
	int r;

	dtp_link_config_default(&c);
	/* --transport, else the plan's [transport] kind, else auto */
	c.kind = DTP_TRANSPORT_AUTO;
	if (o->transport >= 0)
		c.kind = (enum dtp_transport_kind)o->transport;
	else if (p->transport[0] && dtp_transport_kind_parse(p->transport, &c.kind) != 0)
		return dtp_errf_input(err, -EINVAL, "%s: [transport] kind = %s: use auto, verbs, tcp or shm",
				      p->path, p->transport);
	c.self_stage = st->s;
	c.peer_stage = peer;
	c.listen = st->s < peer;
	/* no host in the plan: under Slurm the job's node list says where the stage runs */
	if (!host[0] && dtp_slurm_host_of_stage(world_rank(st, o, lower), slurm_host, sizeof(slurm_host), &ignore) == 0)
		host = slurm_host;
	snprintf(c.host, sizeof(c.host), "%s", host[0] ? host : "127.0.0.1");
	/* and where the connecting (higher) stage runs, so that both ends resolve
	 * transport = auto alike */
	{
		int upper = peer < st->s ? st->s : peer;
		const char *uhost = p->stages[upper].host;
		char slurm_uhost[256];

		if (!uhost[0] && dtp_slurm_host_of_stage(world_rank(st, o, upper), slurm_uhost, sizeof(slurm_uhost),
							 &ignore) == 0)
			uhost = slurm_uhost;
		snprintf(c.connect_host, sizeof(c.connect_host), "%s", uhost[0] ? uhost : "127.0.0.1");
	}
	c.port = p->base_port + port0 + lower;
	c.job_key = o->job_key;
	c.plan_hash = dtp_plan_hash(p);
	c.precision = (int)p->precision;
	c.connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
			       (p->connect_timeout_ms > 0 ? p->connect_timeout_ms : 30000);
	c.max_msg_bytes = st->in_bytes > st->out_bytes ? st->in_bytes : st->out_bytes;
	if (c.max_msg_bytes < st->ctrl_up_n * sizeof(double))
		c.max_msg_bytes = st->ctrl_up_n * sizeof(double);
	if (c.slots < 2)
		c.slots = 2;
	if (p->gid_index >= 0)
		c.gid_index = p->gid_index;
	if (p->ib_port > 0)
		c.ib_port = p->ib_port;
	c.verbs_blocking = p->verbs_blocking;
	if (p->stages[st->s].nic[0])
		snprintf(c.ib_dev, sizeof(c.ib_dev), "%s", p->stages[st->s].nic);
	r = dtp_link_open(&c, out, err);
	if (r) {
		dtp_err_prefix(err, "stage %d: link to stage %d: ", st->s, peer);
		return r;
	}
	/* the heartbeats meet where the link did, in the same order */
	st->link_cfgs[st->n_link_cfgs++] = c;
	return 0;
}


static void close_links(struct dtp_stage *st)
{
	if (st->prev)
		dtp_link_close(st->prev);
	if (st->next)
		dtp_link_close(st->next);
}

/* the last stage's target loaders may be the same as its input loaders (K = 1) */
static void close_loaders(struct dtp_stage *st)
{
	if (st->train_in)
		dtp_loader_close(st->train_in);
	if (st->test_in)
		dtp_loader_close(st->test_in);
	if (st->train_tgt && st->train_tgt != st->train_in)
		dtp_loader_close(st->train_tgt);
	if (st->test_tgt && st->test_tgt != st->test_in)
		dtp_loader_close(st->test_tgt);
}

int dtp_stage_open(const struct dtp_plan *p, const struct dtp_stage_opts *o,
		   struct dtp_stage **out, struct dtp_err *err)
{
	struct dtp_stage *st;
	struct dtp_unit_info ui;
	struct dtp_arena_plan a;
	float *params = NULL, *grads = NULL;   /* the model's arrays, if not its own */
	int r, s = o->stage, max_slots = (int)(sizeof(st->slots) / sizeof(st->slots[0]));

	st = calloc(1, sizeof(*st));
	if (!st)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: out of memory", s);
	st->plan = p;
	st->s = s;
	st->K = p->num_stages;
	st->M = p->micro_batches;
	st->B = p->micro_batch;
	st->first_unit = p->stages[s].first_unit;
	st->last_unit = p->stages[s].last_unit;
	st->n_units = st->last_unit - st->first_unit;
	st->total_units = dtp_model_num_units(&p->model);
	st->is_first = s == 0;
	st->is_last = s == st->K - 1;
	st->recompute = p->recompute;
	st->seed = p->seed;
	r = dtp_stage_liveness_config(st, o, err);
	if (r)
		goto out_free;
	st->dp = o->dp;
	st->R = o->dp ? dtp_dp_replicas(o->dp) : 1;
	st->replica = o->dp ? dtp_dp_replica(o->dp) : 0;
	if (st->R != p->replicas) {
		r = dtp_errf_input(err, -EINVAL, "%s: [parallel] replicas = %d, and this rank is one of %d replicas: start R x K = %d x %d ranks with mpirun or srun --mpi=pmix (or dtpipe --plan alone on one machine)",
				   p->path, p->replicas, st->R, p->replicas, p->num_stages);
		goto out_free;
	}
	st->tgt_elems = p->model.kind == DTP_MODEL_GPT ? (size_t)p->model.seq_len : 1;

	st->bucket_bytes = dtp_dp_bucket_bytes(p->reduce_bucket_bytes,
					       p->reduce_bucket_bytes != DTP_PLAN_BUCKET_AUTO, st->R);
	if (st->dp && (r = dtp_dp_buckets(st->dp, &p->model, st->first_unit, st->last_unit,
					  st->bucket_bytes, p->reduce_overlap, o->measure_reduce, err)))
		goto out_free;
	/* [parallel] shm_reduce: replicas on one node keep the parameters and
	 * gradients in memory they share, and sum from it; sharded, they share
	 * one parameter array (rdma/dp.h) */
	if (st->dp && st->R > 1 && p->shm_reduce &&
	    (r = dtp_dp_node_arrays(st->dp, dtp_stage_model_array_floats(&p->model, st->first_unit,
									 st->last_unit),
				    p->shard_optimizer, &params, &grads, err)))
		goto out_free;
	r = dtp_stage_model_create_in(&p->model, st->first_unit, st->last_unit, st->B, p->seed,
				      params, grads, &st->model, err);
	if (r)
		goto out_free;
	if (st->dp && (r = dtp_dp_node_arrays_ready(st->dp, err)))
		goto out_model;
	r = dtp_stage_model_set_precision(st->model, p->precision, err);
	if (r == 0)
		r = dtp_stage_model_set_fp32_matmul(st->model, p->fp32_matmul, err);
	if (r)
		goto out_model;
	/* a cosine decay to the end of the run gets its total steps once the
	 * stages agree on them (dtp_optim_set_total_steps in run.c) */
	r = dtp_optim_create(&p->optim, st->model, &st->optim, err);
	if (r)
		goto out_model;
	/* [parallel] shard_optimizer: each replica updates a shard (ZeRO-1) */
	if (st->dp && st->R > 1 && p->shard_optimizer) {
		const struct dtp_param_span *own;
		int n_own;

		r = dtp_dp_shard(st->dp, dtp_stage_model_params(st->model),
				 dtp_stage_model_grads(st->model), err);
		n_own = r ? 0 : dtp_dp_shard_spans(st->dp, &own);
		/* a replica may own nothing of a tiny stage: an empty span keeps it sharded */
		if (r == 0 && n_own == 0) {
			static const struct dtp_param_span none = { 0, 0 };

			own = &none;
			n_own = 1;
		}
		if (r == 0)
			r = dtp_optim_set_shard(st->optim, own, n_own, err);
		if (r)
			goto out_optim;
		st->sharded = 1;
	}
	r = dtp_schedule_build(p->schedule, s, st->K, st->M, &st->sched, err);
	if (r)
		goto out_optim;
	st->n_slots = o->chunk_slots > 0 ? o->chunk_slots : st->sched.max_stash;
	st->n_wslots = st->sched.max_wstash;
	if (st->n_slots > max_slots || st->n_wslots > max_slots) {
		r = dtp_errf_input(err, -EINVAL,
				   "stage %d: the %s schedule stashes %d micro-batches, at most %d supported: use 1f1b or fewer micro-batches",
				   s, dtp_schedule_name(p->schedule), st->n_slots, max_slots);
		goto out_sched;
	}
	r = dtp_unit_describe(&p->model, st->last_unit - 1, &ui);
	if (r)
		goto out_sched;
	st->vocab = (int)(ui.out_elems / st->tgt_elems);
	st->in_bytes = dtp_stage_model_in_bytes(st->model, st->B);
	st->out_bytes = dtp_stage_model_out_bytes(st->model, st->B);
	st->save_bytes = dtp_stage_model_save_bytes(st->model, st->B);
	st->wsave_bytes = st->n_wslots ? dtp_stage_model_wsave_bytes(st->model, st->B) : 0;
	dtp_arena_plan_of(p, st->K, st->is_first, st->is_last, st->n_slots, st->n_wslots,
			  st->in_bytes, st->out_bytes, st->save_bytes, st->wsave_bytes,
			  st->tgt_elems, st->total_units, &a);
	/* open_link sizes its messages by the control vectors */
	st->ctrl_up_n = a.ctrl_up_n;
	st->ctrl_down_n = a.ctrl_down_n;
	/* data: the first stage reads inputs, the last one targets, in the same order */
	if (st->is_first || st->is_last) {
		r = open_loader(p, p->train_path, 1, &st->train_in, &st->train_samples, err);
		if (r)
			goto out_sched;
		if (p->test_path[0]) {
			r = open_loader(p, p->test_path, 0, &st->test_in, &st->test_samples, err);
			if (r)
				goto out_loaders;
		}
		if (st->is_last) {
			st->train_tgt = st->train_in;
			st->test_tgt = st->test_in;
			if (!st->is_first)
				st->train_in = st->test_in = NULL;
		}
	}

	/* links: the lower stage of each pair listens */
	if (!st->is_last) {
		r = open_link(st, o, s + 1, &st->next, err);
		if (r)
			goto out_loaders;
	}
	if (!st->is_first) {
		r = open_link(st, o, s - 1, &st->prev, err);
		if (r)
			goto out_links;
	}
	/* heartbeats: a failed neighbour is noticed in bounded time (a chunk
	 * of an interleaved stage: once every chunk's links are up,
	 * run_interleaved.c) */
	r = o->chunk_slots > 0 ? 0 : dtp_stage_liveness_open(st, err);
	if (r)
		goto out_links;
	/* buffers: one arena, registered on both links */
	r = dtp_stage_alloc_arena(st, a.total, err);
	if (r)
		goto out_liveness;
	r = dtp_stage_carve_arena(st, &a, err);
	if (r)
		goto out_arena;
	*out = st;
	return 0;

out_arena:
	free(st->sumsq);
	free(st->sumsq_blocks);
	dtp_stage_free_arena(st);
out_liveness:
	dtp_stage_liveness_close(st);
out_links:
	close_links(st);
out_loaders:
	close_loaders(st);
out_sched:
	dtp_schedule_free(&st->sched);
out_optim:
	dtp_optim_destroy(st->optim);
out_model:
	dtp_stage_model_destroy(st->model);
out_free:
	free(st);
	return r;
}

void dtp_stage_close(struct dtp_stage *st)
{
	if (!st)
		return;
	dtp_stage_free_arena(st);
	dtp_stage_liveness_close(st);
	close_links(st);
	close_loaders(st);
	free(st->sumsq);
	free(st->sumsq_blocks);
	dtp_schedule_free(&st->sched);
	dtp_optim_destroy(st->optim);
	dtp_stage_model_destroy(st->model);
	free(st);
}
