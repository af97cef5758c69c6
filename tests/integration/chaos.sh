#!/bin/sh
# The chaos test (issue 11, automatic recovery): a 4-stage run that writes a
# checkpoint every 4 steps under `dtpipe --max-restarts 5` has a stage killed
# with SIGKILL five times: stage 0, a middle stage, the last stage, a stage in
# the middle of a checkpoint write (its part written, the checkpoint not
# finished), and a stage as the first step after a restart begins (the
# stages resumed, none has trained a step). The test hook DTP_TEST_HOLD
# (src/pipeline/ckpt_run.h) holds the stages at those two moments while the
# test kills one. The moments (steps after the restart) and the
# order are random, from a seed that is printed (DTP_CHAOS_SEED=N repeats a
# run). The launcher must say what failed and restart from the newest
# complete checkpoint each time (never from the one being written; after a
# kill before any new checkpoint, from the same one again), the run must end
# with exit 0, every step's loss must equal the uninterrupted run's (a step
# trained twice, before and after a kill, gives the same loss) and the final
# weights must be the uninterrupted run's, bit for bit.
. "$DTP_SRCDIR/tests/integration/lib.sh"

SEED=${DTP_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "chaos seed $SEED (DTP_CHAOS_SEED=$SEED repeats this run)"
STEPS=400
EVERY=4

"$MKDATA" records "$WORK/rec" 2000 40 12 4 7
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no shm \
	"optimizer = adamw\nlr = 0.01\nclip_norm = 1.0\n[checkpoint]\nevery = $EVERY\nkeep = 2" 0 1 2 3
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps $STEPS --dump "$WORK/ref" \
	>"$WORK/ref.out" 2>&1 || { cat "$WORK/ref.out"; echo "FAIL: uninterrupted run"; exit 1; }

# the plan of attack: the four kinds in a random order, and the kill in the
# first step after a restart somewhere after the first; the steps after each
# restart at which to kill (at least one checkpoint into the run first)
plan=$(awk -v seed="$SEED" 'BEGIN {
	srand(seed); n = split("first middle last ckpt", k, " ")
	for (i = n; i > 1; i--) { j = int(rand() * i) + 1; t = k[i]; k[i] = k[j]; k[j] = t }
	at = int(rand() * 4) + 2
	out = ""
	for (i = 1; i <= n; i++) {
		if (i == at) out = out " restart:" int(rand() * 4)
		out = out " " k[i] ":" (i == 1 ? 6 : 1) + int(rand() * 6)
	}
	if (at == 5) out = out " restart:" int(rand() * 4)
	print out }')
echo "kills (kind:steps after the restart, or restart:stage): $plan"

HOLD="$WORK/hold"
export DTP_TEST_HOLD="$HOLD"
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --steps $STEPS --checkpoint-dir "$WORK/ck" \
	--max-restarts 5 --dump "$WORK/run" >"$WORK/out" 2>&1 &
sup=$!

losses() { cat "$WORK/run/losses" 2>/dev/null | wc -l; }
count() { grep -c "$1" "$WORK/out"; }
# guard N WHAT: a hang guard (N tenths of a second), never a timing check
tick=0
guard() {
	tick=$((tick + 1))
	[ $tick -lt "$1" ] || { kill -9 "$sup" 2>/dev/null; cat "$WORK/out"; echo "FAIL: $2"; exit 1; }
	sleep 0.1
}
stage_pid() {
	ps -o pid=,args= --ppid "$sup" | awk -v s="--stage $1 " 'index($0, s) { print $1 }'
}
kill_stage() {
	pid=$(stage_pid "$1")
	[ -n "$pid" ] || { kill -9 "$sup"; cat "$WORK/out"; echo "FAIL: no process of stage $1"; exit 1; }
	[ "$hold_next" = 0 ] || : > "$HOLD.resume"
	kill -9 "$pid"
	kills=$((kills + 1))
	echo "kill $kills: $2: stage $1 (pid $pid)"
	tick=0
	until [ "$(count "restart $kills/5")" -ge 1 ]; do guard 600 "no restart after kill $kills"; done
}
# wait for this attempt to train `steps` more steps than it had when it began
train_steps() {
	tick=0
	base=$(losses)
	until [ "$(losses)" -ge $((base + $1)) ]; do
		kill -0 "$sup" 2>/dev/null || { cat "$WORK/out"; echo "FAIL: the run ended before all kills"; exit 1; }
		guard 1200 "no progress"
	done
}
# the restart message after kill N: the checkpoint it starts from
from_ckpt() { grep "restart $1/5" "$WORK/out" | sed -n 's/.*from checkpoint step-0*\([0-9][0-9]*\).*/\1/p'; }

kills=0
set -- $plan
for k in "$@"; do
	kind=${k%:*} arg=${k#*:}
	shift
	# the next one kills in the first step after this one's restart: hold it
	# there (from the moment of this kill: this attempt is past its resume)
	case ${1:-} in restart:*) hold_next=1 ;; *) hold_next=0 ;; esac
	case $kind in
	first) train_steps "$arg"; kill_stage 0 "stage 0" ;;
	middle) train_steps "$arg"; kill_stage $((1 + arg % 2)) "a middle stage" ;;
	last) train_steps "$arg"; kill_stage 3 "the last stage" ;;
	ckpt)
		train_steps "$arg"
		: > "$HOLD.ckpt"
		tick=0
		until ls "$HOLD".ckpt.stage-* >/dev/null 2>&1; do guard 600 "no checkpoint write held"; done
		held=$(for d in "$WORK"/ck/step-*; do [ -e "$d/manifest.json" ] || echo "${d##*step-}"; done |
			sort -n | tail -n 1 | sed 's/^0*//')
		kill_stage $((arg % 4)) "during the checkpoint write of step $held"
		rm -f "$HOLD.ckpt" "$HOLD".ckpt.stage-*
		ck=$(from_ckpt $kills)
		[ -n "$ck" ] && [ "$ck" -lt "$held" ] ||
			{ cat "$WORK/out"; echo "FAIL: restarted from '$ck', not a checkpoint before step $held"; exit 1; }
		;;
	restart)
		# held as the attempt after the last kill begins its first step
		tick=0
		until ls "$HOLD".resume.stage-* >/dev/null 2>&1; do guard 600 "no resume held after kill $kills"; done
		prev=$(from_ckpt $kills) before=$(losses)
		kill_stage "$arg" "as the first step after restart $kills begins"
		rm -f "$HOLD.resume" "$HOLD".resume.stage-*
		[ "$(from_ckpt $kills)" = "$prev" ] && [ "$(losses)" = "$before" ] ||
			{ cat "$WORK/out"; echo "FAIL: a kill before any step: not the same checkpoint again"; exit 1; }
		;;
	esac
