#!/bin/sh
# The node-shared gradient sums ([parallel] shm_reduce, rdma/dp.h) under
# mpirun, where all replicas of a stage share the node, against the MPI path
# (shm_reduce = no, what replicas on several nodes run): for two replicas
# (a + b on both paths) the weights and losses after 20 steps are
# bit-identical, sharded (K = 2 and K = 1) and unsharded, and so are runs
# whose steps are skipped (nonfinite = skip: no update, no all-gather, the
# next step's gradients written while nothing gathers); for three replicas
# (an order of addition per path) each path matches R = 1 with the same
# global batch and is bit-identical for K = 1 and K = 2. A bad shm_reduce
# value is refused.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 480 40 12 4 7

# plan R M UNITS...: $WORK/plan.ini (SHARD, SHM: the [parallel] keys)
plan() {
	R=$1 M=$2
	shift 2
	MICRO=$M write_plan "$WORK/plan.ini" "$SPEC" "$DATA" gpipe no shm "$OPTIM" "$@"
	printf '[parallel]\nreplicas = %d\nshard_optimizer = %s\nshm_reduce = %s\n' "$R" \
		"${SHARD:-yes}" "${SHM:-yes}" >> "$WORK/plan.ini"
}

run() {   # run TAG K: dump to $WORK/TAG, weights in $WORK/TAG/all.params
	rm -rf "$WORK/$1"
	timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 20 --quiet \
		--dump "$WORK/$1" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: $1 did not run"; exit 1; }
	concat_params "$WORK/$1" "$2"
}

# units of 1248, 9312, 9312 (three gradient blocks each) and 388 floats
SPEC="mlp:12-96-96-96-4" DATA="$WORK/rec"
OPTIM='optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'

plan 1 6 0-3
run r1 1
for sh in yes no; do
	SHARD=$sh plan 2 3 0-1 2-3
	run "shm-$sh-k2" 2
	SHARD=$sh SHM=no plan 2 3 0-1 2-3
	run "mpi-$sh-k2" 2
	same "shm-$sh-k2" "mpi-$sh-k2" "R=2 K=2 shard_optimizer=$sh: the node-shared sums differ from MPI's"
done
close r1 shm-yes-k2 "sharded R=2 node-shared: the weights are not those of R=1"
plan 2 3 0-3
run shm-yes-k1 1
same shm-yes-k1 mpi-yes-k2 "sharded R=2 K=1 node-shared differs from K=2 over MPI"
echo "ok: R=2 node-shared sums are MPI's bits, sharded and not, for K=1 and 2"

for path in yes no; do
	SHM=$path plan 3 2 0-1 2-3
	run "r3-$path-k2" 2
	close r1 "r3-$path-k2" "R=3 shm_reduce=$path: the weights are not those of R=1"
	SHM=$path plan 3 2 0-3
	run "r3-$path-k1" 1
	same "r3-$path-k2" "r3-$path-k1" "R=3 shm_reduce=$path: K=1 differs from K=2"
	SHARD=no SHM=$path plan 3 2 0-3
	run "r3-$path-k1-whole" 1
	close r1 "r3-$path-k1-whole" "R=3 shm_reduce=$path unsharded: the weights are not those of R=1"
done
echo "ok: R=3 on either path matches R=1 and is bit-identical for K=1 and 2"

# a learning rate that diverges: the later steps are skipped on every replica
OPTIM='optimizer = sgd\nlr = 1e18\nmomentum = 0.9\nnonfinite = skip'
plan 2 3 0-3
run skip-shm 1
grep -q '"skipped": *true' "$WORK/skip-shm/metrics.json" 2>/dev/null ||
	grep -rq 'skipped' "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: lr = 1e18 skipped no step"; exit 1; }
SHM=no plan 2 3 0-3
run skip-mpi 1
same skip-shm skip-mpi "R=2 with skipped steps: the node-shared sums differ from MPI's"
echo "ok: R=2 with skipped steps gives MPI's bits node-shared"

SHM=maybe plan 2 3 0-3
if "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 1 --quiet >"$WORK/out" 2>&1; then
	echo "FAIL: shm_reduce = maybe was accepted"; exit 1
fi
grep -q shm_reduce "$WORK/out" || { cat "$WORK/out"; echo "FAIL: the error does not name shm_reduce"; exit 1; }
echo "ok: a bad shm_reduce is refused"
echo "PASS"
