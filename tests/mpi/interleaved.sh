#!/bin/sh
# Data-parallel replicas of interleaved stages (schedule = interleaved,
# virtual_stages = 2, [parallel] replicas = 2) under mpirun over shm, for the
# mlp and the gpt (4 units, stage 0 holding units 0 and 2, stage 1 units 1
# and 3): 10 steps of R = 2, K = 2, v = 2 give the weights of the R = 1
# one-stage run with the same global batch (M = 8 = 2 x 4) to float rounding;
# two runs are bit-identical; the run is bit-identical to the plain R = 2,
# K = 2 run with the same units (two replicas: a + b whatever the buckets,
# the norm from fixed blocks), with the optimizer sharded or not and with
# overlapped sums. A checkpoint of the interleaved R = 2 run resumes under
# R = 1 (one stage) to the R = 1 run's weights, and under itself bit for
# bit; a stop signal to one rank stops every rank after the same step with
# a checkpoint, and the resumed run is the uninterrupted one's bits.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 480 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 12000 800 32 7

# plan TAG R M SCHED UNITS...: $WORK/TAG.ini (SHARD, OVERLAP: the [parallel] keys)
plan() {
	tag=$1 R=$2 M=$3 sched=$4
	shift 4
	o=$OPTIM
	[ "$sched" != interleaved ] || o="$o\nvirtual_stages = 2"
	MICRO=$M write_plan "$WORK/$tag.ini" "$SPEC" "$DATA" "$sched" no shm "$o" "$@"
	printf '[parallel]\nreplicas = %d\noverlap = %s\nshard_optimizer = %s\n' "$R" \
		"${OVERLAP:-no}" "${SHARD:-yes}" >> "$WORK/$tag.ini"
}

run() {   # run TAG PARTS [ARGS]: TAG.ini's run, dumped to $WORK/TAG ($WORK/TAG/all.params)
	tag=$1 parts=$2
	shift 2
	rm -rf "$WORK/$tag"
	timeout 300 "$DTPIPE" --plan "$WORK/$tag.ini" --threads 1 --steps 10 --quiet \
		--dump "$WORK/$tag" "$@" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $tag did not run"; exit 1; }
	concat_params "$WORK/$tag" "$parts"
}


check_model() {
	n=$1
	plan "$n-r1" 1 8 gpipe 0-3
	run "$n-r1" 1
	# the dump of an interleaved run is per chunk, in chain order: 4 parts
	plan "$n-il" 2 4 interleaved "0, 2" "1, 3"
	run "$n-il" 4
	close "$n-r1" "$n-il" "$n: interleaved R=2 K=2 v=2 weights are not those of R=1 with the same global batch"
	plan "$n-il-again" 2 4 interleaved "0, 2" "1, 3"
	run "$n-il-again" 4
	same "$n-il" "$n-il-again" "$n: two interleaved R=2 runs differ"
	plan "$n-plain" 2 4 gpipe 0-1 2-3
	run "$n-plain" 2
	same "$n-plain" "$n-il" "$n: interleaved R=2 differs from the plain R=2 K=2 run"
	echo "ok: $n interleaved R=2 (sharded) matches R=1, bit-identical run to run and to plain R=2 K=2"
	SHARD=no plan "$n-il-whole" 2 4 interleaved "0, 2" "1, 3"
	run "$n-il-whole" 4
	SHARD=no plan "$n-plain-whole" 2 4 gpipe 0-1 2-3
	run "$n-plain-whole" 2
	same "$n-plain-whole" "$n-il-whole" "$n: unsharded interleaved R=2 differs from unsharded plain R=2 K=2"
	same "$n-il" "$n-il-whole" "$n: the unsharded interleaved step differs from the sharded one"
	OVERLAP=yes plan "$n-il-ov" 2 4 interleaved "0, 2" "1, 3"
	run "$n-il-ov" 4
	same "$n-il" "$n-il-ov" "$n: interleaved R=2 with overlapped reduce-scatters differs"
	echo "ok: $n interleaved R=2 unsharded and overlapped: the same bits"
	# a checkpoint of 5 steps of the sharded interleaved R=2 run, resumed
	# to 10 under R=1 (one stage) and under itself
	rm -rf "$WORK/ck-$n" "$WORK/ck-$n-a" "$WORK/ck-$n-b"
	timeout 300 "$DTPIPE" --plan "$WORK/$n-il.ini" --threads 1 --steps 5 --quiet \
		--checkpoint-dir "$WORK/ck-$n" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $n: interleaved R=2 with checkpoints"; exit 1; }
	cp -r "$WORK/ck-$n" "$WORK/ck-$n-a"
	cp -r "$WORK/ck-$n" "$WORK/ck-$n-b"
	cp "$WORK/$n-r1.ini" "$WORK/$n-res-r1.ini"
	run "$n-res-r1" 1 --resume --checkpoint-dir "$WORK/ck-$n-a"
	close "$n-r1" "$n-res-r1" "$n: an interleaved R=2 checkpoint resumed under R=1 is not the R=1 run"
	cp "$WORK/$n-il.ini" "$WORK/$n-res-il.ini"
	run "$n-res-il" 4 --resume --checkpoint-dir "$WORK/ck-$n-b"
	cmp "$WORK/$n-il/all.params" "$WORK/$n-res-il/all.params" ||
		{ echo "FAIL: $n: an interleaved R=2 checkpoint resumed under itself is not the uninterrupted run"; exit 1; }
	echo "ok: $n interleaved R=2 checkpoint resumed under R=1 matches R=1, under itself bit-identical"
}

