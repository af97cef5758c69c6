/* Unit tests for the model core's worker pool: the shares cover every item
 * once, every participant runs every region, and a gpt or mlp stage trained
 * with a pool of 2 or 3 participants gives bit-identical outputs, input gradients and
 * parameter gradients, and parameters after optimizer steps, to the same
 * stage run serially. */
#include "config.h"

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
#include "model/pool.h"

static void test_pool_shares(void **state)
{
	(void)state;
	for (size_t n = 0; n < 300; n += 7)
		for (size_t align = 1; align <= 64; align *= 4)
			for (int nw = 1; nw <= 5; nw++) {
				size_t prev = 0, lo, hi;

				for (int w = 0; w < nw; w++) {
					dtp_pool_share(n, align, w, nw, &lo, &hi);
					assert_int_equal(lo, prev);
					assert_true(hi >= lo);
					assert_true(lo % align == 0 || lo == n);
					prev = hi;
				}
				assert_int_equal(prev, n);
			}
}

struct count_job {
	int hits[8];
	int nw_seen;
};

static void count_fn(void *v, int w, int nw)
{
	struct count_job *j = v;

	j->hits[w]++;          /* each participant writes only its own slot */
	if (w == 0)
		j->nw_seen = nw;
}

static void test_pool_runs_all(void **state)
{
	struct dtp_pool *p;
	struct count_job j;

	(void)state;
	assert_int_equal(dtp_pool_create(1, &p), -EINVAL);
	assert_int_equal(dtp_pool_size(NULL), 1);
	memset(&j, 0, sizeof(j));
	dtp_pool_run(NULL, count_fn, &j);
	assert_int_equal(j.hits[0], 1);
	assert_int_equal(j.nw_seen, 1);
	for (int n = 2; n <= 4; n++) {
		assert_int_equal(dtp_pool_create(n, &p), 0);
		assert_int_equal(dtp_pool_size(p), n);
		memset(&j, 0, sizeof(j));
		for (int r = 0; r < 500; r++)
			dtp_pool_run(p, count_fn, &j);
		for (int w = 0; w < n; w++)
			assert_int_equal(j.hits[w], 500);
		assert_int_equal(j.hits[n], 0);
		assert_int_equal(j.nw_seen, n);
		dtp_pool_destroy(p);
	}
}

/* the stage's output, input gradient and parameter gradients after two
 * micro-batches of forward + softmax cross-entropy (or a fixed output
 * gradient when the stage does not end in the head) + backward */
struct run_out {
	float *out, *din, *grads, *params;
	size_t outb, inb, np;
};

static void run_stage(const struct dtp_model_spec *s, int first, int last, int B, int nw,
		      enum dtp_optim_kind okind, struct run_out *o)
{
	struct dtp_stage_model *m;
	struct dtp_err err;
	struct dtp_rng r;
	int n = dtp_model_num_units(s), gpt = s->kind == DTP_MODEL_GPT;
	int V = gpt ? s->vocab : s->widths[s->n_widths - 1];
	/* the serial run is what a 1-thread run does: OpenBLAS on one thread too
	 * (a model with a pool puts OpenBLAS on one thread itself, par.c) */
	int nb = dtp_blas_threads();

	if (nw == 1)
		dtp_blas_set_threads(1);

	assert_int_equal(dtp_stage_model_create_nw(s, first, last, B, 5, nw, &m, &err), 0);
	assert_int_equal(dtp_pool_size(m->pool), nw);

	size_t inb = dtp_stage_model_in_bytes(m, B), outb = dtp_stage_model_out_bytes(m, B);
	size_t np = dtp_stage_model_num_params(m);
	int N = B * (gpt ? s->seq_len : 1);
	char *in = malloc(inb);
	float *out = malloc(outb), *din = malloc(inb), *grads = malloc(np * sizeof(float));
	float *params = malloc(np * sizeof(float));
	void *save = malloc(dtp_stage_model_save_bytes(m, B));
	int32_t *t = malloc((size_t)N * sizeof(int32_t));

