/* The stage plan outside the INI parser: defaults, validation (whatever the
 * source of the plan), writing a plan back out, the hash the stages compare in
 * their handshake, and small value parsers shared with plan_parse.c. */
#include "config.h"
#include "partition/plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void dtp_plan_defaults(struct dtp_plan *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "<plan>");
	p->micro_batch = 32;
	p->micro_batches = 4;
	p->schedule = DTP_SCHEDULE_GPIPE;
	p->virtual_stages = 1;
	dtp_optim_config_default(&p->optim, DTP_OPTIM_SGD);
	p->epochs = 1;
	p->seed = 1234;
	p->log_every = 10;
	p->loader_budget_bytes = (size_t)64 << 20;
	p->shuffle_window = 1024;
	snprintf(p->transport, sizeof(p->transport), "auto");
	p->base_port = 29500;
	p->gid_index = -1;
	p->connect_timeout_ms = 30000;
	p->ib_port = -1;
	p->verbs_blocking = 0;
	p->heartbeat_ms = 500;
	p->peer_timeout_ms = 5000;
	p->hang_timeout_ms = 10000;
	p->checkpoint_keep = 3;
	p->checkpoint_background = 1;
	p->checkpoint_every_s = DTP_PLAN_CKPT_EVERY_S;
	p->replicas = 1;
	p->reduce_bucket_bytes = DTP_PLAN_BUCKET_AUTO;
	p->shard_optimizer = 1;
	p->shm_reduce = 1;
}

const char *dtp_plan_warnings(const struct dtp_plan *p)
{
	return p->warnings;
}

int dtp_schedule_parse(const char *s, enum dtp_schedule_kind *out)
{
	if (strcmp(s, "gpipe") == 0)
		*out = DTP_SCHEDULE_GPIPE;
	else if (strcmp(s, "1f1b") == 0)
		*out = DTP_SCHEDULE_1F1B;
	else if (strcmp(s, "zb-h1") == 0)
		*out = DTP_SCHEDULE_ZBH1;
	else if (strcmp(s, "zb-h2") == 0)
		*out = DTP_SCHEDULE_ZBH2;
	else if (strcmp(s, "auto") == 0)
		*out = DTP_SCHEDULE_AUTO;
	else if (strcmp(s, "interleaved") == 0)
		*out = DTP_SCHEDULE_INTERLEAVED;
	else
		return -EINVAL;
	return 0;
}

int dtp_nonfinite_parse(const char *s, int *skip)
{
	if (strcmp(s, "stop") == 0)
		*skip = 0;
	else if (strcmp(s, "skip") == 0)
		*skip = 1;
	else
		return -EINVAL;
	return 0;
}

const char *dtp_schedule_name(enum dtp_schedule_kind k)
{
	switch (k) {
	case DTP_SCHEDULE_GPIPE: return "gpipe";
	case DTP_SCHEDULE_1F1B: return "1f1b";
	case DTP_SCHEDULE_ZBH1: return "zb-h1";
	case DTP_SCHEDULE_ZBH2: return "zb-h2";
	case DTP_SCHEDULE_AUTO: return "auto";
	case DTP_SCHEDULE_INTERLEAVED: return "interleaved";
	}
	return "?";
}

int dtp_parse_size(const char *s, size_t *out)
{
	char *end;
	double v, mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1024.0; end++; break;
	case 'M': mult = 1024.0 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (mult > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EINVAL;
	v *= mult;
	if (v >= 18446744073709551616.0 || v > (double)SIZE_MAX)
		return -ERANGE;
	*out = (size_t)v;
	return 0;
}

int dtp_cpulist_check(const char *s)
{
	/* item (',' item)*, item = N | N-M with N <= M */
	for (;;) {
		char *end;
		long a, b;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		a = strtol(s, &end, 10);
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s))
				return -EINVAL;
			b = strtol(s, &end, 10);
			s = end;
		}
		if (a < 0 || b < a || b > 1 << 20)
			return -EINVAL;
		if (*s == '\0')
			return 0;
		if (*s != ',')
			return -EINVAL;
		s++;
	}
}

