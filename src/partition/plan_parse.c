/* Reading a stage plan from INI text with inih. inih (Debian's build) gives the
 * handler no line number, so the parse goes through ini_parse_stream with our
 * own line reader: it counts lines (the handler for a line runs before the next
 * read), sees every [section] header (also empty ones, which inih never reports)
 * and refuses over-long lines instead of letting inih split them. */
#include "config.h"
#include "partition/plan.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type {
	K_INT, K_LONG, K_U64, K_FLOAT, K_SIZE, K_BOOL, K_STR,
	K_KIND, K_WIDTHS, K_SPEC, K_SCHEDULE, K_OPTIMIZER, K_LRSCHED, K_TRANSPORT,
};
enum key_target { T_PLAN, T_OPTIM, T_MODEL, T_NONE };

struct key_def {
	const char *section, *name;
	enum key_type type;
	enum key_target target;
	size_t offset, size;      /* size: string capacity */
	long min, max;            /* integer range */
};

#define PK(sec, nm, ty, field, lo, hi) \
	{ sec, nm, ty, T_PLAN, offsetof(struct dtp_plan, field), \
	  sizeof(((struct dtp_plan *)0)->field), lo, hi }
#define OK_(nm, field) \
	{ "train", nm, K_FLOAT, T_OPTIM, offsetof(struct dtp_optim_config, field), 0, 0, 0 }
#define MK(nm, field) \
	{ "model", nm, K_INT, T_MODEL, offsetof(struct dtp_model_spec, field), 0, 1, 1 << 24 }
#define SK(sec, nm, ty) { sec, nm, ty, T_NONE, 0, 0, 0, 0 }

static const struct key_def keys[] = {
	SK("model", "spec", K_SPEC),
	SK("model", "kind", K_KIND),
	SK("model", "widths", K_WIDTHS),
	MK("layers", layers), MK("dim", dim), MK("heads", heads),
	MK("seq_len", seq_len), MK("vocab", vocab),
	PK("train", "micro_batch", K_INT, micro_batch, 1, 1 << 24),
	PK("train", "micro_batches", K_INT, micro_batches, 1, 1 << 20),
	SK("train", "schedule", K_SCHEDULE),
	PK("train", "recompute", K_BOOL, recompute, 0, 1),
	SK("train", "optimizer", K_OPTIMIZER),
	OK_("lr", lr), OK_("momentum", momentum), OK_("beta1", beta1), OK_("beta2", beta2),
	OK_("eps", eps), OK_("weight_decay", weight_decay), OK_("clip_norm", clip_norm),
	{ "train", "warmup_steps", K_LONG, T_OPTIM, offsetof(struct dtp_optim_config, warmup_steps),
	  0, 0, 1L << 40 },
	SK("train", "lr_schedule", K_LRSCHED),
	{ "train", "total_steps", K_LONG, T_OPTIM, offsetof(struct dtp_optim_config, total_steps),
	  0, 1, 1L << 40 },
	OK_("min_lr_ratio", min_lr_ratio),
	PK("train", "steps", K_LONG, steps, 0, 1L << 40),
	PK("train", "epochs", K_INT, epochs, 0, 1 << 20),
	PK("train", "seed", K_U64, seed, 0, 0),
	PK("train", "log_every", K_INT, log_every, 1, 1 << 30),
	PK("train", "mem_cap", K_SIZE, mem_cap_bytes, 0, 0),
	PK("data", "train", K_STR, train_path, 0, 0),
	PK("data", "test", K_STR, test_path, 0, 0),
	PK("data", "loader_budget", K_SIZE, loader_budget_bytes, 0, 0),
	PK("data", "shuffle_window", K_INT, shuffle_window, 0, 1 << 28),
	PK("checkpoint", "dir", K_STR, checkpoint_dir, 0, 0),
	PK("checkpoint", "every", K_LONG, checkpoint_every, 0, 1L << 40),
	SK("transport", "kind", K_TRANSPORT),
	PK("transport", "base_port", K_INT, base_port, 1, 65535),
	PK("transport", "gid_index", K_INT, gid_index, -1, 255),
	PK("transport", "connect_timeout_ms", K_INT, connect_timeout_ms, 1, 1 << 30),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const stage_keys[] = { "units", "host", "cores", "nic" };
#define N_STAGE_KEYS 4
#define MAX_SECTIONS (DTP_MAX_STAGES + 16)

struct parse_ctx {
	/* source: exactly one of text / file */
	const char *text;
	size_t pos;
	FILE *file;
	int line;                       /* line last read */
	const char *name;               /* for messages */
	struct dtp_plan *p;
	struct dtp_err *err;
	int code;                       /* first error (negative errno) or 0 */
	/* sections seen by the reader: name and header line */
	char sec_name[MAX_SECTIONS][64];
	int sec_line[MAX_SECTIONS];
	int n_sec;
	int key_line[N_KEYS];
	int stage_line[DTP_MAX_STAGES];                 /* its [stage.N] header, 0 = absent */
	int stage_key_line[DTP_MAX_STAGES][N_STAGE_KEYS];
	/* [model] and [train] pieces put together after the parse */
	struct dtp_model_spec spec_from_key, model_fields;
	enum dtp_model_kind kind;
	char widths[256];
	struct dtp_optim_config optim;   /* values given; applied over the kind's defaults */
	enum dtp_optim_kind optim_kind;
	int cosine;
};

__attribute__((format(printf, 2, 3)))
static void fail(struct parse_ctx *c, const char *fmt, ...)
{
	char msg[DTP_ERR_MSG_MAX];
	va_list ap;

	if (c->code)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->line > 0)
		c->code = dtp_errf(c->err, -EINVAL, "%s:%d: %s", c->name, c->line, msg);
	else
		c->code = dtp_errf(c->err, -EINVAL, "%s: %s", c->name, msg);
}

