#!/bin/sh
# Preemption (base/preempt.h): SIGTERM to the launcher, SIGUSR1 to a middle
# stage, SIGINT to the last stage: every stage finishes its step, writes a
# complete checkpoint and the job exits 75; --resume then ends with the
# losses and weights of the run that was never stopped, bit for bit. A second
# signal aborts (128 + N) without a checkpoint. Without a checkpoint
# directory a stop is an interruption (128 + N) that says nothing was saved.
# --resume-if-any starts afresh where there is no checkpoint yet.
#
# The stopped runs are told to train for ever (--steps 1000000) and stop at
# whichever step K the signal meets; the reference and the resumed runs then
# train to the same F > every K. A constant learning rate makes the total
# step count change nothing but where the run ends.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/integration/lib-launch.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5
opta='optimizer = adamw\nlr = 0.01\nclip_norm = 1.0'
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no shm "$opta" 0 1-2 3

# start NAME [OPTIONS...]: the job in the background (pid in $sup), once it trains
start() {
	name=$1
	shift
	"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --no-bind --steps 1000000 --quiet \
		--metrics "$WORK/$name.jsonl" --dump "$WORK/$name" "$@" >"$WORK/$name.out" 2>&1 &
	sup=$!
	wait_training "$WORK/$name.jsonl" "$WORK/$name.out"
}

# stage_pid N: the pid of the launcher's stage N
stage_pid() {
	ps -o pid=,args= --ppid "$sup" | awk -v s="--stage $1 " 'index($0 " ", s) { print $1 }'
}

# wait_for FILE PATTERN: until the job's output says PATTERN (hang guard 30 s)
wait_for() {
	i=0
	until grep -q "$2" "$1"; do
		i=$((i + 1))
		if [ $i -ge 120 ]; then cat "$1"; echo "FAIL: no '$2'"; exit 1; fi
		sleep 0.25
	done
}

# stopped NAME: the job exited 75 leaving a complete checkpoint, the step of
# which is in $K (and $WORK/NAME.k); no stage left
stopped() {
	test "$rc" -eq 75 || { cat "$WORK/$1.out"; echo "FAIL: $1: exit $rc, want 75"; exit 1; }
	test -z "$(stages_of "$WORK/$1.jsonl")" || { echo "FAIL: $1: stages left"; exit 1; }
	latest=$(cat "$WORK/ck-$1/latest")
	K=$(echo "$latest" | sed 's/^step-0*//')
	for s in 0 1 2; do
		test -s "$WORK/ck-$1/$latest/stage-$s.safetensors" ||
			{ ls -R "$WORK/ck-$1"; echo "FAIL: $1: no part of stage $s"; exit 1; }
	done
	test -s "$WORK/ck-$1/$latest/manifest.json" ||
		{ ls -R "$WORK/ck-$1"; echo "FAIL: $1: no manifest"; exit 1; }
	test -z "$(find "$WORK/ck-$1" -name '*.tmp*')" ||
		{ ls -R "$WORK/ck-$1"; echo "FAIL: $1: temporary files left"; exit 1; }
	test "$(wc -l < "$WORK/$1/losses")" -eq "$K" ||
		{ echo "FAIL: $1: $(wc -l < "$WORK/$1/losses") losses, checkpoint of step $K"; exit 1; }
	grep -q "stopped by SIG$2 after step $K of 1000000: the checkpoint .*step-0*$K is written" \
		"$WORK/$1.out" && ! grep -q "failed\|killed by signal" "$WORK/$1.out" ||
		{ cat "$WORK/$1.out"; echo "FAIL: $1: no clear message"; exit 1; }
	echo "$K" > "$WORK/$1.k"
	echo "ok: $1: exit 75 with a complete checkpoint of step $K"
}

