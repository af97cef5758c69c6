/* Unit tests for interleaved plans (src/partition/plan_chunks.c): chunk
 * lists in units, virtual_stages, the tiling in the interleaved order, the
 * schedule's constraints, each refusal with its line and fix, and the
 * write/load round trip. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "partition/plan.h"

/* an mlp of 8 units over 2 stages of 2 chunks: stage 0 holds units 0-1 and
 * 4-5, stage 1 units 2-3 and 6-7 */
#define HEAD \
	"[model]\nkind = mlp\nwidths = 16-16-16-16-16-16-16-16-10\n"   /* 1-3 */ \
	"[train]\nmicro_batches = %d\nschedule = %s\nvirtual_stages = %d\n"   /* 4-7 */

static int load(const char *fmt2, int M, const char *sched, int v, const char *s0,
		const char *s1, struct dtp_plan *p, struct dtp_err *err)
{
	char text[1024];

	snprintf(text, sizeof(text), HEAD "%s[stage.0]\nunits = %s\n[stage.1]\nunits = %s\n", M,
		 sched, v, fmt2, s0, s1);
	return dtp_plan_parse_string(text, "il.ini", p, err);
}

static void expect(const char *extra, int M, const char *sched, int v, const char *s0,
		   const char *s1, const char *want1, const char *want2)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };
	int r = load(extra, M, sched, v, s0, s1, &p, &err);

	if (r != -EINVAL || !strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
		print_error("got %d: '%s', want '%s' and '%s'\n", r, err.msg, want1, want2 ? want2 : "");
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err.msg, want1));
	if (want2)
		assert_non_null(strstr(err.msg, want2));
	assert_int_equal(err.cls, DTP_ERRC_INPUT);
}

static void test_load_and_round_trip(void **state)
{
	struct dtp_plan p, q;
	struct dtp_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int a, b;

	(void)state;
	assert_int_equal(load("", 4, "interleaved", 2, "0-1, 4-5", "2-3,6-7", &p, &err), 0);
	assert_int_equal(p.schedule, DTP_SCHEDULE_INTERLEAVED);
	assert_int_equal(p.virtual_stages, 2);
	assert_int_equal(p.stages[0].n_chunks, 2);
	dtp_plan_chunk_units(&p, 0, 1, &a, &b);
	assert_int_equal(a, 4);
	assert_int_equal(b, 6);
	dtp_plan_chunk_units(&p, 1, 0, &a, &b);
	assert_int_equal(a, 2);
	assert_int_equal(b, 4);
	assert_int_equal(p.stages[1].first_unit, 2);   /* chunk 0 */
	assert_int_equal(p.stages[1].last_unit, 4);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(dtp_plan_write(&p, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "virtual_stages = 2\n"));
	assert_non_null(strstr(buf, "units = 2-3, 6-7\n"));
	assert_int_equal(dtp_plan_parse_string(buf, "back.ini", &q, &err), 0);
	free(buf);
	assert_int_equal(q.virtual_stages, 2);
	assert_memory_equal(q.stages[1].chunk_first, p.stages[1].chunk_first, sizeof(q.stages[1].chunk_first));
	assert_true(dtp_plan_hash(&q) == dtp_plan_hash(&p));

	/* another chunking of the same units is another plan for the handshake */
	assert_int_equal(load("", 4, "interleaved", 2, "0-1, 4", "2-3, 5-7", &q, &err), 0);
	assert_true(dtp_plan_hash(&q) != dtp_plan_hash(&p));
	/* single units in a list, and auto with chunks */
	assert_int_equal(load("", 2, "auto", 4, "0, 2, 4, 6", "1, 3, 5, 7", &q, &err), 0);
	assert_int_equal(q.stages[1].n_chunks, 4);
	/* recompute, each chunk as a plain stage */
	assert_int_equal(load("recompute = yes\n", 4, "interleaved", 2, "0-1, 4-5", "2-3, 6-7", &q, &err), 0);
	assert_true(q.recompute);
}

static void test_refusals(void **state)
{
	(void)state;
	/* the tiling: stage 1's chunk 0 must start at unit 2 */
	expect("", 4, "interleaved", 2, "0-1, 4-5", "6-7, 2-3", "il.ini:10: [stage.1] chunk 0 holds units 6-7 but unit 2 comes next",
	       "interleaved order");
	expect("", 4, "interleaved", 2, "0-1, 4-5", "2-3, 6", "ends at unit 6 but the model has 8 units", NULL);
	expect("", 4, "interleaved", 2, "0-1, 4-5", "2-3, 6-8", "goes past the model's last unit 7", NULL);
	/* the number of ranges */
	expect("", 4, "interleaved", 2, "0-1, 4-5", "2-7", "il.ini:10: [stage.1] units lists 1 range but [train] virtual_stages = 2",
	       NULL);
	expect("", 4, "interleaved", 3, "0-1, 4-5", "2-3, 6-7", "units lists 2 ranges but [train] virtual_stages = 3", NULL);
	/* the schedule */
	expect("", 4, "1f1b", 2, "0-1, 4-5", "2-3, 6-7", "virtual_stages = 2 with schedule = 1f1b", NULL);
	expect("", 4, "interleaved", 1, "0-3", "4-7", "schedule = interleaved needs [train] virtual_stages", "--virtual-stages");
	expect("", 3, "interleaved", 2, "0-1, 4-5", "2-3, 6-7", "micro_batches = 3", "use micro_batches = 2 or 4");
	/* the syntax */
	expect("", 4, "interleaved", 2, "0-1, 5-4", "2-3, 6-7", "il.ini:9: [stage.0] units = 0-1, 5-4: range 2 (5-4) is backwards", NULL);
	expect("", 4, "interleaved", 2, "0-1,, 4-5", "2-3, 6-7", "one range per chunk", NULL);
	expect("", 4, "interleaved", 9, "0-1, 4-5", "2-3, 6-7", "virtual_stages", NULL);
	expect("", 4, "interleaved", 2, "0,1,2,3,4,5,6,7,8", "2-3, 6-7", "more than 8 ranges", NULL);
}

/* one stage of an interleaved plan has nowhere to wrap */
static void test_one_stage(void **state)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = mlp\nwidths = 16-16-10\n[train]\nmicro_batches = 2\n"
		"schedule = interleaved\nvirtual_stages = 2\n[stage.0]\nunits = 0, 1\n", "one.ini", &p,
		&err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs at least 2 stages"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_and_round_trip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_one_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
