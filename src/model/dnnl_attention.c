/* Causal attention's per-head matmuls in bf16 on oneDNN (dnnl_attention.h).
 *
 * One sequence b at a time, its H heads as the batch dimension of three
 * matmul primitives (hs = C/H; every operand dense per head, so oneDNN
 * takes its brgemm kernels: with the heads addressed in place in qkv, at a
 * row stride of 3C, it fell back to its slower gemm kernels):
 *   NT  X (H,T,hs)  Y^T (H,hs,T)  -> (H,T,T)    scores q k^T; datt = dy v^T
 *   NN  P (H,T,T)   Y   (H,T,hs)  -> (H,T,hs)   y = att v;    dq = dpre k
 *   TN  P^T (H,T,T) Y   (H,T,hs)  -> (H,T,hs)   dv = att^T dy; dk = dpre^T q
 * with q, k, v, dy converted to bf16 and gathered per head (one sequence's
 * worth, in the participant's own buffers, so they stay in cache), the
 * probabilities and the scaled score gradient converted to bf16 after the
 * fp32 softmax (attention.c) and its backward, and each (H,T,hs) output
 * scattered back to its head's columns (the forward's output in bf16: only
 * the projection's matmuls read it). The scale 1/sqrt(hs) is applied in
 * fp32 inside the softmax and its backward.
 *
 * Threads: the pool's participants share the sequences; each runs its own
 * primitives (planned for one thread, on omp_set_num_threads(1)) with its
 * own stream, memory objects, buffers and scratchpad. A sequence's result
 * is the same whichever participant computes it, so any pool size gives the
 * same bits. Every primitive is created here, at set-up.
 *
 * An fp32 engine's attention (fp32_matmul = onednn) is the same three
 * primitives on fp32 operands: q, k, v and dy copied per head, the
 * probabilities and the score gradient read in place (the saved att, the
 * participant's d32), the outputs scattered back as they are.
 *
 * This file is the set-up; dnnl_attention_run.c runs the calls, and
 * dnnl_attention_engine.h is what the two share. */
#include "config.h"
#include "model/dnnl_attention.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_attention_engine.h"

#include <omp.h>

/* one home for the per-participant buffer sizes (bytes) */
static size_t head_bytes(const struct dtp_bf16_attn *a, size_t es)
{
	return dtp_align_up((size_t)a->T * a->C * es, 64);
}

/* q, k and v in one block, (3H,T,hs): one gather fills all three */
static size_t qkv_bytes(const struct dtp_bf16_attn *a, size_t es)
{
	return dtp_align_up(3 * (size_t)a->T * a->C * es, 64);
}

static size_t score_bytes(const struct dtp_bf16_attn *a, size_t es)
{
	return dtp_align_up((size_t)a->H * a->T * a->T * es, 64);
}

size_t dtp_bf16_attn_bytes(const struct dtp_bf16_attn *a)
{
	size_t b = 0, es;

	if (!a)
		return 0;
	es = a->f32 ? 4 : 2;    /* q, k, v and g's elements */
	for (int w = 0; w < a->nw; w++)
		b += qkv_bytes(a, es) + head_bytes(a, es) + (a->f32 ? 0 : score_bytes(a, 2)) +
		     score_bytes(a, 4) + head_bytes(a, 4) + dtp_align_up(a->part[w].sp_cap, 64);
	return b;
}

static int fail(struct dtp_err *err, dnnl_status_t st, const char *what)
{
	return dtp_errf_runtime(err, st == dnnl_out_of_memory ? -ENOMEM : -ENOTSUP,
				"oneDNN: %s failed (status %d) for the attention: run with "
				"precision = fp32 and fp32_matmul = openblas", what, (int)st);
}

