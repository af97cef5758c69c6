#!/bin/sh
# Nothing hangs: a stage killed in the middle of a run makes its neighbour
# exit non-zero with a message naming the peer, and under the launcher the
# whole job stops with a non-zero status; bad input exits with status 2.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5

write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0-1 2-3

# 1. stages started by hand (as under srun): kill stage 1, stage 0 must fail
"$DTPIPE" --plan "$WORK/p.ini" --stage 0 --threads 1 --no-bind --quiet --steps 1000000 \
	>"$WORK/s0.out" 2>&1 &
s0=$!
"$DTPIPE" --plan "$WORK/p.ini" --stage 1 --threads 1 --no-bind --quiet --steps 1000000 \
	--dump "$WORK/d1" >"$WORK/s1.out" 2>&1 &
s1=$!
wait_losses "$WORK/d1" 2
kill -9 "$s1"
wait_exit "$s0" "stage 0"
wait "$s1" 2>/dev/null || true
test "$rc" -ne 0 || { cat "$WORK/s0.out"; echo "FAIL: stage 0 exited 0 after its peer died"; exit 1; }
grep -q "stage 1" "$WORK/s0.out" || { cat "$WORK/s0.out"; echo "FAIL: message does not name the peer"; exit 1; }
echo "ok: peer killed -> stage 0 exits $rc: $(tail -n 1 "$WORK/s0.out")"

# 2. under the launcher: kill one stage, the job stops, non-zero
next_port
write_plan "$WORK/p2.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0 1 2 3
"$DTPIPE" --plan "$WORK/p2.ini" --threads 1 --no-bind --quiet --steps 1000000 --dump "$WORK/d2" \
	>"$WORK/sup.out" 2>&1 &
sup=$!
wait_losses "$WORK/d2" 2
victim=$(ps -o pid= --ppid "$sup" | sed -n 3p | tr -d ' ')
test -n "$victim" || { cat "$WORK/sup.out"; echo "FAIL: launcher has no children"; kill "$sup"; exit 1; }
kill -9 "$victim"
wait_exit "$sup" "the launcher"
test "$rc" -eq 1 || { cat "$WORK/sup.out"; echo "FAIL: launcher exited $rc, want 1 (runtime failure)"; exit 1; }
grep -q "stage [0-9] was killed by signal SIGKILL" "$WORK/sup.out" ||
	{ cat "$WORK/sup.out"; echo "FAIL: launcher did not say how the stage ended"; exit 1; }
test -z "$(ps -o pid= --ppid "$sup" 2>/dev/null)" || { echo "FAIL: stages left running"; exit 1; }
echo "ok: stage killed under the launcher -> job exits $rc"

# 3. bad input: exit 2 with a message
set +e
"$DTPIPE" --plan "$WORK/nonexistent.ini" >"$WORK/out" 2>&1; rc1=$?
"$DTPIPE" --plan "$WORK/p.ini" --steps x >"$WORK/out2" 2>&1; rc2=$?
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --data "$WORK/none" >"$WORK/out3" 2>&1; rc3=$?
set -e
test "$rc1" -eq 2 && test "$rc2" -eq 2 && test "$rc3" -eq 2 ||
	{ cat "$WORK/out" "$WORK/out2" "$WORK/out3"; echo "FAIL: bad input gave $rc1 $rc2 $rc3, want 2"; exit 1; }
grep -q "$WORK/none" "$WORK/out3" || { cat "$WORK/out3"; echo "FAIL: no path in message"; exit 1; }
echo "ok: bad plan, bad option, missing data -> exit 2"

# tokens the model cannot take (a dataset with 32 symbols, a model of 7): exit 2
# naming the fix, not a bare failure
"$MKDATA" tokens "$WORK/tok32" 400 40 32 3
write_plan "$WORK/v7.ini" "gpt:L=1,C=8,H=2,T=8,V=7" "$WORK/tok32" gpipe no tcp 'lr = 0.01' 0-1 2
set +e
"$DTPIPE" --plan "$WORK/v7.ini" --threads 1 --quiet >"$WORK/out4" 2>&1; rc4=$?
set -e
test "$rc4" -eq 2 && grep -q "token outside \[0, 7).*vocab" "$WORK/out4" ||
	{ cat "$WORK/out4"; echo "FAIL: out-of-vocabulary tokens gave $rc4, want 2 and a message"; exit 1; }
echo "ok: tokens outside the vocabulary -> exit 2 with the fix named"

# a stage that fails before the start-up agreement: its neighbour's message
# names the control message, not its internal tag (step 4294967280)
MICRO=60 write_plan "$WORK/m60.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0-1 2-3
set +e
"$DTPIPE" --plan "$WORK/m60.ini" --stage 0 --threads 1 --no-bind --quiet --epochs 1 \
	>"$WORK/a0.out" 2>&1 &
a0=$!
"$DTPIPE" --plan "$WORK/m60.ini" --stage 1 --threads 1 --no-bind --quiet --epochs 1 \
	>"$WORK/a1.out" 2>&1
ra1=$?
wait "$a0"
ra0=$?
set -e
grep -q "make no full mini-batch" "$WORK/a0.out" && test "$ra0" -eq 2 ||
	{ cat "$WORK/a0.out"; echo "FAIL: stage 0 should refuse 200 samples for 60 x 4"; exit 1; }
test "$ra1" -ne 0 && grep -q "stage 1: while exchanging the start-up agreement.* with stage 0" "$WORK/a1.out" &&
	! grep -q "4294967" "$WORK/a1.out" ||
	{ cat "$WORK/a1.out"; echo "FAIL: stage 1 should name the start-up agreement"; exit 1; }
echo "ok: a peer gone before the start-up agreement -> named: $(tail -n 1 "$WORK/a1.out")"
# more steps than a run may have (DTP_MAX_STEPS, below the reserved control
# tags at 2^32 - 16): refused before training, exit 2
write_plan "$WORK/one.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0-3
set +e
"$DTPIPE" --plan "$WORK/one.ini" --threads 1 --no-bind --quiet --steps 4294967290 >"$WORK/big.out" 2>&1
rb=$?
set -e
test "$rb" -eq 2 && grep -q "4294967290: expected an integer from 1 to 2147483647" "$WORK/big.out" ||
	{ cat "$WORK/big.out"; echo "FAIL: too many steps gave $rb, want 2 and a message"; exit 1; }
echo "ok: more steps than tags -> exit 2"

# 4. --help, --version, the embedded default plan
"$DTPIPE" --help | grep -q -- "--plan FILE" || { echo "FAIL: --help"; exit 1; }
"$DTPIPE" --version | grep -q "^dtpipe [0-9]" || { echo "FAIL: --version"; exit 1; }
"$DTPIPE" --print-default-plan > "$WORK/default.ini"
cmp "$WORK/default.ini" "$DTP_SRCDIR/examples/fashion-mnist.ini" || { echo "FAIL: embedded plan differs"; exit 1; }
echo "ok: --help, --version, --print-default-plan"
echo PASS
