/* The model core's kernels shared over the worker pool (pool.h). Every share
 * is a set of whole independent items (rows of an sgemm's C or of a layer,
 * columns of a gradient reduction, runs of elements), and a reduction is
 * never split across participants, so a pool of any size gives the bits of
 * the serial call (NULL pool). tests/model/test_model_threads checks it.
 *
 * OpenBLAS's thread count is process-wide, and this file is the one place
 * that sets it. The program sets it once (dtp_blas_set_threads: dtpipe from
 * the stage's cores, --threads or OPENBLAS_NUM_THREADS); a stage model
 * reads it (dtp_blas_threads) for its pool's size, and a model with a pool
 * takes OpenBLAS to one thread for its lifetime (dtp_blas_solo_begin at
 * create, _end at destroy; their lifetimes nest) and splits each large sgemm
 * into one row (or column) block per participant here. With OpenBLAS's own
 * threads as well, three spinning or working threads shared two cores: the
 * pool's worker and OpenBLAS's worker (which spins in sched_yield for ~2^28
 * cycles after every call) took turns on one core in the pool's regions,
 * a good share of the 2-thread gpt step went to sched_yield and the step time
 * was bimodal (docs/benchmarks.md, "Model core"). OpenBLAS's split of
 * a gemm and this one are both over M and N only, never K, so each element's
 * sum is the same (checked on odd shapes in test_model_threads). Nothing
 * else in a step calls OpenBLAS, so holding it at one thread for the model's
 * lifetime runs the same calls as switching around each forward and
 * backward did. */
#include "config.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/pool.h"

#include <cblas.h>
#include <string.h>

void dtp_blas_set_threads(int n)
{
	if (n > 0)
		openblas_set_num_threads(n);
}

int dtp_blas_threads(void)
{
	return openblas_get_num_threads();
}

int dtp_blas_solo_begin(const struct dtp_pool *pool)
{
	int nb;

	if (!pool)
		return 0;
	nb = openblas_get_num_threads();
	if (nb > 1)
		openblas_set_num_threads(1);
	return nb;
}

void dtp_blas_solo_end(int nb)
{
	if (nb > 1)
		openblas_set_num_threads(nb);
}

/* ------------------------------------------------------------- sgemm */
struct sgemm_job {
	const float *a, *b;
	float *c;
	float alpha, beta;
	int ta, tb, m, n, k, lda, ldb, ldc;
	int split_n;
};

/* A (M,K) or A^T, B (K,N) or B^T, C (M,N): participant w's rows (or columns) of C */
static void sgemm_share(void *v, int w, int nw)
{
	const struct sgemm_job *j = v;
	const float *a = j->a, *b = j->b;
	float *c = j->c;
	int m = j->m, n = j->n;
	size_t lo, hi;

	if (j->split_n) {
		dtp_pool_share((size_t)j->n, 64, w, nw, &lo, &hi);
		b += j->tb ? lo * (size_t)j->ldb : lo;
		c += lo;
		n = (int)(hi - lo);
	} else {
		dtp_pool_share((size_t)j->m, 64, w, nw, &lo, &hi);
		a += j->ta ? lo : lo * (size_t)j->lda;
		c += lo * (size_t)j->ldc;
		m = (int)(hi - lo);
	}
	if (m <= 0 || n <= 0)
		return;
	cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
		    j->tb ? CblasTrans : CblasNoTrans, m, n, j->k, j->alpha, a, j->lda, b,
		    j->ldb, j->beta, c, j->ldc);
}

/* C (M,N) = alpha op(A) op(B) + beta C, row-major; op(A) (M,K), op(B) (K,N).
 * Split over the longer of M and N in 64-row (column) blocks; a call too
 * small to gain from sharing (fewer than 2^22 multiply-adds, or at most two
 * blocks) runs whole. */
void dtp_par_sgemm(struct dtp_pool *pool, int ta, int tb, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb, float beta, float *C,
		   int ldc)
{
	struct sgemm_job j = { .a = A, .b = B, .c = C, .alpha = alpha, .beta = beta, .ta = ta,
			       .tb = tb, .m = M, .n = N, .k = K, .lda = lda, .ldb = ldb,
			       .ldc = ldc, .split_n = N > M };
	int big = j.split_n ? N : M;

	if (!pool || big <= 128 || (double)M * N * K < (double)(1 << 22)) {
		sgemm_share(&j, 0, 1);
		return;
	}
	dtp_pool_run(pool, sgemm_share, &j);
}