static const char *valid_keys(const char *section, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (strncmp(section, "stage.", 6) == 0) {
		for (int i = 0; i < N_STAGE_KEYS; i++)
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? ", " : "",
				      stage_keys[i]);
		return buf;
	}
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && n < len)
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", keys[i].name);
	return buf;
}

/* "stage.N" -> N, else -1 */
static int stage_index(const char *section)
{
	char *end;
	long n;

	if (strncmp(section, "stage.", 6) || !isdigit((unsigned char)section[6]))
		return -1;
	if (section[6] == '0' && section[7])
		return -1;
	n = strtol(section + 6, &end, 10);
	if (*end || n < 0 || n >= DTP_MAX_STAGES)
		return -1;
	return (int)n;
}

static void see_section(struct parse_ctx *c, const char *sec)
{
	static const char *const known[] = { "model", "train", "data", "checkpoint", "transport" };
	int ok = 0, s;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok |= strcmp(sec, known[i]) == 0;
	s = stage_index(sec);
	if (!ok && s < 0) {
		if (strncmp(sec, "stage", 5) == 0)
			fail(c, "bad stage section [%s]: write [stage.N] with N = 0, 1, ... %d, "
			     "numbered from 0 without leading zeros", sec, DTP_MAX_STAGES - 1);
		else
			fail(c, "unknown section [%s]; valid sections: [model], [train], [data], "
			     "[checkpoint], [transport], [stage.N] (N = 0, 1, ...)", sec);
		return;
	}
	for (int i = 0; i < c->n_sec; i++)
		if (strcmp(c->sec_name[i], sec) == 0) {
			fail(c, "section [%s] appears twice (first at line %d): merge them into one",
			     sec, c->sec_line[i]);
			return;
		}
	if (c->n_sec == MAX_SECTIONS) {
		fail(c, "too many sections");
		return;
	}
	snprintf(c->sec_name[c->n_sec], sizeof(c->sec_name[0]), "%s", sec);
	c->sec_line[c->n_sec++] = c->line;
	if (s >= 0)
		c->stage_line[s] = c->line;
}

