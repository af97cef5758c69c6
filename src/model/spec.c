/* Model specs: parse, validate, format; static facts about each unit. */
#include "config.h"
#include "model/model.h"
#include "model/kernels.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCEPTED "accepted forms: \"mlp:784-1024-10\" (2 to 65 widths) or " \
	"\"gpt:layers=4,dim=256,heads=4,seq=128,vocab=256\" (keys may be L,C,H,T,V)"

#define MAX_WIDTH (1 << 24)
#define MAX_DIM 65536
#define MAX_SEQ 65536
#define MAX_VOCAB (1 << 24)
#define MAX_LAYERS 4096

/* decimal integer filling [s, e); 0 or -1 */
static int parse_int(const char *s, const char *e, int *out)
{
	char buf[32];
	char *end;
	size_t n = (size_t)(e - s);
	long v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9'))
		return -1;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_mlp(const char *text, const char *body, struct dtp_model_spec *s,
		     struct dtp_err *err)
{
	const char *p = body;

	s->kind = DTP_MODEL_MLP;
	s->n_widths = 0;
	for (;;) {
		const char *e = strchr(p, '-');

		if (!e)
			e = p + strlen(p);
		if (s->n_widths == DTP_MLP_MAX_WIDTHS)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": more than %d widths; " ACCEPTED,
					      text, DTP_MLP_MAX_WIDTHS);
		if (parse_int(p, e, &s->widths[s->n_widths]) < 0)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": width %d \"%.*s\" is not an integer; "
					      ACCEPTED, text, s->n_widths + 1, (int)(e - p), p);
		s->n_widths++;
		if (!*e)
			break;
		p = e + 1;
	}
	return 0;
}

static int *gpt_field(struct dtp_model_spec *s, const char *k, size_t n)
{
	static const struct {
		const char *l, *sh;
		size_t off;
	} keys[] = {
		{ "layers", "L", offsetof(struct dtp_model_spec, layers) },
		{ "dim", "C", offsetof(struct dtp_model_spec, dim) },
		{ "heads", "H", offsetof(struct dtp_model_spec, heads) },
		{ "seq", "T", offsetof(struct dtp_model_spec, seq_len) },
		{ "vocab", "V", offsetof(struct dtp_model_spec, vocab) },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((strlen(keys[i].l) == n && !strncmp(k, keys[i].l, n)) ||
		    (strlen(keys[i].sh) == n && !strncmp(k, keys[i].sh, n)))
			return (int *)((char *)s + keys[i].off);
	return NULL;
}

static int parse_gpt(const char *text, const char *body, struct dtp_model_spec *s,
		     struct dtp_err *err)
{
	const char *p = body;
	int seen = 0;

	s->kind = DTP_MODEL_GPT;
	s->layers = s->dim = s->heads = s->seq_len = s->vocab = INT_MIN;
	while (*p) {
		const char *e = strchr(p, ','), *eq;
		int *f;

		if (!e)
			e = p + strlen(p);
		eq = memchr(p, '=', (size_t)(e - p));
		if (!eq)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": \"%.*s\" is not key=value; " ACCEPTED,
					      text, (int)(e - p), p);
		f = gpt_field(s, p, (size_t)(eq - p));
		if (!f)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": unknown gpt key \"%.*s\"; " ACCEPTED,
					      text, (int)(eq - p), p);
		if (*f != INT_MIN)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": key \"%.*s\" given twice; " ACCEPTED,
					      text, (int)(eq - p), p);
		if (parse_int(eq + 1, e, f) < 0)
			return dtp_errf_input(err, -EINVAL,
					      "model spec \"%s\": value of \"%.*s\" is not an integer; "
					      ACCEPTED, text, (int)(eq - p), p);
		seen++;
		p = *e ? e + 1 : e;
	}
	if (seen != 5)
		return dtp_errf_input(err, -EINVAL,
				      "model spec \"%s\": gpt needs all of layers, dim, heads, seq, vocab; "
				      ACCEPTED, text);
	return 0;
}

int dtp_model_spec_parse(const char *text, struct dtp_model_spec *out, struct dtp_err *err)
{
	struct dtp_model_spec s;
	const char *colon;
	int rc;

	memset(&s, 0, sizeof(s));
	if (!text || !*text)
		return dtp_errf_input(err, -EINVAL, "model spec is empty; " ACCEPTED);
	colon = strchr(text, ':');
	if (!colon)
		return dtp_errf_input(err, -EINVAL, "model spec \"%s\": no \"kind:\" prefix; " ACCEPTED,
				      text);
	if (colon - text == 3 && !strncmp(text, "mlp", 3))
		rc = parse_mlp(text, colon + 1, &s, err);
	else if (colon - text == 3 && !strncmp(text, "gpt", 3))
		rc = parse_gpt(text, colon + 1, &s, err);
	else
		return dtp_errf_input(err, -EINVAL, "model spec \"%s\": unknown model kind \"%.*s\"; "
				      ACCEPTED, text, (int)(colon - text), text);
	if (rc < 0)
		return rc;
	rc = dtp_model_spec_validate(&s, err);
	if (rc < 0) {
		dtp_err_prefix(err, "model spec \"%s\": ", text);
		return rc;
	}
	*out = s;
	return 0;
}

static int check_range(const char *what, int v, int max, struct dtp_err *err)
{
	if (v <= 0)
		return dtp_errf_input(err, -EINVAL, "%s is %d: it must be a positive integer; " ACCEPTED,
				      what, v);
	if (v > max)
		return dtp_errf_input(err, -EINVAL, "%s is %d: the largest supported is %d", what, v,
				      max);
	return 0;
}

