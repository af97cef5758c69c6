/* dtpipe --check-env [--plan P] [--topology FILE.xml]: what this node offers a
 * job (RDMA devices, ports and GIDs through rdma-core's verbs, the
 * locked-memory limit, MPI and Slurm, the hwloc topology, where each local
 * stage runs, the OpenBLAS kernel) and every problem dtpipe knows how to see
 * before it starts. Problems make the exit status 1 (2 for a bad plan);
 * warnings do not. docs/cluster.md explains each line. */
#include "config.h"
#include "check-env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef DTP_HAVE_VERBS
#include <infiniband/verbs.h>
#endif

#include "base/base.h"
#include "model/model.h"
#include "partition/nic_place.h"
#include "partition/place.h"
#include "partition/plan.h"
#include "partition/topo.h"
#include "pipeline/pipeline.h"
#include "rdma/bootstrap.h"

#define DEVS_MAX 16
#define GIDS_SHOWN 4

struct dev {
	char name[64];
	int ports, active;         /* ports, of which ACTIVE */
	int gids[8];               /* GID table length of ports 1..8 */
};

struct ce {
	int problems, warnings, bad_plan;
	struct dev devs[DEVS_MAX];
	int n_devs;
	const struct dtp_plan *plan;
	int local[DTP_MAX_STAGES]; /* stages that run on this host */
	int n_local;
	char host[256];
};

static void say(struct ce *c, int is_problem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct ce *c, int is_problem, const char *fmt, ...)
{
	va_list ap;

	printf("  %s: ", is_problem ? "PROBLEM" : "warning");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (is_problem)
		c->problems++;
	else
		c->warnings++;
}

static double mib(double b)
{
	return b / (1 << 20);
}

/* ------------------------------------------------------------------ RDMA */

#ifdef DTP_HAVE_VERBS
static const char *link_layer(uint8_t l)
{
	return l == IBV_LINK_LAYER_ETHERNET ? "Ethernet (RoCE)" :
	       l == IBV_LINK_LAYER_INFINIBAND ? "InfiniBand" : "unspecified (InfiniBand)";
}

static void show_port(struct ibv_context *ctx, struct dev *d, uint8_t port)
{
	struct ibv_port_attr pa;
	int shown = 0;

	if (ibv_query_port(ctx, port, &pa)) {
		printf("    port %u: ibv_query_port failed: %s\n", port, strerror(errno));
		return;
	}
	if (pa.state == IBV_PORT_ACTIVE)
		d->active++;
	if (port <= 8)
		d->gids[port - 1] = pa.gid_tbl_len;
	printf("    port %u: %s, %s, MTU %d, LID %u, %d GIDs\n", port, ibv_port_state_str(pa.state),
	       link_layer(pa.link_layer), 128 << pa.active_mtu, pa.lid, pa.gid_tbl_len);
	for (int i = 0; i < pa.gid_tbl_len && shown < GIDS_SHOWN; i++) {
		union ibv_gid gid;
		char text[INET6_ADDRSTRLEN];
		static const uint8_t zero[16];

		if (ibv_query_gid(ctx, port, i, &gid) || !memcmp(gid.raw, zero, sizeof(zero)))
			continue;
		inet_ntop(AF_INET6, gid.raw, text, sizeof(text));
		printf("      GID[%d] %s%s\n", i, text,
		       !memcmp(gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) ?
		       "  (IPv4: RoCE v2 gid_index candidate)" : "");
		shown++;
	}
}
#endif

static void rdma_section(struct ce *c)
{
	printf("== RDMA devices (rdma-core verbs)\n");
#ifdef DTP_HAVE_VERBS
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);

	if (!list)
		n = 0;
	if (!n)
		printf("  none: no RDMA device on this host (%s); transport auto uses shm on one "
		       "host and tcp between hosts\n", list ? "ibv_get_device_list found none" :
		       errno == ENOSYS ? "no RDMA support in the kernel: no /sys/class/infiniband" :
		       strerror(errno));
	for (int i = 0; i < n && c->n_devs < DEVS_MAX; i++) {
		struct dev *d = &c->devs[c->n_devs++];
		struct ibv_context *ctx = ibv_open_device(list[i]);
		struct ibv_device_attr da;

		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(list[i]));
		if (!ctx || ibv_query_device(ctx, &da)) {
			printf("  %s: cannot open it: %s\n", d->name, strerror(errno));
			if (ctx)
				ibv_close_device(ctx);
			continue;
		}
		d->ports = da.phys_port_cnt;
		printf("  %s: %d port%s, firmware %s\n", d->name, d->ports, d->ports == 1 ? "" : "s",
		       da.fw_ver[0] ? da.fw_ver : "-");
		for (uint8_t p = 1; p <= da.phys_port_cnt; p++)
			show_port(ctx, d, p);
		ibv_close_device(ctx);
	}
	if (list)
		ibv_free_device_list(list);
