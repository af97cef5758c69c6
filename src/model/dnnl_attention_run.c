/* The attention engine's calls (dnnl_attention.h): one sequence at a time
 * on the pool, its heads gathered (bf16: converted), the three primitives
 * run, the softmax and its backward between them (attention.c), the outputs
 * scattered back. The set-up, and why it is laid out so, is
 * dnnl_attention.c's. */
#include "config.h"
#include "model/dnnl_attention.h"

#ifdef DTP_HAVE_ONEDNN
#include "model/dnnl_attention_engine.h"
#include "model/bf16.h"
#include "model/kernels.h"
#include "model/pool.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void exec(struct dtp_attn_part *p, int k, const void *x, const void *y, float *c)
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
		fprintf(stderr, "dtpipe: oneDNN attention matmul failed (status %d)\n", (int)st);
		abort();
	}
}

/* n heads of a sequence's rows (T, ld), head h at columns h*hs of src, <->
 * their dense blocks (n,T,hs): to_heads 1, the gather; 0, the scatter */
static struct dtp_groups heads(const struct dtp_bf16_attn *a, size_t n, size_t ld, int to_heads)
{
	size_t T = (size_t)a->T, hs = (size_t)a->hs;
	struct dtp_groups g = { .n = n, .rows = T, .cols = hs };

	if (to_heads) {
		g.sld = ld, g.sg = hs, g.dld = hs, g.dg = T * hs;
	} else {
		g.sld = hs, g.sg = T * hs, g.dld = ld, g.dg = hs;
	}
	return g;
}

/* a sequence's qkv rows (T, 3C) fp32 -> its q, k, v (3H,T,hs) bf16, in one
 * block (q16: k16 and v16 follow it) */
static void gather_qkv(const struct dtp_bf16_attn *a, uint16_t *q16, const float *qkv)
{
	struct dtp_groups g = heads(a, 3 * (size_t)a->H, 3 * (size_t)a->C, 1);

	dtp_bf16_from_f32_groups(q16, qkv, &g);
}

/* o32 (H,T,hs) -> dst (T, ld), head h at columns off + h*hs, and its bf16
 * into dst16 (T, ld) the same way (NULL: not) */
static void scatter(const struct dtp_bf16_attn *a, float *dst, uint16_t *dst16, int ld, int off,
		    const float *o32)
{
	struct dtp_groups g = heads(a, (size_t)a->H, (size_t)ld, 0);

	dtp_f32_copy_groups(dst + off, dst16 ? dst16 + off : NULL, o32, &g);
}

/* o32 (H,T,hs) -> dst16 (T, ld) bf16, head h at columns off + h*hs */
static void scatter16(const struct dtp_bf16_attn *a, uint16_t *dst16, int ld, int off,
		      const float *o32)
{
	struct dtp_groups g = heads(a, (size_t)a->H, (size_t)ld, 0);

	dtp_bf16_from_f32_groups(dst16 + off, o32, &g);
}

/* o32 (H,T,hs) of sequence b, head h for columns off + h*hs of a (N, ld)
 * gradient: its column sums as block partials of those columns
 * (dtp_colsum_part_rows: T is whole blocks, so a sequence owns its blocks),
 * from o32 while it is in cache, in place of a pass over the gradient */
static void head_sums(const struct dtp_bf16_attn *a, float *part, size_t ldp, int off, size_t b,
		      const float *o32)
{
	size_t hs = (size_t)a->hs, T = (size_t)a->T;
	int r0 = (int)(b * T);

	for (int h = 0; h < a->H; h++)
		dtp_colsum_part_rows(part + off + h * hs, ldp, o32 + h * T * hs, hs, r0,
				     r0 + (int)T, (int)hs);
}

/* scatter16() and head_sums(): in place of scatter() when the fp32
 * gradient was wanted for its sums */
static void scatter_sums(const struct dtp_bf16_attn *a, uint16_t *dst16, float *part,
			 size_t ldp, int ld, int off, size_t b, const float *o32)
{
	head_sums(a, part, ldp, off, b, o32);
	scatter16(a, dst16, ld, off, o32);
}

struct attn_job {
	struct dtp_bf16_attn *a;
	float *out, *att, *part;      /* part: scatter_sums' partials, or NULL */
	size_t ldp;
	uint16_t *out16, *qkv16, *dqkv16;
	const float *dy, *qkv, *att_in;
	const uint16_t *qkv16_in;
	int B;
	/* one sequence b's work on participant p */
	void (*seq)(const struct attn_job *j, struct dtp_attn_part *p, size_t b);
};

