#!/bin/sh
# Failures are noticed in bounded time, by every neighbour, with the stage and
# the cause named (docs/architecture.md, "Failure detection"): a stage killed
# (kill -9), stopped (SIGSTOP), or stuck in an endless loop in its main thread
# (the test hook DTP_TEST_HANG_AT_STEP); and a stage that is only slow (its
# main thread busy for longer than the peer timeout) is not a failure. The
# bounds are short here (--peer-timeout-ms 3000 --hang-timeout-ms 8000: a
# second's stall of this VM's vCPUs is no failure); the 60 s waits are hang
# guards, not timings.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5
BOUNDS="--heartbeat-ms 100 --peer-timeout-ms 3000 --hang-timeout-ms 8000"
STOPPED=
trap 'for p in $STOPPED; do kill -CONT $p 2>/dev/null; kill -9 $p 2>/dev/null; done; rm -rf "$WORK"' EXIT

# start3 NAME TRANSPORT [ENV...]: stages 0, 1, 2 by hand (as under srun) in
# the background, pids $s0 $s1 $s2; ENV applies to stage 1 only
start3() {
	name=$1 tr=$2
	shift 2
	write_plan "$WORK/$name.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no "$tr" 'lr = 0.01' 0 1-2 3
	"$DTPIPE" --plan "$WORK/$name.ini" --stage 0 --threads 1 --no-bind --quiet --steps 1000000 \
		$BOUNDS >"$WORK/$name.0" 2>&1 &
	s0=$!
	env "$@" "$DTPIPE" --plan "$WORK/$name.ini" --stage 1 --threads 1 --no-bind --quiet \
		--steps 1000000 $BOUNDS >"$WORK/$name.1" 2>&1 &
	s1=$!
	"$DTPIPE" --plan "$WORK/$name.ini" --stage 2 --threads 1 --no-bind --quiet --steps 1000000 \
		$BOUNDS --dump "$WORK/$name.d" >"$WORK/$name.2" 2>&1 &
	s2=$!
}
# survivors NAME CAUSE: stages 0 and 2 end with status 1, each naming stage 1
# and the cause (a regular expression)
survivors() {
	for s in 0 2; do
		eval pid=\$s$s
		wait_exit "$pid" "stage $s"
		test "$rc" -eq 1 || { cat "$WORK/$1.$s"; echo "FAIL: $1: stage $s exited $rc, want 1"; exit 1; }
		grep -Eq "$2" "$WORK/$1.$s" ||
			{ cat "$WORK/$1.$s"; echo "FAIL: $1: stage $s does not say: $2"; exit 1; }
		echo "ok: $1: stage $s exits 1: $(grep -Eo "$2.*" "$WORK/$1.$s" | head -n 1)"
	done
}

# 1. a middle stage killed: its link or its heartbeat connection ends
start3 killed shm
wait_losses "$WORK/killed.d" 2
kill -9 "$s1"
survivors killed "stage 1 .*(closed|stopped or died)"
wait "$s1" 2>/dev/null || true

# 2. a middle stage stopped: sockets stay open, only the silence tells
start3 stopped shm
STOPPED=$s1
wait_losses "$WORK/stopped.d" 2
kill -STOP "$s1"
survivors stopped "no heartbeat from stage 1 for [0-9.]+ s"
kill -CONT "$s1"; kill -9 "$s1"; wait "$s1" 2>/dev/null || true
STOPPED=

# 3. a middle stage whose main thread loops forever at step 3: it beats, but
# makes no progress while waiting on no one
start3 looping shm DTP_TEST_HANG_AT_STEP=3
survivors looping "stage 1 is alive but has made no progress for [0-9.]+ s while waiting on no other stage"
grep -q "spins at step 3 forever" "$WORK/looping.1" || { cat "$WORK/looping.1"; echo "FAIL: no hook"; exit 1; }
kill -9 "$s1"; wait "$s1" 2>/dev/null || true

