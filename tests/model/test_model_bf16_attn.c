/* The attention's per-head matmuls in bf16 (src/model/dnnl_attention.c),
 * against the fp32 attention (attention.c) on the same inputs:
 *  - forward: the probabilities and the per-head outputs within bf16's
 *    error (operands rounded to bf16, u = 2^-9: ~1e-2 relative over a
 *    tensor), the probabilities still a causal softmax (rows sum to 1, zero
 *    above the diagonal);
 *  - backward: d(qkv) within the same kind of bound;
 *  - a pool of 2 gives the bits of the serial engine, and a batch of fewer
 *    sequences than planned gives the bits of those sequences in a full one;
 *  - an fp32 engine's attention (fp32_matmul = onednn): the fp32
 *    attention's values in another summation order (relative 1e-5 over a
 *    tensor; a wrong stride, transpose or scale is off by O(1)), the same
 *    pool and batch bits as above.
 * Without oneDNN there is nothing to test (bf16 is refused at set-up,
 * test_model_bf16). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "model/model.h"
#include "model/kernels.h"
#include "model/bf16.h"
#include "model/pool.h"
#include "model/dnnl_matmul.h"
#include "model/dnnl_attention.h"

enum { B = 3, T = 24, C = 64, H = 2 };

/* |x - ref| / |ref| over n values */
static double rel(const float *x, const float *ref, size_t n)
{
	double e = 0.0, r = 0.0;

	for (size_t i = 0; i < n; i++) {
		e += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
		r += (double)ref[i] * ref[i];
	}
	return sqrt(e / r);
}

struct run {
	struct dtp_pool *pool;
	struct dtp_bf16_mm *mx;
	float *att, *y, *dqkv;
	uint16_t *y16;
};

static void run_bf16(struct run *r, int nw, const float *qkv, const float *dy, int nb)
{
	struct dtp_err err;
	float w = 0.0f;

	memset(r, 0, sizeof(*r));
	if (nw > 1)
		assert_int_equal(dtp_pool_create(nw, &r->pool), 0);
	assert_int_equal(dtp_bf16_mm_create(r->pool, nw, &w, 1, B * T, &r->mx, &err), 0);
	assert_int_equal(dtp_bf16_mm_prepare_attention(r->mx, T, C, H, &err), 0);
	/* one attention shape per stage */
	assert_int_equal(dtp_bf16_mm_prepare_attention(r->mx, T, C, H, &err), 0);
	assert_int_equal(dtp_bf16_mm_prepare_attention(r->mx, T, 2 * C, H, &err), -EINVAL);
	r->att = calloc((size_t)B * H * T * T, sizeof(float));
	r->y = calloc((size_t)B * T * C, sizeof(float));
	r->y16 = calloc((size_t)B * T * C, sizeof(uint16_t));
	r->dqkv = calloc((size_t)B * T * 3 * C, sizeof(float));
	assert_true(r->att && r->y && r->y16 && r->dqkv);
	dtp_bf16_attn_forward(dtp_bf16_mm_attention(r->mx), r->y16, r->att, qkv, nb);
	dtp_bf16_to_f32(r->y, r->y16, (size_t)nb * T * C);
	dtp_bf16_attn_backward(dtp_bf16_mm_attention(r->mx), r->dqkv, dy, qkv, r->att, nb);
}

static void run_f32(struct run *r, int nw, const float *qkv, const float *dy, int nb)
{
	struct dtp_err err;
	float w = 0.0f;

	memset(r, 0, sizeof(*r));
	if (nw > 1)
		assert_int_equal(dtp_pool_create(nw, &r->pool), 0);
	assert_int_equal(dtp_f32_mm_create(r->pool, nw, &w, 1, B * T, &r->mx, &err), 0);
	assert_int_equal(dtp_bf16_mm_prepare_attention(r->mx, T, C, H, &err), 0);
	assert_null(dtp_bf16_mm_attention(r->mx));     /* not a bf16 one */
	assert_non_null(dtp_f32_mm_attention(r->mx));
	r->att = calloc((size_t)B * H * T * T, sizeof(float));
	r->y = calloc((size_t)B * T * C, sizeof(float));
	r->dqkv = calloc((size_t)B * T * 3 * C, sizeof(float));
	assert_true(r->att && r->y && r->dqkv);
	dtp_f32_attn_forward(dtp_f32_mm_attention(r->mx), r->y, r->att, qkv, nb);
	dtp_f32_attn_backward(dtp_f32_mm_attention(r->mx), r->dqkv, dy, qkv, r->att, nb);
}

static void run_free(struct run *r)
{
	dtp_bf16_mm_destroy(r->mx);
	dtp_pool_destroy(r->pool);
	free(r->att);
	free(r->y);
	free(r->y16);
	free(r->dqkv);
}

