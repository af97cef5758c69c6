/* Unit tests for the model core's worker pool: the shares cover every item
 * once, every participant runs every region, and a gpt stage trained with a
 * pool of 2 or 3 participants gives bit-identical outputs, input gradients and
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
	int n = dtp_model_num_units(s), V = s->vocab;

	assert_int_equal(dtp_stage_model_create_nw(s, first, last, B, 5, nw, &m, &err), 0);
	assert_int_equal(dtp_pool_size(m->pool), nw);

	size_t inb = dtp_stage_model_in_bytes(m, B), outb = dtp_stage_model_out_bytes(m, B);
	size_t np = dtp_stage_model_num_params(m);
	int N = B * s->seq_len;
	char *in = malloc(inb);
	float *out = malloc(outb), *din = malloc(inb), *grads = malloc(np * sizeof(float));
	float *params = malloc(np * sizeof(float));
	void *save = malloc(dtp_stage_model_save_bytes(m, B));
	int32_t *t = malloc((size_t)N * sizeof(int32_t));

	assert_true(in && out && din && grads && params && save && t);
	dtp_rng_init(&r, 3, 4);
	for (size_t i = 0; i < inb / 4; i++) {
		if (first == 0)
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
		if (first)
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
}

static void test_mlp_no_pool(void **state)
{
	struct dtp_model_spec s;
	struct dtp_stage_model *m;
	struct dtp_err err;

	(void)state;
	assert_int_equal(dtp_model_spec_parse("mlp:8-6-4", &s, &err), 0);
	assert_int_equal(dtp_stage_model_create_nw(&s, 0, 2, 4, 1, 2, &m, &err), 0);
	assert_null(m->pool);
	dtp_stage_model_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_shares),
		cmocka_unit_test(test_pool_runs_all),
		cmocka_unit_test(test_pool_bit_identical),
		cmocka_unit_test(test_mlp_no_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
