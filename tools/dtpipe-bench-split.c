/* dtpipe-bench-split: what splitting the backward into B (input gradient)
 * and W (weight gradient) costs one stage, in one process: M
 * micro-batches of forward and backward over units [A, B] of a model
 * (threads: OPENBLAS_NUM_THREADS, as the stage model takes them), timed
 * in three orders, the reference first:
 *   whole   F m, the whole backward m (B and W per unit, dtp_stage_backward);
 *   adjacent F m, B m, W m (B and W back to back);
 *   lagged  F m, B m, W m-1 (zb-h1's stage 1, W one micro-batch late).
 * The three orders run in turn, rotated each repetition so that none always
 * follows the same one, after one untimed pass of each, and each line gives the mean per micro-batch of
 * F + B + W over the repetitions and its excess over the whole backward.
 *
 *   dtpipe-bench-split [--spec SPEC] [--units A-B] [--beside A-B] [--order NAME]
 *                      [--micro-batch N] [--M N] [--reps N]
 *
 * --order NAME runs that order alone (its untimed pass and its reps), for a
 * cache simulator or a profiler to see one order's memory traffic: e.g.
 * valgrind --tool=cachegrind --cache-sim=yes (perf's hardware counters are
 * not there on every VM).
 *
 * Defaults: scripts/bench-pipeline.sh's gpt (L=4, C=256, T=128, V=256),
 * units 3-5 (its stage 1 at K = 2), micro-batch 2, M = 8, 10 repetitions.
 * Output: one key=value line per order.
 *
 * --beside A-B runs, in a second process on the other core, units A-B of
 * the same model (F and the whole backward per micro-batch, over and
 * over) for as long as the timed orders run, this process on core 0 and
 * that one on core 1: a pipeline stage's compute beside its neighbour's,
 * as a K = 2 run has them (on a machine whose two cores share their
 * caches and memory, an order that re-reads more from memory may cost
 * more there than alone). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "model/model.h"

enum { ORDER_WHOLE, ORDER_ADJACENT, ORDER_LAGGED, ORDER_N };

static const char *const order_names[ORDER_N] = { "whole", "adjacent", "lagged" };

struct bench {
	struct dtp_stage_model *m;
	int first, B, M;
	void **in, **save, *ws[2];
	float *out, *dout, *din;
};

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* F m, then its backward in `order` (W m-1 for lagged, after B m) */
static int run_one(struct bench *b, int order, int m)
{
	float *din = b->first ? b->din : NULL;
	int r = dtp_stage_forward(b->m, b->in[m], b->out, b->save[m], b->B);

	if (r == 0 && order == ORDER_WHOLE)
		return dtp_stage_backward(b->m, b->in[m], b->save[m], b->dout, din, b->B);
	if (r == 0)
		r = dtp_stage_backward_input(b->m, b->in[m], b->save[m], b->dout, din, b->ws[m & 1],
					     b->B);
	if (r == 0 && order == ORDER_ADJACENT)
		r = dtp_stage_backward_weight(b->m, b->in[m], b->save[m], b->ws[m & 1], b->B);
	if (r == 0 && order == ORDER_LAGGED && m > 0)
		r = dtp_stage_backward_weight(b->m, b->in[m - 1], b->save[m - 1], b->ws[(m - 1) & 1],
					      b->B);
	if (r == 0 && order == ORDER_LAGGED && m == b->M - 1)
		r = dtp_stage_backward_weight(b->m, b->in[m], b->save[m], b->ws[m & 1], b->B);
	return r;
}

/* the buffers of M micro-batches: inputs (tokens below the vocabulary on
 * the first unit, else small floats), save areas, two W stashes; each on
 * a cache line (and from 2 MiB up on huge pages) as a stage's arena carves
 * them: malloc's 16-byte offset left every matmul operand in a W stash
 * across cache lines, which the pipeline's never is */
