/* Reading a plan, second half: after inih has seen every line, put the model,
 * the optimizer and the stages together, validate, collect warnings. */
#include "config.h"
#include "partition/plan_parse.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

static int key_line(const struct dtp_plan_ctx *c, const char *section, const char *name)
{
	for (size_t i = 0; i < DTP_PLAN_N_KEYS; i++)
		if (strcmp(dtp_plan_keys[i].section, section) == 0 && strcmp(dtp_plan_keys[i].name, name) == 0)
			return c->key_line[i];
	return 0;
}

static int section_line(const struct dtp_plan_ctx *c, const char *section)
{
	for (int i = 0; i < c->n_sec; i++)
		if (strcmp(c->sec_name[i], section) == 0)
			return c->sec_line[i];
	return 0;
}

static void finish_mlp(struct dtp_plan_ctx *c, struct dtp_model_spec *m)
{
	const char *s = c->widths;

	if (!key_line(c, "model", "widths")) {
		dtp_plan_fail(c, "[model] kind = mlp needs widths = IN-H1-...-CLASSES (e.g. 784-1024-10)");
		return;
	}
	c->line = key_line(c, "model", "widths");
	m->n_widths = 0;
	for (;;) {
		char *end;
		long w;

		errno = 0;
		w = strtol(s, &end, 10);
		if (end == s || errno || w < 1 || w > (1 << 24) || m->n_widths == DTP_MLP_MAX_WIDTHS) {
			dtp_plan_fail(c, "[model] widths = '%s': write 2 to %d positive layer widths joined "
			     "by '-', e.g. 784-1024-10", c->widths, DTP_MLP_MAX_WIDTHS);
			return;
		}
		m->widths[m->n_widths++] = (int)w;
		if (*end == '\0')
			break;
		if (*end != '-') {
			dtp_plan_fail(c, "[model] widths = '%s': widths are joined by '-', e.g. 784-1024-10",
			     c->widths);
			return;
		}
		s = end + 1;
	}
	if (m->n_widths < 2)
		dtp_plan_fail(c, "[model] widths = '%s': give at least the input and output widths",
		     c->widths);
}

