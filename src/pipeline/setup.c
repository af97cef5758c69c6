/* Start-up and tear-down of one stage: the model and optimizer, the loaders,
 * the links to the neighbours, and ONE arena holding every buffer a step
 * uses (stash slots, send and receive buffers, control messages), registered
 * once with each link. Nothing is allocated after this. */
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

/* Sizes of the buffer arena for stage s, before anything is allocated. */
struct arena_plan {
	size_t in_b, out_b, save_b, tgt_b, ctrl_up_n, ctrl_down_n;
	size_t wsave_b;        /* split schedules: one W stash slot */
	int n_slots, n_wslots;
	size_t stash;          /* the stash slots' and W stash slots' share of total */
	size_t total;
};

static size_t up8(size_t x)
{
	return dtp_align_up(x ? x : 8, DTP_CACHELINE);
}

/* first, last: the chunk starts or ends the pipeline (stage 0, stage K-1;
 * interleaved: chunk 0 of stage 0, chunk v-1 of stage K-1); K: the stages
 * of the chain its control vectors run along (K x v interleaved) */
static void plan_arena(const struct dtp_plan *p, int K, int first, int last, int n_slots,
		       int n_wslots, size_t in_b, size_t out_b, size_t save_b, size_t wsave_b,
		       size_t tgt_elems, int total_units, struct arena_plan *a)
{
	size_t per_slot, t = 0;

	a->in_b = in_b, a->out_b = out_b, a->save_b = save_b, a->wsave_b = wsave_b;
	a->tgt_b = tgt_elems * sizeof(int32_t) * (size_t)p->micro_batch;
	a->n_slots = n_slots;
	a->n_wslots = n_wslots;
	per_slot = up8(in_b) + (p->recompute ? 0 : up8(save_b));
	a->stash = per_slot * (size_t)n_slots + up8(wsave_b) * (size_t)n_wslots;
	if (last)
		per_slot += up8(a->tgt_b) + (p->recompute ? 0 : up8(out_b));
	t += per_slot * (size_t)n_slots + up8(wsave_b) * (size_t)n_wslots;
	if (p->recompute)
		t += up8(save_b) + up8(out_b);
	if (!last)
		t += 2 * up8(out_b) + 2 * up8(out_b);   /* act_out, grad_in */
	if (!first)
		t += 2 * up8(in_b);                     /* grad_out */
	a->ctrl_up_n = dtp_ctrl_up_len(total_units, K);
	a->ctrl_down_n = dtp_ctrl_down_len(K);
	t += up8(a->ctrl_up_n * sizeof(double)) + up8(a->ctrl_down_n * sizeof(double));
	a->total = dtp_align_up(t, DTP_PAGE);
}

/* Which link a stage's buffer arena comes from (alloc_arena maps it, the
 * memory prediction sizes it): the next stage's when there is one, else the
 * previous one's; +1, -1, or 0 for a 1-stage run (a private arena). */
static int arena_link_side(int is_first, int is_last)
{
	return !is_last ? 1 : !is_first ? -1 : 0;
}

/* what a chunk's buffer arena of `bytes` maps (alloc_arena): the file a
 * shm link shares with its peer is on small pages; a private arena (one
 * stage) or a tcp or verbs link's is rounded as dtp_mapped_bytes */
static size_t buffer_arena_bytes(const struct dtp_plan *p, int s, int is_first, int is_last,
				 size_t bytes)
{
	int K = p->num_stages, side = arena_link_side(is_first, is_last);

	if (side && dtp_plan_link_is_shm(p, s, (s + side + K) % K))
		return bytes;
	return dtp_mapped_bytes(bytes);
}

/* one chunk's share (units first..last-1, n_slots and n_wslots stash slots):
 * parameters, gradients, optimizer state, stash and buffers, model scratch */
static int chunk_mem(const struct dtp_plan *p, int s, int first, int last, int is_first,
		     int is_last, int n_slots, int n_wslots, struct dtp_stage_mem *m,
		     struct dtp_err *err)
{
	struct dtp_unit_info ui;
	struct arena_plan a;
	size_t np = 0, in_e = 0, out_e = 0, save_e = 0, save_pad = 0, tgt_e, prec = 0, scratch;
	int B = p->micro_batch, r;