static int alloc_all(struct bench *b, const struct dtp_model_spec *spec)
{
	size_t inb = dtp_stage_model_in_bytes(b->m, b->B), outb = dtp_stage_model_out_bytes(b->m, b->B);
	size_t sb = dtp_stage_model_save_bytes(b->m, b->B), wb = dtp_stage_model_wsave_bytes(b->m, b->B);

	b->in = calloc((size_t)b->M, sizeof(*b->in));
	b->save = calloc((size_t)b->M, sizeof(*b->save));
	b->out = dtp_alloc_aligned(outb, DTP_CACHELINE);
	b->dout = dtp_alloc_aligned(outb, DTP_CACHELINE);
	b->din = dtp_alloc_aligned(inb, DTP_CACHELINE);
	b->ws[0] = dtp_alloc_aligned(wb, DTP_CACHELINE);
	b->ws[1] = dtp_alloc_aligned(wb, DTP_CACHELINE);
	if (!b->in || !b->save || !b->out || !b->dout || !b->din || !b->ws[0] || !b->ws[1])
		return -ENOMEM;
	for (int k = 0; k < b->M; k++) {
		b->in[k] = dtp_alloc_aligned(inb, DTP_CACHELINE);
		b->save[k] = dtp_alloc_aligned(sb, DTP_CACHELINE);
		if (!b->in[k] || !b->save[k])
			return -ENOMEM;
		for (size_t i = 0; i < inb / 4; i++) {
			if (b->first == 0 && spec->kind == DTP_MODEL_GPT)
				((int32_t *)b->in[k])[i] = (int32_t)((i * 7 + (size_t)k) % (size_t)spec->vocab);
			else
				((float *)b->in[k])[i] = 0.01f * (float)((i * 7 + (size_t)k) % 13);
		}
	}
	for (size_t i = 0; i < outb / 4; i++)
		b->dout[i] = 0.001f * (float)(i % 17);
	return 0;
}

static void free_all(struct bench *b)
{
	for (int k = 0; b->in && k < b->M; k++)
		dtp_free(b->in[k]);
	for (int k = 0; b->save && k < b->M; k++)
		dtp_free(b->save[k]);
	free(b->in);
	free(b->save);
	dtp_free(b->out);
	dtp_free(b->dout);
	dtp_free(b->din);
	dtp_free(b->ws[0]);
	dtp_free(b->ws[1]);
}

/* this process onto core `core` (nothing where the machine has fewer) */
static void pin_to(int core)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) <= core)
		return;
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("dtpipe-bench-split: pinning to a core");
}

/* the neighbour (--beside): units [first, last] on core 1, F and the whole
 * backward per micro-batch until `quit` reads end-of-file (the parent's
 * end closed); never returns */
static void neighbour(const struct dtp_model_spec *spec, int first, int last, int B, int M,
		      int quit)
{
	struct bench n = { .first = first, .B = B, .M = M };
	struct dtp_err err = { 0 };
	char c;
	int r = 0;

	pin_to(1);
	if (dtp_stage_model_create(spec, first, last + 1, B, 12, &n.m, &err)) {
		fprintf(stderr, "dtpipe-bench-split: --beside: %s\n", err.msg);
		_exit(1);
	}
	if (alloc_all(&n, spec)) {
		fprintf(stderr, "dtpipe-bench-split: --beside: out of memory\n");
		_exit(1);
	}
	fcntl(quit, F_SETFL, O_NONBLOCK);
	for (int m = 0; r == 0; m = (m + 1) % M) {
		r = run_one(&n, ORDER_WHOLE, m);
		if (read(quit, &c, 1) == 0)
			break;
	}
	free_all(&n);
	dtp_stage_model_destroy(n.m);
	_exit(r ? 1 : 0);
}