/* "path:line: " or "path: " */
static void where(const struct dtp_plan *p, int line, char *buf, size_t len)
{
	if (line > 0)
		snprintf(buf, len, "%s:%d: ", p->path, line);
	else
		snprintf(buf, len, "%s: ", p->path);
}

/* index of the stage that holds unit u, or -1 */
static int stage_of(const struct dtp_plan *p, int u)
{
	for (int s = 0; s < p->num_stages; s++)
		if (u >= p->stages[s].first_unit && u < p->stages[s].last_unit)
			return s;
	return -1;
}

static int validate_stages(const struct dtp_plan *p, int n_units, struct dtp_err *err)
{
	char at[DTP_PLAN_PATH_MAX + 32];
	int expected = 0;

	if (p->num_stages < 1 || p->num_stages > DTP_MAX_STAGES) {
		where(p, 0, at, sizeof(at));
		return dtp_errf_input(err, -EINVAL, "%s%d stages: a plan needs 1 to %d [stage.N] sections "
				      "(N = 0, 1, ...), together holding units 0-%d", at, p->num_stages,
				      DTP_MAX_STAGES, n_units - 1);
	}
	for (int s = 0; s < p->num_stages; s++) {
		const struct dtp_stage_plan *st = &p->stages[s];
		const struct dtp_stage_plan *prev = s ? &p->stages[s - 1] : NULL;

		where(p, st->line, at, sizeof(at));
		if (st->first_unit < 0 || st->last_unit <= st->first_unit)
			return dtp_errf_input(err, -EINVAL, "%s[stage.%d] has no units (first %d, end %d): "
					      "give it units = A-B with 0 <= A <= B", at, s,
					      st->first_unit, st->last_unit);
		if (st->first_unit > expected) {
			int t = stage_of(p, expected);

			if (t > s)
				return dtp_errf_input(err, -EINVAL, "%s[stage.%d] holds units %d-%d but unit %d "
						      "comes later, in [stage.%d] (line %d): stages must hold the "
						      "units in order (stage 0 the first ones); swap their ranges",
						      at, s, st->first_unit, st->last_unit - 1, expected, t,
						      p->stages[t].line);
			if (!prev)
				return dtp_errf_input(err, -EINVAL, "%sunit(s) %d-%d are in no stage: [stage.0] "
						      "starts at unit %d; make it start at unit 0",
						      at, 0, st->first_unit - 1, st->first_unit);
			return dtp_errf_input(err, -EINVAL, "%sunit(s) %d-%d are in no stage: [stage.%d] "
					      "(line %d) ends at unit %d and [stage.%d] starts at unit %d; "
					      "every unit must be in exactly one stage: make [stage.%d] "
					      "start at unit %d", at, expected, st->first_unit - 1, s - 1,
					      prev->line, prev->last_unit - 1, s, st->first_unit, s, expected);
		}
		if (st->first_unit < expected) {
			int t = stage_of(p, st->first_unit);

			return dtp_errf_input(err, -EINVAL, "%s[stage.%d] units %d-%d repeat unit(s) %d-%d "
					      "already in [stage.%d] (line %d): every unit must be in "
					      "exactly one stage, in order; make [stage.%d] start at unit %d",
					      at, s, st->first_unit, st->last_unit - 1, st->first_unit,
					      expected - 1, t, t >= 0 ? p->stages[t].line : 0, s, expected);
		}
		if (st->last_unit > n_units)
			return dtp_errf_input(err, -EINVAL, "%s[stage.%d] units %d-%d go past the model's last "
					      "unit %d (it has %d units, 0-%d)", at, s, st->first_unit,
					      st->last_unit - 1, n_units - 1, n_units, n_units - 1);
		if (st->cores[0] && dtp_cpulist_check(st->cores))
			return dtp_errf_input(err, -EINVAL, "%s[stage.%d] cores = '%s' is not a cpulist: "
					      "write core numbers and ranges such as 0-3,8", at, s, st->cores);
		expected = st->last_unit;
	}
	if (expected < n_units) {
		const struct dtp_stage_plan *last = &p->stages[p->num_stages - 1];

		where(p, last->line, at, sizeof(at));
		return dtp_errf_input(err, -EINVAL, "%sunit(s) %d-%d are in no stage: the last stage "
				      "[stage.%d] ends at unit %d but the model has %d units (0-%d); "
				      "extend it or add a [stage.%d]", at, expected, n_units - 1,
				      p->num_stages - 1, expected - 1, n_units, n_units - 1, p->num_stages);
	}
	return 0;
}

