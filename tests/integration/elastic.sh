#!/bin/sh
# Elastic recovery (issue 11): `dtpipe --max-restarts 2 --elastic` runs a
# 3-stage plan; the cores the launcher may use are cut to one (taskset -p) and
# a stage is killed: the restart splits the model again over what is left (one
# stage holding every unit); then the cores are given back and a stage is
# killed again: the restart splits it over two stages. Each restart says what
# it plans, the run ends with exit 0, and its losses and final weights equal
# the uninterrupted 3-stage run's bit for bit (one BLAS thread per stage
# throughout: OpenBLAS's Haswell kernel sums by thread count).
# A plan's [checkpoint] max_restarts does the same as the option.
. "$DTP_SRCDIR/tests/integration/lib.sh"

command -v taskset >/dev/null || { echo "SKIP: no taskset (util-linux)"; exit 77; }
set -- $(taskset -cp $$ | sed 's/.*: //' | tr ',' ' ')
cpus=$(for r in "$@"; do case $r in *-*) seq "${r%-*}" "${r#*-}" ;; *) echo "$r" ;; esac; done)
[ "$(echo "$cpus" | wc -l)" -ge 2 ] || { echo "SKIP: this process may use one core only"; exit 77; }
two=$(echo "$cpus" | head -n 2 | paste -sd, -)
one=$(echo "$cpus" | head -n 1)

"$MKDATA" records "$WORK/rec" 2000 40 12 4 7
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp \
	"optimizer = sgd\nlr = 0.05\nmomentum = 0.9\n[checkpoint]\nevery = 3\nmax_restarts = 2" 0 1-2 3
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 120 --dump "$WORK/ref" \
	>"$WORK/ref.out" 2>&1 || { cat "$WORK/ref.out"; echo "FAIL: uninterrupted run"; exit 1; }

# the stages hold after writing their part of the checkpoint of step 6 (and
# later) while $HOLD.ckpt exists (src/pipeline/ckpt_run.h): step 3's
# checkpoint completes, and a stage is killed at a moment the test knows,
# however fast the machine trains
HOLD="$WORK/hold"
export DTP_TEST_HOLD="$HOLD"
echo 6 > "$HOLD.ckpt"
taskset -c "$two" "$DTPIPE" --plan "$WORK/p.ini" --threads 1 --steps 120 --checkpoint-dir "$WORK/ck" \
	--elastic --dump "$WORK/run" >"$WORK/out" 2>&1 &
sup=$!
tick=0
guard() {
	tick=$((tick + 1))
	[ $tick -lt 1200 ] || { kill -9 "$sup" 2>/dev/null; cat "$WORK/out"; echo "FAIL: $1"; exit 1; }
	sleep 0.1
}
losses() { cat "$WORK/run/losses" 2>/dev/null | wc -l; }
# shrink_and_kill CORES N NEXT: the launcher may use CORES from now; once
# this attempt's stage 0 holds in a checkpoint write, kill it (the launcher
# ends the other, held, stages); the next attempt holds at checkpoints of
# step NEXT and later (none when NEXT is empty); wait for restart N
shrink_and_kill() {
	tick=0
	until [ -e "$HOLD.ckpt.stage-0" ]; do guard "no checkpoint write held before kill $2"; done
	taskset -pc "$1" "$sup" >/dev/null
	pid=$(ps -o pid=,args= --ppid "$sup" | awk 'index($0, "--stage 0 ") { print $1 }')
	rm -f "$HOLD".ckpt.stage-*
	if [ -n "$3" ]; then echo "$3" > "$HOLD.ckpt"; fi
	kill -9 "$pid"
	[ -n "$3" ] || rm -f "$HOLD.ckpt"
	tick=0
	until grep -q "restart $2/2" "$WORK/out"; do guard "no restart $2"; done
}
# the first restart resumes from step 3 and holds at step 12 (6 and 9
# complete); the second resumes from step 9 and runs to the end
shrink_and_kill "$one" 1 12
shrink_and_kill "$two" 2 ""
tick=0
while kill -0 "$sup" 2>/dev/null; do guard "the run did not end"; done
set +e
wait "$sup"
rc=$?
set -e
test "$rc" -eq 0 || { cat "$WORK/out"; echo "FAIL: exit $rc"; exit 1; }
grep "restart\|--elastic" "$WORK/out"
grep -q "dtpipe: --elastic: this process may run on 1 core now ($one), 2 before: 1 stage of 1 thread each, units 0-3 " "$WORK/out" &&
	grep -q "dtpipe: --elastic: this process may run on 2 cores now ($two), 1 before: 2 stages of 1 thread each, units 0-[0-2] [1-3]-3 " "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no re-plan onto 1 stage, then 2"; exit 1; }
grep -q "\[stage 0\] training [0-9]* steps (from step [1-9][0-9]*): 1 stages" "$WORK/out" &&
	grep -q "\[stage 1\] training [0-9]* steps (from step [1-9][0-9]*): 2 stages" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: the restarts did not resume on 1, then 2 stages"; exit 1; }
sort -u "$WORK/run/losses" | sort -n > "$WORK/run/losses.u"
cmp "$WORK/ref/losses" "$WORK/run/losses.u" || { echo "FAIL: losses differ from the uninterrupted run"; exit 1; }
concat_params "$WORK/ref" 3
concat_params "$WORK/run" 2
cmp "$WORK/ref/all.params" "$WORK/run/all.params" ||
	{ echo "FAIL: final weights differ from the uninterrupted run"; exit 1; }
echo "ok: 3 stages, then 1 on one core, then 2 on two: bit-identical to the uninterrupted run"
echo PASS
