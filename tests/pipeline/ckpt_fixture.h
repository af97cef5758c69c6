/* The fixture of the checkpoint store's tests (test_ckpt_store.c,
 * test_ckpt_flip.c): a temporary checkpoint directory, the whole model's
 * parameters and Adam state with values no two steps share, checkpoints
 * written by any split of the units across files, read back through real
 * stage models, and byte patches of step 20's files. */
#ifndef DTP_TESTS_PIPELINE_CKPT_FIXTURE_H
#define DTP_TESTS_PIPELINE_CKPT_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/io_fixture.h"
#include "pipeline/ckpt_store.h"
#include "model/tensors.h"

struct fx {
	char *dir;
	struct dtp_model_spec spec;
	int units;
	size_t n;             /* parameters of the whole model */
	size_t *uoff;         /* units + 1 offsets into the whole model's arrays */
};

static inline int setup_spec(void **state, const char *text)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dtp_unit_info ui;

	f->dir = fx_tmpdir();
	assert_int_equal(dtp_model_spec_parse(text, &f->spec, NULL), 0);
	f->units = dtp_model_num_units(&f->spec);
	f->uoff = calloc((size_t)f->units + 1, sizeof(size_t));
	for (int u = 0; u < f->units; u++) {
		assert_int_equal(dtp_unit_describe(&f->spec, u, &ui), 0);
		f->uoff[u + 1] = f->uoff[u] + ui.n_params;
	}
	f->n = f->uoff[f->units];
	*state = f;
	return 0;
}

static inline int setup_mlp(void **state)
{
	return setup_spec(state, "mlp:12-16-8-4");
}

static inline int setup_gpt(void **state)
{
	return setup_spec(state, "gpt:layers=2,dim=8,heads=2,seq=4,vocab=16");
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	fx_rmtree(f->dir);
	free(f->dir);
	free(f->uoff);
	free(f);
	return 0;
}

/* the whole model's parameters and Adam state at `step`: values no two steps share */
static inline float value(long step, int role, size_t i)
{
	return (float)step + (float)role * 0.25f + (float)i * 1e-3f;
}

static inline void fill_info(struct fx *f, long step, struct dtp_ckpt_info *in)
{
	memset(in, 0, sizeof(*in));
	in->step = step;
	dtp_model_spec_format(&f->spec, in->model, sizeof(in->model));
	snprintf(in->optimizer, sizeof(in->optimizer), "adamw");
	snprintf(in->optim_settings, sizeof(in->optim_settings),
		 "lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08 wd=0.1 clip=1");
	snprintf(in->training, sizeof(in->training), "seed=1 batch=8 micro=2 data=train");
	snprintf(in->rng, sizeof(in->rng), "philox4x32-10 seed=1");
	in->n_pos = 2;
	snprintf(in->pos[0].name, sizeof(in->pos[0].name), "train.inputs");
	in->pos[0].epoch = 1;
	in->pos[0].sample = (uint64_t)step * 8;
	snprintf(in->pos[1].name, sizeof(in->pos[1].name), "train.targets");
	in->pos[1].epoch = 1;
	in->pos[1].sample = (uint64_t)step * 8;
}

