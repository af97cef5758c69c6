#!/bin/sh
# Data-parallel replicas under mpirun (R x K = 2 x 2 over shm), for the mlp
# and the gpt: 20 steps give the weights of the R = 1 run with the same
# global batch (M = 6 = 2 x 3) to float rounding (relative difference of the
# weights < 1e-5), two runs are bit-identical, and K = 1 with R = 2 is
# bit-identical to K = 2 (two replicas: a + b, whatever the buckets and cuts);
# one bucket per unit, and small buckets summed under the backward
# (overlap = yes, several in flight), give the same bits; so do zb-h1 and
# zb-h2 at R = 2, K = 2.
# dtpipe --plan alone starts the job through mpirun itself.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 480 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 12000 800 32 7

# plan R M UNITS...: $WORK/plan.ini
plan() {
	R=$1 M=$2
	shift 2
	MICRO=$M write_plan "$WORK/plan.ini" "$SPEC" "$DATA" "${SCHED:-gpipe}" no shm "$OPTIM" "$@"
	printf '[parallel]\nreplicas = %d\noverlap = %s\n' "$R" "${OVERLAP:-no}" >> "$WORK/plan.ini"
	[ -z "${BUCKET:-}" ] || printf 'bucket_size = %s\n' "$BUCKET" >> "$WORK/plan.ini"
}

run() {   # run TAG K: dump to $WORK/TAG, weights in $WORK/TAG/all.params
	rm -rf "$WORK/$1"
	timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 20 --quiet \
		--dump "$WORK/$1" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: $1 did not run"; exit 1; }
	concat_params "$WORK/$1" "$2"
}

# same_r2k2 TAG MESSAGE: TAG's weights and losses are the R=2 K=2 run's
same_r2k2() { same "$name-r2k2" "$@"; }

check_model() {
	name=$1
	plan 1 6 0-3
	run "$name-r1" 1
	plan 2 3 0-1 2-3
	run "$name-r2k2" 2
	close "$name-r1" "$name-r2k2" \
		"$name: R=2 K=2 weights are not those of R=1 with the same global batch"
	echo "ok: $name R=2 K=2 matches R=1 M=6"
	run "$name-r2k2-again" 2
	same_r2k2 "$name-r2k2-again" "$name: two R=2 K=2 runs differ"
	echo "ok: $name R=2 K=2 bit-identical run to run"
	plan 2 3 0-3
	run "$name-r2k1" 1
	same_r2k2 "$name-r2k1" "$name: R=2 K=1 differs from R=2 K=2"
	echo "ok: $name R=2 K=1 bit-identical to K=2"
	# zb-h1: the last micro-batch's W starts each unit's sum (not a backward)
	SCHED=zb-h1 plan 2 3 0-1 2-3
	run "$name-r2k2-zb" 2
	same_r2k2 "$name-r2k2-zb" "$name: R=2 K=2 zb-h1 differs from gpipe"
	echo "ok: $name R=2 K=2 zb-h1 bit-identical to gpipe"
	# zb-h2: a longer warm-up; the last stage runs its Ws after all its Bs
	SCHED=zb-h2 plan 2 3 0-1 2-3
	run "$name-r2k2-zb2" 2
	same_r2k2 "$name-r2k2-zb2" "$name: R=2 K=2 zb-h2 differs from gpipe"
	echo "ok: $name R=2 K=2 zb-h2 bit-identical to gpipe"
	# overlap = yes: nonblocking sums progressed under the backward; for two
	# replicas a + b is the same bits whichever way MPI adds them
	OVERLAP=yes plan 2 3 0-1 2-3
	run "$name-r2k2-ov" 2
	same_r2k2 "$name-r2k2-ov" "$name: R=2 K=2 with overlap = yes differs from blocking sums"
	echo "ok: $name R=2 K=2 overlapped sums bit-identical to blocking ones"
	# the default is one bucket per stage here; one per unit, and buckets of
	# a few units started under the backward of the units below
	BUCKET=0 plan 2 3 0-1 2-3
	run "$name-r2k2-b0" 2
	OVERLAP=yes BUCKET=$SMALL_BUCKET plan 2 3 0-3
	run "$name-r2k1-small" 1
	same_r2k2 "$name-r2k2-b0" "$name: R=2 K=2 with one bucket per unit differs from the default buckets"
	same_r2k2 "$name-r2k1-small" "$name: R=2 K=1 with small overlapped buckets differs from the default"
	echo "ok: $name R=2 bit-identical with one bucket per unit and with small overlapped buckets"
}

# SMALL_BUCKET: several buckets at K = 1 (mlp: units 3-2, 1, 0; gpt: two)
SPEC="mlp:12-24-24-24-4" DATA="$WORK/rec" SMALL_BUCKET=2K
OPTIM='optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model mlp

# checkpoints hold one copy of each unit (replica 0's) and the global data
# position: 10 steps with R=2 K=2, resumed to 20 with R=1 K=1 (the same
# global batch), give the weights of the R=1 run
plan 2 3 0-1 2-3
timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 10 --quiet \
	--checkpoint-dir "$WORK/ck" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: R=2 with checkpoints"; exit 1; }
test "$(ls "$WORK/ck/step-00000010" | grep -c '^stage-.*safetensors$')" -eq 2 ||
	{ ls -R "$WORK/ck"; echo "FAIL: not one copy per stage"; exit 1; }
plan 1 6 0-3
rm -rf "$WORK/mlp-resumed"
timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps 20 --quiet --resume "$WORK/ck" \
	--dump "$WORK/mlp-resumed" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: resume under R=1"; exit 1; }
concat_params "$WORK/mlp-resumed" 1
close "mlp-r1" "mlp-resumed" \
	"mlp: resumed under R=1 from an R=2 checkpoint, the weights are not the R=1 run's"
echo "ok: mlp R=2 checkpoint resumed with R=1 matches the R=1 run"
# AdamW's eps of 1e-6 (not 1e-8): Adam divides every gradient component by
# its own running magnitude, so for components near zero the summation
# order's rounding (R=2 adds 3 + 3 micro-batches, R=1 six in a row) becomes a
# difference in the step itself; with eps = 1e-8 this model's weights differ
# by 1.3e-5 after 20 steps, with 1e-6 by 2e-7
SPEC="gpt:layers=2,dim=16,heads=2,seq=8,vocab=32" DATA="$WORK/tok" SMALL_BUCKET=16K
OPTIM='optimizer = adamw\nlr = 0.01\neps = 1e-6\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'
check_model gpt
echo "PASS"