int main(int argc, char **argv)
{
	const char *spec_text = "gpt:layers=4,dim=256,heads=4,seq=128,vocab=256";
	struct bench b = { .first = 3, .B = 2, .M = 8 };
	struct dtp_model_spec spec;
	struct dtp_err err = { 0 };
	double secs[ORDER_N] = { 0 };
	int last = 5, reps = 10, r = 0, bfirst = -1, blast = -1, quit[2] = { -1, -1 }, only = -1;
	pid_t child = -1;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(argv[i], "--spec") && i + 1 < argc)
			spec_text = v;
		else if (!strcmp(argv[i], "--units") && i + 1 < argc)
			r = sscanf(v, "%d-%d", &b.first, &last) == 2 ? 0 : -EINVAL;
		else if (!strcmp(argv[i], "--beside") && i + 1 < argc)
			r = sscanf(v, "%d-%d", &bfirst, &blast) == 2 ? 0 : -EINVAL;
		else if (!strcmp(argv[i], "--order") && i + 1 < argc) {
			r = -EINVAL;
			for (int k = 0; k < ORDER_N; k++)
				if (!strcmp(v, order_names[k]))
					only = k, r = 0;
		} else if (!strcmp(argv[i], "--micro-batch") && i + 1 < argc)
			r = parse_int(v, 1, 4096, &b.B);
		else if (!strcmp(argv[i], "--M") && i + 1 < argc)
			r = parse_int(v, 2, 1024, &b.M);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			r = parse_int(v, 1, 100000, &reps);
		else
			r = -EINVAL;
		if (r) {
			fprintf(stderr, "dtpipe-bench-split: bad argument %s %s\nusage: dtpipe-bench-split [--spec SPEC] [--units A-B] [--beside A-B] [--order whole|adjacent|lagged] [--micro-batch N] [--M N>=2] [--reps N]\n",
				argv[i], v);
			return 2;
		}
		i++;
	}
	if (dtp_model_spec_parse(spec_text, &spec, &err)) {
		fprintf(stderr, "dtpipe-bench-split: %s\n", err.msg);
		return 2;
	}
	if (b.first < 0 || last < b.first || last >= dtp_model_num_units(&spec)) {
		fprintf(stderr, "dtpipe-bench-split: --units %d-%d: the model has units 0-%d\n", b.first,
			last, dtp_model_num_units(&spec) - 1);
		return 2;
	}
	if (bfirst >= 0 && (blast < bfirst || blast >= dtp_model_num_units(&spec))) {
		fprintf(stderr, "dtpipe-bench-split: --beside %d-%d: the model has units 0-%d\n",
			bfirst, blast, dtp_model_num_units(&spec) - 1);
		return 2;
	}
	if (bfirst >= 0) {
		if (pipe(quit)) {
			perror("dtpipe-bench-split: pipe");
			return 1;
		}
		fflush(NULL);
		child = fork();
		if (child < 0) {
			perror("dtpipe-bench-split: fork");
			return 1;
		}
		if (child == 0) {
			close(quit[1]);
			neighbour(&spec, bfirst, blast, b.B, b.M, quit[0]);
		}
		close(quit[0]);
		pin_to(0);
	}
	if (dtp_stage_model_create(&spec, b.first, last + 1, b.B, 11, &b.m, &err)) {
		fprintf(stderr, "dtpipe-bench-split: %s\n", err.msg);
		return 1;
	}
	r = alloc_all(&b, &spec);
	if (r) {
		fprintf(stderr, "dtpipe-bench-split: out of memory for %d micro-batches\n", b.M);
		goto out_free;
	}
	/* one untimed pass of each order: the buffers' first touch */
	for (int k = 0; k < ORDER_N && r == 0; k++)
		for (int m = 0; m < b.M && r == 0 && (only < 0 || k == only); m++)
			r = run_one(&b, k, m);
	for (int rep = 0; rep < reps && r == 0; rep++) {
		for (int k = 0; k < ORDER_N && r == 0; k++) {
			int order = (k + rep) % ORDER_N;
			uint64_t t0 = dtp_now_ns();

			if (only >= 0 && order != only)
				continue;

			for (int m = 0; m < b.M && r == 0; m++)
				r = run_one(&b, order, m);
			secs[order] += (double)(dtp_now_ns() - t0) * 1e-9;
		}
	}
	if (r) {
		fprintf(stderr, "dtpipe-bench-split: the model refused micro-batch size %d (%d)\n", b.B, r);
		goto out_free;
	}
	for (int k = 0; k < ORDER_N; k++) {
		char beside[32] = "none", vs[32] = "-";   /* one order alone: nothing beside it */

		if (only >= 0 && k != only)
			continue;
		if (bfirst >= 0)
			snprintf(beside, sizeof(beside), "%d-%d", bfirst, blast);
		if (only < 0)
			snprintf(vs, sizeof(vs), "%+.1f%%", 100.0 * (secs[k] / secs[ORDER_WHOLE] - 1));
		printf("order=%s units=%d-%d beside=%s micro_batch=%d M=%d reps=%d ms_per_micro=%.3f vs_whole=%s\n",
		       order_names[k], b.first, last, beside, b.B, b.M, reps,
		       secs[k] / reps / b.M * 1e3, vs);
	}
out_free:
	free_all(&b);
	dtp_stage_model_destroy(b.m);
	if (child > 0) {
		int status;

		close(quit[1]);   /* the neighbour reads end-of-file and stops */
		if (waitpid(child, &status, 0) == child && (!WIFEXITED(status) || WEXITSTATUS(status)))
			r = r ? r : 1;
	}
	return r ? 1 : 0;
}
