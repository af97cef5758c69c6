/* A stage model's matmul engine (stage.h): precision = bf16 makes a oneDNN
 * bf16 engine, fp32_matmul = onednn a oneDNN fp32 one, each once at set-up
 * with the primitive of every matmul of the stage's units; their memory is
 * predicted by a dry engine with the same list. Without either the units'
 * fp32 matmuls are OpenBLAS's. */
#include "config.h"
#include "model/stage.h"
#include "model/dnnl_matmul.h"

#include <errno.h>
#include <stddef.h>

enum dtp_precision dtp_stage_model_precision(const struct dtp_stage_model *m)
{
	return m->prec;
}

int dtp_stage_model_threads(const struct dtp_stage_model *m)
{
	return m->nthr;
}

/* the matmuls of units [first, last) of spec, prepared on mx (bf16 or fp32):
 * one list for the real engine and the dry one of the memory prediction */
static int prepare_units(struct dtp_bf16_mm *mx, const struct dtp_model_spec *spec, int first,
			 int last, struct dtp_err *err)
{
	int rc = 0, C = spec->dim;

	for (int g = first; g < last && rc == 0; g++) {
		struct dtp_unit_rt u = { 0 };

		dtp_unit_rt_of(spec, g, &u);
		if (u.kind == DTP_UNIT_LINEAR) {
			rc = dtp_bf16_mm_prepare(mx, u.in_dim, u.out_dim, 1, err);
			if (!rc)        /* fp32: its bias and ReLU in the matmul */
				rc = dtp_f32_mm_prepare_bias(mx, u.in_dim, u.out_dim, u.relu, err);
			if (!rc)        /* bf16: its bias in the matmul */
				rc = dtp_bf16_mm_prepare_bias16(mx, u.in_dim, u.out_dim, 0, err);
		}
		else if (u.kind == DTP_UNIT_HEAD)
			rc = dtp_bf16_mm_prepare(mx, C, u.out_dim, 0, err);
		else if (u.kind == DTP_UNIT_BLOCK) {
			rc = dtp_bf16_mm_prepare(mx, C, 3 * C, 1, err);
			if (!rc)
				rc = dtp_f32_mm_prepare_bias(mx, C, 3 * C, 0, err);
			if (!rc)        /* bf16: qkv's and fc's bias in the matmul, by tiles */
				rc = dtp_bf16_mm_prepare_bias16(mx, C, 3 * C, 1, err);
			if (!rc)
				rc = dtp_bf16_mm_prepare(mx, C, C, 1, err);
			if (!rc)
				rc = dtp_bf16_mm_prepare(mx, C, 4 * C, 1, err);
			if (!rc)
				rc = dtp_f32_mm_prepare_bias(mx, C, 4 * C, 0, err);
			if (!rc)
				rc = dtp_bf16_mm_prepare_bias16(mx, C, 4 * C, 1, err);
			if (!rc)
				rc = dtp_bf16_mm_prepare(mx, 4 * C, C, 1, err);
			if (!rc)        /* fp32: fc and the GELU, by tiles both ways */
				rc = dtp_f32_mm_prepare_tiles(mx, C, 4 * C, 1, 0, err);
			if (!rc)
				rc = dtp_f32_mm_prepare_tiles(mx, 4 * C, C, 0, 1, err);
			if (!rc)        /* the attention's per-head matmuls */
				rc = dtp_bf16_mm_prepare_attention(mx, spec->seq_len, C, spec->heads,
								   err);
		}
	}
	return rc;
}

/* units [first, last) of spec at max_batch, as the predictions take them */
static int check_range(const struct dtp_model_spec *spec, int first, int last, int max_batch,
		       struct dtp_err *err)
{
	if (first < 0 || last > dtp_model_num_units(spec) || first >= last || max_batch < 1)
		return dtp_errf_input(err, -EINVAL, "stage unit range [%d, %d) or batch %d out of range",
				      first, last, max_batch);
	return 0;
}

/* the bytes a matmul engine made by CREATE_DRY (bf16's or fp32's) would hold
 * for units [first, last) at max_batch, on the threads dtp_stage_model_create
 * would give it */
static int dry_engine_bytes(const struct dtp_model_spec *spec, int first, int last,
			    int max_batch, size_t n_params,
			    int (*create_dry)(int, int, size_t, int, struct dtp_bf16_mm **,
					      struct dtp_err *),
			    size_t *bytes, struct dtp_err *err)
{
	struct dtp_bf16_mm *dry;
	int nw = dtp_stage_pool_size(0);
	int rc = create_dry(nw, nw > 1 ? nw : dtp_blas_threads(), n_params,
			    max_batch * (spec->kind == DTP_MODEL_GPT ? spec->seq_len : 1), &dry, err);

	if (rc < 0)
		return rc;
	rc = prepare_units(dry, spec, first, last, err);
	if (rc == 0)
		*bytes = dtp_bf16_mm_bytes(dry);
	dtp_bf16_mm_destroy(dry);
	return rc;
}