/* the dims and strides of primitive k's A, B, C (3-d: heads, rows, cols) */
static void geom(const struct dtp_bf16_attn *a, int k, dnnl_dims_t d[3], dnnl_dims_t s[3])
{
	int64_t H = a->H, T = a->T, hs = a->hs, TT = T * T, Th = T * hs;
	const int64_t nt[3][3] = { { H, T, hs }, { H, hs, T }, { H, T, T } };
	const int64_t nts[3][3] = { { Th, hs, 1 }, { Th, 1, hs }, { TT, T, 1 } };
	const int64_t nn[3][3] = { { H, T, T }, { H, T, hs }, { H, T, hs } };
	const int64_t nns[3][3] = { { TT, T, 1 }, { Th, hs, 1 }, { Th, hs, 1 } };
	const int64_t tns[3][3] = { { TT, 1, T }, { Th, hs, 1 }, { Th, hs, 1 } };

	for (int i = 0; i < 3; i++)
		for (int x = 0; x < 3; x++) {
			d[i][x] = k == P_NT ? nt[i][x] : nn[i][x];
			s[i][x] = k == P_NT ? nts[i][x] : k == P_NN ? nns[i][x] : tns[i][x];
		}
}

static int make_prim(struct dtp_bf16_attn *a, struct dtp_attn_part *p, int k, struct dtp_err *err)
{
	dnnl_memory_desc_t md[3], zmd;
	const dnnl_memory_desc_t *smd;
	dnnl_matmul_desc_t desc;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_dims_t d[3], s[3];
	int saved = omp_get_max_threads(), rc = 0;
	dnnl_status_t st = dnnl_success;
	size_t sp;

	geom(a, k, d, s);
	memset(&zmd, 0, sizeof(zmd));
	for (int i = 0; i < 3 && st == dnnl_success; i++)
		st = dnnl_memory_desc_init_by_strides(&md[i], 3, d[i],
						      i < 2 && !a->f32 ? dnnl_bf16 : dnnl_f32, s[i]);
	if (st == dnnl_success)
		st = dnnl_matmul_desc_init(&desc, &md[0], &md[1], &zmd, &md[2]);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_create(&attr);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (st != dnnl_success) {
		rc = fail(err, st, "a matmul descriptor");
		goto out_attr;
	}
	omp_set_num_threads(1);     /* planned for one thread (see the top) */
	st = dnnl_primitive_desc_create(&pd, &desc, attr, a->eng, NULL);
	if (st != dnnl_success) {
		rc = dtp_errf_input(err, -ENOTSUP, "oneDNN has no %s matmul for %d heads of %d x %d "
				    "on this CPU (status %d): run with precision = fp32 and "
				    "fp32_matmul = openblas", a->f32 ? "fp32" : "bf16", a->H, a->T,
				    a->hs, (int)st);
		goto out_attr;
	}
	smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	sp = smd ? dnnl_memory_desc_get_size(smd) : 0;
	if (a->dry) {
		p->sp_cap = sp > p->sp_cap ? sp : p->sp_cap;
		goto out_pd;
	}
	if (sp > p->sp_cap) {
		free(p->sp_buf);
		p->sp_cap = 0;
		p->sp_buf = aligned_alloc(64, dtp_align_up(sp, 64));
		if (!p->sp_buf) {
			rc = dtp_errf_runtime(err, -ENOMEM, "out of memory for a oneDNN scratchpad "
					      "(%zu bytes)", sp);
			goto out_pd;
		}
		p->sp_cap = sp;
	}
	st = dnnl_primitive_create(&p->prim[k], pd);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->a[k], &md[0], a->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->b[k], &md[1], a->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success)
		st = dnnl_memory_create(&p->c[k], &md[2], a->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success && sp)
		st = dnnl_memory_create(&p->sp[k], smd, a->eng, DNNL_MEMORY_NONE);
	if (st != dnnl_success)
		rc = fail(err, st, "creating a matmul primitive");
out_pd:
	dnnl_primitive_desc_destroy(pd);
out_attr:
	omp_set_num_threads(saved);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return rc;
}

static void *zalloc(size_t bytes)
{
	void *p = aligned_alloc(64, dtp_align_up(bytes ? bytes : 64, 64));

	if (p)
		memset(p, 0, bytes);
	return p;
}