	for (int u = first; u < last; u++) {
		r = dtp_unit_describe(&p->model, u, &ui);
		if (r)
			return dtp_errf_input(err, r, "stage %d: cannot describe unit %d", s, u);
		np += ui.n_params;
		if (u == first)
			in_e = ui.in_elems;
		out_e = ui.out_elems;
		/* what forward keeps: save_floats counts a unit's own output where its
		 * backward needs it (ReLU, blocks); a unit that keeps nothing else still
		 * keeps its output for the next unit of the stage; plus the 64-byte
		 * rounding of each buffer */
		save_e += ui.save_floats;
		if (ui.save_floats == 0 && u + 1 < last)
			save_e += ui.out_elems;
		save_pad += 16 * 64;
	}
	tgt_e = p->model.kind == DTP_MODEL_GPT ? (size_t)p->model.seq_len : 1;
	plan_arena(p, p->num_stages * dtp_plan_chunks(p), is_first, is_last, n_slots, n_wslots,
		   in_e * 4 * (size_t)B,
		   out_e * 4 * (size_t)B, save_e * 4 * (size_t)B + save_pad,
		   n_wslots ? dtp_model_wsave_bytes(&p->model, first, last, B) : 0, tgt_e,
		   dtp_model_num_units(&p->model), &a);
	m->params += np * sizeof(float);
	m->grads += np * sizeof(float);
	m->optim += dtp_mapped_bytes((p->optim.kind == DTP_OPTIM_ADAMW ? 2 : 1) * np * sizeof(float));
	/* the background writer's snapshot of these units (ckpt_bg.c) */
	m->ckpt_snapshot += dtp_ckpt_bg_bytes(p, np);
	m->stash += a.stash;
	m->buffers += buffer_arena_bytes(p, s, is_first, is_last, a.total) - a.stash;
	/* the model's own backward scratch, as the model will map it: in its
	 * arena beside the arrays, or alone when replicas on one node share
	 * them (rdma/dp.h; whether they do is known only at start-up, so the
	 * larger of the two) */
	scratch = dtp_stage_model_scratch_bytes(&p->model, first, last, B, 0);
	if (p->replicas > 1 && p->shm_reduce) {
		size_t alone = dtp_stage_model_scratch_bytes(&p->model, first, last, B, 1);

		scratch = alone > scratch ? alone : scratch;
	}
	m->model_scratch += scratch;
	/* and what its precision adds (bf16 copies, oneDNN scratchpads) */
	r = dtp_stage_model_precision_bytes(&p->model, first, last, B, p->precision, &prec, err);
	m->precision += prec;
	if (r == 0)     /* fp32_matmul = onednn: its scratchpads */
		r = dtp_stage_model_fp32_matmul_bytes(&p->model, first, last, B, p->precision,
						      p->fp32_matmul, &prec, err);
	if (r == 0)
		m->precision += prec;
	return r;
}

/* stage s's own arenas, without what its links map; arena[c] (when not
 * NULL): chunk c's buffer arena, stash and buffers */
static int own_mem(const struct dtp_plan *p, int s, struct dtp_stage_mem *out, size_t *arena,
		   struct dtp_err *err)
{
	struct dtp_stage_mem m = { 0 };
	int K = p->num_stages, v = p->virtual_stages > 1 ? p->virtual_stages : 1, r;
	int slots[DTP_MAX_STAGES * DTP_MAX_VIRTUAL_STAGES], wslots[DTP_MAX_STAGES] = { 0 };

	/* the stash slots of each chunk, from the built lists */
	if (v > 1)
		r = dtp_schedule_chunk_stash_slots(p->schedule, K, p->micro_batches, v, slots, err);
	else
		r = dtp_schedule_stash_slots(p->schedule, K, p->micro_batches, slots, err);
	if (r == 0 && v == 1)
		r = dtp_schedule_wstash_slots(p->schedule, K, p->micro_batches, wslots, err);
	if (r)
		return r;
	for (int c = 0; c < v && r == 0; c++) {
		size_t before = m.stash + m.buffers;
		int first, last;

		dtp_plan_chunk_units(p, s, c, &first, &last);
		r = chunk_mem(p, s, first, last, s == 0 && c == 0, s == K - 1 && c == v - 1,
			      slots[s * v + c], wslots[s], &m, err);
		if (arena)
			arena[c] = m.stash + m.buffers - before;
	}
	if (r)
		return r;
	m.loader = (s == 0 || s == K - 1) ?
		   p->loader_budget_bytes * (p->test_path[0] ? 2 : 1) : 0;
	*out = m;
	return 0;
}

int dtp_stage_chunk_arenas(const struct dtp_plan *p, int s, size_t *arena, struct dtp_err *err)
{
	struct dtp_stage_mem m;

	return own_mem(p, s, &m, arena, err);
}

int dtp_stage_mem_predict(const struct dtp_plan *p, int s, struct dtp_stage_mem *out,
			  struct dtp_err *err)
{
	struct dtp_stage_mem m;
	int r = own_mem(p, s, &m, NULL, err);

	if (r == 0)
		r = dtp_stage_link_mem(p, s, &m.links, err);
	if (r)
		return r;
	m.total = m.params + m.grads + m.optim + m.stash + m.buffers + m.loader +
		  m.model_scratch + m.precision + m.ckpt_snapshot + m.links;
	*out = m;
	return 0;
}

