/* Unit tests for the backward split into B (input gradient) and W (weight
 * gradient): for mlp and gpt stages (first, middle, last), serially and with
 * a worker pool, in fp32 (on OpenBLAS and, with oneDNN, on oneDNN) and
 * (with oneDNN) bf16, the B of every micro-batch
 * followed later by the W of every micro-batch in order gives bit for bit
 * the input gradients and accumulated parameter gradients of the whole
 * backward run per micro-batch; and the gradients are not zero. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cblas.h>

#include "model/stage.h"

#define NM 3   /* micro-batches */

/* the stage's arithmetic: fp32 on OpenBLAS, fp32 on oneDNN, bf16 */
enum mode { FP32, FP32_DNN, BF16 };

struct mb {
	void *in, *save, *wsave;
	float *dout, *din;
};

/* OpenBLAS's thread count is set to nw as a program sets it once, and left
 * to the model (a model with a pool holds OpenBLAS at one thread until it is
 * destroyed); the caller puts the old count back after the destroy. Setting
 * it back here, under a live pool, ran the pool's sgemms on OpenBLAS threads
 * too, and the Haswell kernel's sums depend on that count. */
static struct dtp_stage_model *make(const struct dtp_model_spec *s, int first, int last,
				    int B, int nw, enum mode p)
{
	struct dtp_stage_model *m;
	struct dtp_err err;

	openblas_set_num_threads(nw);
	assert_int_equal(dtp_stage_model_create_nw(s, first, last, B, 11, nw, &m, &err), 0);
	if (dtp_stage_model_set_precision(m, p == BF16 ? DTP_PRECISION_BF16 : DTP_PRECISION_FP32,
					  &err))
		fail_msg("set_precision: %s", err.msg);
	if (p == FP32_DNN && dtp_stage_model_set_fp32_matmul(m, DTP_FP32_MATMUL_ONEDNN, &err))
		fail_msg("set_fp32_matmul: %s", err.msg);
	return m;
}

/* NM micro-batches of input and output gradient, the same for every seed */
static void fill(const struct dtp_model_spec *s, struct dtp_stage_model *m, int first, int B,
		 struct mb *mb)
{
	size_t inb = dtp_stage_model_in_bytes(m, B), outb = dtp_stage_model_out_bytes(m, B);
	struct dtp_rng r;

	dtp_rng_init(&r, 5, 9);
	for (int k = 0; k < NM; k++) {
		mb[k].in = malloc(inb);
		mb[k].save = malloc(dtp_stage_model_save_bytes(m, B));
		mb[k].wsave = malloc(dtp_stage_model_wsave_bytes(m, B));
		mb[k].dout = malloc(outb);
		mb[k].din = calloc(1, inb);
		assert_true(mb[k].in && mb[k].save && mb[k].wsave && mb[k].dout && mb[k].din);
		for (size_t i = 0; i < inb / 4; i++)
			if (s->kind == DTP_MODEL_GPT && first == 0)
				((int32_t *)mb[k].in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)s->vocab);
			else
				((float *)mb[k].in)[i] = dtp_rng_normal(&r);
		for (size_t i = 0; i < outb / 4; i++)
			mb[k].dout[i] = 0.01f * dtp_rng_normal(&r);
	}
}

static void drop(struct mb *mb)
{
	for (int k = 0; k < NM; k++) {
		free(mb[k].in);
		free(mb[k].save);
		free(mb[k].wsave);
		free(mb[k].dout);
		free(mb[k].din);
	}
}

/* split = 0: forward then whole backward per micro-batch; 1: forwards, then
 * B of each, then W of each (every W after every B, as deferred as a
 * schedule can make it). Returns the gradients (malloc'd); din in mb. */
static float *run(const struct dtp_model_spec *s, int first, int last, int B, int nw,
		  enum mode p, int split, struct mb *mb, size_t *np)
{
	int nb = openblas_get_num_threads();
	struct dtp_stage_model *m = make(s, first, last, B, nw, p);
	int want_din = !(first == 0);
	float *out, *g;

	fill(s, m, first, B, mb);
	out = malloc(dtp_stage_model_out_bytes(m, B));
	assert_non_null(out);
	for (int k = 0; k < NM; k++) {
		assert_int_equal(dtp_stage_forward(m, mb[k].in, out, mb[k].save, B), 0);
		if (!split)
			assert_int_equal(dtp_stage_backward(m, mb[k].in, mb[k].save, mb[k].dout,
							    want_din ? mb[k].din : NULL, B), 0);
	}
	for (int k = 0; split && k < NM; k++) {
		/* the caller's output gradient is reused before W: scribble on it */
		assert_int_equal(dtp_stage_backward_input(m, mb[k].in, mb[k].save, mb[k].dout,
							  want_din ? mb[k].din : NULL,
							  mb[k].wsave, B), 0);
		memset(mb[k].dout, 0x7f, dtp_stage_model_out_bytes(m, B));
	}
	for (int k = 0; split && k < NM; k++)
		assert_int_equal(dtp_stage_backward_weight(m, mb[k].in, mb[k].save, mb[k].wsave, B),
				 0);
	*np = dtp_stage_model_num_params(m);
	g = malloc(*np * sizeof(float));
	assert_non_null(g);
	memcpy(g, dtp_stage_model_grads(m), *np * sizeof(float));
	free(out);
	dtp_stage_model_destroy(m);
	openblas_set_num_threads(nb);
	return g;
}

