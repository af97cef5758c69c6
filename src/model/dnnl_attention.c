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
 * same bits. Every primitive is created here, at set-up. */
#include "config.h"
#include "model/dnnl_attention.h"
#include "model/bf16.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/pool.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DTP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

enum { P_NT, P_NN, P_TN, N_PRIM };

struct apart {                  /* one participant */
	dnnl_stream_t stream;
	dnnl_primitive_t prim[N_PRIM];
	dnnl_memory_t a[N_PRIM], b[N_PRIM], c[N_PRIM], sp[N_PRIM];
	uint16_t *q16, *k16, *v16, *g16; /* (H,T,hs) each */
	uint16_t *p16;                  /* (H,T,T) */
	float *d32;                     /* (H,T,T) */
	float *o32;                     /* (H,T,hs) */
	void *sp_buf;
	size_t sp_cap;
};

struct dtp_bf16_attn {
	dnnl_engine_t eng;
	struct dtp_pool *pool;
	int nw, T, C, H, hs, dry;
	float scale;
	struct apart *part;
};

/* one home for the per-participant buffer sizes (bytes) */
static size_t head_bytes(const struct dtp_bf16_attn *a, size_t es)
{
	return dtp_align_up((size_t)a->T * a->C * es, 64);
}

static size_t score_bytes(const struct dtp_bf16_attn *a, size_t es)
{
	return dtp_align_up((size_t)a->H * a->T * a->T * es, 64);
}

size_t dtp_bf16_attn_bytes(const struct dtp_bf16_attn *a)
{
	size_t b = 0;

	if (!a)
		return 0;
	for (int w = 0; w < a->nw; w++)
		b += 4 * head_bytes(a, 2) + score_bytes(a, 2) + score_bytes(a, 4) +
		     head_bytes(a, 4) + dtp_align_up(a->part[w].sp_cap, 64);
	return b;
}

