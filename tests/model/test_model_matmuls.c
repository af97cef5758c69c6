/* The hand-written sgemm list (dtp_model_matmuls, src/model/matmuls.c)
 * against the calls a stage model really makes: this test defines
 * cblas_sgemm itself, records each call's shape and passes it on to
 * OpenBLAS's (dlsym RTLD_NEXT), runs a forward and a backward of a stage
 * without a worker pool, and compares the recorded shapes and counts with
 * the list. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cblas.h>

#include "model/stage.h"

#define MAX_SHAPES 64

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
			 const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
			 const float, const float *, const blasint, const float *, const blasint,
			 const float, float *, const blasint);

/* what the interposed cblas_sgemm records (a test's own state) */
static struct {
	struct dtp_matmul shapes[MAX_SHAPES];
	int n, overflow, other_order;
} rec;

static int same_shape(const struct dtp_matmul *x, const struct dtp_matmul *e)
{
	return x->trans_a == e->trans_a && x->trans_b == e->trans_b && x->m == e->m &&
	       x->n == e->n && x->k == e->k && x->lda == e->lda && x->ldb == e->ldb &&
	       x->ldc == e->ldc && x->beta == e->beta;
}

/* add one call (count c) of shape e to list l of n entries (at most MAX_SHAPES);
 * the new number of entries, or -1 when full */
static int merge(struct dtp_matmul *l, int n, const struct dtp_matmul *e, long c)
{
	for (int i = 0; i < n; i++) {
		if (same_shape(&l[i], e)) {
			l[i].count += c;
			return n;
		}
	}
	if (n == MAX_SHAPES)
		return -1;
	l[n] = *e;
	l[n].count = c;
	return n + 1;
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
		 const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N, const blasint K,
		 const float alpha, const float *A, const blasint lda, const float *B,
		 const blasint ldb, const float beta, float *C, const blasint ldc)
{
	sgemm_fn real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
	struct dtp_matmul e = { .trans_a = ta == CblasTrans, .trans_b = tb == CblasTrans,
				.m = M, .n = N, .k = K, .lda = lda, .ldb = ldb, .ldc = ldc,
				.beta = beta };
	int n = merge(rec.shapes, rec.n, &e, 1);

	if (order != CblasRowMajor)
		rec.other_order = 1;
	if (n < 0)
		rec.overflow = 1;
	else
		rec.n = n;
	real(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* one forward (+ loss on the head) and one backward of units [first, last) on
 * B samples, with the input gradient when first > 0 (what the executor does) */
static void check_stage(const char *spec_s, int first, int last, int B)
{
	struct dtp_model_spec spec;
	struct dtp_stage_model *m;
	struct dtp_err err;
	struct dtp_matmul list[MAX_SHAPES], want[MAX_SHAPES];
	int nl, nw = 0, n;

	assert_int_equal(dtp_model_spec_parse(spec_s, &spec, &err), 0);
	n = dtp_model_num_units(&spec);
	assert_int_equal(dtp_stage_model_create_nw(&spec, first, last, B, 7, 1, &m, &err), 0);

	size_t inb = dtp_stage_model_in_bytes(m, B), outb = dtp_stage_model_out_bytes(m, B);
	char *in = calloc(1, inb);
	float *out = calloc(1, outb), *din = first > 0 ? calloc(1, inb) : NULL;
	void *save = calloc(1, dtp_stage_model_save_bytes(m, B) + 1);
	size_t rows = outb / sizeof(float) / (size_t)(last == n && spec.kind == DTP_MODEL_GPT ?
						       spec.vocab : 1);
	int32_t *tgt = calloc(rows, sizeof(int32_t));

	assert_true(in && out && save && tgt && (first == 0 || din));
	memset(&rec, 0, sizeof(rec));
	dtp_stage_zero_grads(m);
	assert_int_equal(dtp_stage_forward(m, in, out, save, B), 0);
	if (last == n && spec.kind == DTP_MODEL_GPT)
		dtp_xent(out, tgt, (int)rows, spec.vocab, out, 1.0f, NULL);
	assert_int_equal(dtp_stage_backward(m, in, save, out, din, B), 0);
	assert_false(rec.overflow);
	assert_false(rec.other_order);

	nl = dtp_model_matmuls(&spec, first, last, B, first > 0, list, MAX_SHAPES);
	assert_true(nl >= 0 && nl <= MAX_SHAPES);   /* 0: an embedding alone */
	nw = 0;
	for (int i = 0; i < nl; i++) {
		nw = merge(want, nw, &list[i], list[i].count);
		assert_true(nw > 0);
	}
	/* the same shapes, each as often */
	assert_int_equal(rec.n, nw);
	for (int i = 0; i < nw; i++) {
		int found = 0;

		for (int j = 0; j < rec.n; j++)
			if (same_shape(&rec.shapes[j], &want[i]) && rec.shapes[j].count == want[i].count)
				found = 1;
		if (!found)
			fail_msg("%s units [%d, %d): the list has %ld call(s) of %c%c m=%d n=%d k=%d "
				 "lda=%d ldb=%d ldc=%d beta=%g that the model does not make",
				 spec_s, first, last, want[i].count, want[i].trans_a ? 'T' : 'N',
				 want[i].trans_b ? 'T' : 'N', want[i].m, want[i].n, want[i].k,
				 want[i].lda, want[i].ldb, want[i].ldc, (double)want[i].beta);
	}
	free(tgt);
	free(save);
	free(din);
	free(out);
	free(in);
	dtp_stage_model_destroy(m);
}

static void test_gpt_list_matches_calls(void **state)
{
	const char *s = "gpt:L=2,C=32,H=2,T=16,V=64";

	(void)state;
	check_stage(s, 0, 4, 3);
	check_stage(s, 1, 3, 2);
	check_stage(s, 2, 4, 3);
	check_stage(s, 0, 1, 2);
}

static void test_mlp_list_matches_calls(void **state)
{
	const char *s = "mlp:12-24-40-4";

	(void)state;
	check_stage(s, 0, 3, 5);
	check_stage(s, 1, 3, 5);
	check_stage(s, 2, 3, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpt_list_matches_calls),
		cmocka_unit_test(test_mlp_list_matches_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
