/* dtpipe --plan P with [parallel] replicas = R > 1 on one machine: the job
 * is R x K MPI ranks, so dtpipe hands it to mpirun (exec: mpirun's status is
 * the job's, and mpirun ends every rank when one fails) with one rank per
 * stage of each replica, no binding by mpirun (each rank binds itself to its
 * share of the node's cores), --oversubscribe only where the ranks outnumber
 * the cores and --allow-run-as-root only for root; Open MPI's shared-memory
 * transport without its single-copy path unless the user chose one. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/base.h"
#include "partition/place.h"
#include "dtpipe-launch.h"

#define MAX_EXTRA 16

#ifdef DTP_MPIRUN
/* 1 when the Open MPI parameter file at path sets a single-copy mechanism */
static int conf_sets_single_copy(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *c = line + strspn(line, " \t");

		found = *c != '#' && strstr(c, "single_copy_mechanism") != NULL;
	}
	fclose(f);
	return found;
}

/* The replicas of a one-machine job talk through Open MPI's shared-memory
 * transport; its single-copy path (CMA, process_vm_readv) made the gradient
 * sum and the step slower on the test VM, in every same-run comparison
 * (docs/benchmarks.md, "Data-parallel replicas"), so the job runs without
 * it, unless the user chose a mechanism (the environment, or a parameter
 * file: theirs, the system's, or one they named); MPICH ignores the
 * variable. */
static void default_single_copy(void)
{
	const char *home = getenv("HOME");
	char path[4096];

	if (getenv("OMPI_MCA_btl_vader_single_copy_mechanism") ||
	    getenv("OMPI_MCA_btl_sm_single_copy_mechanism") ||
	    getenv("OMPI_MCA_mca_base_param_files") ||
	    conf_sets_single_copy("/etc/openmpi/openmpi-mca-params.conf"))
		return;
	if (home && snprintf(path, sizeof(path), "%s/.openmpi/mca-params.conf", home) <
			    (int)sizeof(path) &&
	    conf_sets_single_copy(path))
		return;
	setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
}
#endif

int dtp_launch_mpirun(const struct dtp_launch_args *a, const struct dtp_plan *plan, int argc,
		      char **argv, struct dtp_err *err)
{
#ifndef DTP_MPIRUN
	/* the refusal's words are dtp_dp_open's (rdma/dp_none.c), which dtpipe calls first */
	(void)a; (void)argc; (void)argv;
	return dtp_errf_input(err, -ENOTSUP, "%s: built without MPI", plan->path);
#else
	int ranks = plan->replicas * plan->num_stages, cores = 0, n = 0;
	char np[16], self[4096], key[32];
	char **v;
	struct dtp_topo *topo;
	ssize_t len;

	if (a->plan_path && strncmp(a->plan_path, "/proc/self/fd/", 14) == 0)
		return dtp_errf_input(err, -EINVAL,
				      "--plan: a plan read from a pipe cannot be handed to mpirun's ranks: write it to a file and give that");
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return dtp_errf_runtime(err, -errno, "cannot find this program (/proc/self/exe): %s",
					strerror(errno));
	self[len] = '\0';
	if (dtp_topo_load(NULL, &topo, err) == 0) {
		cores = dtp_topo_num_cores(topo);
		dtp_topo_destroy(topo);
	}
	/* one job key for every rank (the handshake refuses other jobs' stages) */
	if (!getenv("DTP_JOB_KEY")) {
		uint64_t k = 0;

		if (a->o.job_key)
			k = a->o.job_key;
		else if (getrandom(&k, sizeof(k), 0) != (ssize_t)sizeof(k))
			k = ((uint64_t)getpid() << 32) ^ (uint64_t)dtp_now_ns();
		snprintf(key, sizeof(key), "%llu", (unsigned long long)(k ? k : 1));
		setenv("DTP_JOB_KEY", key, 1);
	}
	default_single_copy();
	v = calloc((size_t)argc + MAX_EXTRA, sizeof(*v));
	if (!v)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	snprintf(np, sizeof(np), "%d", ranks);
	v[n++] = DTP_MPIRUN;
	v[n++] = "-np";
	v[n++] = np;
	v[n++] = "--bind-to";
	v[n++] = "none";
	if (cores > 0 && ranks > cores)
		v[n++] = "--oversubscribe";
	if (geteuid() == 0)
		v[n++] = "--allow-run-as-root";
	v[n++] = "-x";
	v[n++] = "DTP_JOB_KEY";
	v[n++] = self;
	for (int i = 1; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	execv(DTP_MPIRUN, v);
	free(v);
	return dtp_errf_input(err, -errno, "cannot start %s for the %d x %d ranks of %s: %s: install openmpi-bin",
			      DTP_MPIRUN, plan->replicas, plan->num_stages, plan->path, strerror(errno));
#endif
}