# SIGTERM to the launcher
start term --checkpoint-dir "$WORK/ck-term"
kill -TERM "$sup"
wait_exit "$sup" "launcher after SIGTERM"
grep -q "^dtpipe: interrupted by SIGTERM: every stage finishes its step and writes a checkpoint" \
	"$WORK/term.out" || { cat "$WORK/term.out"; echo "FAIL: term: the launcher did not say so"; exit 1; }
stopped term TERM

# SIGUSR1 to a middle stage
start usr1 --checkpoint-dir "$WORK/ck-usr1"
kill -USR1 "$(stage_pid 1)"
wait_exit "$sup" "launcher after SIGUSR1 to stage 1"
stopped usr1 USR1

# SIGINT to the last stage
start int --checkpoint-dir "$WORK/ck-int"
kill -INT "$(stage_pid 2)"
wait_exit "$sup" "launcher after SIGINT to stage 2"
stopped int INT

# Ctrl-C: SIGINT to the launcher and every stage at once (their process
# group, made by setsid): still one request, not a second signal
setsid -w "$DTPIPE" --plan "$WORK/p.ini" --threads 1 --no-bind --steps 1000000 --quiet \
	--metrics "$WORK/ctrlc.jsonl" --dump "$WORK/ctrlc" --checkpoint-dir "$WORK/ck-ctrlc" \
	>"$WORK/ctrlc.out" 2>&1 &
sup=$!
wait_training "$WORK/ctrlc.jsonl" "$WORK/ctrlc.out"
pg=$(ps -o pgid= -p "$(stages_of "$WORK/ctrlc.jsonl" | head -1)" | tr -d ' ')
kill -INT -- "-$pg"
wait_exit "$sup" "launcher after SIGINT to its process group"
stopped ctrlc INT

# the run that is never stopped, to F steps; --resume-if-any with no
# checkpoint directory yet starts afresh
F=$(( $(cat "$WORK/term.k" "$WORK/usr1.k" "$WORK/int.k" | sort -n | tail -1) + 3 ))
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --no-bind --quiet --steps "$F" --dump "$WORK/full" \
	--resume-if-any "$WORK/ck-full" >"$WORK/full.out" 2>&1 ||
	{ cat "$WORK/full.out"; echo "FAIL: the uninterrupted run"; exit 1; }
grep -q "holds no checkpoint yet: starting afresh" "$WORK/full.out" ||
	{ cat "$WORK/full.out"; echo "FAIL: --resume-if-any did not say it starts afresh"; exit 1; }
test "$(wc -l < "$WORK/full/losses")" -eq "$F" || { echo "FAIL: not $F steps"; exit 1; }
concat_params "$WORK/full" 3

# a requeued (or restarted, --max-restarts resumes this way) job whose run had
# ended: its checkpoint is of the last step; nothing is trained, the run
# ends as it did (evaluation, dump) and succeeds with the same weights
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --no-bind --quiet --steps "$F" --dump "$WORK/again" \
	--resume-if-any "$WORK/ck-full" >"$WORK/again.out" 2>&1 ||
	{ cat "$WORK/again.out"; echo "FAIL: --resume-if-any of a run that had ended"; exit 1; }
grep -q "its training had ended, so nothing is trained" "$WORK/again.out" ||
	{ cat "$WORK/again.out"; echo "FAIL: a run that had ended did not say so"; exit 1; }
concat_params "$WORK/again" 3
cmp "$WORK/full/all.params" "$WORK/again/all.params" ||
	{ echo "FAIL: a run that had ended, resumed: weights differ"; exit 1; }
echo "ok: --resume-if-any of a run that had ended: exit 0, nothing trained, same weights"