static void carve_xbufs(struct dtp_xbuf *x, struct dtp_arena *a, size_t bytes)
{
	for (int i = 0; i < 2; i++)
		x[i].buf = dtp_arena_take(a, up8(bytes), DTP_CACHELINE);
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

/* Cut every per-step buffer (stash slots, transfer buffers, control vectors)
 * out of the one arena. */
static int carve_arena(struct dtp_stage *st, const struct arena_plan *ap, struct dtp_err *err)
{
	const struct arena_plan a = *ap;

	for (int i = 0; i < st->n_slots; i++) {
		struct dtp_slot *sl = &st->slots[i];

		sl->in = dtp_arena_take(&st->arena, up8(a.in_b), DTP_CACHELINE);
		if (!st->recompute)
			sl->save = dtp_arena_take(&st->arena, up8(a.save_b), DTP_CACHELINE);
		if (st->is_last) {
			sl->tgt = dtp_arena_take(&st->arena, up8(a.tgt_b), DTP_CACHELINE);
			if (!st->recompute)
				sl->logits = dtp_arena_take(&st->arena, up8(a.out_b), DTP_CACHELINE);
		}
	}
	for (int i = 0; i < st->n_wslots; i++)
		st->wslots[i] = dtp_arena_take(&st->arena, up8(a.wsave_b), DTP_CACHELINE);
	if (st->recompute) {
		st->scratch_save = dtp_arena_take(&st->arena, up8(a.save_b), DTP_CACHELINE);
		st->scratch_out = dtp_arena_take(&st->arena, up8(a.out_b), DTP_CACHELINE);
	}
	if (!st->is_last) {
		carve_xbufs(st->act_out, &st->arena, a.out_b);
		carve_xbufs(st->grad_in, &st->arena, a.out_b);
	}
	if (!st->is_first)
		carve_xbufs(st->grad_out, &st->arena, a.in_b);
	st->ctrl_up_n = a.ctrl_up_n;
	st->ctrl_down_n = a.ctrl_down_n;
	st->ctrl_up = dtp_arena_take(&st->arena, up8(a.ctrl_up_n * 8), DTP_CACHELINE);
	st->ctrl_down = dtp_arena_take(&st->arena, up8(a.ctrl_down_n * 8), DTP_CACHELINE);
	st->sumsq = calloc((size_t)st->n_units, sizeof(double));
	st->sumsq_blocks = calloc(dtp_optim_n_blocks(st->optim) + 1, sizeof(double));
	if (!st->ctrl_down || !st->sumsq || !st->sumsq_blocks)
		return dtp_errf_runtime(err, -ENOMEM, "stage %d: buffer arena too small (internal error)", st->s);
	return 0;
}


/* The arena comes from a link when the stage has one (dtp_link_alloc: on shm
 * the peer maps it and writes received tensors straight into it, one copy
 * instead of two through a ring), and is registered once on the other link;
 * a 1-stage run maps it privately. */
static int alloc_arena(struct dtp_stage *st, size_t bytes, struct dtp_err *err)
{
	int side = arena_link_side(!st->prev, !st->next);
	struct dtp_link *owner = side > 0 ? st->next : side < 0 ? st->prev : NULL;
	struct dtp_link *other = side > 0 ? st->prev : NULL;
	void *buf;
	int r;

	if (!owner) {
		r = dtp_arena_init(&st->arena, bytes);
		if (r)
			return dtp_errf_runtime(err, r, "stage %d: cannot map %zu bytes of pipeline buffers",
						st->s, bytes);
		return 0;
	}
	bytes = dtp_align_up(bytes ? bytes : 1, DTP_PAGE);
	r = dtp_link_alloc(owner, bytes, &buf, &st->arena_mr, err);
	if (r)
		return r;
	memset(buf, 0, bytes);
	st->arena.base = buf;
	st->arena.size = bytes;
	st->arena.used = 0;
	st->arena_link = owner;
	if (owner == st->next)
		st->next_mr = st->arena_mr;
	else
		st->prev_mr = st->arena_mr;
	if (other) {
		r = dtp_link_reg(other, buf, bytes, &st->prev_mr, err);
		if (r) {
			dtp_link_free(owner, buf, st->arena_mr);
			st->arena_link = NULL;
			st->arena.base = NULL;
			return r;
		}
	}
	return 0;
}

/* undo alloc_arena */
static void free_arena(struct dtp_stage *st)
{
	if (!st->arena_link) {
		dtp_arena_release(&st->arena);
		return;
	}
	if (st->prev && st->arena_link != st->prev && st->prev_mr)
		dtp_link_dereg(st->prev, st->prev_mr);
	dtp_link_free(st->arena_link, st->arena.base, st->arena_mr);
	st->arena_link = NULL;
	st->arena.base = NULL;
	st->prev_mr = st->next_mr = NULL;
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
	struct arena_plan a;
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
	plan_arena(p, st->K, st->is_first, st->is_last, st->n_slots, st->n_wslots, st->in_bytes, st->out_bytes, st->save_bytes,
		   st->wsave_bytes, st->tgt_elems, st->total_units, &a);
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
	r = alloc_arena(st, a.total, err);
	if (r)
		goto out_liveness;
	r = carve_arena(st, &a, err);
	if (r)
		goto out_arena;
	*out = st;
	return 0;

out_arena:
	free(st->sumsq);
	free(st->sumsq_blocks);
	free_arena(st);
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
	free_arena(st);
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
