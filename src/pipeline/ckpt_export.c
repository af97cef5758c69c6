/* A checkpoint's model as one file (dtpipe-export): the parameters of every
 * unit, read from whichever stage file holds them and checked against their
 * CRC-32C, written as one safetensors file without optimizer state, with the
 * model spec and step as metadata. And the logits of one batch, computed by
 * the model code itself (dtp_stage_forward over every unit), for comparing
 * another framework's build of the same weights (examples/torch_gpt.py). */
#include "config.h"
#include "pipeline/pipeline.h"
#include "pipeline/ckpt_store.h"
#include "io/safetensors.h"
#include "model/tensors.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the parameters of a whole model, read from a checkpoint */
struct model_params {
	struct dtp_ckpt *c;
	struct dtp_model_spec spec;
	int n_units;
	size_t *unit_off;            /* n_units + 1 offsets, in floats */
	float *params;               /* unit_off[n_units] floats */
};

static void params_free(struct model_params *mp)
{
	free(mp->params);
	free(mp->unit_off);
	dtp_ckpt_close(mp->c);
}

/* "DIR/step-NNNNNNNN" (a trailing '/' allowed): DIR into dir and the step
 * into *step, which must be unset (< 0) or the same; other paths: dir = path */
static int split_step_dir(const char *path, char *dir, size_t len, long *step,
			  struct dtp_err *err)
{
	size_t n = strlen(path);
	char *base;
	long s;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= len)
		return dtp_errf_input(err, -ENAMETOOLONG, "%s: the path is too long", path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	base = strrchr(dir, '/');
	s = dtp_ckpt_parse_step_name(base ? base + 1 : dir);
	if (s < 0)
		return 0;
	if (*step >= 0 && *step != s)
		return dtp_errf_input(err, -EINVAL, "%s is the checkpoint of step %ld, not of step %ld",
				      path, s, *step);
	*step = s;
	if (!base)
		snprintf(dir, len, ".");
	else if (base == dir)
		dir[1] = '\0';
	else
		*base = '\0';
	return 0;
}

/* open the checkpoint at path (a checkpoint directory or one of its step
 * directories; step < 0: the newest complete one), parse its model and read
 * every unit's parameters, checking their CRC-32C */
static int params_load(const char *path, long step, struct model_params *mp, struct dtp_err *err)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	const struct dtp_ckpt_info *in;
	char dir[PATH_MAX];
	int r;

	memset(mp, 0, sizeof(*mp));
	r = split_step_dir(path, dir, sizeof(dir), &step, err);
	if (r)
		return r;
	r = step < 0 ? dtp_ckpt_find(dir, LONG_MAX, &mp->c, err) : dtp_ckpt_open(dir, step, &mp->c, err);
	if (r)
		return r;
	in = dtp_ckpt_get_info(mp->c);
	r = dtp_model_spec_parse(in->model, &mp->spec, err);
	if (r) {
		dtp_err_prefix(err, "%s/%s: its model: ", dtp_ckpt_dir(mp->c), DTP_CKPT_MANIFEST);
		goto out_close;
	}
	mp->n_units = dtp_model_num_units(&mp->spec);
	if (mp->n_units != dtp_ckpt_num_units(mp->c)) {
		r = dtp_errf_input(err, -EBADMSG, "%s/%s: %d units, its model \"%s\" has %d",
				   dtp_ckpt_dir(mp->c), DTP_CKPT_MANIFEST, dtp_ckpt_num_units(mp->c),
				   in->model, mp->n_units);
		goto out_close;
	}
	mp->unit_off = calloc((size_t)mp->n_units + 1, sizeof(*mp->unit_off));
	if (!mp->unit_off)
		goto out_nomem;
	for (int u = 0; u < mp->n_units; u++) {
		int n = dtp_unit_tensors(&mp->spec, u, t);

		mp->unit_off[u + 1] = mp->unit_off[u] + (n > 0 ? t[n - 1].off + t[n - 1].n : 0);
	}
	mp->params = malloc(mp->unit_off[mp->n_units] * sizeof(float));
	if (!mp->params)
		goto out_nomem;
	for (int u = 0; u < mp->n_units && !r; u++)
		r = dtp_ckpt_read_unit(mp->c, &mp->spec, u, DTP_CKPT_ROLE_PARAM,
				       mp->params + mp->unit_off[u], err);
	if (r)
		goto out_close;
	return 0;
out_nomem:
	r = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for the model's parameters",
			     dtp_ckpt_dir(mp->c));
out_close:
	params_free(mp);
	return r;
}

/* the metadata both outputs carry: where they come from */
static int add_meta(struct dtp_st_writer *w, const struct model_params *mp, struct dtp_err *err)
{
	const struct dtp_ckpt_info *in = dtp_ckpt_get_info(mp->c);
	char step[32];
	int r;

	snprintf(step, sizeof(step), "%ld", in->step);
	r = dtp_st_writer_meta(w, "format", "pt", err);
	if (!r)
		r = dtp_st_writer_meta(w, DTP_EXPORT_META_MODEL, in->model, err);
	if (!r)
		r = dtp_st_writer_meta(w, DTP_EXPORT_META_STEP, step, err);
	if (!r)
		r = dtp_st_writer_meta(w, "dtpipe.checkpoint", dtp_ckpt_dir(mp->c), err);
	return r;
}