/* Look at a line the way inih will: a [section] header gets recorded. */
static void scan_line(struct parse_ctx *c, const char *line)
{
	const char *s = line, *e;
	char sec[64];

	if (c->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;   /* a UTF-8 byte order mark, which inih skips too */
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[')
		return;
	e = strchr(s, ']');
	if (!e)
		return;   /* inih reports the syntax error */
	if ((size_t)(e - s - 1) >= sizeof(sec)) {
		fail(c, "section name too long");
		return;
	}
	memcpy(sec, s + 1, (size_t)(e - s - 1));
	sec[e - s - 1] = '\0';
	see_section(c, sec);
}

static int next_char(struct parse_ctx *c)
{
	if (c->file)
		return getc(c->file);
	if (!c->text[c->pos])
		return EOF;
	return (unsigned char)c->text[c->pos++];
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	int n = 0, ch = EOF;

	if (c->code)
		return NULL;   /* stop after the first error */
	while (n < num - 1 && (ch = next_char(c)) != EOF) {
		str[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (n == 0)
		return NULL;
	str[n] = '\0';
	c->line++;
	if (ch != '\n' && ch != EOF && n == num - 1) {
		fail(c, "line longer than %d characters: shorten it (inih's limit)", num - 3);
		return NULL;
	}
	scan_line(c, str);
	return c->code ? NULL : str;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (end == v || *end || errno)
		return -EINVAL;
	if (x < lo || x > hi)
		return -ERANGE;
	*out = x;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const t[] = { "1", "true", "yes", "on" }, *const f[] = { "0", "false", "no", "off" };

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, t[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, f[i]) == 0)
			return *out = 0, 0;
	}
	return -EINVAL;
}

static void set_units(struct parse_ctx *c, struct dtp_stage_plan *st, const char *sec,
		      const char *v)
{
	const char *dash = strchr(v, '-');
	long a, b;
	char first[32];

	if (dash && (size_t)(dash - v) < sizeof(first)) {
		memcpy(first, v, (size_t)(dash - v));
		first[dash - v] = '\0';
		if (parse_long(first, 0, 1 << 24, &a) || parse_long(dash + 1, 0, 1 << 24, &b))
			goto bad;
		if (b < a) {
			fail(c, "[%s] units = %s is backwards: write the lower unit first (%ld-%ld)",
			     sec, v, b, a);
			return;
		}
	} else {
		if (parse_long(v, 0, 1 << 24, &a))
			goto bad;
		b = a;
	}
	st->first_unit = (int)a;
	st->last_unit = (int)b + 1;
	return;
bad:
	fail(c, "[%s] units = '%s': write an inclusive range of unit indices such as 0-2, "
	     "or one index such as 3", sec, v);
}

static void stage_key(struct parse_ctx *c, const char *sec, int s, const char *name,
		      const char *v)
{
	struct dtp_stage_plan *st = &c->p->stages[s];
	int k = -1;
	char buf[128];

	for (int i = 0; i < N_STAGE_KEYS; i++)
		if (strcmp(name, stage_keys[i]) == 0)
			k = i;
	if (k < 0) {
		fail(c, "unknown key '%s' in [%s]; valid keys: %s", name, sec,
		     valid_keys(sec, buf, sizeof(buf)));
		return;
	}
	if (c->stage_key_line[s][k]) {
		fail(c, "key '%s' given twice in [%s] (lines %d and %d); an indented line "
		     "continues the previous value", name, sec, c->stage_key_line[s][k], c->line);
		return;
	}
	c->stage_key_line[s][k] = c->line;
	switch (k) {
	case 0:
		set_units(c, st, sec, v);
		return;
	case 1:
		if (strlen(v) >= sizeof(st->host))
			fail(c, "[%s] host is too long (at most %zu characters)", sec,
			     sizeof(st->host) - 1);
		else
			snprintf(st->host, sizeof(st->host), "%s", v);
		return;
	case 2:
		if (strlen(v) >= sizeof(st->cores) || dtp_cpulist_check(v))
			fail(c, "[%s] cores = '%s' is not a cpulist: write core numbers and "
			     "ranges such as 0-3,8 (or leave the key out to let dtpipe choose)", sec, v);
		else
			snprintf(st->cores, sizeof(st->cores), "%s", v);
		return;
	default:
		if (strlen(v) >= sizeof(st->nic))
			fail(c, "[%s] nic is too long", sec);
		else
			snprintf(st->nic, sizeof(st->nic), "%s", v);
		return;
	}
}

static void set_value(struct parse_ctx *c, const struct key_def *k, const char *v)
{
	char *base = k->target == T_PLAN ? (char *)c->p :
		     k->target == T_OPTIM ? (char *)&c->optim :
		     k->target == T_MODEL ? (char *)&c->model_fields : NULL;
	char *dst = base ? base + k->offset : NULL;
	struct dtp_err e;
	long x;
	int r;

	switch (k->type) {
	case K_INT:
	case K_LONG:
		r = parse_long(v, k->min, k->max, &x);
		if (r == -EINVAL)
			fail(c, "[%s] %s = '%s' is not a whole number", k->section, k->name, v);
		else if (r)
			fail(c, "[%s] %s = %s is out of range: give %ld to %ld", k->section,
			     k->name, v, k->min, k->max);
		else if (k->type == K_INT)
			*(int *)dst = (int)x;
		else
			*(long *)dst = x;
		return;
	case K_U64: {
		char *end;
		unsigned long long u;

		errno = 0;
		u = strtoull(v, &end, 0);
		if (end == v || *end || errno || v[0] == '-')
			fail(c, "[%s] %s = '%s' is not a non-negative whole number", k->section,
			     k->name, v);
		else
			*(uint64_t *)dst = u;
		return;
	}
	case K_FLOAT: {
		char *end;
		float f;

		errno = 0;
		f = strtof(v, &end);
		if (end == v || *end || errno || !isfinite(f) || f < 0)
			fail(c, "[%s] %s = '%s' is not a number >= 0 (e.g. 0.001 or 1e-3)",
			     k->section, k->name, v);
		else
			*(float *)dst = f;
		return;
	}
	case K_SIZE:
		if (dtp_parse_size(v, (size_t *)dst))
			fail(c, "[%s] %s = '%s' is not a size: write bytes with an optional K, M, "
			     "G or T suffix (binary), e.g. 512M", k->section, k->name, v);
		return;
	case K_BOOL:
		if (parse_bool(v, (int *)dst))
			fail(c, "[%s] %s = '%s': write true or false", k->section, k->name, v);
		return;
	case K_STR:
		if (strlen(v) >= k->size)
			fail(c, "[%s] %s is too long (at most %zu characters)", k->section, k->name,
			     k->size - 1);
		else
			snprintf(dst, k->size, "%s", v);
		return;
	case K_KIND:
		if (strcmp(v, "mlp") == 0)
			c->kind = DTP_MODEL_MLP;
		else if (strcmp(v, "gpt") == 0)
			c->kind = DTP_MODEL_GPT;
		else
			fail(c, "[model] kind = '%s': use mlp or gpt", v);
		return;
	case K_WIDTHS:
		if (strlen(v) >= sizeof(c->widths))
			fail(c, "[model] widths is too long");
		else
			snprintf(c->widths, sizeof(c->widths), "%s", v);
		return;
	case K_SPEC:
		dtp_err_clear(&e);
		if (dtp_model_spec_parse(v, &c->spec_from_key, &e))
			fail(c, "[model] spec = '%s': %s", v, e.msg);
		return;
	case K_SCHEDULE:
		if (dtp_schedule_parse(v, &c->p->schedule))
			fail(c, "[train] schedule = '%s': use gpipe (fill-drain) or 1f1b", v);
		return;
	case K_OPTIMIZER:
		if (strcmp(v, "sgd") == 0)
			c->optim_kind = DTP_OPTIM_SGD;
		else if (strcmp(v, "adamw") == 0)
			c->optim_kind = DTP_OPTIM_ADAMW;
		else
			fail(c, "[train] optimizer = '%s': use sgd or adamw", v);
		return;
	case K_LRSCHED:
		if (strcmp(v, "cosine") == 0)
			c->cosine = 1;
		else if (strcmp(v, "constant") == 0)
			c->cosine = 0;
		else
			fail(c, "[train] lr_schedule = '%s': use constant or cosine", v);
		return;
	case K_TRANSPORT:
		if (strcmp(v, "auto") && strcmp(v, "verbs") && strcmp(v, "tcp") && strcmp(v, "shm"))
			fail(c, "[transport] kind = '%s': use auto, verbs, tcp or shm", v);
		else
			snprintf(c->p->transport, sizeof(c->p->transport), "%s", v);
		return;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	char buf[512];
	int s;

	if (c->code)
		return 1;
	if (!section[0]) {
		fail(c, "'%s' is outside any section: put it under [model], [train], [data], "
		     "[checkpoint], [transport] or [stage.N]", name);
		return 1;
	}
	s = stage_index(section);
	if (s >= 0) {
		stage_key(c, section, s, name, value);
		return 1;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].section, section) || strcmp(keys[i].name, name))
			continue;
		if (c->key_line[i]) {
			fail(c, "key '%s' given twice in [%s] (lines %d and %d); an indented line "
			     "continues the previous value", name, section, c->key_line[i], c->line);
			return 1;
		}
		c->key_line[i] = c->line;
		set_value(c, &keys[i], value);
		return 1;
	}
	fail(c, "unknown key '%s' in [%s]; valid keys: %s", name, section,
	     valid_keys(section, buf, sizeof(buf)));
	return 1;
}