/* write step `step` with units split across files at cuts[0]=0 < ... < cuts[k]=units */
static inline void write_parts(struct fx *f, long step, const int *cuts, int k)
{
	float *a[3];
	struct dtp_err e;

	for (int r = 0; r < 3; r++) {
		a[r] = malloc(f->n * sizeof(float));
		for (size_t i = 0; i < f->n; i++)
			a[r][i] = value(step, r, i);
	}
	for (int w = 0; w < k; w++) {
		struct dtp_ckpt_part *p;

		assert_int_equal(dtp_ckpt_part_begin(f->dir, step, w, &p, &e), 0);
		for (int u = cuts[w]; u < cuts[w + 1]; u++) {
			assert_int_equal(dtp_ckpt_part_add_unit(p, &f->spec, u, DTP_CKPT_ROLE_PARAM,
								a[0] + f->uoff[u], &e), 0);
			assert_int_equal(dtp_ckpt_part_add_unit(p, &f->spec, u, DTP_CKPT_ROLE_ADAM_M,
								a[1] + f->uoff[u], &e), 0);
			assert_int_equal(dtp_ckpt_part_add_unit(p, &f->spec, u, DTP_CKPT_ROLE_ADAM_V,
								a[2] + f->uoff[u], &e), 0);
		}
		if (dtp_ckpt_part_commit(p, &e))
			fail_msg("%s", e.msg);
	}
	for (int r = 0; r < 3; r++)
		free(a[r]);
}

static inline void save(struct fx *f, long step, const int *cuts, int k, int keep)
{
	struct dtp_ckpt_info in;
	struct dtp_err e;

	write_parts(f, step, cuts, k);
	fill_info(f, step, &in);
	if (dtp_ckpt_finish(f->dir, &in, f->units, k, keep, &e))
		fail_msg("%s", e.msg);
}

/* a stage holding units [first, last): read them into a real stage model and
 * into its state arrays, and compare with what step `step` wrote */
static inline void load_range(struct fx *f, const struct dtp_ckpt *c, long step, int first, int last)
{
	struct dtp_stage_model *m;
	struct dtp_err e;
	size_t np;
	float *p, *mv;

	assert_int_equal(dtp_stage_model_create(&f->spec, first, last, 2, 99, &m, &e), 0);
	p = dtp_stage_model_params(m);
	np = dtp_stage_model_num_params(m);
	mv = malloc(2 * np * sizeof(float));
	for (int u = first; u < last; u++) {
		size_t o = dtp_stage_model_unit_offset(m, u);

		if (dtp_ckpt_read_unit(c, &f->spec, u, NULL, p + o, &e) ||
		    dtp_ckpt_read_unit(c, &f->spec, u, DTP_CKPT_ROLE_ADAM_M, mv + o, &e) ||
		    dtp_ckpt_read_unit(c, &f->spec, u, DTP_CKPT_ROLE_ADAM_V, mv + np + o, &e))
			fail_msg("%s", e.msg);
	}
	for (size_t i = 0; i < np; i++) {
		size_t g = f->uoff[first] + i;

		if (p[i] != value(step, 0, g) || mv[i] != value(step, 1, g) ||
		    mv[np + i] != value(step, 2, g))
			fail_msg("units [%d, %d): float %zu differs", first, last, i);
	}
	free(mv);
	dtp_stage_model_destroy(m);
}

/* flip bit `bit` of the byte at `off` of file rel (under dir/step-00000020) */
static inline void flip(struct fx *f, const char *rel, long off, int bit)
{
	char path[4300];
	unsigned char x;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/step-00000020/%s", f->dir, rel);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, off, SEEK_SET);
	assert_int_equal(fread(&x, 1, 1, fp), 1);
	fclose(fp);
	x ^= (unsigned char)(1u << bit);
	fx_patch(path, off, &x, 1);
}

/* offset of the first occurrence of `what` in dir/step-00000020/rel */
static inline long find_in(struct fx *f, const char *rel, const char *what)
{
	char path[4300], *buf = malloc(1 << 20), *at;
	size_t n;
	long off;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/step-00000020/%s", f->dir, rel);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	at = memmem(buf, n, what, strlen(what));   /* a safetensors file starts with NULs */
	assert_non_null(at);
	off = at - buf;
	free(buf);
	return off;
}

static inline void fresh(struct fx *f)
{
	int cuts[] = { 0, 1, f->units };

	fx_rmtree(f->dir);
	assert_int_equal(mkdir(f->dir, 0777), 0);
	save(f, 10, cuts, 2, 0);
	save(f, 20, cuts, 2, 0);
}

#endif
