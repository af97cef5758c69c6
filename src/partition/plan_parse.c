/* Reading a stage plan from INI text with inih. inih (Debian's build) gives the
 * handler no line number, so the parse goes through ini_parse_stream with our
 * own line reader: it counts lines (the handler for a line runs before the next
 * read), sees every [section] header (also empty ones, which inih never reports)
 * and refuses over-long lines instead of letting inih split them. */
#include "config.h"
#include "partition/plan_parse.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PK(sec, nm, ty, field, lo, hi) \
	{ sec, nm, ty, DTP_PT_PLAN, offsetof(struct dtp_plan, field), \
	  sizeof(((struct dtp_plan *)0)->field), lo, hi }
#define OK_(nm, field) \
	{ "train", nm, DTP_PK_FLOAT, DTP_PT_OPTIM, offsetof(struct dtp_optim_config, field), 0, 0, 0 }
#define MK(nm, field) \
	{ "model", nm, DTP_PK_INT, DTP_PT_MODEL, offsetof(struct dtp_model_spec, field), 0, 1, 1 << 24 }
#define SK(sec, nm, ty) { sec, nm, ty, DTP_PT_NONE, 0, 0, 0, 0 }

const struct dtp_plan_key dtp_plan_keys[] = {
	SK("model", "spec", DTP_PK_SPEC),
	SK("model", "kind", DTP_PK_KIND),
	SK("model", "widths", DTP_PK_WIDTHS),
	SK("model", "fp32_matmul", DTP_PK_FP32_MATMUL),
	MK("layers", layers), MK("dim", dim), MK("heads", heads),
	MK("seq_len", seq_len), MK("vocab", vocab),
	PK("train", "micro_batch", DTP_PK_INT, micro_batch, 1, 1 << 24),
	PK("train", "micro_batches", DTP_PK_INT, micro_batches, 1, 1 << 20),
	SK("train", "schedule", DTP_PK_SCHEDULE),
	PK("train", "virtual_stages", DTP_PK_INT, virtual_stages, 1, DTP_MAX_VIRTUAL_STAGES),
	PK("train", "recompute", DTP_PK_BOOL, recompute, 0, 1),
	SK("train", "optimizer", DTP_PK_OPTIMIZER),
	OK_("lr", lr), OK_("momentum", momentum), OK_("beta1", beta1), OK_("beta2", beta2),
	OK_("eps", eps), OK_("weight_decay", weight_decay), OK_("clip_norm", clip_norm),
	{ "train", "warmup_steps", DTP_PK_LONG, DTP_PT_OPTIM, offsetof(struct dtp_optim_config, warmup_steps),
	  0, 0, 1L << 40 },
	SK("train", "lr_schedule", DTP_PK_LRSCHED),
	{ "train", "total_steps", DTP_PK_LONG, DTP_PT_OPTIM, offsetof(struct dtp_optim_config, total_steps),
	  0, 1, 1L << 40 },
	OK_("min_lr_ratio", min_lr_ratio),
	PK("train", "steps", DTP_PK_LONG, steps, 0, DTP_MAX_STEPS),
	PK("train", "epochs", DTP_PK_INT, epochs, 0, DTP_MAX_EPOCHS),
	PK("train", "seed", DTP_PK_U64, seed, 0, 0),
	PK("train", "log_every", DTP_PK_INT, log_every, 1, 1 << 30),
	PK("train", "mem_cap", DTP_PK_SIZE, mem_cap_bytes, 0, 0),
	SK("train", "nonfinite", DTP_PK_NONFINITE),
	SK("train", "precision", DTP_PK_PRECISION),
	PK("data", "train", DTP_PK_STR, train_path, 0, 0),
	PK("data", "test", DTP_PK_STR, test_path, 0, 0),
	PK("data", "loader_budget", DTP_PK_SIZE, loader_budget_bytes, 0, 0),
	PK("data", "shuffle_window", DTP_PK_INT, shuffle_window, 0, 1 << 28),
	PK("checkpoint", "dir", DTP_PK_STR, checkpoint_dir, 0, 0),
	PK("checkpoint", "every", DTP_PK_LONG, checkpoint_every, 0, 1L << 40),
	PK("checkpoint", "keep", DTP_PK_INT, checkpoint_keep, 0, 1 << 20),
	PK("checkpoint", "max_restarts", DTP_PK_INT, max_restarts, 0, 1 << 20),
	PK("checkpoint", "elastic", DTP_PK_BOOL, elastic, 0, 1),
	PK("checkpoint", "background", DTP_PK_BOOL, checkpoint_background, 0, 1),
	PK("checkpoint", "every_seconds", DTP_PK_LONG, checkpoint_every_s, 0, 1L << 30),
	SK("transport", "kind", DTP_PK_TRANSPORT),
	PK("transport", "base_port", DTP_PK_INT, base_port, 1, 65535),
	PK("transport", "gid_index", DTP_PK_INT, gid_index, -1, 255),
	PK("transport", "connect_timeout_ms", DTP_PK_INT, connect_timeout_ms, 1, 1 << 30),
	PK("transport", "ib_port", DTP_PK_INT, ib_port, -1, 255),
	PK("transport", "verbs_blocking", DTP_PK_BOOL, verbs_blocking, 0, 1),
	PK("transport", "heartbeat_ms", DTP_PK_INT, heartbeat_ms, 10, 1 << 30),
	PK("transport", "peer_timeout_ms", DTP_PK_INT, peer_timeout_ms, 20, 1 << 30),
	PK("transport", "hang_timeout_ms", DTP_PK_INT, hang_timeout_ms, 20, 1 << 30),
	PK("parallel", "replicas", DTP_PK_INT, replicas, 1, DTP_MAX_REPLICAS),
	PK("parallel", "overlap", DTP_PK_BOOL, reduce_overlap, 0, 1),
	PK("parallel", "bucket_size", DTP_PK_SIZE, reduce_bucket_bytes, 0, 0),
	PK("parallel", "shard_optimizer", DTP_PK_BOOL, shard_optimizer, 0, 1),
	PK("parallel", "shm_reduce", DTP_PK_BOOL, shm_reduce, 0, 1),
};
_Static_assert(sizeof(dtp_plan_keys) / sizeof(dtp_plan_keys[0]) == DTP_PLAN_N_KEYS,
	       "DTP_PLAN_N_KEYS matches the key table");

