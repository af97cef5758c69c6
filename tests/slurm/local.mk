# dtpipe under a real Slurm: a private single-node Slurm (munged, slurmctld,
# slurmd) per test, started and stopped by tests/slurm/slurm-lib.sh
INTEGRATION_TESTS += tests/slurm/srun-pipeline.sh
dist_check_SCRIPTS += tests/slurm/srun-pipeline.sh
EXTRA_DIST += tests/slurm/slurm-lib.sh
