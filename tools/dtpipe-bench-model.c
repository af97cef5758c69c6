/* dtpipe-bench-model: training throughput of the 1-stage model (forward,
 * softmax cross-entropy, backward, optimizer step) beside OpenBLAS
 * cblas_sgemm measured in the same run on exactly the matmul shapes the step
 * makes (dtp_model_matmuls), and oneDNN's own matmul on the same shapes in
 * fp32 and in bf16 (bf16 operands, fp32 accumulation; the linear layers'
 * weight gradients at beta 0 there, as a bf16 step of one micro-batch
 * writes them, at beta 1 in fp32, as the fp32 step adds them onto its
 * zeroed gradients): the best reference of
 * a precision is the machine's limit for it (limit_gflops; ratio_limit =
 * model / limit). On n > 1 threads oneDNN is also timed on one thread, n
 * copies at once, one per thread, each shape started together
 * (concurrent_f32_gflops, concurrent_bf16_gflops: every core running
 * oneDNN's one-core matmul while the others do, a reference), and alone,
 * its rate times n (scaled_f32_gflops, scaled_bf16_gflops, ratio_scaled:
 * every core at the idle one-core rate, shown beside the limit but not
 * counted in it: no run of n cores is measured there, and all cores busy
 * share the caches, the memory and the clock). Threads: OPENBLAS_NUM_THREADS, read once through
 * src/model/par.c (dtp_blas_threads), the count the stage model takes for
 * its step; every reference runs on that many threads (OpenBLAS's, and
 * oneDNN's OpenMP team). The references are timed before the model exists:
 * a gpt model's worker pool holds OpenBLAS at one thread for its lifetime,
 * so a reference timed beside it would run on one thread whatever the step
 * ran on. --precision bf16 times the model in bf16; --fp32-matmul the fp32
 * model's matmul backend (openblas, onednn, or both: a line for each, beside
 * the same references; fp32_matmul= in the line).
 *
 * The optimizer's step is timed on its own too (optim_ms_mean), beside the
 * machine's limit for its memory traffic: as many steps again with
 * dtp_optim_stream in its place, the same arrays read and written in the
 * same cache state (right after a backward) with no arithmetic
 * (stream_ms_mean; ratio_optim_stream = stream / optim, 1 when the update
 * costs only its bytes). A step can not beat its matmuls at the limit's rate
 * plus its update at the memory's: ratio_limit_update = (limit time +
 * stream) / step, the step against that sum (the rest of its elementwise
 * work, memory-bound too, counted in neither). Without references these
 * steps are not run.
 *
 *   dtpipe-bench-model [--case mlp|gpt|gpt2s|all] [--steps N] [--gpt2s-steps N]
 *                      [--precision fp32|bf16] [--fp32-matmul openblas|onednn|both]
 *                      [--no-reference]
 *
 * One line per case, key=value, for scripts/bench-model.sh. */
#include "config.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/model.h"

/* OpenBLAS extensions (declared in its cblas.h, repeated here for clarity) */
extern int openblas_get_num_threads(void);
extern char *openblas_get_corename(void);

struct bench_case {
	const char *name, *spec;
	int B;
	enum dtp_optim_kind optim;
};

static const struct bench_case cases[] = {
	{ "mlp", "mlp:784-1024-1024-1024-10", 256, DTP_OPTIM_SGD },
	{ "gpt", "gpt:layers=4,dim=256,heads=4,seq=128,vocab=256", 16, DTP_OPTIM_ADAMW },
	{ "gpt2s", "gpt:layers=12,dim=768,heads=12,seq=128,vocab=50257", 8, DTP_OPTIM_ADAMW },
};