/* ------------------------------------------------- elementwise and rows */
struct par_job {
	float *out, *mean, *rstd, *dw, *db, *x, *res_out;
	const float *in, *dout, *res, *w, *b, *mean_in, *rstd_in, *rb;
	size_t n;
	int N, C;
};

static void ln_fwd_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi, c = (size_t)j->C;

	dtp_pool_share((size_t)j->N, 1, w, nw, &lo, &hi);
	if (hi > lo)
		dtp_layernorm_forward_res(j->out + lo * c, j->mean + lo, j->rstd + lo,
					  j->in + lo * c, j->w, j->b,
					  j->res_out ? j->res_out + lo * c : NULL, j->rb,
					  (int)(hi - lo), j->C);
}

void dtp_par_layernorm_forward(struct dtp_pool *pool, float *out, float *mean, float *rstd,
			       const float *in, const float *w, const float *b, int N, int C)
{
	dtp_par_layernorm_forward_res(pool, out, mean, rstd, in, w, b, NULL, NULL, N, C);
}

void dtp_par_layernorm_forward_res(struct dtp_pool *pool, float *out, float *mean, float *rstd,
				   const float *in, const float *w, const float *b, float *res,
				   const float *rb, int N, int C)
{
	struct par_job j = { .out = out, .mean = mean, .rstd = rstd, .in = in, .w = w,
			     .b = b, .res_out = res, .rb = rb, .N = N, .C = C };

	dtp_pool_run(pool, ln_fwd_share, &j);
}

/* rows for din, then (after the region's barrier) columns for dw, db */
static void ln_bwd_rows_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->N, 1, w, nw, &lo, &hi);
	dtp_layernorm_backward_rows(j->out, j->res, j->dout, j->in, j->mean_in, j->rstd_in,
				    j->w, (int)lo, (int)hi, j->C);
}

static void ln_bwd_cols_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->C, 16, w, nw, &lo, &hi);
	dtp_layernorm_backward_cols(j->dw, j->db, j->dout, j->in, j->mean_in, j->rstd_in,
				    j->N, j->C, (int)lo, (int)hi);
}

void dtp_par_layernorm_backward(struct dtp_pool *pool, float *din, const float *dres,
				float *dw, float *db, const float *dout, const float *in,
				const float *mean, const float *rstd, const float *w, int N,
				int C)
{
	struct par_job j = { .out = din, .res = dres, .dw = dw, .db = db, .dout = dout,
			     .in = in, .mean_in = mean, .rstd_in = rstd, .w = w, .N = N,
			     .C = C };

	if (din)
		dtp_pool_run(pool, ln_bwd_rows_share, &j);
	if (dw)
		dtp_pool_run(pool, ln_bwd_cols_share, &j);
}

/* 64-float runs, so every share starts with the base pointer's alignment */
static void gelu_fwd_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_forward(j->out + lo, j->in + lo, hi - lo);
}

static void gelu_fwd_keep_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_forward_keep(j->out + lo, j->x + lo, j->x + lo, hi - lo);
}

static void gelu_bwd_kept_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_backward_kept(j->out + lo, j->dout + lo, j->in + lo, hi - lo);
}

static void gelu_bwd_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_gelu_backward(j->out + lo, j->dout + lo, j->in + lo, hi - lo);
}

static void relu_bwd_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	dtp_relu_backward(j->out + lo, j->dout + lo, j->in + lo, hi - lo);
}

void dtp_par_relu_backward(struct dtp_pool *pool, float *d, const float *dout,
			   const float *out, size_t n)
{
	struct par_job j = { .out = d, .dout = dout, .in = out, .n = n };

	dtp_pool_run(pool, relu_bwd_share, &j);
}

void dtp_par_gelu_forward(struct dtp_pool *pool, float *out, const float *in, size_t n)
{
	struct par_job j = { .out = out, .in = in, .n = n };

	dtp_pool_run(pool, gelu_fwd_share, &j);
}

void dtp_par_gelu_forward_keep(struct dtp_pool *pool, float *out, float *x, size_t n)
{
	struct par_job j = { .out = out, .x = x, .n = n };

	dtp_pool_run(pool, gelu_fwd_keep_share, &j);
}

