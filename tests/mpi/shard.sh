#!/bin/sh
# The sharded optimizer step ([parallel] shard_optimizer = yes, rdma/dp.h)
# under mpirun over shm, on models whose units are larger than a gradient
# block (so shards cut units, and cut them in other places for other K):
# 20 steps of R = 2, K = 2 give the weights of R = 1 with the same global
# batch (M = 6 = 2 x 3) to float rounding, two runs are bit-identical, K = 1
# is bit-identical to K = 2, and so are the unsharded step and overlapped
# reduce-scatters (two replicas: a + b; the norm from fixed blocks); R = 3
# (one bucket per unit) is bit-identical for K = 1 and K = 2 and matches
# R = 1. A sharded run's checkpoint (its optimizer state gathered for
# replica 0) resumed with R = 1 matches the R = 1 run, and resumed with R = 2
# (other cuts) is bit-identical to the run that was not interrupted. In bf16
# the sharded step is the unsharded one's bits too.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 480 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 12000 800 32 7

# plan R M UNITS...: $WORK/plan.ini (SHARD, OVERLAP: the [parallel] keys)
plan() {
	R=$1 M=$2
	shift 2
	MICRO=$M write_plan "$WORK/plan.ini" "$SPEC" "$DATA" gpipe no shm "$OPTIM" "$@"
	printf '[parallel]\nreplicas = %d\noverlap = %s\nshard_optimizer = %s\n' "$R" \
		"${OVERLAP:-no}" "${SHARD:-yes}" >> "$WORK/plan.ini"
}

run() {   # run TAG K [ARGS]: dump to $WORK/TAG, weights in $WORK/TAG/all.params
	tag=$1 k=$2
	shift 2
	rm -rf "$WORK/$tag"
	timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 20 --quiet \
		--dump "$WORK/$tag" "$@" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $tag did not run"; exit 1; }
	concat_params "$WORK/$tag" "$k"
}


check_model() {
	n=$1
	plan 1 6 0-3
	run "$n-r1" 1
	plan 2 3 0-1 2-3
	run "$n-r2k2" 2
	close "$n-r1" "$n-r2k2" "$n: sharded R=2 K=2 weights are not those of R=1 with the same global batch"
	run "$n-r2k2-again" 2
	same "$n-r2k2" "$n-r2k2-again" "$n: two sharded R=2 K=2 runs differ"
	plan 2 3 0-3
	run "$n-r2k1" 1
	same "$n-r2k2" "$n-r2k1" "$n: sharded R=2 K=1 differs from K=2"
	SHARD=no plan 2 3 0-1 2-3
	run "$n-r2k2-whole" 2
	same "$n-r2k2" "$n-r2k2-whole" "$n: the sharded step differs from the unsharded one"
	OVERLAP=yes plan 2 3 0-3
	run "$n-r2k1-ov" 1
	same "$n-r2k2" "$n-r2k1-ov" "$n: overlapped reduce-scatters differ from blocking ones"
	echo "ok: $n sharded R=2 matches R=1, bit-identical run to run, for K=1 and 2, unsharded and overlapped"
	plan 3 2 0-1 2-3
	run "$n-r3k2" 2
	close "$n-r1" "$n-r3k2" "$n: sharded R=3 K=2 weights are not those of R=1"
	plan 3 2 0-3
	run "$n-r3k1" 1
	same "$n-r3k2" "$n-r3k1" "$n: sharded R=3 K=1 differs from K=2"
	echo "ok: $n sharded R=3 matches R=1 and is bit-identical for K=1 and 2"
	# checkpoints: 10 steps of sharded R=2 K=2, resumed to 20
	plan 2 3 0-1 2-3
	rm -rf "$WORK/ck-$n"
	timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 10 --quiet \
		--checkpoint-dir "$WORK/ck-$n" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $n: sharded R=2 with checkpoints"; exit 1; }
	# each resume writes its own checkpoints: a copy each
	rm -rf "$WORK/ck-$n-a" "$WORK/ck-$n-b"
	cp -r "$WORK/ck-$n" "$WORK/ck-$n-a"
	cp -r "$WORK/ck-$n" "$WORK/ck-$n-b"
	plan 1 6 0-3
	run "$n-resumed-r1" 1 --resume --checkpoint-dir "$WORK/ck-$n-a"
	close "$n-r1" "$n-resumed-r1" "$n: a sharded R=2 checkpoint resumed with R=1 is not the R=1 run"
	plan 2 3 0-3
	run "$n-resumed-r2k1" 1 --resume --checkpoint-dir "$WORK/ck-$n-b"
	cmp "$WORK/$n-r2k2/all.params" "$WORK/$n-resumed-r2k1/all.params" ||
		{ echo "FAIL: $n: a sharded R=2 checkpoint resumed with R=2 K=1 is not the uninterrupted run"; exit 1; }
	echo "ok: $n sharded R=2 checkpoint resumed with R=1 matches R=1, with R=2 K=1 bit-identical"
}

# units of 1248, 9312, 9312 (three gradient blocks each) and 388 floats
SPEC="mlp:12-96-96-96-4" DATA="$WORK/rec"
OPTIM='optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model mlp
# eps 1e-6: see tests/mpi/replicas.sh
SPEC="gpt:layers=2,dim=32,heads=2,seq=8,vocab=32" DATA="$WORK/tok"
OPTIM='optimizer = adamw\nlr = 0.01\neps = 1e-6\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'
check_model gpt
# bf16: each replica refreshes the bf16 copy of its own part in the step and
# of the rest after the all-gather; the matmuls read that copy, so a stale
# part would change the next step
OPTIM="$OPTIM\nprecision = bf16"
plan 2 3 0-1 2-3
run gpt16-r2k2 2
SHARD=no plan 2 3 0-1 2-3
run gpt16-r2k2-whole 2
same gpt16-r2k2 gpt16-r2k2-whole "gpt bf16: the sharded step differs from the unsharded one"
plan 2 3 0-3
run gpt16-r2k1 1
same gpt16-r2k2 gpt16-r2k1 "gpt bf16: sharded R=2 K=1 differs from K=2"
echo "ok: gpt bf16 sharded R=2 bit-identical to unsharded, and for K=1 and 2"
echo "PASS"