int dtp_model_spec_validate(const struct dtp_model_spec *s, struct dtp_err *err)
{
	int rc;

	if (!s)
		return dtp_errf_input(err, -EINVAL, "no model spec given; " ACCEPTED);
	if (s->kind == DTP_MODEL_MLP) {
		char what[32];

		if (s->n_widths < 2 || s->n_widths > DTP_MLP_MAX_WIDTHS)
			return dtp_errf_input(err, -EINVAL,
					      "mlp has %d widths: it needs 2 to %d (input, hidden..., "
					      "classes); " ACCEPTED, s->n_widths, DTP_MLP_MAX_WIDTHS);
		for (int i = 0; i < s->n_widths; i++) {
			snprintf(what, sizeof(what), "mlp width %d", i + 1);
			rc = check_range(what, s->widths[i], MAX_WIDTH, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (s->kind != DTP_MODEL_GPT)
		return dtp_errf_input(err, -EINVAL, "unknown model kind %d; " ACCEPTED, (int)s->kind);
	if ((rc = check_range("gpt layers", s->layers, MAX_LAYERS, err)) < 0 ||
	    (rc = check_range("gpt dim", s->dim, MAX_DIM, err)) < 0 ||
	    (rc = check_range("gpt heads", s->heads, MAX_DIM, err)) < 0 ||
	    (rc = check_range("gpt seq", s->seq_len, MAX_SEQ, err)) < 0 ||
	    (rc = check_range("gpt vocab", s->vocab, MAX_VOCAB, err)) < 0)
		return rc;
	if (s->dim % s->heads)
		return dtp_errf_input(err, -EINVAL,
				      "gpt heads=%d does not divide dim=%d: pick heads so that dim/heads "
				      "is a whole head size (e.g. dim=256,heads=4)", s->heads, s->dim);
	return 0;
}

int dtp_model_spec_format(const struct dtp_model_spec *s, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	if (s->kind == DTP_MODEL_MLP) {
		n = snprintf(buf, len, "mlp:");
		for (int i = 0; n >= 0 && i < s->n_widths; i++) {
			used += (size_t)n;
			n = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
				     i ? "-%d" : "%d", s->widths[i]);
		}
	} else {
		n = snprintf(buf, len, "gpt:layers=%d,dim=%d,heads=%d,seq=%d,vocab=%d",
			     s->layers, s->dim, s->heads, s->seq_len, s->vocab);
	}
	if (n < 0)
		return -EINVAL;
	used += (size_t)n;
	if (used >= len)
		return -ENOSPC;
	return (int)used;
}

int dtp_model_num_units(const struct dtp_model_spec *s)
{
	return s->kind == DTP_MODEL_MLP ? s->n_widths - 1 : s->layers + 2;
}

int dtp_unit_describe(const struct dtp_model_spec *s, int unit, struct dtp_unit_info *out)
{
	struct dtp_unit_info u;

	if (unit < 0 || unit >= dtp_model_num_units(s))
		return -EINVAL;
	memset(&u, 0, sizeof(u));
	u.in_dtype = DTP_DTYPE_F32;
	if (s->kind == DTP_MODEL_MLP) {
		size_t ic = (size_t)s->widths[unit], oc = (size_t)s->widths[unit + 1];
		int relu = unit < s->n_widths - 2;

		snprintf(u.name, sizeof(u.name), relu ? "linear+relu" : "linear");
		u.n_params = oc * ic + oc;
		u.in_elems = ic;
		u.out_elems = oc;
		u.save_floats = relu ? oc : 0;   /* ReLU backward reads its output */
		u.fwd_flops = 2.0 * (double)ic * (double)oc;
	} else {
		size_t T = (size_t)s->seq_len, C = (size_t)s->dim, V = (size_t)s->vocab;
		size_t H = (size_t)s->heads;

		u.in_elems = T * C;
		u.out_elems = T * C;
		if (unit == 0) {
			snprintf(u.name, sizeof(u.name), "embed");
			u.n_params = V * C + T * C;
			u.in_dtype = DTP_DTYPE_I32;
			u.in_elems = T;
		} else if (unit <= s->layers) {
			snprintf(u.name, sizeof(u.name), "block");
			u.n_params = dtp_block_num_params((int)C);
			u.save_floats = 16 * T * C + 4 * T + H * T * T;
			u.noweight_flops = 4.0 * (double)T * (double)T * (double)C;
			u.fwd_flops = 24.0 * (double)T * (double)C * (double)C + u.noweight_flops;
		} else {
			snprintf(u.name, sizeof(u.name), "lnf+head");
			u.n_params = 2 * C + V * C;
			u.out_elems = T * V;
			u.save_floats = T * C + 2 * T;
			u.fwd_flops = 2.0 * (double)T * (double)C * (double)V;
		}
	}
	*out = u;
	return 0;
}

void dtp_unit_bwd_flops(const struct dtp_unit_info *u, double *b, double *w)
{
	*b = u->fwd_flops + u->noweight_flops;
	*w = u->fwd_flops - u->noweight_flops;
}

size_t dtp_model_num_params(const struct dtp_model_spec *s)
{
	struct dtp_unit_info u;
	size_t n = 0;

	for (int i = 0; i < dtp_model_num_units(s); i++)
		if (dtp_unit_describe(s, i, &u) == 0)
			n += u.n_params;
	return n;
}