/* participant w's share of the sequences, one at a time */
static void seq_share(void *v, int w, int nw)
{
	const struct attn_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->B, 1, w, nw, &lo, &hi);
	for (size_t b = lo; b < hi; b++)
		j->seq(j, &j->a->part[w], b);
}

static void fwd_seq(const struct attn_job *j, struct dtp_attn_part *p, size_t b)
{
	struct dtp_bf16_attn *a = j->a;
	size_t TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;
	const float *qkv = j->qkv ? j->qkv + b * a->T * ld : NULL;
	float *att = j->att + b * a->H * TT;
	/* the sequence's q, k, v: kept for the backward, or the participant's */
	uint16_t *q16 = j->qkv16 ? j->qkv16 + b * 3 * TC : p->q16;
	uint16_t *k16 = j->qkv16 ? q16 + TC : p->k16, *v16 = j->qkv16 ? q16 + 2 * TC : p->v16;

	if (j->qkv)     /* else qkv16 holds them (dtp_bf16_attn_keep_rows) */
		gather_qkv(a, q16, qkv);
	exec(p, P_NT, q16, k16, att);                   /* raw scores */
	for (int h = 0; h < a->H; h++)
		dtp_attention_softmax(att + h * TT, p->p16 + h * TT, a->T, a->scale);
	exec(p, P_NN, p->p16, v16, p->o32);             /* att v */
	scatter16(a, j->out16 + b * TC, a->C, 0, p->o32);
}

static void bwd_seq(const struct attn_job *j, struct dtp_attn_part *p, size_t b)
{
	struct dtp_bf16_attn *a = j->a;
	size_t TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;
	const float *att = j->att_in + b * a->H * TT;
	float *dqkv = j->out + b * a->T * ld;
	const uint16_t *q16 = p->q16, *k16 = p->k16, *v16 = p->v16;
	uint16_t *d16 = j->dqkv16 ? j->dqkv16 + b * a->T * ld : NULL;

	if (j->qkv16_in) {      /* the forward's copy */
		q16 = j->qkv16_in + b * 3 * TC;
		k16 = q16 + TC;
		v16 = q16 + 2 * TC;
	} else {
		gather_qkv(a, p->q16, j->qkv + b * a->T * ld);
	}
	struct dtp_groups gy = heads(a, (size_t)a->H, (size_t)a->C, 1);

	dtp_bf16_from_f32_groups(p->g16, j->dy + b * TC, &gy);
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

/* fp32: n heads of src (T, ld) -> dst (n,T,hs): q, k and v of a
 * sequence's qkv rows (n = 3H, the participant's q32 block), or its dy */
static void gather32(const struct dtp_bf16_attn *a, float *dst, const float *src, size_t n,
		     size_t ld)
{
	struct dtp_groups g = heads(a, n, ld, 1);

	dtp_f32_copy_groups(dst, NULL, src, &g);
}

/* fp32: sequence b's forward; the probabilities are the saved att, in place */
static void fwd32_seq(const struct attn_job *j, struct dtp_attn_part *p, size_t b)
{
	struct dtp_bf16_attn *a = j->a;
	size_t TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;
	const float *qkv = j->qkv + b * a->T * ld;
	float *att = j->att + b * a->H * TT;

	gather32(a, p->q32, qkv, 3 * (size_t)a->H, ld);
	exec(p, P_NT, p->q32, p->k32, att);             /* raw scores */
	for (int h = 0; h < a->H; h++)
		dtp_attention_softmax(att + h * TT, NULL, a->T, a->scale);
	exec(p, P_NN, att, p->v32, p->o32);             /* att v */
	scatter(a, j->out + b * TC, NULL, a->C, 0, p->o32);
}

/* fp32: o32 (H,T,hs) -> sequence b's columns off.. of dqkv, and their
 * column sums when the job wants them */
static void scatter32(const struct attn_job *j, float *dqkv, int off, size_t b, const float *o32)
{
	scatter(j->a, dqkv, NULL, 3 * j->a->C, off, o32);
	if (j->part)
		head_sums(j->a, j->part, j->ldp, off, b, o32);
}

/* fp32: sequence b's backward; the score gradient in d32, in place */
static void bwd32_seq(const struct attn_job *j, struct dtp_attn_part *p, size_t b)
{
	struct dtp_bf16_attn *a = j->a;
	size_t TT = (size_t)a->T * a->T, ld = 3 * (size_t)a->C, TC = (size_t)a->T * a->C;
	const float *qkv = j->qkv + b * a->T * ld, *att = j->att_in + b * a->H * TT;
	float *dqkv = j->out + b * a->T * ld;

	gather32(a, p->q32, qkv, 3 * (size_t)a->H, ld);
	gather32(a, p->g32, j->dy + b * TC, (size_t)a->H, (size_t)a->C);
	exec(p, P_NT, p->g32, p->v32, p->d32);          /* datt = dy v^T */
	exec(p, P_TN, att, p->g32, p->o32);             /* dv = att^T dy */
	scatter32(j, dqkv, 2 * a->C, b, p->o32);
	for (int h = 0; h < a->H; h++)
		dtp_attention_softmax_backward(p->d32 + h * TT, NULL, att + h * TT, a->T,
					       a->scale);
	exec(p, P_NN, p->d32, p->k32, p->o32);          /* dq = dpre k */
	scatter32(j, dqkv, 0, b, p->o32);
	exec(p, P_TN, p->d32, p->q32, p->o32);          /* dk = dpre^T q */
	scatter32(j, dqkv, a->C, b, p->o32);
}

void dtp_f32_attn_forward(struct dtp_bf16_attn *a, float *y, float *att, const float *qkv, int B)
{
	struct attn_job j = { .a = a, .out = y, .att = att, .qkv = qkv, .B = B,
			      .seq = fwd32_seq };

	dtp_pool_run(a->pool, seq_share, &j);
}

void dtp_f32_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			   const float *qkv, const float *att, int B)
{
	dtp_f32_attn_backward_sums(a, dqkv, NULL, 0, dy, qkv, att, B);
}