const char *const dtp_plan_stage_keys[] = { "units", "host", "cores", "nic" };

void dtp_plan_fail(struct dtp_plan_ctx *c, const char *fmt, ...)
{
	char msg[DTP_ERR_MSG_MAX];
	va_list ap;

	if (c->code)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->line > 0)
		c->code = dtp_errf_input(c->err, -EINVAL, "%s:%d: %s", c->name, c->line, msg);
	else
		c->code = dtp_errf_input(c->err, -EINVAL, "%s: %s", c->name, msg);
}

static const char *valid_keys(const char *section, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (strncmp(section, "stage.", 6) == 0) {
		for (int i = 0; i < DTP_PLAN_N_STAGE_KEYS; i++)
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? ", " : "",
				      dtp_plan_stage_keys[i]);
		return buf;
	}
	for (size_t i = 0; i < DTP_PLAN_N_KEYS; i++)
		if (strcmp(dtp_plan_keys[i].section, section) == 0 && n < len)
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", dtp_plan_keys[i].name);
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

static void see_section(struct dtp_plan_ctx *c, const char *sec)
{
	static const char *const known[] = { "model", "train", "data", "checkpoint", "transport",
					       "parallel" };
	int ok = 0, s;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok |= strcmp(sec, known[i]) == 0;
	s = stage_index(sec);
	if (!ok && s < 0) {
		if (strncmp(sec, "stage", 5) == 0)
			dtp_plan_fail(c, "bad stage section [%s]: write [stage.N] with N = 0, 1, ... %d, "
			     "numbered from 0 without leading zeros", sec, DTP_MAX_STAGES - 1);
		else
			dtp_plan_fail(c, "unknown section [%s]; valid sections: [model], [train], [data], "
			     "[checkpoint], [transport], [parallel], [stage.N] (N = 0, 1, ...)", sec);
		return;
	}
	for (int i = 0; i < c->n_sec; i++)
		if (strcmp(c->sec_name[i], sec) == 0) {
			dtp_plan_fail(c, "section [%s] appears twice (first at line %d): merge them into one",
			     sec, c->sec_line[i]);
			return;
		}
	if (c->n_sec == DTP_PLAN_MAX_SECTIONS) {
		dtp_plan_fail(c, "too many sections");
		return;
	}
	snprintf(c->sec_name[c->n_sec], sizeof(c->sec_name[0]), "%s", sec);
	c->sec_line[c->n_sec++] = c->line;
	if (s >= 0)
		c->stage_line[s] = c->line;
}

/* Look at a line the way inih will: a [section] header gets recorded. */
static void scan_line(struct dtp_plan_ctx *c, const char *line)
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
		dtp_plan_fail(c, "section name too long");
		return;
	}
	memcpy(sec, s + 1, (size_t)(e - s - 1));
	sec[e - s - 1] = '\0';
	see_section(c, sec);
}

static int next_char(struct dtp_plan_ctx *c)
{
	if (c->file)
		return getc(c->file);
	if (!c->text[c->pos])
		return EOF;
	return (unsigned char)c->text[c->pos++];
}