/* time the matmul list `reps` times; returns seconds per pass */
static double time_sgemm(const struct dtp_matmul *mm, int n, int reps)
{
	size_t amax = 0, bmax = 0, cmax = 0;
	float *A, *Bm, *C;
	double t0, best = 1e30;

	for (int i = 0; i < n; i++) {
		size_t ar = mm[i].trans_a ? (size_t)mm[i].k : (size_t)mm[i].m;
		size_t br = mm[i].trans_b ? (size_t)mm[i].n : (size_t)mm[i].k;

		amax = ar * mm[i].lda > amax ? ar * mm[i].lda : amax;
		bmax = br * mm[i].ldb > bmax ? br * mm[i].ldb : bmax;
		cmax = (size_t)mm[i].m * mm[i].ldc > cmax ? (size_t)mm[i].m * mm[i].ldc : cmax;
	}
	A = dtp_alloc_aligned(amax * sizeof(float), DTP_PAGE);
	Bm = dtp_alloc_aligned(bmax * sizeof(float), DTP_PAGE);
	C = dtp_alloc_aligned(cmax * sizeof(float), DTP_PAGE);
	if (!A || !Bm || !C) {
		fprintf(stderr, "dtpipe-bench-model: out of memory for the sgemm reference\n");
		exit(DTP_EXIT_FAIL);
	}
	for (size_t i = 0; i < amax; i++)
		A[i] = (float)((i * 7) % 13) * 0.01f;
	for (size_t i = 0; i < bmax; i++)
		Bm[i] = (float)((i * 5) % 11) * 0.01f;
	for (int r = 0; r <= reps; r++) {
		t0 = dtp_now();
		for (int i = 0; i < n; i++)
			for (long c = 0; c < mm[i].count; c++)
				cblas_sgemm(CblasRowMajor,
					    mm[i].trans_a ? CblasTrans : CblasNoTrans,
					    mm[i].trans_b ? CblasTrans : CblasNoTrans,
					    mm[i].m, mm[i].n, mm[i].k, 1.0f, A, mm[i].lda,
					    Bm, mm[i].ldb, mm[i].beta, C, mm[i].ldc);
		double t = dtp_now() - t0;

		if (r > 0 && t < best)   /* pass 0 warms up */
			best = t;
	}
	dtp_free(A);
	dtp_free(Bm);
	dtp_free(C);
	return best;
}

/* oneDNN's matmul on the list in precision p: seconds per pass (best of
 * reps per shape), or a negative errno */
static double time_dnnl(const struct dtp_matmul *mm, int n, enum dtp_precision p, int nthr,
			int reps)
{
	struct dtp_err err;
	double sum = 0;

	for (int i = 0; i < n; i++) {
		double t = dtp_dnnl_matmul_time(&mm[i], p, nthr, reps, NULL, 0, &err);

		if (t < 0) {
			fprintf(stderr, "dtpipe-bench-model: oneDNN %s reference: %s\n",
				dtp_precision_name(p), err.msg);
			return t;
		}
		sum += t;
	}
	return sum;
}

/* one of n threads of time_dnnl_concurrent */
struct conc_arg {
	const struct dtp_matmul *mm;
	int n, reps;
	enum dtp_precision p;
	pthread_barrier_t *start;
	double *t;              /* its best time of each shape (negative: failed) */
	struct dtp_err err;     /* why, when one failed */
};

static void *conc_main(void *v)
{
	struct conc_arg *a = v;

	for (int i = 0; i < a->n; i++) {
		pthread_barrier_wait(a->start);         /* every thread on shape i */
		a->t[i] = dtp_dnnl_matmul_time(&a->mm[i], a->p, 1, a->reps, NULL, 0, &a->err);
	}
	return NULL;
}

/* oneDNN's matmul on the list in precision p on one thread, nthr copies at
 * once: seconds per pass at their combined rate (each shape's slowest copy
 * over nthr), or a negative errno */