int dtp_plan_validate(const struct dtp_plan *p, struct dtp_err *err)
{
	char at[DTP_PLAN_PATH_MAX + 32];
	int n_units, ret;

	where(p, 0, at, sizeof(at));
	ret = dtp_model_spec_validate(&p->model, err);
	if (ret) {
		dtp_err_prefix(err, "%s[model]: ", at);
		return ret;
	}
	if (p->micro_batch < 1)
		return dtp_errf_input(err, -EINVAL, "%s[train] micro_batch = %d: give at least 1 sample "
				      "per micro-batch", at, p->micro_batch);
	if (p->micro_batches < 1)
		return dtp_errf_input(err, -EINVAL, "%s[train] micro_batches = %d: M must be at least 1",
				      at, p->micro_batches);
	if (p->schedule != DTP_SCHEDULE_GPIPE && p->schedule != DTP_SCHEDULE_1F1B &&
	    p->schedule != DTP_SCHEDULE_ZBH1 && p->schedule != DTP_SCHEDULE_ZBH2 &&
	    p->schedule != DTP_SCHEDULE_AUTO && p->schedule != DTP_SCHEDULE_INTERLEAVED)
		return dtp_errf_input(err, -EINVAL, "%s[train] schedule: use gpipe, 1f1b, zb-h1, zb-h2, interleaved or auto",
				      at);
	/* recompute rebuilds one micro-batch's save area just before its
	 * backward, into one scratch area; a zero-bubble W runs later and needs it */
	if ((p->schedule == DTP_SCHEDULE_ZBH1 || p->schedule == DTP_SCHEDULE_ZBH2) && p->recompute)
		return dtp_errf_input(err, -EINVAL, "%s[train] schedule = %s with recompute = true: "
				      "the deferred weight gradients need the stashed activations; "
				      "use recompute = false, or schedule = 1f1b to recompute", at,
				      dtp_schedule_name(p->schedule));
	ret = dtp_precision_check(p->precision, err);
	if (ret == 0)
		ret = dtp_fp32_matmul_check(p->fp32_matmul, err);
	if (ret < 0)
		return ret;
	ret = dtp_optim_config_validate(&p->optim, err);
	if (ret) {
		dtp_err_prefix(err, "%s[train]: ", at);
		return ret;
	}
	if (p->cosine_to_end && (p->optim.total_steps != 0 || p->steps != 0))
		return dtp_errf_input(err, -EINVAL, "%s[train] cosine to the end of the run needs steps = 0 "
				      "and no total_steps (else the total is known: set total_steps)", at);
	if (p->steps < 0 || (p->steps == 0 && p->epochs < 1))
		return dtp_errf_input(err, -EINVAL, "%s[train] steps = %ld, epochs = %d: give steps >= 1, "
				      "or steps = 0 and epochs >= 1", at, p->steps, p->epochs);
	if (p->log_every < 1)
		return dtp_errf_input(err, -EINVAL, "%s[train] log_every = %d: give 1 or more", at,
				      p->log_every);
	if (p->shuffle_window < 0 || p->checkpoint_every < 0 || p->checkpoint_keep < 0)
		return dtp_errf_input(err, -EINVAL, "%s[data] shuffle_window, [checkpoint] every and keep "
				      "must not be negative", at);
	if (strcmp(p->transport, "auto") && strcmp(p->transport, "verbs") &&
	    strcmp(p->transport, "tcp") && strcmp(p->transport, "shm"))
		return dtp_errf_input(err, -EINVAL, "%s[transport] kind = '%s': use auto, verbs, tcp or shm",
				      at, p->transport);
	if (p->replicas < 1 || p->replicas > DTP_MAX_REPLICAS)
		return dtp_errf_input(err, -EINVAL, "%s[parallel] replicas = %d: give 1 to %d", at,
				      p->replicas, DTP_MAX_REPLICAS);
	if (p->base_port < 1 || p->base_port + p->replicas * p->num_stages > 65536)
		return dtp_errf_input(err, -EINVAL, "%s[transport] base_port = %d: stage s of replica r "
				      "listens on base_port + r x K + s, which must stay in 1-65535", at,
				      p->base_port);
	if (p->gid_index < -1 || p->ib_port < -1 || p->ib_port == 0 || p->connect_timeout_ms < 1)
		return dtp_errf_input(err, -EINVAL, "%s[transport] gid_index and ib_port must be >= -1 "
				      "(-1 = auto; ports count from 1) and connect_timeout_ms >= 1", at);
	if (p->heartbeat_ms < 10 || p->peer_timeout_ms < 2 * p->heartbeat_ms ||
	    p->hang_timeout_ms < p->peer_timeout_ms)
		return dtp_errf_input(err, -EINVAL, "%s[transport] heartbeat_ms = %d, peer_timeout_ms = %d, "
				      "hang_timeout_ms = %d: give heartbeat_ms >= 10, peer_timeout_ms at "
				      "least twice heartbeat_ms, and hang_timeout_ms >= peer_timeout_ms",
				      at, p->heartbeat_ms, p->peer_timeout_ms, p->hang_timeout_ms);
	n_units = dtp_model_num_units(&p->model);
	if (n_units < 1)
		return dtp_errf_input(err, -EINVAL, "%s[model] has no units", at);
	ret = dtp_plan_validate_chunks(p, n_units, err);   /* 1: an interleaved plan, checked */
	if (ret)
		return ret < 0 ? ret : 0;
	return validate_stages(p, n_units, err);
}