	assert_true(in && out && din && grads && params && save && t);
	dtp_rng_init(&r, 3, 4);
	for (size_t i = 0; i < inb / 4; i++) {
		if (first == 0 && gpt)
			((int32_t *)in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);
		else
			((float *)in)[i] = dtp_rng_normal(&r);
	}
	for (int i = 0; i < N; i++)
		t[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);
	dtp_stage_zero_grads(m);
	for (int mb = 0; mb < 2; mb++) {
		assert_int_equal(dtp_stage_forward(m, in, out, save, B), 0);
		if (last == n) {
			dtp_xent(out, t, N, V, out, 1.0f / N, NULL);
		} else {
			for (size_t i = 0; i < outb / 4; i++)
				out[i] = 0.01f * (float)((int)(i % 13) - 6);
		}
		assert_int_equal(dtp_stage_backward(m, in, save, out, first ? din : NULL, B), 0);
		if (first || !gpt)
			((float *)in)[0] += 0.5f;
		else
			((int32_t *)in)[0] = (((int32_t *)in)[0] + 1) % V;
	}
	memcpy(grads, dtp_stage_model_grads(m), np * sizeof(float));
	/* two optimizer steps (AdamW or SGD, with the pool's shares of every
	 * parameter range), then the output of a forward with the new parameters */
	struct dtp_optim_config oc;
	struct dtp_optim *opt;

	dtp_optim_config_default(&oc, okind);
	assert_int_equal(dtp_optim_create(&oc, m, &opt, &err), 0);
	dtp_optim_step(opt, 0, 1.0f);
	dtp_optim_step(opt, 1, 0.5f);
	dtp_optim_destroy(opt);
	assert_int_equal(dtp_stage_forward(m, in, out, save, B), 0);
	memcpy(params, dtp_stage_model_params(m), np * sizeof(float));
	if (!first)
		memset(din, 0, inb);
	o->out = out;
	o->din = din;
	o->grads = grads;
	o->params = params;
	o->outb = outb;
	o->inb = inb;
	o->np = np;
	free(in);
	free(save);
	free(t);
	dtp_stage_model_destroy(m);
	dtp_blas_set_threads(nb);
}

static void check_same(const char *text, int first, int last, int B, int nw,
		       enum dtp_optim_kind okind)
{
	struct dtp_model_spec s;
	struct dtp_err err;
	struct run_out a, b;

	assert_int_equal(dtp_model_spec_parse(text, &s, &err), 0);
	run_stage(&s, first, last, B, 1, okind, &a);
	run_stage(&s, first, last, B, nw, okind, &b);
	assert_int_equal(a.outb, b.outb);
	assert_int_equal(a.np, b.np);
	assert_memory_equal(a.out, b.out, a.outb);
	assert_memory_equal(a.din, b.din, a.inb);
	assert_memory_equal(a.grads, b.grads, a.np * sizeof(float));
	assert_memory_equal(a.params, b.params, a.np * sizeof(float));
	/* and the gradients are not trivially zero */
	int nonzero = 0;

	for (size_t i = 0; i < a.np; i++)
		nonzero += a.grads[i] != 0.0f;
	assert_true(nonzero > (int)(a.np / 2));
	free(a.out); free(a.din); free(a.grads); free(a.params);
	free(b.out); free(b.din); free(b.grads); free(b.params);
}

/* Whether this OpenBLAS kernel gives an element of C the same sum whichever
 * row or column block of C a call covers. OpenBLAS's own threads split a
 * gemm the same way (over M and N, never K), so where this is false (the
 * Haswell sgemm kernel: its edge tiles sum in another order) OpenBLAS's 1-
 * and 2-thread results already differ, and a split over the pool cannot be
 * bit-identical to the serial call either. */
static int blas_split_invariant(void)
{
	int M = 300, N = 77, K = 129, same;
	float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * N * sizeof(float));
	float *C1 = calloc((size_t)M * N, sizeof(float)), *C2 = calloc((size_t)M * N, sizeof(float));
	struct dtp_rng r;

	assert_true(A && B && C1 && C2);
	dtp_rng_init(&r, 77, 1);
	for (size_t i = 0; i < (size_t)M * K; i++)
		A[i] = dtp_rng_normal(&r);
	for (size_t i = 0; i < (size_t)K * N; i++)
		B[i] = dtp_rng_normal(&r);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f,
		    C1, N);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 128, N, K, 1.0f, A, K, B, N,
		    0.0f, C2, N);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M - 128, N, K, 1.0f,
		    A + 128 * K, K, B, N, 0.0f, C2 + 128 * N, N);
	same = !memcmp(C1, C2, (size_t)M * N * sizeof(float));
	free(A); free(B); free(C1); free(C2);
	if (!same)
		print_message("OpenBLAS's %s sgemm kernel sums differently by tile position "
			      "(its own threads change results too): the split-sgemm "
			      "bit-identity checks are skipped\n", openblas_get_corename());
	return same;
}