int dtp_ckpt_export(const char *path, long step, const char *out_path, long *step_out,
		    struct dtp_err *err)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	struct dtp_st_writer *w;
	struct model_params mp;
	char name[128];
	int r;

	r = params_load(path, step, &mp, err);
	if (r)
		return r;
	r = dtp_st_writer_create(&w, err);
	if (r)
		goto out_params;
	r = add_meta(w, &mp, err);
	for (int u = 0; u < mp.n_units && !r; u++) {
		int n = dtp_unit_tensors(&mp.spec, u, t);

		for (int i = 0; i < n && !r; i++) {
			uint64_t shape[2] = { t[i].shape[0], t[i].shape[1] };

			r = dtp_ckpt_tensor_name(name, sizeof(name), u, t[i].name, NULL);
			if (!r)
				r = dtp_st_writer_add(w, name, DTP_ST_F32, t[i].ndim, shape,
						      mp.params + mp.unit_off[u] + t[i].off, err);
		}
	}
	if (!r)
		r = dtp_st_writer_write(w, out_path, err);
	if (!r && step_out)
		*step_out = dtp_ckpt_get_info(mp.c)->step;
	dtp_st_writer_destroy(w);
out_params:
	params_free(&mp);
	return r;
}

/* the batch: tokens uniform in [0, V) for a gpt, features uniform in [0, 1)
 * for an mlp, from the counter-based PRNG (seed, stream 0) */
static void fill_inputs(const struct dtp_model_spec *s, void *in, int B, uint64_t seed)
{
	struct dtp_rng rng;

	dtp_rng_init(&rng, seed, 0);
	if (s->kind == DTP_MODEL_GPT) {
		int32_t *tok = in;

		for (size_t i = 0; i < (size_t)B * s->seq_len; i++)
			tok[i] = (int32_t)dtp_rng_below(&rng, (uint64_t)s->vocab);
	} else {
		float *x = in;

		for (size_t i = 0; i < (size_t)B * s->widths[0]; i++)
			x[i] = dtp_rng_uniform(&rng);
	}
}

int dtp_ckpt_logits(const char *path, long step, const char *out_path, int batch, uint64_t seed,
		    long *step_out, struct dtp_err *err)
{
	struct dtp_stage_model *m;
	struct dtp_st_writer *w = NULL;
	struct model_params mp;
	void *in = NULL, *out = NULL, *save = NULL;
	uint64_t in_shape[2], out_shape[3];
	int gpt, r;

	if (batch < 1)
		return dtp_errf_input(err, -EINVAL, "logits: the batch must hold at least one sample (got %d)",
				      batch);
	r = params_load(path, step, &mp, err);
	if (r)
		return r;
	gpt = mp.spec.kind == DTP_MODEL_GPT;
	r = dtp_stage_model_create(&mp.spec, 0, mp.n_units, batch, 0, &m, err);
	if (r)
		goto out_params;
	memcpy(dtp_stage_model_params(m), mp.params, mp.unit_off[mp.n_units] * sizeof(float));
	dtp_stage_params_changed(m);
	in = malloc(dtp_stage_model_in_bytes(m, batch));
	out = malloc(dtp_stage_model_out_bytes(m, batch));
	save = malloc(dtp_stage_model_save_bytes(m, batch) + 1);
	if (!in || !out || !save) {
		r = dtp_errf_runtime(err, -ENOMEM, "logits: out of memory for a batch of %d", batch);
		goto out_bufs;
	}
	fill_inputs(&mp.spec, in, batch, seed);
	r = dtp_stage_forward(m, in, out, save, batch);
	if (r) {
		r = dtp_errf_runtime(err, r, "logits: the forward pass of %d samples failed", batch);
		goto out_bufs;
	}
	in_shape[0] = out_shape[0] = (uint64_t)batch;
	in_shape[1] = (uint64_t)(gpt ? mp.spec.seq_len : mp.spec.widths[0]);
	out_shape[1] = (uint64_t)(gpt ? mp.spec.seq_len : mp.spec.widths[mp.spec.n_widths - 1]);
	out_shape[2] = (uint64_t)mp.spec.vocab;
	r = dtp_st_writer_create(&w, err);
	if (!r)
		r = add_meta(w, &mp, err);
	if (!r)
		r = dtp_st_writer_add(w, DTP_EXPORT_INPUTS, gpt ? DTP_ST_I32 : DTP_ST_F32, 2,
				      in_shape, in, err);
	if (!r)
		r = dtp_st_writer_add(w, DTP_EXPORT_LOGITS, DTP_ST_F32, gpt ? 3 : 2, out_shape, out,
				      err);
	if (!r)
		r = dtp_st_writer_write(w, out_path, err);
	if (!r && step_out)
		*step_out = dtp_ckpt_get_info(mp.c)->step;
	dtp_st_writer_destroy(w);
out_bufs:
	free(save);
	free(out);
	free(in);
	dtp_stage_model_destroy(m);
out_params:
	params_free(&mp);
	return r;
}
