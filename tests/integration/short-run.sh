#!/bin/sh
# A short run from the command line just works: --steps or --epochs that make
# the run shorter than the plan's warm-up shorten the warm-up (to a tenth of
# the steps) with a one-line note, and such a run resumes from its checkpoint.
# A plan file whose own steps contradict its warm-up is still refused.
. "$DTP_SRCDIR/tests/integration/lib.sh"

fail() { cat "$WORK/out"; echo "FAIL: $*"; exit 1; }

# the newcomer's quick try: the built-in default plan (784 features, 10
# classes, warm-up 100 steps, cosine to the end of 10 epochs) with --steps 3
"$MKDATA" records "$WORK/fm" 300 20 784 10 3
"$DTPIPE" --data "$WORK/fm" --steps 3 --threads 1 >"$WORK/out" 2>&1 ||
	fail "the default plan with --steps 3 is refused"
grep -q "note: the plan's warm-up of 100 steps is longer than this run of 3 steps (--steps/--epochs): warming up over 0 steps instead" "$WORK/out" ||
	fail "no note about the shortened warm-up"
grep -q 'step 3/3 | loss' "$WORK/out" || fail "3 steps were not trained"
grep -q 'test accuracy: ' "$WORK/out" || fail "no evaluation"

# a plan of our own (warm-up 100, cosine to the end of the epochs)
"$MKDATA" records "$WORK/rec" 240 20 12 4 5
write_plan "$WORK/p.ini" "mlp:12-16-4" "$WORK/rec" gpipe no tcp \
	'lr = 0.05\nwarmup_steps = 100\nlr_schedule = cosine' 0 1
sed -i 's/^steps = 5$/steps = 0\nepochs = 20/' "$WORK/p.ini"
# --epochs 1: 240 / (4 x 3) = 20 steps, warm-up 2
"$DTPIPE" --plan "$WORK/p.ini" --epochs 1 --threads 1 --metrics "$WORK/m.jsonl" >"$WORK/out" 2>&1 ||
	fail "--epochs 1 is refused"
grep -q "warm-up of 100 steps is longer than this run of 20 steps.*over 2 steps instead" "$WORK/out" ||
	fail "no note for --epochs"
# the learning rate follows the fitted warm-up: lr/2 at step 1, lr at step 2
python3 - "$WORK/m.jsonl" <<'PY' || fail "learning rates do not follow the 2-step warm-up"
import json, sys
lr = [l["lr"] for l in map(json.loads, open(sys.argv[1])) if "step" in l]
assert len(lr) == 20, lr
assert abs(lr[0] - 0.025) < 1e-6 and abs(lr[1] - 0.05) < 1e-6 and lr[-1] < lr[2], lr
PY

# a short run with a checkpoint resumes with more (still short) steps
next_port
sed -i "s/^base_port = .*/base_port = $PORT/" "$WORK/p.ini"
"$DTPIPE" --plan "$WORK/p.ini" --steps 4 --threads 1 --checkpoint-dir "$WORK/ck" -q >"$WORK/out" 2>&1 ||
	fail "--steps 4 with a checkpoint"
"$DTPIPE" --plan "$WORK/p.ini" --steps 8 --threads 1 --checkpoint-dir "$WORK/ck" --resume >"$WORK/out" 2>&1 ||
	fail "resuming a short run with --steps 8"
grep -q 'training 4 steps (from step 4)' "$WORK/out" || fail "did not resume at step 4"
# the start-up line names the kernel and the CPU model (src/base/cpuid.h)
if [ "$(uname -m)" = x86_64 ]; then
	grep -q 'training .*, OpenBLAS [A-Za-z0-9]* kernel, .* family [0-9]* model [0-9]*)$' "$WORK/out" ||
		fail "the start-up line names no CPU model"
fi

# the plan file alone contradicts itself: refused at load, exit 2
write_plan "$WORK/bad.ini" "mlp:12-16-4" "$WORK/rec" gpipe no tcp \
	'lr = 0.05\nwarmup_steps = 100\nlr_schedule = cosine\ntotal_steps = 5' 0 1
set +e
"$DTPIPE" --plan "$WORK/bad.ini" --threads 1 >"$WORK/out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "a self-contradictory plan file exited $rc, not 2"
grep -q 'warmup 100 steps is longer than the 5 total steps' "$WORK/out" ||
	fail "no message naming the warm-up"
echo "ok: short runs fit their warm-up; a contradictory plan file is refused"