done
tick=0
while kill -0 "$sup" 2>/dev/null; do guard 1200 "the run did not end after the last restart"; done
set +e
wait "$sup"
rc=$?
set -e
test "$rc" -eq 0 || { cat "$WORK/out"; echo "FAIL: the run exited $rc after $kills kills"; exit 1; }
test "$kills" -eq 5 && test "$(count "dtpipe: stage [0-9] was killed by SIGKILL.*; restart [1-5]/5 from checkpoint step-")" -eq 5 ||
	{ cat "$WORK/out"; echo "FAIL: not 5 kills each followed by a restart from a checkpoint"; exit 1; }
test -z "$(ps -o pid= --ppid "$sup" 2>/dev/null)" || { echo "FAIL: stages left running"; exit 1; }
grep "restart [1-5]/5" "$WORK/out"
# every step once, with the loss of the uninterrupted run (a step trained
# twice must give the same loss both times)
sort -u "$WORK/run/losses" | sort -n > "$WORK/run/losses.u"
cmp "$WORK/ref/losses" "$WORK/run/losses.u" ||
	{ diff "$WORK/ref/losses" "$WORK/run/losses.u" | head; echo "FAIL: losses differ from the uninterrupted run"; exit 1; }
concat_params "$WORK/ref" 4
concat_params "$WORK/run" 4
cmp "$WORK/ref/all.params" "$WORK/run/all.params" ||
	{ echo "FAIL: final weights differ from the uninterrupted run"; exit 1; }
echo "ok: 5 kills, 5 restarts from checkpoints: losses and final weights bit-identical to the uninterrupted run"
echo PASS