#else
	(void)c;
	printf("  this dtpipe is built without verbs (configure --without-verbs): tcp and shm "
	       "only\n");
#endif
}

/* does the plan's transport put local stages on verbs? */
static int uses_verbs(const struct ce *c)
{
	const char *t = c->plan->transport;

	return strcmp(t, "verbs") == 0 || (strcmp(t, "auto") == 0 && c->n_devs > 0);
}

static const struct dev *find_dev(const struct ce *c, const char *name)
{
	for (int i = 0; i < c->n_devs; i++)
		if (strcmp(c->devs[i].name, name) == 0)
			return &c->devs[i];
	return NULL;
}

static void rdma_problems(struct ce *c)
{
	const struct dtp_plan *p = c->plan;
	int active = 0;

	if (!p || (p->num_stages < 2 && p->replicas < 2))
		return;
	for (int i = 0; i < c->n_devs; i++)
		active += c->devs[i].active;
	if (strcmp(p->transport, "verbs") == 0 && !c->n_devs)
		say(c, 1, "the plan asks for transport = verbs and this host has no RDMA device%s: "
		    "run on a node with one, or set [transport] kind = auto (tcp/shm)",
#ifdef DTP_HAVE_VERBS
		    ""
#else
		    " (and this dtpipe is built without verbs)"
#endif
		    );
	else if (uses_verbs(c) && !active)
		say(c, strcmp(p->transport, "verbs") == 0, "no port of any RDMA device is ACTIVE: "
		    "check the cable or the subnet manager (ibstat), or use transport tcp");
	for (int i = 0; i < c->n_local && uses_verbs(c); i++) {
		const struct dtp_stage_plan *st = &p->stages[c->local[i]];
		const struct dev *d = st->nic[0] ? find_dev(c, st->nic) : c->n_devs ? &c->devs[0] : NULL;

		if (st->nic[0] && !d) {
			say(c, 1, "[stage.%d] nic = %s: no such RDMA device here (ibv_devices lists them)",
			    c->local[i], st->nic);
			continue;
		}
		if (!d)
			continue;
		if (p->ib_port > d->ports)
			say(c, 1, "[transport] ib_port = %d: %s has %d port%s", p->ib_port, d->name,
			    d->ports, d->ports == 1 ? "" : "s");
		else if (p->gid_index >= 0 && d->ports > 0 &&
			 p->gid_index >= d->gids[(p->ib_port > 0 ? p->ib_port : 1) - 1])
			say(c, 1, "[transport] gid_index = %d: port %d of %s has %d GIDs", p->gid_index,
			    p->ib_port > 0 ? p->ib_port : 1, d->name,
			    d->gids[(p->ib_port > 0 ? p->ib_port : 1) - 1]);
	}
}

/* ---------------------------------------------------------- locked memory */

/* CAP_IPC_LOCK in the effective set: the kernel does not hold the process to
 * RLIMIT_MEMLOCK */
static int can_lock_any(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long caps = 0;

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> 14) & 1;   /* CAP_IPC_LOCK */
}

static void limit_text(rlim_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu KiB (%.1f MiB)", (unsigned long long)v / 1024, mib((double)v));
}