/* ----------------------------------------------------- after the parse */

static int key_line(const struct parse_ctx *c, const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return c->key_line[i];
	return 0;
}

static int section_line(const struct parse_ctx *c, const char *section)
{
	for (int i = 0; i < c->n_sec; i++)
		if (strcmp(c->sec_name[i], section) == 0)
			return c->sec_line[i];
	return 0;
}

static void finish_mlp(struct parse_ctx *c, struct dtp_model_spec *m)
{
	const char *s = c->widths;

	if (!key_line(c, "model", "widths")) {
		fail(c, "[model] kind = mlp needs widths = IN-H1-...-CLASSES (e.g. 784-1024-10)");
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
			fail(c, "[model] widths = '%s': write 2 to %d positive layer widths joined "
			     "by '-', e.g. 784-1024-10", c->widths, DTP_MLP_MAX_WIDTHS);
			return;
		}
		m->widths[m->n_widths++] = (int)w;
		if (*end == '\0')
			break;
		if (*end != '-') {
			fail(c, "[model] widths = '%s': widths are joined by '-', e.g. 784-1024-10",
			     c->widths);
			return;
		}
		s = end + 1;
	}
	if (m->n_widths < 2)
		fail(c, "[model] widths = '%s': give at least the input and output widths",
		     c->widths);
}