static double time_dnnl_concurrent(const struct dtp_matmul *mm, int n, enum dtp_precision p,
				   int nthr, int reps)
{
	struct conc_arg *a = calloc((size_t)nthr, sizeof(*a));
	pthread_t *th = calloc((size_t)nthr, sizeof(*th));
	double *t = calloc((size_t)nthr * (size_t)n, sizeof(*t));
	pthread_barrier_t start;
	double sum = 0;
	int started = 0, rc = 0;

	if (!a || !th || !t || pthread_barrier_init(&start, NULL, (unsigned)nthr)) {
		fprintf(stderr, "dtpipe-bench-model: out of memory for the concurrent reference\n");
		rc = -ENOMEM;
		goto out_free;
	}
	for (int k = 0; k < nthr; k++) {
		a[k] = (struct conc_arg){ .mm = mm, .n = n, .reps = reps, .p = p, .start = &start,
					  .t = t + (size_t)k * n };
		if (pthread_create(&th[k], NULL, conc_main, &a[k]))
			break;
		started++;
	}
	if (started < nthr) {
		/* a barrier of nthr would wait for ever: nothing to do but exit */
		fprintf(stderr, "dtpipe-bench-model: cannot start %d reference threads\n", nthr);
		exit(1);
	}
	for (int k = 0; k < nthr; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < n && rc == 0; i++) {
		double slow = 0;

		for (int k = 0; k < nthr; k++) {
			if (t[(size_t)k * n + i] < 0) {
				fprintf(stderr, "dtpipe-bench-model: oneDNN %s concurrent reference: %s\n",
					dtp_precision_name(p), a[k].err.msg);
				rc = (int)t[(size_t)k * n + i];
				break;
			}
			slow = t[(size_t)k * n + i] > slow ? t[(size_t)k * n + i] : slow;
		}
		sum += slow;
	}
out_free:
	free(t);
	free(th);
	free(a);
	return rc < 0 ? (double)rc : sum / nthr;
}

struct step_fig {
	double best, mean, loss0, loss;
	double optim, stream;   /* means: the optimizer's step, its memory reference */
	int nthr;
};

/* what run_steps measured: the steps' time (sum and best), the optimizer's
 * (sum), and the loss of the first (warm-up) and last step */
struct step_times {
	double sum, best, opt, loss0, loss;
};

/* steps training steps after one warm-up step (not timed); stream: the
 * optimizer's memory reference (dtp_optim_stream) in place of its step, so
 * the parameters do not change */
static void run_steps(struct dtp_stage_model *m, struct dtp_optim *o, void *in, void *out,
		      void *save, const int32_t *tg, int B, int N, int V, int steps, int stream,
		      struct step_times *t)
{
	volatile uint32_t zero = 0;     /* the stream's mask, read at run time */

	*t = (struct step_times){ .best = 1e30 };
	for (int s = 0; s <= steps; s++) {
		double t0 = dtp_now(), t1, t2;

		dtp_stage_zero_grads(m);
		dtp_stage_forward(m, in, out, save, B);
		t->loss = dtp_xent(out, tg, N, V, out, 1.0f / N, NULL) / N;
		dtp_stage_backward(m, in, save, out, NULL, B);
		t1 = dtp_now();
		if (stream)
			dtp_optim_stream(o, zero);
		else
			dtp_optim_step(o, s, 1.0f);
		t2 = dtp_now();
		if (s == 0) {
			t->loss0 = t->loss;
			continue;
		}
		t->sum += t2 - t0;
		t->opt += t2 - t1;
		t->best = t2 - t0 < t->best ? t2 - t0 : t->best;
	}
}

/* best and mean of `steps` timed training steps (after one warm-up step) of
 * the 1-stage model of spec, in precision prec with fp32 matmul backend fb;
 * refs: then as many steps again with the optimizer's memory reference in
 * place of its step (f->stream) */
static int time_steps(const struct bench_case *bc, const struct dtp_model_spec *spec, int steps,
		      enum dtp_precision prec, enum dtp_fp32_matmul fb, int refs,
		      struct step_fig *f, struct dtp_err *err)
{
	struct dtp_stage_model *m;
	struct dtp_optim_config oc;
	struct dtp_optim *o = NULL;
	struct dtp_rng r;
	int rc, n = dtp_model_num_units(spec), B = bc->B;

	rc = dtp_stage_model_create(spec, 0, n, B, 1234, &m, err);
	if (rc < 0)
		return rc;
	rc = dtp_stage_model_set_precision(m, prec, err);
	if (rc == 0)
		rc = dtp_stage_model_set_fp32_matmul(m, fb, err);
	if (rc < 0)
		goto out_destroy_model;
	dtp_optim_config_default(&oc, bc->optim);
	oc.lr = bc->optim == DTP_OPTIM_SGD ? 0.01f : 1e-4f;
	oc.weight_decay = bc->optim == DTP_OPTIM_ADAMW ? 0.1f : 0.0f;
	rc = dtp_optim_create(&oc, m, &o, err);
	if (rc < 0)
		goto out_destroy_model;

