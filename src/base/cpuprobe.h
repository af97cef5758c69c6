/* How much of each core this process gets right now.
 *
 * On a virtual machine a vCPU is a thread on the host: when the host runs
 * another tenant (or this VM's other vCPU) on the same physical core, the
 * vCPU runs at a fraction of its speed while the guest sees it 100% busy
 * and, under some hypervisors, reports no steal time. Timings taken on such
 * a core say nothing about the code. dtp_cpu_rates times a register-only
 * fp32 FMA loop (no memory traffic, so neither caches nor memory bandwidth
 * enter) on each CPU, one after another or all at once, and gives its
 * rate: equal cores give equal rates, a shared one a lower rate.
 * `dtpipe --check-env` and dtpipe-bench-cores print them; the benchmark
 * scripts run only while every core is at full speed. */
#ifndef DTP_BASE_CPUPROBE_H
#define DTP_BASE_CPUPROBE_H

#define DTP_CPU_PROBE_MAX 1024

/* a core below this share of the fastest one is called slow (dtpipe
 * --check-env warns) */
#define DTP_CORE_SLOW 0.85

/* rates[i] = GFLOP/s of the FMA loop on cpus[i] over about secs seconds
 * (each CPU in turn, or all at once with together != 0); 0 or a negative
 * errno (-EINVAL: bad arguments or a CPU this process may not use, -EAGAIN:
 * no thread could be started) */
int dtp_cpu_rates(const int *cpus, int n, double secs, int together, double *rates);

/* the CPUs this process may run on, ascending, at most max; their count or
 * a negative errno */
int dtp_cpu_allowed(int *cpus, int max);

#endif
