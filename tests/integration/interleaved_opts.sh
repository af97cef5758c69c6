#!/bin/sh
# Interleaved 1F1B (virtual_stages = 2) with the options a plain run has:
# - recompute = true: losses and weights bit-identical to the 1-stage run
#   (mlp and gpt, K = 2 and K = 3), and --mem-cap's prediction for it is
#   below the stored run's, a cap between the two admitting the recompute
#   run only;
# - the Chrome trace names each span's micro-batch and chunk ("fwd mb3 c1"),
#   every (kind, micro-batch, chunk) of the op list once per step, and
#   dtpipe-partition report still reads it;
# - [checkpoint] background = yes: the same checkpoint files as written in
#   the training thread, and a resume from one ends bit-identical to the run
#   never stopped.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 240 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7
MICRO=6   # a multiple of K = 2 and 3
MLP=mlp:12-24-24-24-24-24-4                          # 6 units
GPT=gpt:layers=4,dim=16,heads=2,seq=8,vocab=32       # 6 units
opt='optimizer = adamw\nlr = 0.01\nclip_norm = 0.5'

# il_plan FILE SPEC DATA RECOMPUTE TRANSPORT EXTRA UNITS...: 2 chunks per stage
il_plan() {
	f=$1 spec=$2 data=$3 rc=$4 tr=$5 extra=$6
	shift 6
	write_plan "$f" "$spec" "$data" interleaved "$rc" "$tr" "$opt\nvirtual_stages = 2$extra" "$@"
}

# --- recompute
for model in mlp gpt; do
	if [ $model = mlp ]; then spec=$MLP data=$WORK/rec; else spec=$GPT data=$WORK/tok; fi
	write_plan "$WORK/$model-ref.ini" "$spec" "$data" gpipe no tcp "$opt" 0-5
	run_ok "$model 1-stage" --plan "$WORK/$model-ref.ini" --dump "$WORK/$model-ref"
	il_plan "$WORK/$model-k2.ini" "$spec" "$data" true shm "" "0-1, 3" "2, 4-5"
	il_plan "$WORK/$model-k3.ini" "$spec" "$data" true tcp "" "0, 3" "1, 4" "2, 5"
	run_ok "$model K=2 recompute" --plan "$WORK/$model-k2.ini" --dump "$WORK/$model-rk2"
	same_dump "$model-ref" 1 "$model-rk2" 4
	run_ok "$model K=3 recompute" --plan "$WORK/$model-k3.ini" --dump "$WORK/$model-rk3"
	same_dump "$model-ref" 1 "$model-rk3" 6
done

# --mem-cap: a gpt whose save areas dominate (long sequences, M = 8)
BIG=gpt:layers=4,dim=64,heads=2,seq=256,vocab=32
"$MKDATA" tokens "$WORK/tokb" 20000 2000 32 7
needs() {  # needs PLAN: stage 0's predicted MiB under a 1 MiB cap (refused)
	set +e
	"$DTPIPE" --plan "$1" --stage 0 --threads 1 --quiet --steps 1 --mem-cap 1M >"$WORK/cap" 2>&1
	rc=$?
	set -e
	test "$rc" -ne 0 || { cat "$WORK/cap"; echo "FAIL: $1 ran under a 1 MiB cap"; exit 1; }
	sed -n 's/.*this stage (0) needs \([0-9.]*\) MiB, over the memory cap.*/\1/p' "$WORK/cap" | head -n 1
}
MICRO=8
# (over tcp: over shm each process also maps its neighbours' arenas, which
# the prediction counts as its shm links term, memcap_shm.sh)
il_plan "$WORK/cap-rc.ini" "$BIG" "$WORK/tokb" true tcp "" "0-1, 3" "2, 4-5"
il_plan "$WORK/cap-no.ini" "$BIG" "$WORK/tokb" false tcp "" "0-1, 3" "2, 4-5"
with=$(needs "$WORK/cap-rc.ini")
without=$(needs "$WORK/cap-no.ini")
test -n "$with" && test -n "$without" || { cat "$WORK/cap"; echo "FAIL: no prediction in the message"; exit 1; }
awk -v a="$with" -v b="$without" 'BEGIN { exit !(a < b) }' ||
	{ echo "FAIL: recompute predicts $with MiB, not less than $without MiB without"; exit 1; }
