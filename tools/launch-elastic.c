/* --elastic (launch.h): a restart runs on the cores this process may run on
 * now. When they are not the ones the last attempt had (a core taken away,
 * or given back: `taskset -p`, a cgroup's cpuset), the same model is split
 * again by the min-max partitioner (dtp_plan_resplit, on the FLOPs profile)
 * over as many stages as those cores hold at the last attempt's threads per
 * stage (at most one stage per unit, at least one stage), each stage pinned
 * to its own share of the cores, and handed to the stages as a plan in a
 * memfd (--plan /proc/self/fd/N, as a streamed plan is). The run resumes
 * from the layout-free checkpoint, so it stays bit-identical to the run that
 * never failed: every stage keeps the threads it had. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "partition/profile.h"
#include "pipeline/pipeline.h"
#include "launch.h"

int dtp_launch_cpus(struct dtp_launch_cpus *c, struct dtp_err *err)
{
	cpu_set_t set;
	size_t len = 0;

	memset(c, 0, sizeof(*c));
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return dtp_errf_runtime(err, -errno, "cannot read the cores this process may use: %s",
					strerror(errno));
	for (int cpu = 0; cpu < CPU_SETSIZE && c->n < DTP_LAUNCH_MAX_CPUS; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		c->cpu[c->n++] = cpu;
		len += (size_t)snprintf(c->list + len, len < sizeof(c->list) ? sizeof(c->list) - len : 0,
					"%s%d", len ? "," : "", cpu);
	}
	return 0;
}

int dtp_launch_cpus_equal(const struct dtp_launch_cpus *a, const struct dtp_launch_cpus *b)
{
	return a->n == b->n && memcmp(a->cpu, b->cpu, sizeof(a->cpu[0]) * (size_t)a->n) == 0;
}

/* the plan as text in a memfd the stages inherit; its fd */
static int plan_memfd(const struct dtp_plan *p, struct dtp_err *err)
{
	int fd = memfd_create("dtpipe-elastic-plan", 0), r;
	FILE *f;

	if (fd < 0)
		return dtp_errf_runtime(err, -errno, "cannot keep the new plan for the stages: %s",
					strerror(errno));
	f = fdopen(dup(fd), "w");
	if (!f) {
		r = dtp_errf_runtime(err, -errno, "cannot write the new plan: %s", strerror(errno));
		goto close_fd;
	}
	r = dtp_plan_write(p, f);
	if (fclose(f) != 0 || r) {
		r = dtp_errf_runtime(err, r ? r : -EIO, "cannot write the new plan for the stages");
		goto close_fd;
	}
	return fd;

close_fd:
	close(fd);
	return r;
}

int dtp_launch_replan(const struct dtp_plan *in, const struct dtp_launch_cpus *cpus, int threads,
		      struct dtp_plan *out, int *plan_fd, struct dtp_err *err)
{
	char lists[DTP_MAX_STAGES][DTP_CPULIST_MAX];
	const char *cores[DTP_MAX_STAGES];
	int slots[DTP_MAX_STAGES];
	int units = dtp_model_num_units(&in->model), K, r;

	if (threads < 1)
		threads = 1;
	K = cpus->n / threads;
	if (K > units)
		K = units;
	if (K > DTP_MAX_STAGES)
		K = DTP_MAX_STAGES;
	if (K < 1)
		K = 1;
	/* stage s: the cores s*threads .. (s+1)*threads-1 of the set, in order
	 * (all of them, shared, when the set has fewer than `threads`) */
	for (int s = 0; s < K; s++) {
		size_t len = 0;
		int first = cpus->n >= threads ? s * threads : 0;
		int last = cpus->n >= threads ? first + threads : cpus->n;

		lists[s][0] = '\0';
		for (int i = first; i < last; i++)
			len += (size_t)snprintf(lists[s] + len, len < DTP_CPULIST_MAX ? DTP_CPULIST_MAX - len : 0,
						"%s%d", len ? "," : "", cpus->cpu[i]);
		cores[s] = lists[s];
	}
	r = dtp_schedule_stash_slots(in->schedule, K, in->micro_batches, slots, err);
	if (r == 0)
		r = dtp_plan_resplit(in, K, slots, cores, out, err);
	if (r) {
		dtp_err_prefix(err, "--elastic: cannot split the model over %d stage%s: ", K,
			       K == 1 ? "" : "s");
		return r;
	}
	r = plan_memfd(out, err);
	if (r < 0)
		return r;
	*plan_fd = r;
	return 0;
}