# each resumed (--resume-if-any for one) to F: the same losses and weights
for name in term usr1 int; do
	how=--resume
	test "$name" = usr1 && how=--resume-if-any
	"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --no-bind --quiet --steps "$F" \
		--dump "$WORK/$name" --checkpoint-dir "$WORK/ck-$name" $how >"$WORK/$name.out" 2>&1 ||
		{ cat "$WORK/$name.out"; echo "FAIL: $name: resumed run"; exit 1; }
	grep -q "resuming from .*step-0*$(cat "$WORK/$name.k") " "$WORK/$name.out" ||
		{ cat "$WORK/$name.out"; echo "FAIL: $name: not resumed from its checkpoint"; exit 1; }
	cmp "$WORK/full/losses" "$WORK/$name/losses" || { echo "FAIL: $name: losses differ"; exit 1; }
	concat_params "$WORK/$name" 3
	cmp "$WORK/full/all.params" "$WORK/$name/all.params" ||
		{ echo "FAIL: $name: weights differ"; exit 1; }
	echo "ok: $name: stopped at step $(cat "$WORK/$name.k"), $how to $F == the run never stopped, bit for bit"
done

# A second signal aborts, without a checkpoint. Stage 2 is held (SIGSTOP)
# so that no step can end between the two signals.
# - to the launcher: once it said it relays the stop
start abort --checkpoint-dir "$WORK/ck-abort"
held=$(stage_pid 2)
kill -STOP "$held"
kill -TERM "$sup"
wait_for "$WORK/abort.out" "^dtpipe: interrupted by SIGTERM"
kill -TERM "$sup"
wait_exit "$sup" "launcher after a second SIGTERM"
kill -CONT "$held" 2>/dev/null || true
test "$rc" -eq 143 && grep -q "a second signal: aborting" "$WORK/abort.out" ||
	{ cat "$WORK/abort.out"; echo "FAIL: second SIGTERM to the launcher: exit $rc, want 143"; exit 1; }
test -z "$(stages_of "$WORK/abort.jsonl")" || { echo "FAIL: stages left after the abort"; exit 1; }
test ! -e "$WORK/ck-abort/latest" || { ls -R "$WORK/ck-abort"; echo "FAIL: a checkpoint after an abort"; exit 1; }
echo "ok: a second SIGTERM to the launcher aborts: 143, no checkpoint"
# - to a stage: two different signals (two of one kind may merge into one);
#   it dies of one of them, and the job's status says which
start abort2 --checkpoint-dir "$WORK/ck-abort2"
held=$(stage_pid 2)
kill -STOP "$held"
victim=$(stage_pid 1)
kill -INT "$victim"
kill -TERM "$victim"
wait_exit "$sup" "launcher after two signals to stage 1"
kill -CONT "$held" 2>/dev/null || true
{ test "$rc" -eq 130 || test "$rc" -eq 143; } &&
	grep -q "^dtpipe: interrupted: stage 1 was stopped at once by SIG\(INT\|TERM\)" "$WORK/abort2.out" ||
	{ cat "$WORK/abort2.out"; echo "FAIL: two signals to stage 1: exit $rc, want 130 or 143"; exit 1; }
test ! -e "$WORK/ck-abort2/latest" || { ls -R "$WORK/ck-abort2"; echo "FAIL: a checkpoint after an abort"; exit 1; }
test -z "$(stages_of "$WORK/abort2.jsonl")" || { echo "FAIL: stages left after the abort"; exit 1; }
echo "ok: a second signal to a stage aborts: $rc, no checkpoint"

# no checkpoint directory: a stop signal to a stage is an interruption that
# says nothing was saved
start nockpt
kill -TERM "$(stage_pid 0)"
wait_exit "$sup" "launcher after SIGTERM to stage 0 without checkpoints"
test "$rc" -eq 143 && grep -q "no checkpoint directory is configured" "$WORK/nockpt.out" &&
	! grep -q "failed\|killed by signal" "$WORK/nockpt.out" ||
	{ cat "$WORK/nockpt.out"; echo "FAIL: no checkpoint directory: exit $rc, want 143 and a message"; exit 1; }
echo "ok: without a checkpoint directory: 143, saying nothing was saved"
echo PASS