cap=$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%dM", (a + b) / 2 + 0.5 }')
run_ok "recompute under $cap" --plan "$WORK/cap-rc.ini" --steps 2 --mem-cap "$cap"
set +e
"$DTPIPE" --plan "$WORK/cap-no.ini" --threads 1 --quiet --steps 2 --mem-cap "$cap" >"$WORK/out" 2>&1
rc=$?
set -e
test "$rc" -ne 0 || { cat "$WORK/out"; echo "FAIL: the stored run ran under $cap"; exit 1; }
grep -q "needs $without MiB, over the memory cap" "$WORK/out" || { cat "$WORK/out"; echo "FAIL: not refused at the start"; exit 1; }
echo "ok: --mem-cap: recompute $with MiB, stored $without MiB; $cap admits recompute only"
MICRO=6

# --- the trace names the chunk
il_plan "$WORK/tr.ini" "$MLP" "$WORK/rec" false tcp "" "0-1, 3" "2, 4-5"
run_ok "trace" --plan "$WORK/tr.ini" --steps 2 --trace "$WORK/tr.json"
/usr/bin/python3 - "$WORK/tr.json" <<'PY' || { echo "FAIL: trace names"; exit 1; }
import json, sys, collections
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"]
M, v = 6, 2
seen = collections.Counter()
for e in ev:
    a = e["args"]
    assert "chunk" in a and 0 <= a["chunk"] < v, e
    if e["cat"] in ("fwd", "bwd"):
        want = "%s mb%d c%d" % (e["cat"], a["micro"], a["chunk"])
        assert e["name"] == want, (e["name"], want)
        seen[(e["pid"], a["step"], e["cat"], a["micro"], a["chunk"])] += 1
for s in (0, 1):
    for step in (0, 1):
        for kind in ("fwd", "bwd"):
            for c in range(v):
                for m in range(M):
                    n = seen[(s, step, kind, m, c)]
                    assert n == 1, ("stage", s, "step", step, kind, "mb", m, "chunk", c, n)
print("ok: every fwd and bwd span names its micro-batch and chunk, each once per step")
PY
"$DTP_BUILDDIR/tools/dtpipe-partition" report --plan "$WORK/tr.ini" --trace "$WORK/tr.json" \
	--static >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: report --trace"; exit 1; }
grep -q "simulated on the trace's measured compute" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: report does not read the named trace"; exit 1; }
echo "ok: report reads the trace"

# --- background checkpoints: every 2 steps of 6, resumed from step 4
write_plan "$WORK/one.ini" "$MLP" "$WORK/rec" 1f1b no tcp "$opt" 0-5
run_ok "6 steps" --plan "$WORK/one.ini" --steps 6 --dump "$WORK/full"
concat_params "$WORK/full" 1
bg='\n[checkpoint]\nevery = 2\nkeep = 0\nbackground = yes'
fg='\n[checkpoint]\nevery = 2\nkeep = 0\nbackground = no'
il_plan "$WORK/bg.ini" "$MLP" "$WORK/rec" false shm "$bg" "0-1, 3" "2, 4-5"
il_plan "$WORK/fg.ini" "$MLP" "$WORK/rec" false shm "$fg" "0-1, 3" "2, 4-5"
run_ok "background" --plan "$WORK/bg.ini" --steps 6 --checkpoint-dir "$WORK/ckbg" --trace "$WORK/bg.json"
run_ok "foreground" --plan "$WORK/fg.ini" --steps 6 --checkpoint-dir "$WORK/ckfg"
for st in 2 4 6; do
	d=$(printf 'step-%08d' $st)
	for f in "$WORK/ckfg/$d"/*; do
		b=$(basename "$f")
		cmp "$f" "$WORK/ckbg/$d/$b" || { echo "FAIL: background $d/$b differs"; exit 1; }
	done
done
echo "ok: background checkpoints of steps 2, 4, 6 hold the foreground's files"
# the periodic ones were snapshots: a checkpoint span published a step later
grep -q '"name":"checkpoint c[01]","cat":"checkpoint",[^}]*"micro":1' "$WORK/bg.json" ||
	{ echo "FAIL: no background checkpoint published at a step boundary"; exit 1; }
rm -rf "$WORK/ckbg/step-00000006"
echo step-00000004 >"$WORK/ckbg/latest"
run_ok "resume" --plan "$WORK/bg.ini" --steps 6 --checkpoint-dir "$WORK/ckbg" --resume --dump "$WORK/res"
concat_params "$WORK/res" 4
tail -n 2 "$WORK/full/losses" | cmp - "$WORK/res/losses" || { echo "FAIL: resumed losses differ"; exit 1; }
cmp "$WORK/full/all.params" "$WORK/res/all.params" || { echo "FAIL: resumed weights differ"; exit 1; }
echo "ok: resumed from the background checkpoint of step 4: bit-identical"
echo PASS