static void finish_model(struct parse_ctx *c)
{
	static const char *const gpt_keys[] = { "layers", "dim", "heads", "seq_len" };
	struct dtp_model_spec m;
	int model_line = section_line(c, "model"), spec_line = key_line(c, "model", "spec");
	int other = 0;
	struct dtp_err e;

	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, "model") == 0 && strcmp(keys[i].name, "spec") &&
		    c->key_line[i])
			other = c->key_line[i];
	c->line = model_line;
	if (!model_line) {
		fail(c, "no [model] section: add one with kind = mlp and widths = 784-1024-10, "
		     "or spec = mlp:784-1024-10");
		return;
	}
	if (spec_line && other) {
		c->line = other;
		fail(c, "[model] has both spec (line %d) and separate keys: give one or the other",
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
		fail(c, "[model] needs kind = mlp or kind = gpt (or spec = ...)");
		return;
	}
	if (c->kind == DTP_MODEL_MLP) {
		for (size_t i = 0; i < 4; i++)
			if (key_line(c, "model", gpt_keys[i])) {
				c->line = key_line(c, "model", gpt_keys[i]);
				fail(c, "[model] %s is a gpt key; an mlp takes only widths", gpt_keys[i]);
				return;
			}
		finish_mlp(c, &m);
		if (c->code)
			return;
	} else {
		if (key_line(c, "model", "widths")) {
			c->line = key_line(c, "model", "widths");
			fail(c, "[model] widths is an mlp key; a gpt takes layers, dim, heads, "
			     "seq_len and vocab");
			return;
		}
		for (size_t i = 0; i < 4; i++)
			if (!key_line(c, "model", gpt_keys[i])) {
				fail(c, "[model] kind = gpt needs %s (all of layers, dim, heads, seq_len; "
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
		fail(c, "[model]: %s", e.msg);
		return;
	}
	c->p->model = m;
}

static void finish_train(struct parse_ctx *c)
{
	struct dtp_optim_config o;
	int total_line = key_line(c, "train", "total_steps");

	dtp_optim_config_default(&o, c->optim_kind ? c->optim_kind : DTP_OPTIM_SGD);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_def *k = &keys[i];

		if (k->target != T_OPTIM || !c->key_line[i])
			continue;
		if (k->type == K_FLOAT)
			memcpy((char *)&o + k->offset, (char *)&c->optim + k->offset, sizeof(float));
		else
			memcpy((char *)&o + k->offset, (char *)&c->optim + k->offset, sizeof(long));
	}
	c->p->cosine_to_end = 0;
	if (!c->cosine) {
		if (total_line) {
			c->line = total_line;
			fail(c, "[train] total_steps is the end of the cosine decay: add "
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

static void finish_stages(struct parse_ctx *c)
{
	int k = 0;

	for (int s = 0; s < DTP_MAX_STAGES; s++)
		if (c->stage_line[s])
			k = s + 1;
	if (k == 0) {
		c->line = 0;
		fail(c, "no [stage.N] sections: add [stage.0] with units = 0-%d (all units) or "
		     "split the units over [stage.0], [stage.1], ...",
		     c->p->model.kind ? dtp_model_num_units(&c->p->model) - 1 : 0);
		return;
	}
	for (int s = 0; s < k; s++) {
		if (!c->stage_line[s]) {
			c->line = c->stage_line[k - 1];
			fail(c, "there is a [stage.%d] but no [stage.%d]: number the stage sections "
			     "0, 1, ... %d without gaps", k - 1, s, k - 1);
			return;
		}
		if (!c->stage_key_line[s][0]) {
			c->line = c->stage_line[s];
			fail(c, "[stage.%d] has no units key: add units = A-B (inclusive) or units = A",
			     s);
			return;
		}
		c->p->stages[s].line = c->stage_line[s];
	}
	c->p->num_stages = k;
}

static void add_warnings(struct parse_ctx *c)
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

static int parse(struct parse_ctx *c, struct dtp_plan *out)
{
	struct dtp_plan *p = c->p;
	int r;

	dtp_plan_defaults(p);
	snprintf(p->path, sizeof(p->path), "%s", c->name);
	r = ini_parse_stream(reader, c, handler, c);
	if (c->code)
		return c->code;
	if (r == -2)
		return dtp_errf(c->err, -ENOMEM, "%s: out of memory while reading the plan", c->name);
	if (r) {
		c->line = r;
		fail(c, "cannot read this line: expected [section], key = value, or a comment "
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
	struct parse_ctx *c;
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
		dtp_errf(err, r, "%s: out of memory while reading the plan", name);
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
		return dtp_errf(err, r, "%s: cannot open the plan file: %s; check the path "
				"(relative paths are from the current directory)", path, strerror(-r));
	}
	r = parse_source(NULL, f, path, out, err);
	fclose(f);
	return r;
}