# units of 1248, 9312, 9312 (three gradient blocks each: shards cut units) and 388 floats
SPEC="mlp:12-96-96-96-4" DATA="$WORK/rec"
OPTIM='optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model mlp
# eps 1e-6: see tests/mpi/replicas.sh
SPEC="gpt:layers=2,dim=32,heads=2,seq=8,vocab=32" DATA="$WORK/tok"
OPTIM='optimizer = adamw\nlr = 0.01\neps = 1e-6\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'
check_model gpt

# a stop signal to world rank 3 (replica 1, stage 1: the chain's last chunk)
# while every rank spins at the start of step 6 (the failure-detection test
# hook): every rank stops after the same step, 75, replica 0's checkpoint;
# resumed, the uninterrupted run's bits
SPEC="mlp:12-96-96-96-4" DATA="$WORK/rec"
OPTIM='optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
plan stop 2 4 interleaved "0, 2" "1, 3"
DTP_TEST_HANG_AT_STEP=6 DTP_TEST_HANG_MS=6000 \
"$DTPIPE" --plan "$WORK/stop.ini" --threads 1 --steps 10 --quiet --checkpoint-dir "$WORK/ck-stop" \
	--hang-timeout-ms 60000 \
	--dump "$WORK/part" >"$WORK/out" 2>&1 &
JOB=$!
wait_losses "$WORK/part" 6
pid=$(rank_pid "$WORK/stop.ini" 3)
[ -n "$pid" ] || { cat "$WORK/out"; echo "FAIL: rank 3 (replica 1, stage 1) not found"; exit 1; }
kill -USR1 "$pid"
wait_exit $JOB "the interleaved replicated job after SIGUSR1 to rank 3"
[ "$rc" -eq 75 ] || { cat "$WORK/out"; echo "FAIL: exit $rc after SIGUSR1 to one rank, want 75"; exit 1; }
stopped=$(wc -l < "$WORK/part/losses")
[ "$stopped" -lt 10 ] || { echo "FAIL: the run did not stop early"; exit 1; }
test -f "$WORK/ck-stop/step-$(printf %08d "$stopped")/manifest.json" ||
	{ ls -R "$WORK/ck-stop"; echo "FAIL: no complete checkpoint of step $stopped"; exit 1; }
run stop 4 --resume --checkpoint-dir "$WORK/ck-stop"
cmp "$WORK/mlp-il/all.params" "$WORK/stop/all.params" ||
	{ echo "FAIL: the stopped and resumed interleaved R=2 run's weights differ from the uninterrupted run's"; exit 1; }
echo "ok: SIGUSR1 to rank 3 stopped every rank after step $stopped with 75 and a checkpoint; resumed bit-identical"
echo "PASS"
