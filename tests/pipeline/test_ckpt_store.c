/* Unit tests for the layout-free checkpoint store (src/pipeline/ckpt_store.c,
 * ckpt_load.c) with real stage models: a checkpoint written by one split of
 * units across files is read back under another; incomplete and corrupt
 * checkpoints are refused, naming the file and the tensor, and the newest good
 * one before them is found; the newest N are kept; nothing is overwritten. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckpt_fixture.h"
#include "pipeline/pipeline.h"

/* the unit tensors tile every unit's parameters, as the stage model lays them out */
static void test_unit_tensors_tile_units(void **state)
{
	struct fx *f = *state;
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];

	for (int u = 0; u < f->units; u++) {
		int n = dtp_unit_tensors(&f->spec, u, t);
		size_t at = 0;

		assert_true(n > 0 && n <= DTP_UNIT_MAX_TENSORS);
		for (int i = 0; i < n; i++) {
			assert_int_equal(t[i].off, at);
			assert_int_equal(t[i].n, t[i].ndim == 2 ? t[i].shape[0] * t[i].shape[1]
								 : t[i].shape[0]);
			at += t[i].n;
		}
		assert_int_equal(at, f->uoff[u + 1] - f->uoff[u]);
	}
	assert_int_equal(dtp_unit_tensors(&f->spec, f->units, t), -EINVAL);
}

static void test_names(void **state)
{
	char b[64];

	(void)state;
	assert_int_equal(dtp_ckpt_tensor_name(b, sizeof(b), 3, "fc.weight", NULL), 0);
	assert_string_equal(b, "unit.3.fc.weight");
	assert_int_equal(dtp_ckpt_tensor_name(b, sizeof(b), 3, "fc.weight", "adam_m"), 0);
	assert_string_equal(b, "unit.3.fc.weight.adam_m");
	assert_int_equal(dtp_ckpt_tensor_name(b, 8, 3, "fc.weight", NULL), -ENAMETOOLONG);
	assert_int_equal(dtp_ckpt_step_dir(b, sizeof(b), "d", 120), 0);
	assert_string_equal(b, "d/step-00000120");
	assert_int_equal(dtp_ckpt_parse_step_name("step-00000120"), 120);
	assert_int_equal(dtp_ckpt_parse_step_name("step-123456789"), 123456789);
	assert_int_equal(dtp_ckpt_parse_step_name("step-0000012"), -1);
	assert_int_equal(dtp_ckpt_parse_step_name("step-00000120.tmp"), -1);
	assert_int_equal(dtp_ckpt_parse_step_name("latest"), -1);
}

/* written as 2 files, read back as 1, 2 (other cuts) and 3 stages */
static void test_reload_other_split(void **state)
{
	struct fx *f = *state;
	int U = f->units, w2[] = { 0, 1, U }, one[] = { 0, U };
	struct dtp_ckpt *c;
	struct dtp_ckpt_info want;
	struct dtp_err e;
	char latest[64] = { 0 }, path[4300];
	FILE *fp;

	save(f, 10, w2, 2, 0);
	assert_int_equal(dtp_ckpt_find(f->dir, LONG_MAX, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 10);
	assert_int_equal(dtp_ckpt_num_units(c), U);
	fill_info(f, 10, &want);
	assert_int_equal(dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c), &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->pos[0].sample, 80);
	assert_string_equal(dtp_ckpt_get_info(c)->pos[1].name, "train.targets");
	assert_int_equal(dtp_ckpt_verify(c, &e), 0);
	load_range(f, c, 10, 0, U);                 /* one stage */
	load_range(f, c, 10, 0, U - 1);             /* two, other cut */
	load_range(f, c, 10, U - 1, U);
	for (int u = 0; u < U; u++)                 /* one unit per stage */
		load_range(f, c, 10, u, u + 1);
	/* a role it does not hold, another optimizer's settings */
	{
		float x[4096];

		dtp_err_clear(&e);
		assert_int_equal(dtp_ckpt_read_unit(c, &f->spec, 0, DTP_CKPT_ROLE_MOMENTUM, x, &e),
				 -ENOENT);
		assert_non_null(strstr(e.msg, "unit.0."));
		assert_non_null(strstr(e.msg, ".momentum"));
	}
	snprintf(want.optim_settings, sizeof(want.optim_settings), "lr=0.002");
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c), &e),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "optimizer settings"));
	assert_non_null(strstr(e.msg, "step-00000010"));
	dtp_ckpt_close(c);
	/* the same model written as one file reads the same */
	save(f, 20, one, 1, 0);
	assert_int_equal(dtp_ckpt_open(f->dir, 20, &c, &e), 0);
	load_range(f, c, 20, 0, 1);
	load_range(f, c, 20, 1, U);
	dtp_ckpt_close(c);
	snprintf(path, sizeof(path), "%s/latest", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(latest, sizeof(latest), fp));
	fclose(fp);
	assert_string_equal(latest, "step-00000020\n");
}

