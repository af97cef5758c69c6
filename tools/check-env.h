/* dtpipe --check-env: can a job run here? (check-env.c) */
#ifndef DTP_TOOLS_CHECK_ENV_H
#define DTP_TOOLS_CHECK_ENV_H

/* Print the RDMA devices, the locked-memory limit, MPI and Slurm, the node's
 * topology and where each local stage of the plan (NULL: none) runs, the
 * OpenBLAS kernel, and every problem seen. topology: an hwloc XML file to
 * place the stages on instead of this machine (NULL: this machine). Returns
 * the exit status: 0 the job can run, 1 it cannot, 2 the plan is bad. */
int dtp_check_env(const char *plan_path, const char *topology);

#endif