	int gpt = spec->kind == DTP_MODEL_GPT;
	int V = gpt ? spec->vocab : spec->widths[spec->n_widths - 1];
	int N = gpt ? B * spec->seq_len : B;
	size_t inb = dtp_stage_model_in_bytes(m, B);
	void *in = dtp_alloc_aligned(inb, DTP_PAGE);
	float *out = dtp_alloc_aligned(dtp_stage_model_out_bytes(m, B), DTP_PAGE);
	void *save = dtp_alloc_aligned(dtp_stage_model_save_bytes(m, B), DTP_PAGE);
	int32_t *tg = dtp_alloc_aligned((size_t)N * sizeof(int32_t), DTP_PAGE);

	if (!in || !out || !save || !tg) {
		rc = dtp_errf_runtime(err, -ENOMEM, "out of memory for the %s batch", bc->name);
		goto out_free;
	}
	dtp_rng_init(&r, 1, 1);
	if (gpt)
		for (size_t i = 0; i < inb / 4; i++)
			((int32_t *)in)[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);
	else
		for (size_t i = 0; i < inb / 4; i++)
			((float *)in)[i] = dtp_rng_uniform(&r);
	for (int i = 0; i < N; i++)
		tg[i] = (int32_t)dtp_rng_below(&r, (uint64_t)V);

	struct step_times st;

	run_steps(m, o, in, out, save, tg, B, N, V, steps, 0, &st);
	f->best = st.best;
	f->mean = st.sum / steps;
	f->optim = st.opt / steps;
	f->loss0 = st.loss0;
	f->loss = st.loss;
	if (refs) {
		run_steps(m, o, in, out, save, tg, B, N, V, steps, 1, &st);
		f->stream = st.opt / steps;
	}
	f->nthr = dtp_stage_model_threads(m);
	rc = 0;
out_free:
	dtp_free(tg);
	dtp_free(save);
	dtp_free(out);
	dtp_free(in);
	dtp_optim_destroy(o);
out_destroy_model:
	dtp_stage_model_destroy(m);
	return rc;
}

/* the shortest of three reference times (0 or less: none) */
static double fastest(double a, double b, double c)
{
	double t = 0.0, v[3] = { a, b, c };

	for (int i = 0; i < 3; i++)
		if (v[i] > 0 && (t == 0.0 || v[i] < t))
			t = v[i];
	return t;
}

/* flops in t seconds as GFLOP/s (0 without a time) */
static double gflops(double flops, double t)
{
	return t > 0 ? flops / t * 1e-9 : 0.0;
}

/* fbs: the fp32 matmul backends to time (both: one line each, beside the
 * same references) */