/* random qkv and dy, and the fp32 attention's (OpenBLAS) outputs on them */
struct ref {
	float *qkv, *dy, *att, *y, *dqkv, *scratch;
};

enum { NQ = B * T * 3 * C, NY = B * T * C, NA = B * H * T * T };

static void ref_make(struct ref *f, uint64_t seed)
{
	struct dtp_rng g;

	f->qkv = malloc(NQ * sizeof(float));
	f->dy = malloc(NY * sizeof(float));
	f->att = malloc(NA * sizeof(float));
	f->y = malloc(NY * sizeof(float));
	f->dqkv = malloc(NQ * sizeof(float));
	f->scratch = malloc((size_t)T * T * sizeof(float));
	assert_true(f->qkv && f->dy && f->att && f->y && f->dqkv && f->scratch);
	dtp_rng_init(&g, seed, seed);
	for (size_t i = 0; i < NQ; i++)
		f->qkv[i] = dtp_rng_normal(&g);
	for (size_t i = 0; i < NY; i++)
		f->dy[i] = dtp_rng_normal(&g);
	dtp_attention_forward(f->y, f->att, f->qkv, B, T, C, H);
	dtp_attention_backward(f->dqkv, f->scratch, f->dy, f->qkv, f->att, B, T, C, H);
}

static void ref_free(struct ref *f)
{
	free(f->qkv); free(f->dy); free(f->att); free(f->y); free(f->dqkv); free(f->scratch);
}

/* x's first nb sequences hold s's bits (the output in bf16 for bf16) */
static void same_bits(const struct run *x, const struct run *s, int nb, int bf16)
{
	assert_memory_equal(x->att, s->att, (size_t)NA / B * nb * sizeof(float));
	if (bf16)
		assert_memory_equal(x->y16, s->y16, (size_t)NY / B * nb * sizeof(uint16_t));
	else
		assert_memory_equal(x->y, s->y, (size_t)NY / B * nb * sizeof(float));
	assert_memory_equal(x->dqkv, s->dqkv, (size_t)NQ / B * nb * sizeof(float));
}

static void test_attention_bf16(void **state)
{
	struct ref f;
	struct run s, p, part;

	(void)state;
	ref_make(&f, 5);
	run_bf16(&s, 1, f.qkv, f.dy, B);
	double ea = rel(s.att, f.att, NA), ey = rel(s.y, f.y, NY), ed = rel(s.dqkv, f.dqkv, NQ);

	print_message("bf16 attention vs fp32: probabilities %.4f, output %.4f, d(qkv) %.4f "
		      "relative\n", ea, ey, ed);
	assert_true(ea < 2e-2);
	assert_true(ey < 2e-2);
	assert_true(ed < 3e-2);
	for (int r = 0; r < B * H * T; r++) {
		const float *row = s.att + (size_t)r * T;
		double sum = 0.0;

		for (int j = 0; j < T; j++) {
			if (j > r % T)
				assert_true(row[j] == 0.0f);
			sum += row[j];
		}
		assert_true(fabs(sum - 1.0) < 1e-5);
	}
	/* a pool of 2: the serial engine's bits; fewer sequences: theirs */
	run_bf16(&p, 2, f.qkv, f.dy, B);
	same_bits(&p, &s, B, 1);
	run_bf16(&part, 1, f.qkv, f.dy, B - 1);
	same_bits(&part, &s, B - 1, 1);
	run_free(&s);
	run_free(&p);
	run_free(&part);
	ref_free(&f);
}

static void test_attention_f32(void **state)
{
	struct ref f;
	struct run s, p, part;

	(void)state;
	ref_make(&f, 6);
	run_f32(&s, 1, f.qkv, f.dy, B);
	double ea = rel(s.att, f.att, NA), ey = rel(s.y, f.y, NY), ed = rel(s.dqkv, f.dqkv, NQ);

	print_message("fp32 attention on oneDNN vs OpenBLAS: probabilities %.2e, output %.2e, "
		      "d(qkv) %.2e relative\n", ea, ey, ed);
	assert_true(ea < 1e-5);
	assert_true(ey < 1e-5);
	assert_true(ed < 1e-5);
	run_f32(&p, 2, f.qkv, f.dy, B);
	same_bits(&p, &s, B, 0);
	run_f32(&part, 1, f.qkv, f.dy, B - 1);
	same_bits(&part, &s, B - 1, 0);
	run_free(&s);
	run_free(&p);
	run_free(&part);
	ref_free(&f);
}

static void test_skip(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	struct dtp_err err;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attention_bf16),
		cmocka_unit_test(test_attention_f32),
	};
	const struct CMUnitTest none[] = {
		cmocka_unit_test(test_skip),
	};

	if (dtp_precision_check(DTP_PRECISION_BF16, &err))
		return cmocka_run_group_tests(none, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