static int part_init(struct dtp_bf16_attn *a, struct dtp_attn_part *p, struct dtp_err *err)
{
	dnnl_status_t st;
	int rc, ok;

	if (!a->dry) {
		st = dnnl_stream_create(&p->stream, a->eng, dnnl_stream_default_flags);
		if (st != dnnl_success)
			return fail(err, st, "creating a stream");
		if (a->f32) {
			p->q32 = zalloc(qkv_bytes(a, 4));
			p->g32 = zalloc(head_bytes(a, 4));
			ok = p->q32 && p->g32;
			if (ok) {
				p->k32 = p->q32 + (size_t)a->T * a->C;
				p->v32 = p->k32 + (size_t)a->T * a->C;
			}
		} else {
			p->q16 = zalloc(qkv_bytes(a, 2));
			p->g16 = zalloc(head_bytes(a, 2));
			p->p16 = zalloc(score_bytes(a, 2));
			ok = p->q16 && p->g16 && p->p16;
			if (p->q16) {
				p->k16 = p->q16 + (size_t)a->T * a->C;
				p->v16 = p->k16 + (size_t)a->T * a->C;
			}
		}
		p->d32 = zalloc(score_bytes(a, 4));
		p->o32 = zalloc(head_bytes(a, 4));
		if (!ok || !p->d32 || !p->o32)
			return dtp_errf_runtime(err, -ENOMEM, "out of memory for the attention's "
						"buffers (%zu bytes per thread)",
						dtp_bf16_attn_bytes(a) / (size_t)a->nw);
	}
	for (int k = 0; k < N_PRIM; k++) {
		rc = make_prim(a, p, k, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void part_free(struct dtp_attn_part *p)
{
	for (int k = 0; k < N_PRIM; k++) {
		if (p->prim[k])
			dnnl_primitive_destroy(p->prim[k]);
		if (p->a[k])
			dnnl_memory_destroy(p->a[k]);
		if (p->b[k])
			dnnl_memory_destroy(p->b[k]);
		if (p->c[k])
			dnnl_memory_destroy(p->c[k]);
		if (p->sp[k])
			dnnl_memory_destroy(p->sp[k]);
	}
	if (p->stream)
		dnnl_stream_destroy(p->stream);
	free(p->q16);   /* and k16, v16 in it */
	free(p->g16);
	free(p->p16);
	free(p->q32);   /* and k32, v32 in it */
	free(p->g32);
	free(p->d32);
	free(p->o32);
	free(p->sp_buf);
}

void dtp_bf16_attn_destroy(struct dtp_bf16_attn *a)
{
	if (!a)
		return;
	for (int w = 0; a->part && w < a->nw; w++)
		part_free(&a->part[w]);
	free(a->part);
	if (a->eng)
		dnnl_engine_destroy(a->eng);
	free(a);
}

int dtp_bf16_attn_create(struct dtp_pool *pool, int nw, int T, int C, int H, int dry, int f32,
			 struct dtp_bf16_attn **out, struct dtp_err *err)
{
	struct dtp_bf16_attn *a;
	dnnl_status_t st;
	int rc;

	if (T < 1 || H < 1 || C % H)
		return dtp_errf_input(err, -EINVAL, "bf16 attention: width %d over %d heads, %d "
				      "positions: the heads must divide the width", C, H, T);
	a = calloc(1, sizeof(*a));
	if (!a)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory creating the bf16 attention");
	*a = (struct dtp_bf16_attn){ .pool = pool, .nw = nw < 1 ? 1 : nw, .T = T, .C = C,
				     .H = H, .hs = C / H, .dry = dry, .f32 = f32,
				     .scale = 1.0f / sqrtf((float)(C / H)) };
	a->part = calloc((size_t)a->nw, sizeof(*a->part));
	if (!a->part) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory creating the bf16 attention");
		goto out_destroy;
	}
	st = dnnl_engine_create(&a->eng, dnnl_cpu, 0);
	if (st != dnnl_success) {
		rc = fail(err, st, "creating the CPU engine");
		goto out_destroy;
	}
	for (int w = 0; w < a->nw; w++) {
		rc = part_init(a, &a->part[w], err);
		if (rc < 0)
			goto out_destroy;
	}
	*out = a;
	return 0;

out_destroy:
	dtp_bf16_attn_destroy(a);
	return rc;
}

int dtp_bf16_attn_fits(const struct dtp_bf16_attn *a, int T, int C, int H)
{
	return a && a->T == T && a->C == C && a->H == H;
}
#endif