static int fail(struct dtp_err *err, dnnl_status_t st, const char *what)
{
	return dtp_errf_runtime(err, st == dnnl_out_of_memory ? -ENOMEM : -ENOTSUP,
				"oneDNN: %s failed (status %d) for the bf16 attention: run with "
				"precision = fp32", what, (int)st);
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

static int make_prim(struct dtp_bf16_attn *a, struct apart *p, int k, struct dtp_err *err)
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
		st = dnnl_memory_desc_init_by_strides(&md[i], 3, d[i], i < 2 ? dnnl_bf16 : dnnl_f32,
						      s[i]);
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
		rc = dtp_errf_input(err, -ENOTSUP, "oneDNN has no bf16 matmul for %d heads of %d x %d "
				    "on this CPU (status %d): run with precision = fp32", a->H, a->T,
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

static int part_init(struct dtp_bf16_attn *a, struct apart *p, struct dtp_err *err)
{
	dnnl_status_t st;
	int rc;

	if (!a->dry) {
		st = dnnl_stream_create(&p->stream, a->eng, dnnl_stream_default_flags);
		if (st != dnnl_success)
			return fail(err, st, "creating a stream");
		p->q16 = zalloc(head_bytes(a, 2));
		p->k16 = zalloc(head_bytes(a, 2));
		p->v16 = zalloc(head_bytes(a, 2));
		p->g16 = zalloc(head_bytes(a, 2));
		p->p16 = zalloc(score_bytes(a, 2));
		p->d32 = zalloc(score_bytes(a, 4));
		p->o32 = zalloc(head_bytes(a, 4));
		if (!p->q16 || !p->k16 || !p->v16 || !p->g16 || !p->p16 || !p->d32 || !p->o32)
			return dtp_errf_runtime(err, -ENOMEM, "out of memory for the bf16 attention's "
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

static void part_free(struct apart *p)
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
	free(p->q16);
	free(p->k16);
	free(p->v16);
	free(p->g16);
	free(p->p16);
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

int dtp_bf16_attn_create(struct dtp_pool *pool, int nw, int T, int C, int H, int dry,
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
				     .H = H, .hs = C / H, .dry = dry,
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

/* ------------------------------------------------------------- execution */
static void exec(struct apart *p, int k, const uint16_t *x, const uint16_t *y, float *c)
{
	dnnl_exec_arg_t args[4] = {
		{ DNNL_ARG_SRC, p->a[k] }, { DNNL_ARG_WEIGHTS, p->b[k] }, { DNNL_ARG_DST, p->c[k] },
		{ DNNL_ARG_SCRATCHPAD, p->sp[k] },
	};
	dnnl_status_t st;

	omp_set_num_threads(1);
	st = dnnl_memory_set_data_handle(p->a[k], (void *)(uintptr_t)x);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->b[k], (void *)(uintptr_t)y);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(p->c[k], c);
	if (st == dnnl_success && p->sp[k])
		st = dnnl_memory_set_data_handle(p->sp[k], p->sp_buf);
	if (st == dnnl_success)
		st = dnnl_primitive_execute(p->prim[k], p->stream, p->sp[k] ? 4 : 3, args);
	if (st == dnnl_success)
		st = dnnl_stream_wait(p->stream);
	if (st != dnnl_success) {
		/* every shape and buffer was fixed at set-up: a broken invariant */
		fprintf(stderr, "dtpipe: oneDNN bf16 attention matmul failed (status %d)\n", (int)st);
		abort();
	}
}

/* src (T, ld) fp32, head h at columns off + h*hs -> dst (H,T,hs) bf16 */
static void gather(const struct dtp_bf16_attn *a, uint16_t *dst, const float *src, int ld,
		   int off)
{
	size_t hs = (size_t)a->hs, T = (size_t)a->T;

	for (int h = 0; h < a->H; h++)
		dtp_bf16_from_f32_2d(dst + h * T * hs, hs, src + off + h * hs, (size_t)ld, T, hs);
}

/* a sequence's qkv rows (T, 3C) -> its q, k and v, each (H,T,hs) bf16 */
static void gather_qkv(const struct dtp_bf16_attn *a, uint16_t *q16, uint16_t *k16,
		       uint16_t *v16, const float *qkv)
{
	int ld = 3 * a->C;

	gather(a, q16, qkv, ld, 0);
	gather(a, k16, qkv, ld, a->C);
	gather(a, v16, qkv, ld, 2 * a->C);
}

/* o32 (H,T,hs) -> dst (T, ld), head h at columns off + h*hs, and its bf16
 * into dst16 (T, ld) the same way (NULL: not) */
static void scatter(const struct dtp_bf16_attn *a, float *dst, uint16_t *dst16, int ld, int off,
		    const float *o32)
{
	size_t hs = (size_t)a->hs, T = (size_t)a->T, c;

	for (int h = 0; h < a->H; h++) {
		c = off + h * hs;
		dtp_f32_copy_2d(dst + c, (size_t)ld, dst16 ? dst16 + c : NULL, (size_t)ld,
				o32 + h * T * hs, hs, T, hs);
	}
}

/* o32 (H,T,hs) -> dst16 (T, ld) bf16, head h at columns h*hs */
static void scatter16(const struct dtp_bf16_attn *a, uint16_t *dst16, int ld, const float *o32)
{
	size_t hs = (size_t)a->hs, T = (size_t)a->T;

	for (int h = 0; h < a->H; h++)
		dtp_bf16_from_f32_2d(dst16 + h * hs, (size_t)ld, o32 + h * T * hs, hs, T, hs);
}

/* o32 (H,T,hs) of sequence b -> dst16 (T, ld) bf16, head h at columns
 * off + h*hs, and its column sums as block partials of those columns
 * (dtp_colsum_part_rows: T is whole blocks, so a sequence owns its blocks):
 * in place of scatter() when the fp32 gradient was wanted for its sums */
static void scatter_sums(const struct dtp_bf16_attn *a, uint16_t *dst16, float *part,
			 size_t ldp, int ld, int off, size_t b, const float *o32)
{
	size_t hs = (size_t)a->hs, T = (size_t)a->T, c;
	int r0 = (int)(b * T);

	for (int h = 0; h < a->H; h++) {
		c = off + h * hs;
		dtp_colsum_part_rows(part + c, ldp, o32 + h * T * hs, hs, r0, r0 + (int)T,
				     (int)hs);
		dtp_bf16_from_f32_2d(dst16 + c, (size_t)ld, o32 + h * T * hs, hs, T, hs);
	}
}

struct attn_job {
	struct dtp_bf16_attn *a;
	float *out, *att, *part;      /* part: scatter_sums' partials, or NULL */
	size_t ldp;
	uint16_t *out16, *qkv16, *dqkv16;
	const float *dy, *qkv, *att_in;
	const uint16_t *qkv16_in;
	int B;
};

static void fwd_share(void *v, int w, int nw)
{
	const struct attn_job *j = v;
	struct dtp_bf16_attn *a = j->a;
	struct apart *p = &a->part[w];
	size_t lo, hi, TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;

	dtp_pool_share((size_t)j->B, 1, w, nw, &lo, &hi);
	for (size_t b = lo; b < hi; b++) {
		const float *qkv = j->qkv ? j->qkv + b * a->T * ld : NULL;
		float *att = j->att + b * a->H * TT;
		/* the sequence's q, k, v: kept for the backward, or the participant's */
		uint16_t *q16 = j->qkv16 ? j->qkv16 + b * 3 * TC : p->q16;
		uint16_t *k16 = j->qkv16 ? q16 + TC : p->k16, *v16 = j->qkv16 ? q16 + 2 * TC : p->v16;

		if (j->qkv)     /* else qkv16 holds them (dtp_bf16_attn_keep_rows) */
			gather_qkv(a, q16, k16, v16, qkv);
		exec(p, P_NT, q16, k16, att);                   /* raw scores */
		for (int h = 0; h < a->H; h++)
			dtp_attention_softmax(att + h * TT, p->p16 + h * TT, a->T, a->scale);
		exec(p, P_NN, p->p16, v16, p->o32);             /* att v */
		scatter16(a, j->out16 + b * TC, a->C, p->o32);
	}
}

static void bwd_share(void *v, int w, int nw)
{
	const struct attn_job *j = v;
	struct dtp_bf16_attn *a = j->a;
	struct apart *p = &a->part[w];
	size_t lo, hi, TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;

	dtp_pool_share((size_t)j->B, 1, w, nw, &lo, &hi);
	for (size_t b = lo; b < hi; b++) {
		const float *att = j->att_in + b * a->H * TT;
		float *dqkv = j->out + b * a->T * ld;
		const uint16_t *q16 = p->q16, *k16 = p->k16, *v16 = p->v16;
		uint16_t *d16 = j->dqkv16 ? j->dqkv16 + b * a->T * ld : NULL;

		if (j->qkv16_in) {      /* the forward's copy */
			q16 = j->qkv16_in + b * 3 * TC;
			k16 = q16 + TC;
			v16 = q16 + 2 * TC;
		} else {
			gather_qkv(a, p->q16, p->k16, p->v16, j->qkv + b * a->T * ld);
		}
		gather(a, p->g16, j->dy + b * TC, a->C, 0);
		dtp_bf16_from_f32(p->p16, att, a->H * TT);
		exec(p, P_NT, p->g16, v16, p->d32);             /* datt = dy v^T */
		exec(p, P_TN, p->p16, p->g16, p->o32);          /* dv = att^T dy */
		if (j->part)
			scatter_sums(a, d16, j->part, j->ldp, (int)ld, 2 * a->C, b, p->o32);
		else
			scatter(a, dqkv, d16, (int)ld, 2 * a->C, p->o32);
		for (int h = 0; h < a->H; h++)
			dtp_attention_softmax_backward(p->d32 + h * TT, p->p16 + h * TT,
						       att + h * TT, a->T, a->scale);
		exec(p, P_NN, p->p16, k16, p->o32);             /* dq = dpre k */
		if (j->part)
			scatter_sums(a, d16, j->part, j->ldp, (int)ld, 0, b, p->o32);
		else
			scatter(a, dqkv, d16, (int)ld, 0, p->o32);
		exec(p, P_TN, p->p16, q16, p->o32);             /* dk = dpre^T q */
		if (j->part)
			scatter_sums(a, d16, j->part, j->ldp, (int)ld, a->C, b, p->o32);
		else
			scatter(a, dqkv, d16, (int)ld, a->C, p->o32);
	}
}

void dtp_bf16_attn_forward(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
			   const float *qkv, int B)
{
	dtp_bf16_attn_forward_keep(a, y16, att, NULL, qkv, B);
}

void dtp_bf16_attn_forward_keep(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
				uint16_t *qkv16, const float *qkv, int B)
{
	struct attn_job j = { .a = a, .out16 = y16, .att = att, .qkv16 = qkv16, .qkv = qkv,
			      .B = B };

	dtp_pool_run(a->pool, fwd_share, &j);
}

void dtp_bf16_attn_keep_rows(const struct dtp_bf16_attn *a, uint16_t *qkv16, const float *qkv,
			     int r0, int r1)
{
	size_t T = (size_t)a->T, C = (size_t)a->C, hs = (size_t)a->hs, ld = 3 * C;

	for (int r = r0; r < r1;) {     /* the rows of one sequence at a time */
		size_t b = (size_t)r / T, t = (size_t)r % T;
		size_t nr = T - t < (size_t)(r1 - r) ? T - t : (size_t)(r1 - r);
		const float *src = qkv + (size_t)(r - r0) * ld;
		uint16_t *seq = qkv16 + b * 3 * T * C + t * hs;

		for (size_t g = 0; g < 3 * (size_t)a->H; g++)  /* q heads, k heads, v heads */
			dtp_bf16_from_f32_2d(seq + g * T * hs, hs, src + g * hs, ld, nr, hs);
		r += (int)nr;
	}
}

void dtp_bf16_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			    const float *qkv, const float *att, int B)
{
	struct attn_job j = { .a = a, .out = dqkv, .dy = dy, .qkv = qkv, .att_in = att, .B = B };

	dtp_pool_run(a->pool, bwd_share, &j);
}

void dtp_bf16_attn_backward16(struct dtp_bf16_attn *a, float *dqkv, uint16_t *dqkv16,
			      const float *dy, const uint16_t *qkv16, const float *att, int B)
{
	struct attn_job j = { .a = a, .out = dqkv, .dqkv16 = dqkv16, .dy = dy, .qkv16_in = qkv16,
			      .att_in = att, .B = B };

	dtp_pool_run(a->pool, bwd_share, &j);
}

void dtp_bf16_attn_backward16_sums(struct dtp_bf16_attn *a, float *part, size_t ldp,
				   uint16_t *dqkv16, const float *dy, const uint16_t *qkv16,
				   const float *att, int B)
{
	struct attn_job j = { .a = a, .part = part, .ldp = ldp, .dqkv16 = dqkv16, .dy = dy,
			      .qkv16_in = qkv16, .att_in = att, .B = B };

	if (a->T % DTP_SUM_ROWS) {      /* a block would span two sequences */
		fprintf(stderr, "dtpipe: attention bias sums asked for T = %d\n", a->T);
		abort();
	}
	dtp_pool_run(a->pool, bwd_share, &j);
}

#else /* !DTP_HAVE_ONEDNN: never created (dtp_bf16_mm_create refuses first) */

int dtp_bf16_attn_create(struct dtp_pool *pool, int nw, int T, int C, int H, int dry,
			 struct dtp_bf16_attn **out, struct dtp_err *err)
{
	(void)pool; (void)nw; (void)T; (void)C; (void)H; (void)dry; (void)out;
	return dtp_precision_check(DTP_PRECISION_BF16, err);
}
void dtp_bf16_attn_destroy(struct dtp_bf16_attn *a) { (void)a; }
int dtp_bf16_attn_fits(const struct dtp_bf16_attn *a, int T, int C, int H)
{
	(void)a; (void)T; (void)C; (void)H;
	return 0;
}
size_t dtp_bf16_attn_bytes(const struct dtp_bf16_attn *a) { (void)a; return 0; }
void dtp_bf16_attn_forward(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
			   const float *qkv, int B) { (void)a; (void)y16; (void)att; (void)qkv; (void)B; }
void dtp_bf16_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			    const float *qkv, const float *att, int B)
{
	(void)a; (void)dqkv; (void)dy; (void)qkv; (void)att; (void)B;
}
void dtp_bf16_attn_forward_keep(struct dtp_bf16_attn *a, uint16_t *y16, float *att,
				uint16_t *qkv16, const float *qkv, int B)
{
	(void)a; (void)y16; (void)att; (void)qkv16; (void)qkv; (void)B;
}
void dtp_bf16_attn_keep_rows(const struct dtp_bf16_attn *a, uint16_t *qkv16, const float *qkv,
			     int r0, int r1)
{
	(void)a; (void)qkv16; (void)qkv; (void)r0; (void)r1;
}
void dtp_bf16_attn_backward16(struct dtp_bf16_attn *a, float *dqkv, uint16_t *dqkv16,
			      const float *dy, const uint16_t *qkv16, const float *att, int B)
{
	(void)a; (void)dqkv; (void)dqkv16; (void)dy; (void)qkv16; (void)att; (void)B;
}
void dtp_bf16_attn_backward16_sums(struct dtp_bf16_attn *a, float *part, size_t ldp,
				   uint16_t *dqkv16, const float *dy, const uint16_t *qkv16,
				   const float *att, int B)
{
	(void)a; (void)part; (void)ldp; (void)dqkv16; (void)dy; (void)qkv16; (void)att; (void)B;
}

#endif