int dtp_stage_model_precision_bytes(const struct dtp_model_spec *spec, int first, int last,
				    int max_batch, enum dtp_precision p, size_t *bytes,
				    struct dtp_err *err)
{
	size_t np = 0;
	int rc;

	*bytes = 0;
	if (p == DTP_PRECISION_FP32)
		return 0;
	rc = dtp_precision_check(p, err);
	if (rc < 0)
		return rc;
	rc = check_range(spec, first, last, max_batch, err);
	if (rc < 0)
		return rc;
	for (int g = first; g < last; g++) {
		struct dtp_unit_info info;

		dtp_unit_describe(spec, g, &info);
		np += info.n_params;
	}
	return dry_engine_bytes(spec, first, last, max_batch, np, dtp_bf16_mm_create_dry, bytes,
				err);
}

size_t dtp_stage_model_precision_held(const struct dtp_stage_model *m)
{
	return m->mx ? dtp_bf16_mm_bytes(m->mx) : m->fx ? dtp_bf16_mm_bytes(m->fx) : 0;
}

int dtp_stage_model_fp32_matmul_bytes(const struct dtp_model_spec *spec, int first, int last,
				      int max_batch, enum dtp_precision p,
				      enum dtp_fp32_matmul b, size_t *bytes, struct dtp_err *err)
{
	int rc;

	*bytes = 0;
	if (p != DTP_PRECISION_FP32 || b == DTP_FP32_MATMUL_OPENBLAS)
		return 0;
	rc = dtp_fp32_matmul_check(b, err);
	if (rc < 0)
		return rc;
	rc = check_range(spec, first, last, max_batch, err);
	if (rc < 0)
		return rc;
	return dry_engine_bytes(spec, first, last, max_batch, 0, dtp_f32_mm_create_dry, bytes, err);
}

/* fp32_matmul = onednn: one oneDNN fp32 engine with the primitives of every
 * linear layer of the stage, on the stage's threads as bf16's */
int dtp_stage_model_set_fp32_matmul(struct dtp_stage_model *m, enum dtp_fp32_matmul b,
				    struct dtp_err *err)
{
	int rc = dtp_fp32_matmul_check(b, err), rows = m->max_batch * dtp_stage_seq(m);

	if (rc < 0 || b == m->fp32mm)
		return rc;
	if (b == DTP_FP32_MATMUL_OPENBLAS || m->fx)
		return dtp_errf_runtime(err, -EINVAL, "a stage model's fp32 matmul backend is set "
					"once, at set-up");
	m->fp32mm = b;
	if (m->prec != DTP_PRECISION_FP32)      /* bf16's matmuls are oneDNN's anyway */
		return 0;
	rc = dtp_f32_mm_create(m->pool, m->nthr, m->params, m->n_params, rows, &m->fx, err);
	if (rc == 0)
		rc = prepare_units(m->fx, &m->spec, m->first, m->last, err);
	if (rc < 0) {
		dtp_bf16_mm_destroy(m->fx);
		m->fx = NULL;
		m->fp32mm = DTP_FP32_MATMUL_OPENBLAS;
	}
	return rc;
}

enum dtp_fp32_matmul dtp_stage_model_fp32_matmul(const struct dtp_stage_model *m)
{
	return m->fp32mm;
}

/* bf16: one oneDNN engine with the primitives of every linear layer of the
 * stage; its threads are the stage's (the pool's participants, or OpenBLAS's
 * count when there is no pool: the count the fp32 path's sgemms use) */
int dtp_stage_model_set_precision(struct dtp_stage_model *m, enum dtp_precision p,
				  struct dtp_err *err)
{
	int rc = dtp_precision_check(p, err), rows = m->max_batch * dtp_stage_seq(m);

	if (rc < 0 || p == m->prec)
		return rc;
	if (p == DTP_PRECISION_FP32 || m->mx || m->fx)
		return dtp_errf_runtime(err, -EINVAL, "a stage model's precision is set once, at set-up "
					"(before its fp32 matmul backend)");
	rc = dtp_bf16_mm_create(m->pool, m->nthr, m->params, m->n_params, rows, &m->mx, err);
	if (rc == 0)
		rc = prepare_units(m->mx, &m->spec, m->first, m->last, err);
	if (rc < 0) {
		dtp_bf16_mm_destroy(m->mx);
		m->mx = NULL;
		return rc;
	}
	m->prec = p;
	m->w16_stale = 1;
	return 0;
}