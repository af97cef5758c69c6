/* The attention's per-head matmuls in bf16 (src/model/dnnl_attention.c),
 * against the fp32 attention (attention.c) on the same inputs:
 *  - forward: the probabilities and the per-head outputs within bf16's
 *    error (operands rounded to bf16, u = 2^-9: ~1e-2 relative over a
 *    tensor), the probabilities still a causal softmax (rows sum to 1, zero
 *    above the diagonal);
 *  - backward: d(qkv) within the same kind of bound;
 *  - a pool of 2 gives the bits of the serial engine, and a batch of fewer
 *    sequences than planned gives the bits of those sequences in a full one.
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

static void run_free(struct run *r)
{
	dtp_bf16_mm_destroy(r->mx);
	dtp_pool_destroy(r->pool);
	free(r->att);
	free(r->y);
	free(r->y16);
	free(r->dqkv);
}

static void test_attention_bf16(void **state)
{
	size_t nq = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, na = (size_t)B * H * T * T;
	float *qkv = malloc(nq * sizeof(float)), *dy = malloc(ny * sizeof(float));
	float *att = malloc(na * sizeof(float)), *y = malloc(ny * sizeof(float));
	float *dqkv = malloc(nq * sizeof(float)), *scratch = malloc((size_t)T * T * sizeof(float));
	struct dtp_rng g;
	struct run s, p, part;

	(void)state;
	assert_true(qkv && dy && att && y && dqkv && scratch);
	dtp_rng_init(&g, 5, 5);
	for (size_t i = 0; i < nq; i++)
		qkv[i] = dtp_rng_normal(&g);
	for (size_t i = 0; i < ny; i++)
		dy[i] = dtp_rng_normal(&g);
	dtp_attention_forward(y, att, qkv, B, T, C, H);
	dtp_attention_backward(dqkv, scratch, dy, qkv, att, B, T, C, H);

	run_bf16(&s, 1, qkv, dy, B);
	double ea = rel(s.att, att, na), ey = rel(s.y, y, ny), ed = rel(s.dqkv, dqkv, nq);

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
	/* a pool of 2: the serial engine's bits */
	run_bf16(&p, 2, qkv, dy, B);
	assert_memory_equal(p.att, s.att, na * sizeof(float));
	assert_memory_equal(p.y16, s.y16, ny * sizeof(uint16_t));
	assert_memory_equal(p.dqkv, s.dqkv, nq * sizeof(float));
	/* fewer sequences than planned: those sequences' bits */
	run_bf16(&part, 1, qkv, dy, B - 1);
	assert_memory_equal(part.att, s.att, na / B * (B - 1) * sizeof(float));
	assert_memory_equal(part.y16, s.y16, ny / B * (B - 1) * sizeof(uint16_t));
	assert_memory_equal(part.dqkv, s.dqkv, nq / B * (B - 1) * sizeof(float));
	run_free(&s);
	run_free(&p);
	run_free(&part);
	free(qkv); free(dy); free(att); free(y); free(dqkv); free(scratch);
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
	};
	const struct CMUnitTest none[] = {
		cmocka_unit_test(test_skip),
	};

	if (dtp_precision_check(DTP_PRECISION_BF16, &err))
		return cmocka_run_group_tests(none, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