static void check(const char *text, int first, int last, int B, int nw, enum mode p)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct mb a[NM], b[NM];
	size_t na, nb, inb;
	float *ga, *gb;
	int nonzero = 0;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	ga = run(&s, first, last, B, nw, p, 0, a, &na);
	gb = run(&s, first, last, B, nw, p, 1, b, &nb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		if (ga[i] != gb[i]) {
			print_message("%s [%d,%d) nw %d: gradient %zu of %zu differs\n", text, first, last, nw, i, na);
			break;
		}
	assert_memory_equal(ga, gb, na * sizeof(float));
	for (size_t i = 0; i < na; i++)
		nonzero += ga[i] != 0.0f;
	assert_true(nonzero > (int)(na / 2));
	{
		int nthr = openblas_get_num_threads();
		struct dtp_stage_model *m = make(&s, first, last, B, 1, FP32);

		inb = dtp_stage_model_in_bytes(m, B);
		dtp_stage_model_destroy(m);
		openblas_set_num_threads(nthr);
	}
	for (int k = 0; k < NM && first > 0; k++)
		assert_memory_equal(a[k].din, b[k].din, inb);
	free(ga);
	free(gb);
	drop(a);
	drop(b);
}

static void test_split_fp32(void **state)
{
	(void)state;
	/* mlp: first stage (no input gradient), middle, last (no ReLU on the last) */
	check("mlp:12-16-10-7", 0, 2, 4, 1, FP32);
	check("mlp:12-16-10-7", 1, 3, 4, 1, FP32);
	check("mlp:12-16-10-7", 0, 3, 4, 1, FP32);
	/* gpt: embedding + block, blocks, block + head, the whole model */
	check("gpt:L=2,C=32,H=4,T=9,V=21", 0, 2, 3, 1, FP32);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 1, 3, 3, 1, FP32);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 2, 4, 3, 1, FP32);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 0, 4, 3, 1, FP32);
}

static void test_split_pool(void **state)
{
	(void)state;
	check("gpt:L=2,C=24,H=3,T=7,V=11", 1, 4, 3, 2, FP32);
	check("gpt:L=1,C=64,H=2,T=32,V=50", 0, 3, 2, 2, FP32);
	check("gpt:L=1,C=64,H=2,T=32,V=50", 0, 3, 2, 3, FP32);
	/* N = 200 rows: three whole blocks of the column sums and a part, the
	 * sequences (T = 40) across them; B adds the block's sums on the pool's
	 * shares, W by columns */
	check("gpt:L=1,C=64,H=2,T=40,V=50", 0, 3, 5, 2, FP32);
	check("gpt:L=1,C=64,H=2,T=40,V=50", 1, 2, 5, 3, FP32);
}

/* the engines' cases (bf16, fp32 on oneDNN): a gpt on a pool, and the
 * column sums over several blocks: T = 64 (the attention adds qkv's bias
 * sums as it makes dqkv, a sequence a block) on 1, 2 and 3 participants,
 * and T = 40 (W adds them: a block spans two sequences) */
static void check_sums(enum mode p)
{
	check("gpt:L=2,C=32,H=4,T=9,V=21", 1, 4, 3, 2, p);
	check("gpt:L=1,C=64,H=4,T=64,V=19", 0, 3, 3, 1, p);
	check("gpt:L=1,C=64,H=4,T=64,V=19", 0, 3, 3, 2, p);
	check("gpt:L=1,C=64,H=4,T=64,V=19", 1, 2, 3, 3, p);
	check("gpt:L=1,C=64,H=2,T=40,V=50", 0, 3, 5, 2, p);
}

static void test_split_bf16(void **state)
{
	struct dtp_err err;

	(void)state;
	if (dtp_precision_check(DTP_PRECISION_BF16, &err)) {
		skip();
		return;
	}
	check("mlp:12-16-10-7", 1, 3, 4, 1, BF16);
	/* the whole backward's one pass over dy (ReLU backward, column sums,
	 * bf16) in column strips over the pool, wider than its 256-column
	 * chunks, against the split backward's separate passes */
	check("mlp:40-600-300-7", 0, 3, 5, 1, BF16);
	check("mlp:40-600-300-7", 0, 3, 5, 2, BF16);
	check("mlp:40-600-300-7", 1, 3, 5, 3, BF16);
	check("gpt:L=2,C=32,H=4,T=9,V=21", 0, 4, 3, 1, BF16);
	check_sums(BF16);
}

static void test_split_fp32_onednn(void **state)
{
	struct dtp_err err;

	(void)state;
	if (dtp_fp32_matmul_check(DTP_FP32_MATMUL_ONEDNN, &err)) {      /* no oneDNN */
		skip();
		return;
	}
	check("mlp:40-600-300-7", 0, 3, 5, 2, FP32_DNN);
	check_sums(FP32_DNN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_fp32),
		cmocka_unit_test(test_split_pool),
		cmocka_unit_test(test_split_bf16),
		cmocka_unit_test(test_split_fp32_onednn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
