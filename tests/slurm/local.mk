# dtpipe under a real Slurm: a private Slurm (munged, slurmctld, slurmd) per
# test, started and stopped by tests/slurm/slurm-lib.sh; srun-netns.sh puts two
# slurmds in network namespaces (two "hosts" on one machine)
INTEGRATION_TESTS += tests/slurm/srun-pipeline.sh tests/slurm/srun-netns.sh
dist_check_SCRIPTS += tests/slurm/srun-pipeline.sh tests/slurm/srun-netns.sh
EXTRA_DIST += tests/slurm/slurm-lib.sh tests/slurm/netns-lib.sh
# data-parallel replicas under srun --mpi=pmix across the two namespace nodes
if DTP_HAVE_MPI
INTEGRATION_TESTS += tests/slurm/srun-replicas.sh
endif
dist_check_SCRIPTS += tests/slurm/srun-replicas.sh
# recovery under Slurm: examples/slurm-restart.sh restarts srun after a task
# and then a whole node are killed, bit-identical to the uninterrupted run
INTEGRATION_TESTS += tests/slurm/srun-restart.sh
dist_check_SCRIPTS += tests/slurm/srun-restart.sh
# preemption under Slurm: scancel (srun tasks, dtpipe's launcher in a step, a
# batch job) checkpoints and exits 75; examples/preempt.sbatch requeues itself
INTEGRATION_TESTS += tests/slurm/srun-preempt.sh
dist_check_SCRIPTS += tests/slurm/srun-preempt.sh
