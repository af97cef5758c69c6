#include "config.h"
#include "base/cpuprobe.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "base/clock.h"

/* 12 independent vectors of 16 floats, each its own variable so that it
 * stays in a register: enough chains to keep two FMA pipes busy at a
 * 4-cycle latency. (An array of chains was compiled to a load, an FMA and
 * a store per chain and step: its rate was the store-to-load forwarding
 * latency's, which a neighbour on the core's FMA pipes barely moves.) */
typedef float probe_v16 __attribute__((vector_size(64)));
#define PROBE_ITERS 100000L   /* one timed block: ~1 ms on a 3 GHz AVX-512 core */

/* iters rounds of 12 x 16 FMAs x = x m + c; returns the sum so that the
 * compiler keeps the work (m and c come from the caller at run time, so it
 * cannot fold the loop either) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static float fma_block(long iters, float mf, float cf)
{
	const probe_v16 m = (probe_v16){ 0 } + mf, c = (probe_v16){ 0 } + cf;
	const probe_v16 one = (probe_v16){ 0 } + 1.0f;
	probe_v16 a0 = one, a1 = one + 1e-3f, a2 = one + 2e-3f, a3 = one + 3e-3f;
	probe_v16 a4 = one + 4e-3f, a5 = one + 5e-3f, a6 = one + 6e-3f, a7 = one + 7e-3f;
	probe_v16 a8 = one + 8e-3f, a9 = one + 9e-3f, a10 = one + 1e-2f, a11 = one + 1.1e-2f;
	probe_v16 t;
	float s = 0;

	for (long k = 0; k < iters; k++) {
		a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
		a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
		a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
	}
	t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
	for (int i = 0; i < 16; i++)
		s += t[i];
	return s;
}

struct probe {
	int cpu;
	double secs, rate;
	int rc;
	pthread_t thr;
	volatile float sink;
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	cpu_set_t set;
	double t0, t;
	long blocks = 0;
	volatile float vm = 0.9999999f, vc = 1e-7f;     /* read at run time */
	float mf = vm, cf = vc;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		p->rc = -EINVAL;
		return NULL;
	}
	sched_yield();  /* let the scheduler move us onto that CPU */
	t0 = dtp_now();
	do {
		p->sink = fma_block(PROBE_ITERS, mf, cf);
		blocks++;
		t = dtp_now() - t0;
	} while (t < p->secs);
	p->rate = (double)blocks * PROBE_ITERS * 12 * 16 * 2 / t * 1e-9;
	p->rc = 0;
	return NULL;
}

static int probe_start(struct probe *p)
{
	return pthread_create(&p->thr, NULL, probe_main, p) ? -EAGAIN : 0;
}

int dtp_cpu_rates(const int *cpus, int n, double secs, int together, double *rates)
{
	struct probe p[DTP_CPU_PROBE_MAX];
	int rc = 0, started = 0;

	if (n < 1 || n > DTP_CPU_PROBE_MAX || !(secs > 0))
		return -EINVAL;
	memset(p, 0, sizeof(p[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		p[i].cpu = cpus[i];
		p[i].secs = secs;
		if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE)
			return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (together) {
			rc = probe_start(&p[i]);
			if (rc)
				break;
			started++;
		} else {
			rc = probe_start(&p[i]);
			if (rc)
				break;
			pthread_join(p[i].thr, NULL);
			if (p[i].rc) {
				rc = p[i].rc;
				break;
			}
		}
	}
	for (int i = 0; i < started; i++) {
		pthread_join(p[i].thr, NULL);
		if (!rc && p[i].rc)
			rc = p[i].rc;
	}
	for (int i = 0; !rc && i < n; i++)
		rates[i] = p[i].rate;
	return rc;
}

int dtp_cpu_allowed(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}