char *dtp_plan_reader(char *str, int num, void *stream)
{
	struct dtp_plan_ctx *c = stream;
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
		dtp_plan_fail(c, "line longer than %d characters: shorten it (inih's limit)", num - 3);
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

static void set_units(struct dtp_plan_ctx *c, struct dtp_stage_plan *st, const char *sec,
		      const char *v)
{
	char why[256];

	if (dtp_plan_parse_units(v, st, why, sizeof(why)))
		dtp_plan_fail(c, "[%s] %s", sec, why);
}

static void stage_key(struct dtp_plan_ctx *c, const char *sec, int s, const char *name,
		      const char *v)
{
	struct dtp_stage_plan *st = &c->p->stages[s];
	int k = -1;
	char buf[128];

	for (int i = 0; i < DTP_PLAN_N_STAGE_KEYS; i++)
		if (strcmp(name, dtp_plan_stage_keys[i]) == 0)
			k = i;
	if (k < 0) {
		dtp_plan_fail(c, "unknown key '%s' in [%s]; valid keys: %s", name, sec,
		     valid_keys(sec, buf, sizeof(buf)));
		return;
	}
	if (c->stage_key_line[s][k]) {
		dtp_plan_fail(c, "key '%s' given twice in [%s] (lines %d and %d); an indented line "
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
			dtp_plan_fail(c, "[%s] host is too long (at most %zu characters)", sec,
			     sizeof(st->host) - 1);
		else
			snprintf(st->host, sizeof(st->host), "%s", v);
		return;
	case 2:
		if (strlen(v) >= sizeof(st->cores) || dtp_cpulist_check(v))
			dtp_plan_fail(c, "[%s] cores = '%s' is not a cpulist: write core numbers and "
			     "ranges such as 0-3,8 (or leave the key out to let dtpipe choose)", sec, v);
		else
			snprintf(st->cores, sizeof(st->cores), "%s", v);
		return;
	default:
		if (strlen(v) >= sizeof(st->nic))
			dtp_plan_fail(c, "[%s] nic is too long", sec);
		else
			snprintf(st->nic, sizeof(st->nic), "%s", v);
		return;
	}
}

static void set_value(struct dtp_plan_ctx *c, const struct dtp_plan_key *k, const char *v)
{
	char *base = k->target == DTP_PT_PLAN ? (char *)c->p :
		     k->target == DTP_PT_OPTIM ? (char *)&c->optim :
		     k->target == DTP_PT_MODEL ? (char *)&c->model_fields : NULL;
	char *dst = base ? base + k->offset : NULL;
	/* in the order of the words each key's message offers */
	static const char *const kinds[] = { "mlp", "gpt" }, *const optims[] = { "sgd", "adamw" },
			  *const lr_scheds[] = { "constant", "cosine" };
	struct dtp_err e;
	long x;
	int r, i;

	switch (k->type) {
	case DTP_PK_INT:
	case DTP_PK_LONG:
		r = parse_long(v, k->min, k->max, &x);
		if (r == -EINVAL)
			dtp_plan_fail(c, "[%s] %s = '%s' is not a whole number", k->section, k->name, v);
		else if (r)
			dtp_plan_fail(c, "[%s] %s = %s is out of range: give %ld to %ld", k->section,
			     k->name, v, k->min, k->max);
		else if (k->type == DTP_PK_INT)
			*(int *)dst = (int)x;
		else
			*(long *)dst = x;
		return;
	case DTP_PK_U64: {
		char *end;
		unsigned long long u;

		errno = 0;
		u = strtoull(v, &end, 0);
		if (end == v || *end || errno || v[0] == '-')
			dtp_plan_fail(c, "[%s] %s = '%s' is not a non-negative whole number", k->section,
			     k->name, v);
		else
			*(uint64_t *)dst = u;
		return;
	}
	case DTP_PK_FLOAT: {
		char *end;
		float f;

		errno = 0;
		f = strtof(v, &end);
		if (end == v || *end || errno || !isfinite(f) || f < 0)
			dtp_plan_fail(c, "[%s] %s = '%s' is not a number >= 0 (e.g. 0.001 or 1e-3)",
			     k->section, k->name, v);
		else
			*(float *)dst = f;
		return;
	}
	case DTP_PK_SIZE:
		if (dtp_parse_size(v, (size_t *)dst))
			dtp_plan_fail(c, "[%s] %s = '%s' is not a size: write bytes with an optional K, M, "
			     "G or T suffix (binary), e.g. 512M", k->section, k->name, v);
		return;
	case DTP_PK_BOOL:
		if (parse_bool(v, (int *)dst))
			dtp_plan_fail(c, "[%s] %s = '%s': write true or false", k->section, k->name, v);
		return;
	case DTP_PK_STR:
		if (strlen(v) >= k->size)
			dtp_plan_fail(c, "[%s] %s is too long (at most %zu characters)", k->section, k->name,
			     k->size - 1);
		else
			snprintf(dst, k->size, "%s", v);
		return;
	case DTP_PK_KIND:
		if ((i = dtp_parse_word(v, kinds, 2)) < 0)
			dtp_plan_fail(c, "[model] kind = '%s': use mlp or gpt", v);
		else
			c->kind = i == 0 ? DTP_MODEL_MLP : DTP_MODEL_GPT;
		return;
	case DTP_PK_WIDTHS:
		if (strlen(v) >= sizeof(c->widths))
			dtp_plan_fail(c, "[model] widths is too long");
		else
			snprintf(c->widths, sizeof(c->widths), "%s", v);
		return;
	case DTP_PK_SPEC:
		dtp_err_clear(&e);
		if (dtp_model_spec_parse(v, &c->spec_from_key, &e))
			dtp_plan_fail(c, "[model] spec = '%s': %s", v, e.msg);
		return;
	case DTP_PK_SCHEDULE:
		if (dtp_schedule_parse(v, &c->p->schedule))
			dtp_plan_fail(c, "[train] schedule = '%s': use gpipe (fill-drain), 1f1b, zb-h1, zb-h2, interleaved or auto", v);
		return;
	case DTP_PK_OPTIMIZER:
		if ((i = dtp_parse_word(v, optims, 2)) < 0)
			dtp_plan_fail(c, "[train] optimizer = '%s': use sgd or adamw", v);
		else
			c->optim_kind = i == 0 ? DTP_OPTIM_SGD : DTP_OPTIM_ADAMW;
		return;
	case DTP_PK_LRSCHED:
		if ((i = dtp_parse_word(v, lr_scheds, 2)) < 0)
			dtp_plan_fail(c, "[train] lr_schedule = '%s': use constant or cosine", v);
		else
			c->cosine = i;
		return;
	case DTP_PK_NONFINITE:
		if (dtp_nonfinite_parse(v, &c->p->skip_nonfinite))
			dtp_plan_fail(c, "[train] nonfinite = '%s': use stop (the run fails) or skip (no update for that step)", v);
		return;
	case DTP_PK_PRECISION:
		dtp_err_clear(&e);
		if (dtp_precision_parse(v, &c->p->precision, &e))
			dtp_plan_fail(c, "[train] precision = '%s': use fp32 or bf16 (bf16: "
				      "bf16 matmuls with fp32 accumulation, on oneDNN)", v);
		else if (dtp_precision_check(c->p->precision, &e))
			dtp_plan_fail(c, "[train] precision = %s: %s", v, e.msg);
		return;
	case DTP_PK_FP32_MATMUL:
		dtp_err_clear(&e);
		if (dtp_fp32_matmul_parse(v, &c->p->fp32_matmul, &e))
			dtp_plan_fail(c, "[model] fp32_matmul = '%s': use openblas (the default) or "
				      "onednn (oneDNN's fp32 matmul for the linear layers)", v);
		else if (dtp_fp32_matmul_check(c->p->fp32_matmul, &e))
			dtp_plan_fail(c, "[model] fp32_matmul = %s: %s", v, e.msg);
		return;
	case DTP_PK_TRANSPORT:
		if (strcmp(v, "auto") && strcmp(v, "verbs") && strcmp(v, "tcp") && strcmp(v, "shm"))
			dtp_plan_fail(c, "[transport] kind = '%s': use auto, verbs, tcp or shm", v);
		else
			snprintf(c->p->transport, sizeof(c->p->transport), "%s", v);
		return;
	}
}

int dtp_plan_handler(void *user, const char *section, const char *name, const char *value)
{
	struct dtp_plan_ctx *c = user;
	char buf[512];
	int s;

	if (c->code)
		return 1;
	if (!section[0]) {
		dtp_plan_fail(c, "'%s' is outside any section: put it under [model], [train], [data], "
		     "[checkpoint], [transport] or [stage.N]", name);
		return 1;
	}
	s = stage_index(section);
	if (s >= 0) {
		stage_key(c, section, s, name, value);
		return 1;
	}
	for (size_t i = 0; i < DTP_PLAN_N_KEYS; i++) {
		if (strcmp(dtp_plan_keys[i].section, section) || strcmp(dtp_plan_keys[i].name, name))
			continue;
		if (c->key_line[i]) {
			dtp_plan_fail(c, "key '%s' given twice in [%s] (lines %d and %d); an indented line "
			     "continues the previous value", name, section, c->key_line[i], c->line);
			return 1;
		}
		c->key_line[i] = c->line;
		set_value(c, &dtp_plan_keys[i], value);
		return 1;
	}
	dtp_plan_fail(c, "unknown key '%s' in [%s]; valid keys: %s", name, section,
	     valid_keys(section, buf, sizeof(buf)));
	return 1;
}

