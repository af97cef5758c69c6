#include "config.h"
#include "base/cpuprobe.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "base/clock.h"

/* 8 independent vectors of 16 floats: enough chains to keep two FMA pipes
 * busy at a 4-cycle latency, all in registers */
typedef float probe_v16 __attribute__((vector_size(64)));
#define PROBE_CHAINS 8
#define PROBE_ITERS 100000L   /* one timed block: ~1.5 ms on a 3 GHz AVX-512 core */

/* shapes: PROBE_CHAINS x 16 floats, iters FMA rounds; returns the sum so
 * that the compiler keeps the work */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static float fma_block(long iters)
{
	probe_v16 a[PROBE_CHAINS];
	const probe_v16 m = (probe_v16){ 0 } + 0.9999999f, c = (probe_v16){ 0 } + 1e-7f;
	float s = 0;

	for (int j = 0; j < PROBE_CHAINS; j++)
		a[j] = (probe_v16){ 0 } + 1.0f + (float)j * 1e-3f;
	for (long k = 0; k < iters; k++)
		for (int j = 0; j < PROBE_CHAINS; j++)
			a[j] = a[j] * m + c;
	for (int j = 0; j < PROBE_CHAINS; j++)
		for (int i = 0; i < 16; i++)
			s += a[j][i];
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

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		p->rc = -EINVAL;
		return NULL;
	}
	sched_yield();  /* let the scheduler move us onto that CPU */
	t0 = dtp_now();
	do {
		p->sink = fma_block(PROBE_ITERS);
		blocks++;
		t = dtp_now() - t0;
	} while (t < p->secs);
	p->rate = (double)blocks * PROBE_ITERS * PROBE_CHAINS * 16 * 2 / t * 1e-9;
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
