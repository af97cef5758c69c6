#!/bin/sh
# dtpipe-bench-split: the three orders of one stage's backward (the whole
# backward, W right after B, W one micro-batch late) on a small gpt, one
# line each; --order runs one alone; --beside runs another stage's units in a
# second process that ends with the bench; bad arguments exit 2 naming them.
. "$DTP_SRCDIR/tests/integration/lib.sh"

BENCH="$DTP_BUILDDIR/tools/dtpipe-bench-split"
SPEC=gpt:layers=2,dim=32,heads=2,seq=16,vocab=64
export OPENBLAS_NUM_THREADS=1

"$BENCH" --spec "$SPEC" --units 2-3 --M 2 --reps 1 >"$WORK/out" 2>"$WORK/err" ||
	{ cat "$WORK/err"; echo "FAIL: the three orders did not run"; exit 1; }
for o in whole adjacent lagged; do
	grep -q "^order=$o units=2-3 beside=none micro_batch=2 M=2 reps=1 ms_per_micro=[0-9.]* vs_whole=[-+][0-9.]*%$" \
		"$WORK/out" || { cat "$WORK/out"; echo "FAIL: no line for $o"; exit 1; }
done
[ "$(grep -c '^order=' "$WORK/out")" = 3 ] || { cat "$WORK/out"; echo "FAIL: not three lines"; exit 1; }
grep -q '^order=whole .* vs_whole=+0.0%$' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: whole is the reference"; exit 1; }
echo "ok: three orders"

"$BENCH" --spec "$SPEC" --units 2-3 --M 2 --reps 1 --order lagged >"$WORK/out" 2>"$WORK/err" ||
	{ cat "$WORK/err"; echo "FAIL: --order lagged did not run"; exit 1; }
[ "$(grep -c '^order=' "$WORK/out")" = 1 ] && grep -q '^order=lagged .* vs_whole=-$' "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: --order lagged is not one line"; exit 1; }
echo "ok: one order alone"

"$BENCH" --spec "$SPEC" --units 2-3 --beside 0-1 --M 2 --reps 1 >"$WORK/out" 2>"$WORK/err" ||
	{ cat "$WORK/err"; echo "FAIL: --beside did not run"; exit 1; }
[ "$(grep -c '^order=.* beside=0-1 ' "$WORK/out")" = 3 ] ||
	{ cat "$WORK/out"; echo "FAIL: --beside lines"; exit 1; }
echo "ok: beside a neighbour, which has ended with it"

for bad in "--order sideways" "--units 2-9" "--beside 3-1" "--M 1" "--frobnicate 1"; do
	# shellcheck disable=SC2086
	rc=0
	"$BENCH" --spec "$SPEC" $bad >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/err"; echo "FAIL: $bad exited $rc, not 2"; exit 1; }
	grep -q "dtpipe-bench-split: " "$WORK/err" || { echo "FAIL: $bad: no message"; exit 1; }
done
echo "ok: bad arguments exit 2"
echo "PASS"