void dtp_par_gelu_backward_kept(struct dtp_pool *pool, float *d, const float *dout,
				const float *gp, size_t n)
{
	struct par_job j = { .out = d, .dout = dout, .in = gp, .n = n };

	dtp_pool_run(pool, gelu_bwd_kept_share, &j);
}

void dtp_par_gelu_backward(struct dtp_pool *pool, float *d, const float *dout,
			   const float *in, size_t n)
{
	struct par_job j = { .out = d, .dout = dout, .in = in, .n = n };

	dtp_pool_run(pool, gelu_bwd_share, &j);
}

/* rows [lo, hi) of out (N,C) = x + b (x NULL: b) */
static void add_rows_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi, c = (size_t)j->C;

	dtp_pool_share((size_t)j->N, 1, w, nw, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		float *o = j->out + r * c;

		if (j->in) {
			const float *xr = j->in + r * c;

			for (size_t i = 0; i < c; i++)
				o[i] = xr[i] + j->b[i];
		} else {
			memcpy(o, j->b, c * sizeof(float));
		}
	}
}

void dtp_par_add_rows(struct dtp_pool *pool, float *out, const float *x, const float *b,
		      int N, int C)
{
	struct par_job j = { .out = out, .in = x, .b = b, .N = N, .C = C };

	dtp_pool_run(pool, add_rows_share, &j);
}

struct rows_job {
	dtp_rows_fn *fn;
	void *ctx;
	int N, chunk;
};

static void rows_share(void *v, int w, int nw)
{
	const struct rows_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->N, DTP_SUM_ROWS, w, nw, &lo, &hi);
	for (size_t r0 = lo; r0 < hi; r0 += (size_t)j->chunk) {
		size_t r1 = hi - r0 < (size_t)j->chunk ? hi : r0 + (size_t)j->chunk;

		j->fn(j->ctx, (int)r0, (int)r1);
	}
}

void dtp_par_rows(struct dtp_pool *pool, int N, int chunk, dtp_rows_fn *fn, void *ctx)
{
	struct rows_job j = { fn, ctx, N, chunk };

	dtp_pool_run(pool, rows_share, &j);
}

static void colsum_share(void *v, int w, int nw)
{
	const struct par_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->C, 16, w, nw, &lo, &hi);
	dtp_colsum_add_cols(j->db, j->dout, j->N, j->C, (int)lo, (int)hi);
}

void dtp_par_colsum_add(struct dtp_pool *pool, float *db, const float *d, int N, int OC)
{
	struct par_job j = { .db = db, .dout = d, .N = N, .C = OC };

	dtp_pool_run(pool, colsum_share, &j);
}

struct embed_job {
	float *dwte, *dwpe;
	const float *dout;
	const int32_t *tokens;
	int B, T, C;
};

static void embed_bwd_share(void *v, int w, int nw)
{
	const struct embed_job *j = v;
	size_t lo, hi;

	dtp_pool_share((size_t)j->C, 16, w, nw, &lo, &hi);
	dtp_embedding_backward_cols(j->dwte, j->dwpe, j->dout, j->tokens, j->B, j->T, j->C,
				    (int)lo, (int)hi);
}

void dtp_par_embedding_backward(struct dtp_pool *pool, float *dwte, float *dwpe,
				const float *dout, const int32_t *tokens, int B, int T, int C)
{
	struct embed_job j = { .dwte = dwte, .dwpe = dwpe, .dout = dout, .tokens = tokens,
			       .B = B, .T = T, .C = C };

	dtp_pool_run(pool, embed_bwd_share, &j);
}

struct each_job {
	float *p;
	size_t n;
	void (*fn)(float *p, size_t n);
};

static void each_share(void *v, int w, int nw)
{
	const struct each_job *j = v;
	size_t lo, hi;

	dtp_pool_share(j->n, 64, w, nw, &lo, &hi);
	j->fn(j->p + lo, hi - lo);
}

void dtp_par_each(struct dtp_pool *pool, float *p, size_t n, void (*fn)(float *p, size_t n))
{
	struct each_job j = { .p = p, .n = n, .fn = fn };

	dtp_pool_run(pool, each_share, &j);
}

static void zero_floats(float *p, size_t n)
{
	memset(p, 0, n * sizeof(float));
}

void dtp_par_zero(struct dtp_pool *pool, float *p, size_t n)
{
	dtp_par_each(pool, p, n, zero_floats);
}
