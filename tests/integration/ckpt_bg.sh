#!/bin/sh
# Background checkpoints ([checkpoint] background = yes, the default): a run
# of 8 steps with a checkpoint every 2 (3 stages, AdamW) writes the same
# files, byte for byte, as the same run writing them in the training thread
# (background = no), and the same losses and weights; resumed from a
# background checkpoint it ends bit-identical to the run never stopped; a
# stage killed (-9) while its writer thread holds a snapshot not yet written
# (the test hook DTP_TEST_HOLD, point "ckptbg") leaves the previous
# checkpoint the newest complete one, and resuming from it ends bit-identical;
# every_seconds writes one once that much training time passed (below).
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5
opta='optimizer = adamw\nlr = 0.01\nclip_norm = 1.0\n[checkpoint]\nevery = 2\nkeep = 0'
for bg in yes no; do
	write_plan "$WORK/$bg.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no shm "$opta\nbackground = $bg" 0 1-2 3
	"$DTPIPE" --plan "$WORK/$bg.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck-$bg" \
		--dump "$WORK/d-$bg" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: background = $bg"; exit 1; }
	concat_params "$WORK/d-$bg" 3
done
for st in 2 4 6 8; do
	d=$(printf step-%08d "$st")
	for f in stage-0 stage-1 stage-2; do
		cmp "$WORK/ck-yes/$d/$f.safetensors" "$WORK/ck-no/$d/$f.safetensors" ||
			{ echo "FAIL: $d/$f differs between background = yes and no"; exit 1; }
	done
	cmp "$WORK/ck-yes/$d/manifest.json" "$WORK/ck-no/$d/manifest.json" ||
		{ echo "FAIL: $d/manifest.json differs"; exit 1; }
done
test "$(cat "$WORK/ck-yes/latest")" = step-00000008 || { echo "FAIL: latest is not step 8"; exit 1; }
cmp "$WORK/d-yes/losses" "$WORK/d-no/losses" && cmp "$WORK/d-yes/all.params" "$WORK/d-no/all.params" ||
	{ echo "FAIL: background = yes trained differently"; exit 1; }
echo "ok: 4 checkpoints written in the background == written in the training thread, byte for byte"

# resume from the background checkpoint of step 4 (the newer ones removed)
rm -rf "$WORK/ck-yes/step-00000006" "$WORK/ck-yes/step-00000008"
echo step-00000004 > "$WORK/ck-yes/latest"
"$DTPIPE" --plan "$WORK/yes.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck-yes" --resume \
	--dump "$WORK/r" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: resume"; exit 1; }
grep -q "resuming from .*step-00000004" "$WORK/out" || { cat "$WORK/out"; echo "FAIL: not resumed from step 4"; exit 1; }
concat_params "$WORK/r" 3
cmp "$WORK/r/all.params" "$WORK/d-no/all.params" || { echo "FAIL: resumed weights differ"; exit 1; }
echo "ok: resumed from a background checkpoint, bit for bit"

# kill -9 stage 1 while its writer holds the snapshot of step 6, training on
HOLD="$WORK/hold"
echo 6 > "$HOLD.ckptbg"
rm -rf "$WORK/ck-k"
DTP_TEST_HOLD="$HOLD" "$DTPIPE" --plan "$WORK/yes.ini" --threads 1 --quiet --steps 8 \
	--checkpoint-dir "$WORK/ck-k" >"$WORK/out" 2>&1 &
run=$!
n=0
until [ -e "$HOLD.ckptbg.stage-1" ]; do
	n=$((n + 1))
	[ "$n" -lt 3000 ] || { kill -9 "$run"; cat "$WORK/out"; echo "FAIL: no background write held"; exit 1; }
	sleep 0.02
done
pid=$(ps -o pid=,args= --ppid "$run" | awk 'index($0, "--stage 1 ") { print $1 }')
[ -n "$pid" ] || { kill -9 "$run"; echo "FAIL: no process of stage 1"; exit 1; }
kill -9 "$pid"
set +e
wait "$run"
set -e
rm -f "$HOLD".ckptbg*
test ! -e "$WORK/ck-k/step-00000006/manifest.json" || { echo "FAIL: step 6 published without stage 1"; exit 1; }
test "$(cat "$WORK/ck-k/latest")" = step-00000004 || { cat "$WORK/ck-k/latest"; echo "FAIL: latest is not step 4"; exit 1; }
"$DTPIPE" --plan "$WORK/yes.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck-k" --resume \
	--dump "$WORK/k" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: resume after the kill"; exit 1; }
concat_params "$WORK/k" 3
cmp "$WORK/k/all.params" "$WORK/d-no/all.params" || { echo "FAIL: weights after the kill differ"; exit 1; }
echo "ok: kill -9 during a background write: step 4 resumed, bit for bit"

# [checkpoint] every_seconds: a step made slow (the test hook
# DTP_TEST_HANG_AT_STEP spins every stage 1.5 s at step 3) takes the run past
# every_seconds = 1 since the last checkpoint: the last stage's clock decides
# for all stages, and step 4 is a complete checkpoint (every = 0: no other
# reason to write it) from which a resume ends bit-identical
sed 's/^every = 2$/every = 0\nevery_seconds = 1/' "$WORK/yes.ini" > "$WORK/sec.ini"
DTP_TEST_HANG_AT_STEP=3 DTP_TEST_HANG_MS=1500 "$DTPIPE" --plan "$WORK/sec.ini" --threads 1 --quiet \
	--steps 8 --checkpoint-dir "$WORK/ck-s" --dump "$WORK/s" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: every_seconds run"; exit 1; }
test -s "$WORK/ck-s/step-00000004/manifest.json" || { ls -R "$WORK/ck-s"; echo "FAIL: no checkpoint after the slow step"; exit 1; }
concat_params "$WORK/s" 3
cmp "$WORK/s/all.params" "$WORK/d-no/all.params" || { echo "FAIL: every_seconds run trained differently"; exit 1; }
rm -rf "$WORK/ck-s/step-00000008"
for d in "$WORK"/ck-s/step-*; do
	case $d in *step-00000004) ;; *) rm -rf "$d" ;; esac
done
echo step-00000004 > "$WORK/ck-s/latest"
"$DTPIPE" --plan "$WORK/sec.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck-s" --resume \
	--dump "$WORK/s2" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: resume from the timed checkpoint"; exit 1; }
concat_params "$WORK/s2" 3
cmp "$WORK/s2/all.params" "$WORK/d-no/all.params" || { echo "FAIL: resumed from the timed checkpoint, weights differ"; exit 1; }
echo "ok: every_seconds = 1: a checkpoint after the slow step, resumed bit for bit"