static void memlock_section(struct ce *c)
{
	struct rlimit rl;
	char soft[64], hard[64];
	size_t need = 0;
	int worst = -1;

	printf("== locked memory (RLIMIT_MEMLOCK, ulimit -l)\n");
	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		say(c, 0, "getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return;
	}
	limit_text(rl.rlim_cur, soft, sizeof(soft));
	limit_text(rl.rlim_max, hard, sizeof(hard));
	printf("  soft %s, hard %s%s\n", soft, hard,
	       can_lock_any() ? "; this process has CAP_IPC_LOCK (the limit does not bind it)" : "");
	if (!c->plan || !uses_verbs(c))
		return;
	/* verbs registers a stage's pipeline buffers on each of its links */
	for (int i = 0; i < c->n_local; i++) {
		int s = c->local[i], links = (s > 0) + (s + 1 < c->plan->num_stages);
		struct dtp_stage_mem m;
		struct dtp_err err = { 0 };

		if (dtp_stage_mem_predict(c->plan, s, &m, &err))
			continue;
		if ((size_t)links * (m.stash + m.buffers) > need) {
			need = (size_t)links * (m.stash + m.buffers);
			worst = s;
		}
	}
	if (worst < 0 || !need)
		return;
	printf("  stage %d needs about %.1f MiB locked for its verbs links (its pipeline buffers, "
	       "registered on each link)\n", worst, mib((double)need));
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		say(c, !can_lock_any(), "RLIMIT_MEMLOCK is too low: %s, stage %d registers about %zu "
		    "bytes: raise it to at least %zu KiB (ulimit -l, 'memlock' in "
		    "/etc/security/limits.conf, LimitMEMLOCK= for systemd units, Slurm's "
		    "PropagateResourceLimits; docs/cluster.md)%s", soft, worst, need,
		    (need + 1023) / 1024, can_lock_any() ? "; not enforced for this process "
		    "(CAP_IPC_LOCK), but it is for users without it" : "");
}

/* ------------------------------------------------------------ MPI, Slurm */

