#!/bin/sh
# Interleaved 1F1B run for real (schedule = interleaved, virtual_stages = 2):
# losses and weights bit-identical to the 1-stage run for the mlp and the
# gpt, K = 2 and K = 3, over shm and tcp (the wrap link from the last stage
# back to stage 0 included); the Chrome trace is written; and a checkpoint
# written by an interleaved run resumes under a 1-stage plan, and one of a
# 1-stage run under an interleaved plan, each ending bit-identical to the
# run never stopped.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 240 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7
MICRO=6   # a multiple of K = 2 and 3
MLP=mlp:12-24-24-24-24-24-4                          # 6 units
GPT=gpt:layers=4,dim=16,heads=2,seq=8,vocab=32       # 6 units
opt='optimizer = adamw\nlr = 0.01\nclip_norm = 0.5'

# il_plan FILE SPEC DATA TRANSPORT UNITS...: an interleaved plan, 2 chunks
il_plan() {
	f=$1 spec=$2 data=$3 tr=$4
	shift 4
	write_plan "$f" "$spec" "$data" interleaved no "$tr" "$opt\nvirtual_stages = 2" "$@"
}

for model in mlp gpt; do
	if [ $model = mlp ]; then spec=$MLP data=$WORK/rec; else spec=$GPT data=$WORK/tok; fi
	write_plan "$WORK/$model-ref.ini" "$spec" "$data" gpipe no tcp "$opt" 0-5
	run_ok "$model 1-stage" --plan "$WORK/$model-ref.ini" --dump "$WORK/$model-ref"
	# K = 2: chunks 0-1 | 2 | 3 | 4-5 (stage 0: 0-1 and 3); K = 3: a unit each
	il_plan "$WORK/$model-k2.ini" "$spec" "$data" shm "0-1, 3" "2, 4-5"
	il_plan "$WORK/$model-k3.ini" "$spec" "$data" tcp "0, 3" "1, 4" "2, 5"
	run_ok "$model K=2 shm" --plan "$WORK/$model-k2.ini" --dump "$WORK/$model-k2"
	same_dump "$model-ref" 1 "$model-k2" 4   # the dump is per chunk: 2 x 2 parts
	run_ok "$model K=3 tcp" --plan "$WORK/$model-k3.ini" --dump "$WORK/$model-k3"
	same_dump "$model-ref" 1 "$model-k3" 6
done

# K = 2 over tcp, with the trace: every stage process's spans, merged
il_plan "$WORK/tr.ini" "$MLP" "$WORK/rec" tcp "0-1, 3" "2, 4-5"
run_ok "trace" --plan "$WORK/tr.ini" --dump "$WORK/tr" --trace "$WORK/tr.json"
same_dump mlp-ref 1 tr 4
for s in 0 1; do
	grep -q "\"pid\": *$s" "$WORK/tr.json" || grep -q "\"pid\":$s" "$WORK/tr.json" ||
		{ echo "FAIL: the trace has no stage $s"; exit 1; }
done

# the start-up line counts stage processes, not chunks, and names the schedule
"$DTPIPE" --threads 1 --plan "$WORK/tr.ini" --steps 1 >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: header run"; exit 1; }
grep -q "2 stages (2 chunks each), interleaved schedule" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: the start-up line does not say 2 stages of 2 chunks, interleaved"; exit 1; }
echo "ok: the start-up line says 2 stages (2 chunks each), interleaved"

# the report simulates the plan on what the trace measured
"$DTP_BUILDDIR/tools/dtpipe-partition" report --plan "$WORK/tr.ini" --trace "$WORK/tr.json" \
	--static >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: report --trace"; exit 1; }
grep -q "simulated on the trace's measured compute" "$WORK/out" &&
	grep -E -q '^  interleaved +[0-9.]+ ' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: report --trace lines"; exit 1; }
# and with the run's own per-step work (its optim spans): a longer step
ops=$(awk '/^simulated on the trace/ { t = 1 } t && $1 == "interleaved" { print $2; exit }' "$WORK/out")
all=$(awk '/^with the trace.s per-step work/ { t = 1 } t && $1 == "interleaved" { print $2; exit }' "$WORK/out")
awk -v a="$ops" -v b="$all" 'BEGIN { exit !(a > 0 && b > a) }' ||
	{ cat "$WORK/out"; echo "FAIL: the traced step with its per-step work ($all ms) over the ops' ($ops ms)"; exit 1; }
echo "ok: report simulates the traced run"

# checkpoints across the schedules: 3 steps + resume 3 == 6 steps
write_plan "$WORK/one.ini" "$MLP" "$WORK/rec" 1f1b no tcp "$opt" 0-5
run_ok "6 steps" --plan "$WORK/one.ini" --steps 6 --dump "$WORK/full"
il_plan "$WORK/il.ini" "$MLP" "$WORK/rec" shm "0-1, 3" "2, 4-5"
run_ok "interleaved half" --plan "$WORK/il.ini" --steps 3 --checkpoint-dir "$WORK/ck1" --dump "$WORK/a"
run_ok "1-stage resume" --plan "$WORK/one.ini" --steps 6 --checkpoint-dir "$WORK/ck1" --resume --dump "$WORK/a"
# the first half dumped 4 chunk parts, the resumed 1-stage run one part
concat_params "$WORK/full" 1
cmp "$WORK/full/losses" "$WORK/a/losses" || { echo "FAIL: interleaved -> 1-stage: losses differ"; exit 1; }
cmp "$WORK/full/all.params" "$WORK/a/params.stage-0" || { echo "FAIL: interleaved -> 1-stage: weights differ"; exit 1; }
echo "ok: interleaved 3 + 1-stage resume 3 == 6 steps"
il_plan "$WORK/il3.ini" "$MLP" "$WORK/rec" tcp "0, 3" "1, 4" "2, 5"
run_ok "1-stage half" --plan "$WORK/one.ini" --steps 3 --checkpoint-dir "$WORK/ck2" --dump "$WORK/b"
run_ok "interleaved resume" --plan "$WORK/il3.ini" --steps 6 --checkpoint-dir "$WORK/ck2" --resume --dump "$WORK/b"
concat_params "$WORK/b" 6
cmp "$WORK/full/losses" "$WORK/b/losses" || { echo "FAIL: 1-stage -> interleaved: losses differ"; exit 1; }
cmp "$WORK/full/all.params" "$WORK/b/all.params" || { echo "FAIL: 1-stage -> interleaved: weights differ"; exit 1; }
echo "ok: 1-stage 3 + interleaved resume 3 == 6 steps"
