/* The benchmarks' oneDNN reference (model.h, dtp_dnnl_matmul_time): one
 * matmul shape timed alone on the engine's primitive maker, fp32 or bf16. */
#include "config.h"
#include "model/model.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* --------------------------------------------- the benchmarks' reference */
double dtp_dnnl_matmul_time(const struct dtp_matmul *mm, enum dtp_precision p, int nthr,
			    int reps, char *impl, size_t impl_len, struct dtp_err *err)
{
	int ta = mm->trans_a, tb = mm->trans_b;
	struct dtp_mm_geom g = { mm->m, mm->k, mm->n, ta ? 1 : mm->lda, ta ? mm->lda : 1,
			  tb ? 1 : mm->ldb, tb ? mm->ldb : 1, mm->ldc, 0 };
	dnnl_data_type_t dt = p == DTP_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
	size_t es = p == DTP_PRECISION_BF16 ? 2 : 4;
	size_t an = (size_t)(ta ? mm->k : mm->m) * mm->lda, bn = (size_t)(tb ? mm->n : mm->k) * mm->ldb;
	size_t cn = (size_t)mm->m * mm->ldc;
	struct dtp_bf16_mm *e = calloc(1, sizeof(*e));
	struct dtp_mm_shape *x = calloc(1, sizeof(*x));
	char *a = dtp_mm_zalloc(an * es), *b = dtp_mm_zalloc(bn * es);
	float *c = dtp_mm_zalloc(cn * sizeof(float));
	double best = -1.0;
	int rc = -ENOMEM;

	if (!e || !x || !a || !b || !c) {
		dtp_errf_runtime(err, rc, "out of memory for a oneDNN reference matmul");
		goto out_free;
	}
	for (size_t i = 0; i < an * es; i++)
		a[i] = (char)(p == DTP_PRECISION_BF16 ? (i & 1 ? 0x3c : 0) : (i % 4 == 3 ? 0x3c : 0));
	for (size_t i = 0; i < bn * es; i++)
		b[i] = (char)(p == DTP_PRECISION_BF16 ? (i & 1 ? 0x3c : 0) : (i % 4 == 3 ? 0x3c : 0));
	e->nw = 1;
	e->nthr = nthr < 1 ? 1 : nthr;
	x->sum = mm->beta != 0.0f;
	if (dnnl_engine_create(&e->eng, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&e->stream[0], e->eng, dnnl_stream_default_flags) != dnnl_success) {
		rc = dtp_mm_fail(err, dnnl_runtime_error, "creating the CPU engine");
		goto out_free;
	}
	rc = dtp_mm_make_part(e, x, &x->part[0], 0, &g, mm->m, e->nthr, dt, err);
	if (rc < 0)
		goto out_part;
	if (impl)
		snprintf(impl, impl_len, "%s", x->impl);
	for (int r = 0; r <= reps; r++) {   /* pass 0 warms up */
		double t0 = dtp_now();

		for (long k = 0; k < mm->count; k++)
			dtp_mm_exec(e, 0, &x->part[0], (const uint16_t *)a, (const uint16_t *)b, c);
		double t = dtp_now() - t0;

		if (r > 0 && (best < 0 || t < best))
			best = t;
	}
out_part:
	dtp_mm_free_part(&x->part[0]);
out_free:
	if (e && e->stream[0])
		dnnl_stream_destroy(e->stream[0]);
	if (e)
		free(e->sp_buf[0]);
	if (e && e->eng)
		dnnl_engine_destroy(e->eng);
	free(a);
	free(b);
	free(c);
	free(x);
	free(e);
	return rc < 0 ? (double)rc : best;
}
#endif