/* path of `prog` in PATH, or NULL */
static const char *in_path(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	while (path && *path) {
		const char *end = strchr(path, ':');
		int n = end ? (int)(end - path) : (int)strlen(path);

		snprintf(buf, len, "%.*s/%s", n, n ? path : ".", prog);
		if (access(buf, X_OK) == 0)
			return buf;
		path = end ? end + 1 : NULL;
	}
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void launcher_section(struct ce *c)
{
	static const char *const vars[] = {
		"SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_NODELIST",
		"SLURM_CPU_BIND_TYPE", "SLURM_MPI_TYPE", "OMPI_COMM_WORLD_RANK",
		"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "UCX_NET_DEVICES", "UCX_TLS",
		"OMPI_MCA_pml",
	};
	char b1[4096], b2[4096];
	const char *mpirun = in_path("mpirun", b1, sizeof(b1)), *srun = in_path("srun", b2, sizeof(b2));
	const char *bind = env("SLURM_CPU_BIND_TYPE"), *ntasks = env("SLURM_NTASKS");
	int any = 0;

	printf("== MPI and Slurm\n");
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (env(vars[i])) {
			printf("  %s=%s\n", vars[i], env(vars[i]));
			any = 1;
		}
	if (!any)
		printf("  not started by srun or mpirun (no SLURM_*, OMPI_*, PMIX_*, PMI_* variables)\n");
	printf("  mpirun: %s; srun: %s\n", mpirun ? mpirun : "not in PATH", srun ? srun : "not in PATH");
	if (bind && strncmp(bind, "none", 4) && strstr(bind, "none") == NULL)
		say(c, 0, "Slurm binds this task (SLURM_CPU_BIND_TYPE=%s): dtpipe binds each stage "
		    "with hwloc inside what it is given; use srun --cpu-bind=none so the two do not "
		    "fight", bind);
	if (!c->plan)
		return;
	if (c->plan->replicas > 1 && !mpirun && !srun && !env("OMPI_COMM_WORLD_RANK") &&
	    !env("PMIX_RANK") && !env("PMI_RANK") && !env("SLURM_PROCID"))
		say(c, 1, "the plan has %d replicas (R x K = %d processes, started by MPI) but neither "
		    "mpirun nor srun is in PATH: install Open MPI (mpirun) or run under Slurm",
		    c->plan->replicas, c->plan->replicas * c->plan->num_stages);
	if (ntasks && env("SLURM_STEP_ID") &&
	    atol(ntasks) != (long)c->plan->replicas * c->plan->num_stages)
		say(c, 1, "SLURM_NTASKS=%s but the plan has %d process%s (R = %d x K = %d): use srun "
		    "-n %d", ntasks, c->plan->replicas * c->plan->num_stages,
		    c->plan->replicas * c->plan->num_stages > 1 ? "es" : "", c->plan->replicas,
		    c->plan->num_stages, c->plan->replicas * c->plan->num_stages);
}

/* ------------------------------------------------------- topology, stages */

static int is_this_host(const struct ce *c, const char *h)
{
	size_t n = strcspn(c->host, ".");

	return !h[0] || strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 ||
	       strcmp(h, c->host) == 0 || (strlen(h) == n && strncmp(h, c->host, n) == 0);
}

/* the stages this process or host runs: the launcher's rank, else every
 * stage whose host is this one */
static void find_local(struct ce *c)
{
	const struct dtp_plan *p = c->plan;
	enum dtp_rank_source src;
	struct dtp_err err = { 0 };
	int rank;

	c->n_local = 0;
	if (dtp_rank_detect(-1, &rank, &src, &err) == 0 && src != DTP_RANK_NONE) {
		c->local[c->n_local++] = rank % p->num_stages;
		printf("  this process is rank %d (%s): stage %d of replica %d\n", rank,
		       dtp_rank_source_name(src), rank % p->num_stages, rank / p->num_stages);
		return;
	}
	for (int s = 0; s < p->num_stages; s++)
		if (is_this_host(c, p->stages[s].host))
			c->local[c->n_local++] = s;
}

static void stages_section(struct ce *c, const char *topology)
{
	struct dtp_topo_map map = { 0 };
	struct dtp_stage_where where[DTP_MAX_STAGES];
	double bytes[DTP_MAX_STAGES];
	struct dtp_err err = { 0 };
	struct dtp_topo *t;
	char line[1024];
	int r;

	printf("== topology (hwloc): %s\n", topology ? topology : "this machine");
	if (topology && dtp_topo_map_add(&map, topology, &err)) {
		say(c, 1, "%s", err.msg);
		goto out_free;
	}
	t = dtp_topo_map_get(&map, "", NULL, &err);
	if (!t) {
		say(c, 1, "%s", err.msg);
		goto out_free;
	}
	dtp_topo_describe(t, line, sizeof(line));
	printf("  %s\n", line);
	if (!c->plan)
		goto out_free;
	printf("== stages of %s on this host (%s)\n", c->plan->path, c->host);
	find_local(c);
	if (!c->n_local) {
		printf("  none: every stage names another host\n");
		goto out_free;
	}
	r = dtp_plan_link_bytes(c->plan, bytes, &err);
	if (!r)
		r = dtp_place_plan(&map, c->plan, bytes, where, &err);
	if (r) {
		say(c, 1, "%s", err.msg);
		c->bad_plan |= err.cls == DTP_ERRC_INPUT;
		goto out_free;
	}
	printf("  %5s %-14s %-5s %-8s %s\n", "stage", "cores", "numa", "nic", "why");
	for (int i = 0; i < c->n_local; i++) {
		const struct dtp_stage_where *w = &where[c->local[i]];

		printf("  %5d %-14s %-5s %-8s %s\n", c->local[i], w->cores, w->numa[0] ? w->numa : "-",
		       w->nic[0] ? w->nic : "-", w->why);
	}
	if (dtp_topo_num_cores(t) < c->n_local)
		say(c, 0, "%d stages share %d cores on this host: they will run slowly",
		    c->n_local, dtp_topo_num_cores(t));
	/* the launcher's own check: the plan's cores exist on this machine */
	for (int i = 0; !topology && i < c->n_local; i++) {
		char cores[DTP_CPULIST_MAX], nic[DTP_NIC_MAX];
		int shared;

		if (dtp_place_stage(t, c->plan, c->local[i], cores, nic, &shared, &err)) {
			say(c, 1, "%s", err.msg);
			c->bad_plan |= err.cls == DTP_ERRC_INPUT;
			break;
		}
	}
out_free:
	dtp_topo_map_free(&map);
}

/* each allowed core's speed now (src/base/cpuprobe.h): alone, then all at
 * once; a core well below the fastest is shared by the host, and a stage
 * placed on it runs that much slower (a warning: the job still runs) */
static void cores_section(struct ce *c)
{
	int cpus[DTP_CPU_PROBE_MAX], n = dtp_cpu_allowed(cpus, DTP_CPU_PROBE_MAX), rc;
	double *alone, *together, full = 0, secs;

	/* 0.2 s a core, at most 2 s in all for the cores in turn */
	secs = n > 10 ? 2.0 / n : 0.2;
	printf("== cores (an FMA loop, %.2f s on each core alone, then on all at once; "
	       "GFLOP/s)\n", secs);
	if (n < 1) {
		say(c, 0, "cannot read this process's CPUs: %s", strerror(n < 0 ? -n : EINVAL));
		return;
	}
	alone = calloc(2 * (size_t)n, sizeof(double));
	if (!alone) {
		say(c, 0, "out of memory for the core probe");
		return;
	}
	together = alone + n;
	rc = dtp_cpu_rates(cpus, n, secs, 0, alone);
	if (!rc)
		rc = dtp_cpu_rates(cpus, n, 0.2, 1, together);
	if (rc) {
		say(c, 0, "core probe failed: %s", strerror(-rc));
		goto out_free;
	}
	for (int i = 0; i < n; i++) {
		full = alone[i] > full ? alone[i] : full;
		full = together[i] > full ? together[i] : full;
	}
	for (int i = 0; i < n; i++)
		printf("  cpu %d: alone %.1f, with the others busy %.1f\n", cpus[i], alone[i],
		       together[i]);
	for (int i = 0; i < n; i++) {
		double lo = alone[i] < together[i] ? alone[i] : together[i];

		if (lo < DTP_CORE_SLOW * full)
			say(c, 0, "cpu %d runs at %.2fx of the fastest core%s: another process here or, "
				  "on a virtual machine, the host (another tenant, or this VM's other vCPU "
				  "on the same physical core) takes part of it; a stage placed there runs "
				  "that much slower, and timings taken there measure that, not the job",
			    cpus[i], lo / full, together[i] < alone[i] ? " while the others are busy" : "");
	}
out_free:
	free(alone);
}

/* the CPU's model: the same ISA flags run at different rates on different
 * cores (src/base/cpuid.h), so benchmark figures name it */
static void cpu_section(void)
{
	struct dtp_cpu_ident id;
	char line[256];

	dtp_cpu_ident(&id);
	printf("== CPU\n  %s\n", dtp_cpu_ident_str(&id, line, sizeof(line)));
}

static void blas_section(struct ce *c)
{
	char w[512];

	printf("== OpenBLAS\n  kernel %s (OPENBLAS_CORETYPE=%s)\n", dtp_blas_core(),
	       env("OPENBLAS_CORETYPE") ? env("OPENBLAS_CORETYPE") : "unset");
	if (dtp_blas_core_warning(w, sizeof(w)))
		say(c, 0, "%s", w);
}

int dtp_check_env(const char *plan_path, const char *topology)
{
	struct ce c = { 0 };
	struct dtp_plan *plan = NULL;
	struct dtp_err err = { 0 };

	if (gethostname(c.host, sizeof(c.host) - 1))
		snprintf(c.host, sizeof(c.host), "localhost");
	printf("dtpipe --check-env on %s\n", c.host);
	if (plan_path) {
		plan = malloc(sizeof(*plan));
		if (!plan || dtp_plan_load(plan_path, plan, &err)) {
			printf("== plan\n");
			say(&c, 1, "%s", plan ? err.msg : "out of memory");
			free(plan);
			plan = NULL;
			c.bad_plan = 1;
		} else {
			printf("== plan %s: %d stage%s x %d replica%s, transport %s\n", plan_path,
			       plan->num_stages, plan->num_stages == 1 ? "" : "s", plan->replicas,
			       plan->replicas == 1 ? "" : "s", plan->transport);
			if (dtp_plan_warnings(plan)[0])
				printf("%s", dtp_plan_warnings(plan));
		}
	}
	c.plan = plan;
	rdma_section(&c);
	stages_section(&c, topology);
	rdma_problems(&c);
	memlock_section(&c);
	launcher_section(&c);
	cpu_section();
	blas_section(&c);
	cores_section(&c);
	printf("== result: %d problem%s, %d warning%s: %s\n", c.problems, c.problems == 1 ? "" : "s",
	       c.warnings, c.warnings == 1 ? "" : "s",
	       c.bad_plan ? "fix the plan (exit status 2)" :
	       c.problems ? "the job cannot run here as it is (exit status 1)" :
	       plan ? "the job can run here" : "this host can run jobs (give --plan to check one)");
	free(plan);
	return c.bad_plan ? DTP_EXIT_BADINPUT : c.problems ? DTP_EXIT_FAIL : DTP_EXIT_OK;
}