# 4. slow is not dead: stage 1 computes for 5 s (longer than the peer
# timeout, shorter than the hang timeout) at step 2; the run finishes
write_plan "$WORK/slow.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no shm 'lr = 0.01' 0 1-2 3
for s in 0 1 2; do
	env $([ $s -eq 1 ] && echo DTP_TEST_HANG_AT_STEP=2 DTP_TEST_HANG_MS=5000) \
		"$DTPIPE" --plan "$WORK/slow.ini" --stage $s --threads 1 --no-bind --quiet --steps 5 \
		--heartbeat-ms 100 --peer-timeout-ms 3000 --hang-timeout-ms 20000 >"$WORK/slow.$s" 2>&1 &
	eval s$s=$!
done
for s in 0 1 2; do
	eval pid=\$s$s
	wait_exit "$pid" "stage $s of the slow run"
	test "$rc" -eq 0 || { cat "$WORK/slow.$s"; echo "FAIL: slow run: stage $s exited $rc, want 0"; exit 1; }
done
grep -q "spins at step 2 for DTP_TEST_HANG_MS" "$WORK/slow.1" || { cat "$WORK/slow.1"; echo "FAIL: no hook"; exit 1; }
echo "ok: a stage busy for 5 s with a peer timeout of 3 s is not declared dead"

# 5. under the launcher: a stage stopped; the job ends with status 1, the
# first cause named, no stage left behind
next_port
write_plan "$WORK/l.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no shm 'lr = 0.01' 0 1 2 3
"$DTPIPE" --plan "$WORK/l.ini" --threads 1 --no-bind --quiet --steps 1000000 $BOUNDS \
	--dump "$WORK/l.d" >"$WORK/l.out" 2>&1 &
sup=$!
wait_losses "$WORK/l.d" 2
victim=$(ps -o pid=,args= --ppid "$sup" | awk '/ --stage 2( |$)/ { print $1 }')
test -n "$victim" || { cat "$WORK/l.out"; echo "FAIL: launcher has no children"; kill "$sup"; exit 1; }
STOPPED=$victim
kill -STOP "$victim"
wait_exit "$sup" "the launcher"
test "$rc" -eq 1 || { cat "$WORK/l.out"; echo "FAIL: launcher exited $rc, want 1"; exit 1; }
grep -Eq "no heartbeat from stage 2 for [0-9.]+ s" "$WORK/l.out" ||
	{ cat "$WORK/l.out"; echo "FAIL: the launcher's report does not name stage 2 and the cause"; exit 1; }
test -z "$(ps -o pid= --ppid "$sup" 2>/dev/null)" || { echo "FAIL: stages left running"; exit 1; }
echo "ok: a stage stopped under the launcher -> job exits 1: $(tail -n 1 "$WORK/l.out")"
STOPPED=

# 6. bounds that do not fit together are bad input (exit 2), named
set +e
"$DTPIPE" --plan "$WORK/l.ini" --stage 0 --quiet --heartbeat-ms 500 --peer-timeout-ms 600 \
	>"$WORK/bad1" 2>&1; b1=$?
sed 's/^connect_timeout_ms = .*/&\nhang_timeout_ms = 100/' "$WORK/l.ini" >"$WORK/bad.ini"
"$DTPIPE" --plan "$WORK/bad.ini" --stage 0 --quiet >"$WORK/bad2" 2>&1; b2=$?
set -e
test "$b1" -eq 2 && grep -q "peer timeout of at least two heartbeats" "$WORK/bad1" ||
	{ cat "$WORK/bad1"; echo "FAIL: --peer-timeout-ms below two heartbeats gave $b1, want 2"; exit 1; }
test "$b2" -eq 2 && grep -q "hang_timeout_ms = 100" "$WORK/bad2" ||
	{ cat "$WORK/bad2"; echo "FAIL: hang_timeout_ms below peer_timeout_ms gave $b2, want 2"; exit 1; }
echo "ok: bounds that do not fit together -> exit 2"
echo PASS