/* A string written as an INI value must read back the same: inih strips
 * surrounding blanks and cuts at " ;" (inline comment). */
static int ini_safe(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return 1;
	if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || s[i] == '\r')
			return 0;
		if (s[i] == ';' && i > 0 && isspace((unsigned char)s[i - 1]))
			return 0;
	}
	return n < 190;   /* inih's line limit is 200 characters */
}

/* shortest %g form that reads back as the same float */
static const char *fmt_float(float v, char *buf, size_t len)
{
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, len, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return buf;
}

int dtp_plan_write_notes(const struct dtp_plan *p, const char *const *notes, FILE *f)
{
	char b[7][32];
	const struct dtp_model_spec *m = &p->model;
	const struct dtp_optim_config *o = &p->optim;

	if (!ini_safe(p->train_path) || !ini_safe(p->test_path) ||
	    !ini_safe(p->checkpoint_dir) || !ini_safe(p->transport))
		return -EINVAL;
	for (int s = 0; s < p->num_stages; s++)
		if (!ini_safe(p->stages[s].host) || !ini_safe(p->stages[s].cores) ||
		    !ini_safe(p->stages[s].nic) || (notes && notes[s] && !ini_safe(notes[s])))
			return -EINVAL;

	fprintf(f, "# dtpipe stage plan (see docs/plan-format.md)\n\n[model]\n");
	if (m->kind == DTP_MODEL_MLP) {
		fprintf(f, "kind = mlp\nwidths = ");
		for (int i = 0; i < m->n_widths; i++)
			fprintf(f, "%s%d", i ? "-" : "", m->widths[i]);
		fprintf(f, "\n");
	} else if (m->kind == DTP_MODEL_GPT) {
		fprintf(f, "kind = gpt\nlayers = %d\ndim = %d\nheads = %d\nseq_len = %d\nvocab = %d\n",
			m->layers, m->dim, m->heads, m->seq_len, m->vocab);
	} else {
		return -EINVAL;
	}
	if (p->fp32_matmul != DTP_FP32_MATMUL_OPENBLAS)
		fprintf(f, "fp32_matmul = %s\n", dtp_fp32_matmul_name(p->fp32_matmul));
	fprintf(f, "\n[train]\nmicro_batch = %d\nmicro_batches = %d\nschedule = %s\n"
		"recompute = %s\n", p->micro_batch, p->micro_batches,
		dtp_schedule_name(p->schedule), p->recompute ? "true" : "false");
	if (p->virtual_stages > 1)
		fprintf(f, "virtual_stages = %d\n", p->virtual_stages);
	fprintf(f, "optimizer = %s\nlr = %s\n", o->kind == DTP_OPTIM_ADAMW ? "adamw" : "sgd",
		fmt_float(o->lr, b[0], 32));
	/* momentum is an sgd setting (the loader warns about it with adamw): an
	 * adamw plan carries it only when it is not adamw's default 0 */
	if (o->kind != DTP_OPTIM_ADAMW || o->momentum != 0.0f)
		fprintf(f, "momentum = %s\n", fmt_float(o->momentum, b[1], 32));
	fprintf(f, "beta1 = %s\nbeta2 = %s\neps = %s\nweight_decay = %s\nclip_norm = %s\n"
		"warmup_steps = %ld\n", fmt_float(o->beta1, b[2], 32),
		fmt_float(o->beta2, b[3], 32), fmt_float(o->eps, b[4], 32),
		fmt_float(o->weight_decay, b[5], 32), fmt_float(o->clip_norm, b[6], 32),
		o->warmup_steps);
	if (o->total_steps > 0)
		fprintf(f, "lr_schedule = cosine\ntotal_steps = %ld\n", o->total_steps);
	else
		fprintf(f, "lr_schedule = %s\n", p->cosine_to_end ? "cosine" : "constant");
	fprintf(f, "min_lr_ratio = %s\nsteps = %ld\nepochs = %d\nseed = %llu\nlog_every = %d\n"
		"mem_cap = %zu\nnonfinite = %s\nprecision = %s\n", fmt_float(o->min_lr_ratio, b[0], 32), p->steps,
		p->epochs, (unsigned long long)p->seed, p->log_every, p->mem_cap_bytes,
		p->skip_nonfinite ? "skip" : "stop", dtp_precision_name(p->precision));
	fprintf(f, "\n[data]\ntrain = %s\ntest = %s\nloader_budget = %zu\nshuffle_window = %d\n",
		p->train_path, p->test_path, p->loader_budget_bytes, p->shuffle_window);
	fprintf(f, "\n[checkpoint]\ndir = %s\nevery = %ld\nkeep = %d\n", p->checkpoint_dir,
		p->checkpoint_every, p->checkpoint_keep);
	if (p->max_restarts)
		fprintf(f, "max_restarts = %d\n", p->max_restarts);
	if (p->elastic)
		fprintf(f, "elastic = yes\n");
	fprintf(f, "every_seconds = %ld\nbackground = %s\n", p->checkpoint_every_s,
		p->checkpoint_background ? "yes" : "no");
	if (p->replicas > 1)
		fprintf(f, "\n[parallel]\nreplicas = %d\noverlap = %s\nshard_optimizer = %s\n",
			p->replicas, p->reduce_overlap ? "yes" : "no",
			p->shard_optimizer ? "yes" : "no");
	if (p->replicas > 1 && p->reduce_bucket_bytes != DTP_PLAN_BUCKET_AUTO)
		fprintf(f, "bucket_size = %zu\n", p->reduce_bucket_bytes);
	fprintf(f, "\n[transport]\nkind = %s\nbase_port = %d\ngid_index = %d\n"
		"ib_port = %d\nverbs_blocking = %s\nconnect_timeout_ms = %d\nheartbeat_ms = %d\n"
		"peer_timeout_ms = %d\nhang_timeout_ms = %d\n", p->transport,
		p->base_port, p->gid_index, p->ib_port, p->verbs_blocking ? "yes" : "no",
		p->connect_timeout_ms, p->heartbeat_ms, p->peer_timeout_ms, p->hang_timeout_ms);
	for (int s = 0; s < p->num_stages; s++) {
		const struct dtp_stage_plan *st = &p->stages[s];

		fprintf(f, "\n[stage.%d]\n", s);
		if (notes && notes[s] && notes[s][0])
			fprintf(f, "# %s\n", notes[s]);
		dtp_plan_write_units(st, f);
		if (st->host[0])
			fprintf(f, "host = %s\n", st->host);
		if (st->cores[0])
			fprintf(f, "cores = %s\n", st->cores);
		if (st->nic[0])
			fprintf(f, "nic = %s\n", st->nic);
	}
	return ferror(f) ? -EIO : 0;
}

