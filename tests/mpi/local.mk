# data-parallel replicas under mpirun (R x K = 2 x 2 over shm): the weights of
# the R = 1 run with the same global batch, bit-identical run to run and for
# any K; a killed rank ends the job; ranks started wrongly are refused. The
# srun --mpi=pmix run across two network-namespace nodes is in tests/slurm.
# Replicas of interleaved stages: tests/mpi/interleaved.sh.
if DTP_HAVE_MPI
INTEGRATION_TESTS += tests/mpi/replicas.sh tests/mpi/shard.sh tests/mpi/shm_reduce.sh tests/mpi/failure.sh tests/mpi/preempt.sh \
	tests/mpi/interleaved.sh
endif
EXTRA_DIST += tests/mpi/lib.sh
dist_check_SCRIPTS += tests/mpi/replicas.sh tests/mpi/shard.sh tests/mpi/shm_reduce.sh tests/mpi/failure.sh tests/mpi/preempt.sh \
	tests/mpi/interleaved.sh