static void finish_model(struct dtp_plan_ctx *c)
{
	static const char *const gpt_keys[] = { "layers", "dim", "heads", "seq_len" };
	struct dtp_model_spec m;
	int model_line = section_line(c, "model"), spec_line = key_line(c, "model", "spec");
	int other = 0;
	struct dtp_err e;

	for (size_t i = 0; i < DTP_PLAN_N_KEYS; i++)
		if (strcmp(dtp_plan_keys[i].section, "model") == 0 && strcmp(dtp_plan_keys[i].name, "spec") &&
		    dtp_plan_keys[i].type != DTP_PK_FP32_MATMUL &&   /* how, not what */
		    c->key_line[i])
			other = c->key_line[i];
	c->line = model_line;
	if (!model_line) {
		dtp_plan_fail(c, "no [model] section: add one with kind = mlp and widths = 784-1024-10, "
		     "or spec = mlp:784-1024-10");
		return;
	}
	if (spec_line && other) {
		c->line = other;
		dtp_plan_fail(c, "[model] has both spec (line %d) and separate keys: give one or the other",
		     spec_line);
		return;
	}
	if (spec_line) {
		c->p->model = c->spec_from_key;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.kind = c->kind;
	if (!c->kind) {
		dtp_plan_fail(c, "[model] needs kind = mlp or kind = gpt (or spec = ...)");
		return;
	}
	if (c->kind == DTP_MODEL_MLP) {
		for (size_t i = 0; i < 4; i++)
			if (key_line(c, "model", gpt_keys[i])) {
				c->line = key_line(c, "model", gpt_keys[i]);
				dtp_plan_fail(c, "[model] %s is a gpt key; an mlp takes only widths", gpt_keys[i]);
				return;
			}
		finish_mlp(c, &m);
		if (c->code)
			return;
	} else {
		if (key_line(c, "model", "widths")) {
			c->line = key_line(c, "model", "widths");
			dtp_plan_fail(c, "[model] widths is an mlp key; a gpt takes layers, dim, heads, "
			     "seq_len and vocab");
			return;
		}
		for (size_t i = 0; i < 4; i++)
			if (!key_line(c, "model", gpt_keys[i])) {
				dtp_plan_fail(c, "[model] kind = gpt needs %s (all of layers, dim, heads, seq_len; "
				     "vocab defaults to 256)", gpt_keys[i]);
				return;
			}
		m.layers = c->model_fields.layers;
		m.dim = c->model_fields.dim;
		m.heads = c->model_fields.heads;
		m.seq_len = c->model_fields.seq_len;
		m.vocab = key_line(c, "model", "vocab") ? c->model_fields.vocab : 256;
	}
	dtp_err_clear(&e);
	if (dtp_model_spec_validate(&m, &e)) {
		dtp_plan_fail(c, "[model]: %s", e.msg);
		return;
	}
	c->p->model = m;
}

static void finish_train(struct dtp_plan_ctx *c)
{
	struct dtp_optim_config o;
	int total_line = key_line(c, "train", "total_steps");

	dtp_optim_config_default(&o, c->optim_kind ? c->optim_kind : DTP_OPTIM_SGD);
	for (size_t i = 0; i < DTP_PLAN_N_KEYS; i++) {
		const struct dtp_plan_key *k = &dtp_plan_keys[i];

		if (k->target != DTP_PT_OPTIM || !c->key_line[i])
			continue;
		if (k->type == DTP_PK_FLOAT)
			memcpy((char *)&o + k->offset, (char *)&c->optim + k->offset, sizeof(float));
		else
			memcpy((char *)&o + k->offset, (char *)&c->optim + k->offset, sizeof(long));
	}
	c->p->cosine_to_end = 0;
	if (!c->cosine) {
		if (total_line) {
			c->line = total_line;
			dtp_plan_fail(c, "[train] total_steps is the end of the cosine decay: add "
			     "lr_schedule = cosine or remove it");
			return;
		}
		o.total_steps = 0;
	} else if (!total_line) {
		o.total_steps = c->p->steps;
		c->p->cosine_to_end = c->p->steps == 0;
	}
	c->p->optim = o;
}

static void finish_stages(struct dtp_plan_ctx *c)
{
	int k = 0;

	for (int s = 0; s < DTP_MAX_STAGES; s++)
		if (c->stage_line[s])
			k = s + 1;
	if (k == 0) {
		c->line = 0;
		dtp_plan_fail(c, "no [stage.N] sections: add [stage.0] with units = 0-%d (all units) or "
		     "split the units over [stage.0], [stage.1], ...",
		     c->p->model.kind ? dtp_model_num_units(&c->p->model) - 1 : 0);
		return;
	}
	for (int s = 0; s < k; s++) {
		if (!c->stage_line[s]) {
			c->line = c->stage_line[k - 1];
			dtp_plan_fail(c, "there is a [stage.%d] but no [stage.%d]: number the stage sections "
			     "0, 1, ... %d without gaps", k - 1, s, k - 1);
			return;
		}
		if (!c->stage_key_line[s][0]) {
			c->line = c->stage_line[s];
			dtp_plan_fail(c, "[stage.%d] has no units key: add units = A-B (inclusive) or units = A",
			     s);
			return;
		}
		c->p->stages[s].line = c->stage_line[s];
	}
	c->p->num_stages = k;
}

static void add_warnings(struct dtp_plan_ctx *c)
{
	struct dtp_plan *p = c->p;
	size_t n = 0;
	int line;

	p->warnings[0] = '\0';
	if (p->micro_batches < p->num_stages) {
		line = key_line(c, "train", "micro_batches");
		n += snprintf(p->warnings + n, sizeof(p->warnings) - n,
			      "%s:%d: warning: micro_batches = %d is less than the %d stages: at most "
			      "%d stages compute at once and the bubble is large; use micro_batches "
			      ">= %d (4 x stages or more keeps the bubble small)\n", c->name,
			      line ? line : section_line(c, "train"), p->micro_batches,
			      p->num_stages, p->micro_batches, p->num_stages);
	}
	if (n < sizeof(p->warnings) && p->optim.kind == DTP_OPTIM_ADAMW &&
	    (line = key_line(c, "train", "momentum")))
		snprintf(p->warnings + n, sizeof(p->warnings) - n,
			 "%s:%d: warning: momentum is an sgd setting; adamw uses beta1 and beta2\n",
			 c->name, line);
}

static int parse(struct dtp_plan_ctx *c, struct dtp_plan *out)
{
	struct dtp_plan *p = c->p;
	int r;

	dtp_plan_defaults(p);
	snprintf(p->path, sizeof(p->path), "%s", c->name);
	r = ini_parse_stream(dtp_plan_reader, c, dtp_plan_handler, c);
	if (c->code)
		return c->code;
	if (r == -2)
		return dtp_errf_runtime(c->err, -ENOMEM, "%s: out of memory while reading the plan", c->name);
	if (r) {
		c->line = r;
		dtp_plan_fail(c, "cannot read this line: expected [section], key = value, or a comment "
		     "(starting with # or ;)");
		return c->code;
	}
	finish_model(c);
	if (!c->code)
		finish_train(c);
	if (!c->code)
		finish_stages(c);
	if (c->code)
		return c->code;
	r = dtp_plan_validate(p, c->err);
	if (r)
		return r;
	add_warnings(c);
	*out = *p;
	return 0;
}

static int parse_source(const char *text, FILE *f, const char *name, struct dtp_plan *out,
			struct dtp_err *err)
{
	struct dtp_plan_ctx *c;
	int r = -ENOMEM;

	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->p = calloc(1, sizeof(*c->p));
	if (!c->p)
		goto out_free_ctx;
	c->text = text;
	c->file = f;
	c->name = name;
	c->err = err;
	r = parse(c, out);
	free(c->p);
out_free_ctx:
	free(c);
out:
	if (r == -ENOMEM && !(err && err->code))
		dtp_errf_runtime(err, r, "%s: out of memory while reading the plan", name);
	return r;
}

int dtp_plan_parse_string(const char *text, const char *name, struct dtp_plan *out,
			  struct dtp_err *err)
{
	return parse_source(text, NULL, name ? name : "<string>", out, err);
}

int dtp_plan_load(const char *path, struct dtp_plan *out, struct dtp_err *err)
{
	FILE *f = fopen(path, "r");
	int r;

	if (!f) {
		r = -errno;
		return dtp_errf_input(err, r, "%s: cannot open the plan file: %s; check the path "
				"(relative paths are from the current directory)", path, strerror(-r));
	}
	r = parse_source(NULL, f, path, out, err);
	fclose(f);
	return r;
}