int dtp_plan_write(const struct dtp_plan *p, FILE *f)
{
	return dtp_plan_write_notes(p, NULL, f);
}

/* FNV-1a 64 over fixed-width values (the stages run the same build on the same
 * architecture, so native byte order is shared). */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v)
{
	return fnv(h, &v, sizeof(v));
}

static uint64_t fnv_f32(uint64_t h, float v)
{
	uint32_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return fnv(h, &bits, sizeof(bits));
}

uint64_t dtp_plan_hash(const struct dtp_plan *p)
{
	const struct dtp_model_spec *m = &p->model;
	const struct dtp_optim_config *o = &p->optim;
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv(h, "dtpipe-plan-1", 13);
	h = fnv_i64(h, m->kind);
	if (m->kind == DTP_MODEL_MLP) {
		h = fnv_i64(h, m->n_widths);
		for (int i = 0; i < m->n_widths && i < DTP_MLP_MAX_WIDTHS; i++)
			h = fnv_i64(h, m->widths[i]);
	} else {
		h = fnv_i64(h, m->layers);
		h = fnv_i64(h, m->dim);
		h = fnv_i64(h, m->heads);
		h = fnv_i64(h, m->seq_len);
		h = fnv_i64(h, m->vocab);
	}
	h = fnv_i64(h, p->micro_batch);
	h = fnv_i64(h, p->micro_batches);
	h = fnv_i64(h, p->schedule);
	h = fnv_i64(h, p->recompute);
	if (p->precision != DTP_PRECISION_FP32)   /* fp32 plans keep their old hash */
		h = fnv_i64(h, p->precision);
	if (p->replicas > 1)                      /* unreplicated plans keep theirs */
		h = fnv_i64(h, p->replicas);
	h = fnv_i64(h, o->kind);
	h = fnv_f32(h, o->lr);
	h = fnv_f32(h, o->momentum);
	h = fnv_f32(h, o->beta1);
	h = fnv_f32(h, o->beta2);
	h = fnv_f32(h, o->eps);
	h = fnv_f32(h, o->weight_decay);
	h = fnv_f32(h, o->clip_norm);
	h = fnv_i64(h, o->warmup_steps);
	h = fnv_i64(h, o->total_steps);
	h = fnv_f32(h, o->min_lr_ratio);
	h = fnv_i64(h, p->cosine_to_end);
	h = fnv_i64(h, p->steps);
	h = fnv_i64(h, p->epochs);
	h = fnv_i64(h, (int64_t)p->seed);
	h = fnv_i64(h, p->shuffle_window);
	h = fnv_i64(h, p->num_stages);
	for (int s = 0; s < p->num_stages && s < DTP_MAX_STAGES; s++) {
		h = fnv_i64(h, p->stages[s].first_unit);
		h = fnv_i64(h, p->stages[s].last_unit);
		for (int c = 1; c < p->stages[s].n_chunks && c < DTP_MAX_VIRTUAL_STAGES; c++) {
			h = fnv_i64(h, p->stages[s].chunk_first[c]);
			h = fnv_i64(h, p->stages[s].chunk_last[c]);
		}
	}
	if (p->virtual_stages > 1)                /* plain plans keep theirs */
		h = fnv_i64(h, p->virtual_stages);
	return h;
}