/* a block would span two sequences: a caller's broken invariant */
static void sums_fit(const struct dtp_bf16_attn *a)
{
	if (a->T % DTP_SUM_ROWS) {
		fprintf(stderr, "dtpipe: attention bias sums asked for T = %d\n", a->T);
		abort();
	}
}

void dtp_f32_attn_backward_sums(struct dtp_bf16_attn *a, float *dqkv, float *part, size_t ldp,
				const float *dy, const float *qkv, const float *att, int B)
{
	struct attn_job j = { .a = a, .out = dqkv, .part = part, .ldp = ldp, .dy = dy, .qkv = qkv,
			      .att_in = att, .B = B, .seq = bwd32_seq };

	if (part)
		sums_fit(a);
	dtp_pool_run(a->pool, seq_share, &j);
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
			      .B = B, .seq = fwd_seq };

	dtp_pool_run(a->pool, seq_share, &j);
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
		/* q heads, k heads, v heads */
		struct dtp_groups g = { .n = 3 * (size_t)a->H, .rows = nr, .cols = hs,
					.sld = ld, .sg = hs, .dld = hs, .dg = T * hs };

		dtp_bf16_from_f32_groups(seq, src, &g);
		r += (int)nr;
	}
}

void dtp_bf16_attn_backward(struct dtp_bf16_attn *a, float *dqkv, const float *dy,
			    const float *qkv, const float *att, int B)
{
	struct attn_job j = { .a = a, .out = dqkv, .dy = dy, .qkv = qkv, .att_in = att, .B = B,
			      .seq = bwd_seq };

	dtp_pool_run(a->pool, seq_share, &j);
}

void dtp_bf16_attn_backward16(struct dtp_bf16_attn *a, float *dqkv, uint16_t *dqkv16,
			      const float *dy, const uint16_t *qkv16, const float *att, int B)
{
	struct attn_job j = { .a = a, .out = dqkv, .dqkv16 = dqkv16, .dy = dy, .qkv16_in = qkv16,
			      .att_in = att, .B = B, .seq = bwd_seq };

	dtp_pool_run(a->pool, seq_share, &j);
}

void dtp_bf16_attn_backward16_sums(struct dtp_bf16_attn *a, float *part, size_t ldp,
				   uint16_t *dqkv16, const float *dy, const uint16_t *qkv16,
				   const float *att, int B)
{
	struct attn_job j = { .a = a, .part = part, .ldp = ldp, .dqkv16 = dqkv16, .dy = dy,
			      .qkv16_in = qkv16, .att_in = att, .B = B, .seq = bwd_seq };

	sums_fit(a);
	dtp_pool_run(a->pool, seq_share, &j);
}
#endif