static void test_pool_bit_identical(void **state)
{
	(void)state;
	/* B*H = 12 pairs: even split over 2, uneven over 5 */
	check_same("gpt:L=2,C=32,H=4,T=9,V=21", 0, 4, 3, 2, DTP_OPTIM_ADAMW);
	check_same("gpt:L=2,C=32,H=4,T=9,V=21", 0, 4, 3, 5, DTP_OPTIM_SGD);
	/* a middle stage (float input, input gradient), odd pair count */
	check_same("gpt:L=2,C=24,H=3,T=7,V=11", 1, 3, 3, 2, DTP_OPTIM_ADAMW);
	/* rows long enough for the vector paths; a stage ending in the head */
	check_same("gpt:L=1,C=64,H=2,T=32,V=50", 1, 3, 2, 2, DTP_OPTIM_SGD);
	check_same("gpt:L=1,C=64,H=2,T=32,V=50", 0, 3, 2, 3, DTP_OPTIM_ADAMW);
	/* big enough that the pool splits the sgemms (dtp_par_sgemm shares
	 * calls of >= 2^22 multiply-adds): N = 216 rows, uneven 64-row blocks,
	 * a vocabulary that is not a multiple of the kernels' tile */
	if (!blas_split_invariant())
		return;
	check_same("gpt:L=1,C=96,H=3,T=72,V=130", 0, 3, 3, 2, DTP_OPTIM_ADAMW);
	check_same("gpt:L=1,C=96,H=3,T=72,V=130", 1, 3, 3, 3, DTP_OPTIM_SGD);
	/* the mlp has a pool too: its sgemms (the first layers' split), ReLU,
	 * bias sums and optimizer shared; a whole model and a middle stage */
	check_same("mlp:700-1000-640-10", 0, 3, 70, 2, DTP_OPTIM_SGD);
	check_same("mlp:700-1000-640-10", 1, 3, 70, 3, DTP_OPTIM_ADAMW);
}

/* dtp_par_sgemm against one cblas_sgemm call on the same operands: every
 * transpose pair, beta 0 and 1, both split directions, shapes that leave a
 * partial 64-block and a partial kernel tile, alpha != 1, padded leading
 * dimensions: the same bits (the split is over M or N only) */
static void test_par_sgemm_bits(void **state)
{
	static const int shapes[][3] = {
		{ 300, 77, 193 }, { 77, 300, 193 }, { 513, 130, 96 }, { 130, 1027, 64 },
		{ 400, 400, 27 },
	};
	(void)state;
	if (!blas_split_invariant())
		skip();
	for (int nw = 2; nw <= 3; nw++) {
		struct dtp_pool *pool;

		assert_int_equal(dtp_pool_create(nw, &pool), 0);
		for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
			for (int tr = 0; tr < 4; tr++)
				for (int bi = 0; bi < 2; bi++) {
					int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
					int ta = tr & 1, tb = tr >> 1;
					int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
					size_t na = (size_t)(ta ? K : M) * lda;
					size_t nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
					float *A = malloc(na * sizeof(float));
					float *B = malloc(nb * sizeof(float));
					float *C1 = malloc(nc * sizeof(float));
					float *C2 = malloc(nc * sizeof(float));
					float beta = (float)bi;
					struct dtp_rng r;

					assert_true(A && B && C1 && C2);
					dtp_rng_init(&r, (uint64_t)si, (uint64_t)tr);
					for (size_t i = 0; i < na; i++)
						A[i] = dtp_rng_normal(&r);
					for (size_t i = 0; i < nb; i++)
						B[i] = dtp_rng_normal(&r);
					for (size_t i = 0; i < nc; i++)
						C1[i] = C2[i] = dtp_rng_normal(&r);
					cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
						    tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
						    lda, B, ldb, beta, C1, ldc);
					dtp_par_sgemm(pool, ta, tb, M, N, K, 1.0f, A, lda, B, ldb,
						      beta, C2, ldc);
					assert_memory_equal(C1, C2, nc * sizeof(float));
					free(A); free(B); free(C1); free(C2);
				}
		dtp_pool_destroy(pool);
	}
}