static int run_case(const struct bench_case *bc, int steps, enum dtp_precision prec,
		    const enum dtp_fp32_matmul *fbs, int nfb, int refs)
{
	struct dtp_model_spec spec;
	struct dtp_err err;
	int rc, n, B = bc->B;

	rc = dtp_model_spec_parse(bc->spec, &spec, &err);
	if (rc < 0)
		goto out_err;
	n = dtp_model_num_units(&spec);

	/* the references first, on the step's thread count (see the top) */
	int nthr = dtp_blas_threads();
	int nmm = dtp_model_matmuls(&spec, 0, n, B, 0, NULL, 0);
	struct dtp_matmul *mm = calloc((size_t)(nmm > 0 ? nmm : 1), sizeof(*mm));
	double flops = 0;

	if (nmm <= 0 || !mm) {
		free(mm);
		rc = dtp_errf_runtime(&err, -ENOMEM, "out of memory for the matmul list");
		goto out_err;
	}
	dtp_model_matmuls(&spec, 0, n, B, 0, mm, nmm);
	for (int i = 0; i < nmm; i++)
		flops += 2.0 * mm[i].m * (double)mm[i].n * mm[i].k * (double)mm[i].count;
	/* best of as many passes as timed steps (at least 3): the model figure is
	 * the best of `steps`, and on a shared machine a best-of-fewer reference
	 * is more often disturbed, which showed as model/sgemm ratios above 1 */
	int reps = steps < 3 ? 3 : steps;
	/* on n > 1 threads, also oneDNN on one thread, n copies at once: the
	 * way oneDNN's own matmul uses n cores best. An n-thread reference can
	 * fall below it (its OpenMP team forks and joins on every call and
	 * splits small shapes), and a model that splits its rows its own way
	 * then read above 1 against it. And one copy alone, its time divided
	 * by n: the idle one-core rate on every core (shown, not a limit). */
	int scale = refs && nthr > 1;
	double t_mm = refs ? time_sgemm(mm, nmm, reps) : 0.0;
	double t_f32 = refs ? time_dnnl(mm, nmm, DTP_PRECISION_FP32, nthr, reps) : 0.0;
	double t_f32_1 = scale ? time_dnnl(mm, nmm, DTP_PRECISION_FP32, 1, reps) / nthr : 0.0;
	double t_f32_c = scale ? time_dnnl_concurrent(mm, nmm, DTP_PRECISION_FP32, nthr, reps) :
				 0.0;
	/* the bf16 reference times what a bf16 step runs: one micro-batch, whose
	 * weight gradients it writes (beta 0, no sum post-op); the fp32 model
	 * adds onto its zeroed gradients (the list's beta 1) */
	for (int i = 0; i < nmm; i++)
		if (mm[i].wgrad)
			mm[i].beta = 0.0f;
	double t_b16 = refs ? time_dnnl(mm, nmm, DTP_PRECISION_BF16, nthr, reps) : 0.0;
	double t_b16_1 = scale ? time_dnnl(mm, nmm, DTP_PRECISION_BF16, 1, reps) / nthr : 0.0;
	double t_b16_c = scale ? time_dnnl_concurrent(mm, nmm, DTP_PRECISION_BF16, nthr, reps) :
				 0.0;

	free(mm);
	for (int b = 0; b < nfb; b++) {
		struct step_fig f = { 0 };

		rc = time_steps(bc, &spec, steps, prec, fbs[b], refs, &f, &err);
		if (rc < 0)
			goto out_err;
		if (f.nthr != nthr) {
			rc = dtp_errf_runtime(&err, -EINVAL, "the step ran on %d threads, the "
					      "references on %d: they must match", f.nthr, nthr);
			goto out_err;
		}
		int gpt = spec.kind == DTP_MODEL_GPT;
		double per_step = gpt ? (double)B * spec.seq_len : (double)B;
		/* the machine's limit for this precision: its best reference */
		double t_lim = prec == DTP_PRECISION_BF16 ? fastest(t_b16, t_b16_c, 0.0) :
			       fastest(t_mm, t_f32, t_f32_c);
		double t_idle = prec == DTP_PRECISION_BF16 ? t_b16_1 : t_f32_1;

		printf("case=%s precision=%s fp32_matmul=%s threads=%d core=%s B=%d steps=%d "
		       "step_ms_mean=%.2f step_ms_best=%.2f %s=%.0f model_gflops=%.1f "
		       "sgemm_gflops=%.1f ratio=%.3f onednn_f32_gflops=%.1f "
		       "onednn_bf16_gflops=%.1f concurrent_f32_gflops=%.1f "
		       "concurrent_bf16_gflops=%.1f scaled_f32_gflops=%.1f scaled_bf16_gflops=%.1f "
		       "limit_gflops=%.1f ratio_limit=%.3f ratio_scaled=%.3f loss_first=%.4f "
		       "loss_last=%.4f optim_ms_mean=%.3f stream_ms_mean=%.3f "
		       "ratio_optim_stream=%.3f ratio_limit_update=%.3f\n",
		       bc->name, dtp_precision_name(prec),
		       prec == DTP_PRECISION_FP32 ? dtp_fp32_matmul_name(fbs[b]) : "none", nthr,
		       dtp_blas_core(), B, steps, f.mean * 1e3, f.best * 1e3,
		       gpt ? "tokens_per_s" : "samples_per_s", per_step / f.best,
		       flops / f.best * 1e-9, gflops(flops, t_mm), t_mm / f.best,
		       gflops(flops, t_f32), gflops(flops, t_b16), gflops(flops, t_f32_c),
		       gflops(flops, t_b16_c), gflops(flops, t_f32_1), gflops(flops, t_b16_1),
		       gflops(flops, t_lim), t_lim > 0 ? t_lim / f.best : 0.0,
		       t_idle > 0 ? t_idle / f.best : 0.0, f.loss0, f.loss, f.optim * 1e3,
		       f.stream * 1e3, f.stream > 0 ? f.stream / f.optim : 0.0,
		       t_lim > 0 && f.stream > 0 ? (t_lim + f.stream) / f.best : 0.0);
		fflush(stdout);
	}
	rc = 0;
out_err:
	if (rc < 0)
		fprintf(stderr, "dtpipe-bench-model: %s: %s\n", bc->name, err.msg);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dtpipe-bench-model [--case mlp|gpt|gpt2s|all] [--steps N] "
		"[--gpt2s-steps N] [--precision fp32|bf16]\n"
		"       [--fp32-matmul openblas|onednn|both] [--no-reference]\n"
		"  times full training steps of the 1-stage model (in the given precision;\n"
		"  fp32 on the given matmul backend, both: one line each, openblas first)\n"
		"  beside OpenBLAS sgemm and oneDNN matmul (fp32, bf16) on the same shapes;\n"
		"  threads from OPENBLAS_NUM_THREADS\n");
}

