/* Fuzz target: the plan reader (src/partition/plan_load.c, plan_parse.c).
 * The input is a plan file. It is read both from a string
 * (dtp_plan_parse_string) and from a file (dtp_plan_load: the FILE line
 * reader), which must agree; a plan that loads must validate, and what
 * dtp_plan_write makes of it must load back to the same plan hash. A refused
 * plan must come with a message. */
#include "config.h"
#include "fuzz.h"

#include <errno.h>

#include "partition/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dtp_plan *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct dtp_err ea = { 0 }, eb = { 0 };
	char path[512], *text = fuzz_strdup(data, size), *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ra, rb;

	FUZZ_CHECK(a && b);
	ra = dtp_plan_parse_string(text, "fuzz.ini", a, &ea);
	if (ra)
		FUZZ_CHECK_ERR(ra, ea);
	/* the file reader sees the same bytes when there is no NUL in them */
	if (!memchr(data, '\0', size)) {
		fuzz_write_file(fuzz_tmpdir(), "fuzz.ini", data, size);
		snprintf(path, sizeof(path), "%s/fuzz.ini", fuzz_tmpdir());
		rb = dtp_plan_load(path, b, &eb);
		if (rb != ra)
			fprintf(stderr, "string: %d %s\nfile: %d %s\n", ra, ea.msg, rb, eb.msg);
		FUZZ_CHECK(rb == ra);
		if (ra == 0)
			FUZZ_CHECK(dtp_plan_hash(a) == dtp_plan_hash(b));
	}
	if (ra == 0) {
		FUZZ_CHECK(dtp_plan_validate(a, &ea) == 0);
		FUZZ_CHECK(a->num_stages >= 1 && a->num_stages <= DTP_MAX_STAGES);
		FUZZ_CHECK(strlen(dtp_plan_warnings(a)) < sizeof(a->warnings));
		f = open_memstream(&buf, &len);
		FUZZ_CHECK(f);
		/* -EINVAL: a string the INI syntax cannot carry (refused, not mangled) */
		rb = dtp_plan_write(a, f);
		FUZZ_CHECK(fclose(f) == 0);
		if (rb == 0) {
			rb = dtp_plan_parse_string(buf, "written.ini", b, &eb);
			if (rb)
				fprintf(stderr, "written plan refused: %s\n%s", eb.msg, buf);
			FUZZ_CHECK(rb == 0);
			FUZZ_CHECK(dtp_plan_hash(a) == dtp_plan_hash(b));
		} else {
			FUZZ_CHECK(rb == -EINVAL);
		}
		free(buf);
	}
	free(text);
	free(a);
	free(b);
	return 0;
}
