/* Fuzz target: the model-spec parser (src/model/spec.c). The input is a spec
 * string ("mlp:784-128-10", "gpt:layers=2,..."). A spec that parses must
 * validate, format to a string that parses back to the same spec, and
 * describe each of its units; a refused one must come with a message. */
#include "config.h"
#include "fuzz.h"

#include "model/model.h"

static int same_spec(const struct dtp_model_spec *a, const struct dtp_model_spec *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == DTP_MODEL_MLP)
		return a->n_widths == b->n_widths &&
		       memcmp(a->widths, b->widths, (size_t)a->n_widths * sizeof(int)) == 0;
	return a->layers == b->layers && a->dim == b->dim && a->heads == b->heads &&
	       a->seq_len == b->seq_len && a->vocab == b->vocab;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dtp_model_spec a, b;
	struct dtp_unit_info u;
	struct dtp_err err = { 0 };
	char *text = fuzz_strdup(data, size), buf[1024];
	int rc, n, i;

	memset(&a, 0, sizeof(a));
	rc = dtp_model_spec_parse(text, &a, &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		free(text);
		return 0;
	}
	FUZZ_CHECK(dtp_model_spec_validate(&a, &err) == 0);
	n = dtp_model_spec_format(&a, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n);
	memset(&b, 0, sizeof(b));
	rc = dtp_model_spec_parse(buf, &b, &err);
	if (rc)
		fprintf(stderr, "\"%s\" formats as \"%s\": %s\n", text, buf, err.msg);
	FUZZ_CHECK(rc == 0 && same_spec(&a, &b));
	n = dtp_model_num_units(&a);
	FUZZ_CHECK(n >= 1);
	/* the first and last few units (a gpt may have thousands of blocks) */
	for (i = 0; i < n; i = (i == 3 && n > 8) ? n - 4 : i + 1) {
		FUZZ_CHECK(dtp_unit_describe(&a, i, &u) == 0);
		FUZZ_CHECK(u.in_elems > 0 && u.out_elems > 0 && u.name[0]);
	}
	FUZZ_CHECK(dtp_unit_describe(&a, n, &u) < 0);
	(void)dtp_model_num_params(&a);
	free(text);
	return 0;
}