/* the layernorm backward's row and column passes shared over a pool give the
 * serial call's bits, with and without the residual gradient added */
static void test_par_layernorm_backward_bits(void **state)
{
	int N = 37, C = 83;
	size_t nc = (size_t)N * C;
	float *x = malloc(nc * sizeof(float)), *g = malloc(nc * sizeof(float));
	float *res = malloc(nc * sizeof(float)), *y = malloc(nc * sizeof(float));
	float *d1 = malloc(nc * sizeof(float)), *d2 = malloc(nc * sizeof(float));
	float mean[37], rstd[37], w[83], b[83], dw1[83], db1[83], dw2[83], db2[83];
	struct dtp_pool *pool;
	struct dtp_rng r;

	(void)state;
	assert_true(x && g && res && y && d1 && d2);
	dtp_rng_init(&r, 9, 9);
	for (size_t i = 0; i < nc; i++) {
		x[i] = dtp_rng_normal(&r) + 0.5f;
		g[i] = dtp_rng_normal(&r);
		res[i] = dtp_rng_normal(&r);
	}
	for (int i = 0; i < C; i++) {
		w[i] = 1.0f + 0.1f * dtp_rng_normal(&r);
		b[i] = 0.1f * dtp_rng_normal(&r);
	}
	dtp_layernorm_forward(y, mean, rstd, x, w, b, N, C);
	assert_int_equal(dtp_pool_create(3, &pool), 0);
	for (int with_res = 0; with_res < 2; with_res++) {
		for (int i = 0; i < C; i++)
			dw1[i] = dw2[i] = db1[i] = db2[i] = 0.25f;
		dtp_layernorm_backward(d1, with_res ? res : NULL, dw1, db1, g, x, mean, rstd, w,
				       N, C);
		dtp_par_layernorm_backward(pool, d2, with_res ? res : NULL, dw2, db2, g, x,
					   mean, rstd, w, N, C);
		assert_memory_equal(d1, d2, nc * sizeof(float));
		assert_memory_equal(dw1, dw2, sizeof(dw1));
		assert_memory_equal(db1, db2, sizeof(db1));
		assert_true(dw1[5] != 0.25f && d1[7] != 0.0f);
	}
	dtp_pool_destroy(pool);
	free(x); free(g); free(res); free(y); free(d1); free(d2);
}

/* an mlp shares its work over a pool too (its bits: test_pool_bit_identical) */
static void test_mlp_pool(void **state)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:8-6-4", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create_nw(&s, 0, 2, 4, 1, 2, &m, &err), 0);
	assert_int_equal(dtp_pool_size(m->pool), 2);
	dtp_stage_model_destroy(m);
}

/* OpenBLAS's threads have one owner: the program sets them; a model (gpt
 * or mlp) sizes its pool by them and holds OpenBLAS on one thread from
 * create to destroy (not around each pass) */
static void test_blas_threads_owner(void **state)
{
	struct dtp_model_spec g, l;
	struct dtp_stage_model *m, *m2;
	struct dtp_err err;
	int nb = dtp_blas_threads(), B = 2, T = 8, V = 16;
	float *out, *din;
	int32_t *tok;
	void *save;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("gpt:L=1,C=16,H=2,T=8,V=16", &g, &err), 0);
	assert_int_equal(dtp_model_spec_parse("mlp:8-6-4", &l, &err), 0);
	dtp_blas_set_threads(3);
	assert_int_equal(dtp_blas_threads(), 3);
	assert_int_equal(dtp_stage_model_create(&l, 0, 2, 4, 1, &m, &err), 0);
	assert_int_equal(dtp_pool_size(m->pool), 3);
	assert_int_equal(dtp_blas_threads(), 1);
	dtp_stage_model_destroy(m);
	assert_int_equal(dtp_blas_threads(), 3);
	assert_int_equal(dtp_stage_model_create(&g, 0, 3, B, 1, &m, &err), 0);
	assert_int_equal(dtp_pool_size(m->pool), 3);
	assert_int_equal(dtp_blas_threads(), 1);
	/* a forward and a backward leave it there */
	tok = calloc((size_t)B * T, sizeof(int32_t));
	out = calloc((size_t)B * T * V, sizeof(float));
	din = calloc(1, dtp_stage_model_in_bytes(m, B));
	save = calloc(1, dtp_stage_model_save_bytes(m, B));
	assert_true(tok && out && din && save);
	assert_int_equal(dtp_stage_forward(m, tok, out, save, B), 0);
	assert_int_equal(dtp_blas_threads(), 1);
	assert_int_equal(dtp_stage_backward(m, tok, save, out, NULL, B), 0);
	assert_int_equal(dtp_blas_threads(), 1);
	/* a second model made meanwhile sees one thread: no pool of its own */
	assert_int_equal(dtp_stage_model_create(&g, 1, 2, B, 1, &m2, &err), 0);
	assert_null(m2->pool);
	dtp_stage_model_destroy(m2);
	assert_int_equal(dtp_blas_threads(), 1);
	dtp_stage_model_destroy(m);
	assert_int_equal(dtp_blas_threads(), 3);
	free(save);
	free(din);
	free(out);
	free(tok);
	dtp_blas_set_threads(nb);
}