static void test_incomplete_skipped(void **state)
{
	struct fx *f = *state;
	int U = f->units, cuts[] = { 0, 1, U };
	struct dtp_ckpt *c;
	struct dtp_ckpt_info in;
	struct dtp_err e;
	char path[4300];
	long step = -1;

	dtp_err_clear(&e);
	assert_int_equal(dtp_checkpoint_newest(f->dir, &step, &e), -ENOENT);
	save(f, 10, cuts, 2, 0);
	write_parts(f, 20, cuts, 2);                /* the writers stopped before the manifest */
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_open(f->dir, 20, &c, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "step-00000020/manifest.json"));
	assert_non_null(strstr(e.msg, "incomplete"));
	assert_int_equal(dtp_ckpt_find(f->dir, LONG_MAX, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 10);
	load_range(f, c, 10, 0, U);
	dtp_ckpt_close(c);
	/* what a restarting launcher resumes from: the newest complete one */
	assert_int_equal(dtp_checkpoint_newest(f->dir, &step, &e), 0);
	assert_int_equal(step, 10);
	snprintf(path, sizeof(path), "%s/none", f->dir);
	assert_int_equal(dtp_checkpoint_newest(path, &step, &e), -ENOENT);
	/* left as it was */
	snprintf(path, sizeof(path), "%s/step-00000020/stage-1.safetensors", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	/* finishing with a writer's file missing writes no manifest */
	write_parts(f, 30, cuts, 1);
	fill_info(f, 30, &in);
	dtp_err_clear(&e);
	assert_int_not_equal(dtp_ckpt_finish(f->dir, &in, U, 2, 0, &e), 0);
	assert_non_null(strstr(e.msg, "step-00000030/stage-1.safetensors"));
	/* or a unit no file holds */
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_finish(f->dir, &in, U, 1, 0, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "unit 1"));
	snprintf(path, sizeof(path), "%s/step-00000030/manifest.json", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(dtp_ckpt_find(f->dir, LONG_MAX, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 10);
	dtp_ckpt_close(c);
	/* no checkpoint at all */
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_find(f->dir, 10, &c, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no complete checkpoint"));
}

/* step 20 damaged by `damage`: opening it fails with `code` and a message holding
 * `want`; find falls back to step 10, and step 20 is left where it is */
static void check_refused(struct fx *f, int code, const char *want)
{
	struct dtp_ckpt *c;
	struct dtp_err e;
	char path[4300];

	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_open(f->dir, 20, &c, &e), code);
	if (!strstr(e.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
	assert_int_equal(dtp_ckpt_find(f->dir, LONG_MAX, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 10);
	load_range(f, c, 10, 0, f->units);
	dtp_ckpt_close(c);
	snprintf(path, sizeof(path), "%s/step-00000020", f->dir);
	assert_int_equal(access(path, F_OK), 0);
}

static void test_corrupt_refused(void **state)
{
	struct fx *f = *state;
	char a[4300], b[4300];
	struct dtp_ckpt *c;
	struct dtp_err e;
	float x[4096];

	/* a flipped bit in the step: "step": 20 -> 21 */
	fresh(f);
	flip(f, "manifest.json", find_in(f, "manifest.json", "\"step\": 20") + 9, 0);
	check_refused(f, -EBADMSG, "manifest.json: checksum mismatch");
	/* in a data position */
	fresh(f);
	flip(f, "manifest.json", find_in(f, "manifest.json", "\"sample\": 160") + 11, 1);
	check_refused(f, -EBADMSG, "checksum mismatch");
	/* in the training settings */
	fresh(f);
	flip(f, "manifest.json", find_in(f, "manifest.json", "batch=8") + 6, 0);
	check_refused(f, -EBADMSG, "checksum mismatch");
	/* a manifest that is not JSON any more */
	fresh(f);
	flip(f, "manifest.json", 0, 2);
	check_refused(f, -EBADMSG, "manifest.json: not valid JSON");
	/* a file missing */
	fresh(f);
	snprintf(a, sizeof(a), "%s/step-00000020/stage-1.safetensors", f->dir);
	unlink(a);
	check_refused(f, -EBADMSG, "step-00000020/stage-1.safetensors: listed in the manifest but missing");
	/* a file truncated */
	fresh(f);
	snprintf(a, sizeof(a), "%s/step-00000020/stage-0.safetensors", f->dir);
	{
		struct stat sb;

		assert_int_equal(stat(a, &sb), 0);
		assert_int_equal(truncate(a, sb.st_size - 3), 0);
	}
	check_refused(f, -EBADMSG, "stage-0.safetensors: tensor \"unit.0.");
	/* a file replaced by another valid one (step 10's) */
	fresh(f);
	snprintf(a, sizeof(a), "%s/step-00000010/stage-1.safetensors", f->dir);
	snprintf(b, sizeof(b), "%s/step-00000020/stage-1.safetensors", f->dir);
	{
		char cmd[9000];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", a, b);
		assert_int_equal(system(cmd), 0);
	}
	check_refused(f, -EBADMSG, "in the file's header");
	/* a tensor's shape in a file's header out of range: refused naming it */
	fresh(f);
	flip(f, "stage-0.safetensors", find_in(f, "stage-0.safetensors", "\"data_offsets\":[0,") + 18, 0);
	check_refused(f, -EBADMSG, "stage-0.safetensors: tensor \"unit.0.");
	/* a flipped bit in a tensor's data: the header checks pass, the read
	 * fails naming the file and the tensor, and the previous one is used */
	fresh(f);
	{
		struct stat sb;

		snprintf(a, sizeof(a), "%s/step-00000020/stage-1.safetensors", f->dir);
		assert_int_equal(stat(a, &sb), 0);
		flip(f, "stage-1.safetensors", (long)sb.st_size - 2, 3);
	}
	assert_int_equal(dtp_ckpt_find(f->dir, LONG_MAX, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 20);
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_verify(c, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "stage-1.safetensors: tensor \"unit."));
	assert_non_null(strstr(e.msg, "CRC-32C mismatch"));
	{
		int r = 0;

		dtp_err_clear(&e);
		for (int u = 1; u < f->units && !r; u++)
			r = dtp_ckpt_read_unit(c, &f->spec, u, DTP_CKPT_ROLE_ADAM_V, x, &e);
		assert_int_equal(r, -EBADMSG);
		assert_non_null(strstr(e.msg, "adam_v\": CRC-32C mismatch"));
	}
	dtp_ckpt_close(c);
	assert_int_equal(dtp_ckpt_find(f->dir, 20, &c, &e), 0);
	assert_int_equal(dtp_ckpt_get_info(c)->step, 10);
	dtp_ckpt_close(c);
	/* another model */
	fresh(f);
	{
		struct dtp_ckpt_info want;

		assert_int_equal(dtp_ckpt_open(f->dir, 20, &c, &e), 0);
		fill_info(f, 20, &want);
		snprintf(want.model, sizeof(want.model), "mlp:1-2");
		dtp_err_clear(&e);
		assert_int_equal(dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c),
						     &e), -EINVAL);
		assert_non_null(strstr(e.msg, "another model"));
		dtp_ckpt_close(c);
	}
}

static void test_keep_and_never_overwrite(void **state)
{
	struct fx *f = *state;
	int cuts[] = { 0, 1, f->units };
	struct dtp_ckpt_part *p;
	struct dtp_ckpt_info in;
	struct dtp_err e;
	long *steps;
	int n;

	for (long s = 10; s <= 40; s += 10)
		save(f, s, cuts, 2, 2);
	assert_int_equal(dtp_ckpt_list_steps(f->dir, &steps, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(steps[0], 40);
	assert_int_equal(steps[1], 30);
	free(steps);
	/* an incomplete newer one does not count as one of the N kept */
	write_parts(f, 50, cuts, 2);
	save(f, 60, cuts, 2, 2);
	assert_int_equal(dtp_ckpt_list_steps(f->dir, &steps, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(steps[0], 60);
	assert_int_equal(steps[1], 50);
	assert_int_equal(steps[2], 40);
	free(steps);
	/* a complete step is never overwritten */
	dtp_err_clear(&e);
	assert_int_equal(dtp_ckpt_part_begin(f->dir, 60, 0, &p, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "step-00000060"));
	fill_info(f, 60, &in);
	assert_int_equal(dtp_ckpt_finish(f->dir, &in, f->units, 2, 2, &e), -EEXIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_unit_tensors_tile_units, setup_mlp, teardown),
		cmocka_unit_test_setup_teardown(test_unit_tensors_tile_units, setup_gpt, teardown),
		cmocka_unit_test_setup_teardown(test_reload_other_split, setup_mlp, teardown),
		cmocka_unit_test_setup_teardown(test_reload_other_split, setup_gpt, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_skipped, setup_mlp, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_refused, setup_gpt, teardown),
		cmocka_unit_test_setup_teardown(test_keep_and_never_overwrite, setup_mlp, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