int main(int argc, char **argv)
{
	const char *which = "all";
	int steps = 10, big_steps = 2;
	enum dtp_precision prec = DTP_PRECISION_FP32;
	enum dtp_fp32_matmul fbs[2] = { DTP_FP32_MATMUL_OPENBLAS, DTP_FP32_MATMUL_ONEDNN };
	int nfb = 1;
	struct dtp_err err;
	int refs = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--case") && i + 1 < argc)
			which = argv[++i];
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			steps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--gpt2s-steps") && i + 1 < argc)
			big_steps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-reference"))
			refs = 0;   /* the step alone, e.g. under perf */
		else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
			if (dtp_precision_parse(argv[++i], &prec, &err)) {
				fprintf(stderr, "dtpipe-bench-model: --precision: %s\n", err.msg);
				return DTP_EXIT_BADINPUT;
			}
		}
		else if (!strcmp(argv[i], "--fp32-matmul") && i + 1 < argc) {
			if (!strcmp(argv[++i], "both")) {
				nfb = 2;
			} else if (dtp_fp32_matmul_parse(argv[i], &fbs[0], &err) ||
				   dtp_fp32_matmul_check(fbs[0], &err)) {
				fprintf(stderr, "dtpipe-bench-model: --fp32-matmul: %s\n", err.msg);
				return DTP_EXIT_BADINPUT;
			} else {
				nfb = 1;
			}
		}
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return DTP_EXIT_BADINPUT;
		}
	}
	if (prec != DTP_PRECISION_FP32)         /* one bf16 line: no fp32 backend */
		nfb = 1;
	if (steps < 1 || big_steps < 1) {
		fprintf(stderr, "dtpipe-bench-model: --steps and --gpt2s-steps must be >= 1\n");
		return DTP_EXIT_BADINPUT;
	}
	int found = 0;
	char warn[256];

	fprintf(stderr, "dtpipe-bench-model: OpenBLAS %s kernel, %d threads\n", dtp_blas_core(),
		openblas_get_num_threads());
	if (dtp_blas_core_warning(warn, sizeof(warn)))
		fprintf(stderr, "dtpipe-bench-model: warning: %s\n", warn);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(which, "all") && strcmp(which, cases[i].name))
			continue;
		found = 1;
		if (run_case(&cases[i], strcmp(cases[i].name, "gpt2s") ? steps : big_steps, prec, fbs, nfb, refs) < 0)
			return DTP_EXIT_FAIL;
	}
	if (!found) {
		fprintf(stderr, "dtpipe-bench-model: unknown case \"%s\"\n", which);
		usage(stderr);
		return DTP_EXIT_BADINPUT;
	}
	return 0;
}