/* the scratch a memory prediction asks for (dtp_stage_model_scratch_bytes)
 * is what the model maps beside its parameters and gradients (its arena's
 * pages, which hold everything it uses), for any pool size the model picks
 * from OpenBLAS's thread count; and, given the two arrays (replicas sharing
 * them on a node), what it maps then */
static void test_scratch_bytes(void **state)
{
	static const struct { const char *spec; int first, last; } cases[] = {
		{ "gpt:L=2,C=32,H=2,T=16,V=64", 0, 4 }, { "gpt:L=2,C=32,H=2,T=16,V=64", 1, 3 },
		{ "gpt:L=2,C=32,H=2,T=16,V=64", 3, 4 }, { "gpt:L=2,C=32,H=2,T=16,V=64", 0, 1 },
		{ "mlp:12-24-40-4", 0, 3 }, { "mlp:12-24-40-4", 1, 2 }, { "mlp:12-24-40-4", 2, 3 },
		{ "mlp:1000-700-10", 0, 2 },   /* over a huge page: rounded to them */
	};
	int nb = dtp_blas_threads();

	(void)state;
	for (int threads = 1; threads <= 3; threads += 2) {
		dtp_blas_set_threads(threads);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct dtp_model_spec spec;
			struct dtp_stage_model *m;
			struct dtp_err err;
			size_t want;

			assert_int_equal(dtp_model_spec_parse(cases[i].spec, &spec, &err), 0);
			/* predicted before the model exists, as dtp_stage_mem_predict does */
			want = dtp_stage_model_scratch_bytes(&spec, cases[i].first, cases[i].last, 3, 0);
			assert_int_equal(dtp_stage_model_create(&spec, cases[i].first, cases[i].last, 3,
								1, &m, &err), 0);
			want += 2 * dtp_align_up(m->n_params, 16) * sizeof(float);
			assert_int_equal(m->arena.size, want);
			assert_true(m->arena.used <= want);
			assert_true(m->arena.used + (want >= DTP_HUGE_PAGE ? DTP_HUGE_PAGE : DTP_PAGE) > want);
			dtp_stage_model_destroy(m);

			size_t nf = dtp_stage_model_array_floats(&spec, cases[i].first, cases[i].last);
			float *pa = dtp_alloc_aligned(nf * sizeof(float), DTP_CACHELINE);
			float *ga = dtp_alloc_aligned(nf * sizeof(float), DTP_CACHELINE);

			assert_non_null(pa);
			assert_non_null(ga);
			want = dtp_stage_model_scratch_bytes(&spec, cases[i].first, cases[i].last, 3, 1);
			assert_int_equal(dtp_stage_model_create_in(&spec, cases[i].first, cases[i].last,
								   3, 1, pa, ga, &m, &err), 0);
			assert_int_equal(m->arena.size, want);
			assert_true(m->arena.used <= want);
			dtp_stage_model_destroy(m);
			dtp_free(pa);
			dtp_free(ga);
		}
	}
	dtp_blas_set_threads(nb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_shares),
		cmocka_unit_test(test_pool_runs_all),
		cmocka_unit_test(test_pool_bit_identical),
		cmocka_unit_test(test_par_sgemm_bits),
		cmocka_unit_test(test_par_layernorm_backward_bits),
		cmocka_unit_test(test_mlp_pool),
		cmocka_unit_test(test_blas_threads_owner),
		cmocka_unit_test(test_scratch_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
