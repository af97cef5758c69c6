#!/bin/sh
# Observability: the step lines (loss, throughput, bubble, per-stage
# compute/wait), the test accuracy and peak RSS lines, --metrics JSON lines
# and a --trace file in Chrome trace-event format with one track per stage.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 200 30 12 4 5
# the plan asks for verbs (no RDMA device here, or not built): --transport shm must win
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b yes verbs 'lr = 0.05' 0-1 2 3
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --transport shm --metrics "$WORK/m.jsonl" --trace "$WORK/t.json" \
	>"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: run"; exit 1; }
grep -q '^\[stage 2\] step 5/5 | loss [0-9.]* | [0-9]* samples/s | [0-9.]* ms/step | bubble [0-9.]*% (imbalance [0-9.]*%) | compute/wait ms: s0 [0-9.]*/[0-9.]* s1 [0-9.]*/[0-9.]* s2 ' "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no step line"; exit 1; }
grep -q '^\[stage 2\] test accuracy: [0-9.]*% (\([0-9]*\)/30)' "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no test accuracy over the 30 test samples"; exit 1; }
grep -q '^\[stage 2\] peak RSS per stage: s0 [0-9.]* MiB' "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no peak RSS line"; exit 1; }
test ! -e "$WORK/t.json.stage-0" || { echo "FAIL: trace parts left behind"; exit 1; }
# python3 is installed by scripts/setup.sh --test: checking is not optional
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 is needed to read the JSON"; exit 1; }
if true; then
	python3 - "$WORK/m.jsonl" "$WORK/t.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "step" in l]
assert [l["step"] for l in steps] == [1, 2, 3, 4, 5], steps
for l in steps:
    assert len(l["stages"]) == 3 and l["step_time"] > 0 and 0 <= l["bubble"] < 1, l
    # the stages' unequal work: (the busiest's compute - their mean) / step
    c = [x["compute"] for x in l["stages"]]
    want = min(1.0, max(0.0, (max(c) - sum(c) / 3) / l["step_time"]))
    assert abs(l["imbalance"] - want) < 1e-9, l
    assert l["samples_per_s"] > 0 and l["loss"] > 0
ev = [l for l in lines if l.get("event") == "eval"]
assert len(ev) == 1 and ev[0]["count"] == 30, ev
end = [l for l in lines if l.get("event") == "end"]
assert len(end) == 1 and len(end[0]["peak_rss"]) == 3 and min(end[0]["peak_rss"]) > 0
t = json.load(open(sys.argv[2]))["traceEvents"]
pids = {e["pid"] for e in t}
assert pids == {0, 1, 2}, pids
names = {(e["pid"], e["name"]) for e in t if e["ph"] == "X"}
for s in range(3):
    for n in ("bwd", "optim", "recompute", "data" if s in (0, 2) else "recv"):
        assert (s, n) in names, (s, n)
# with recompute the last stage runs its forward (and the loss) right before
# each backward: no separate fwd spans there
assert (0, "fwd") in names and (1, "fwd") in names and (2, "fwd") not in names
assert (1, "recv") in names and (1, "send") in names
# 1F1B with 3 micro-batches: 5 steps x 3 = 15 fwd spans per stage
assert sum(1 for e in t if e.get("name") == "fwd" and e["pid"] == 0) == 15
# every compute span carries the process's CPU time over it, positive; a
# delta, not a running total: the typical span's is at most its length times
# the process's threads (cores). Not every span's: the kernel adds the other
# threads' CPU time to the process's clock when they are next scheduled, so
# a span of a microsecond can read 157 us (seen in CI); the median cannot.
comp = [e for e in t if e["ph"] == "X" and e.get("cat", e["name"]) in
        ("fwd", "bwd", "recompute", "optim")]
assert comp and all(e["args"]["cpu_us"] > 0 for e in comp), \
    [e for e in comp if not e["args"].get("cpu_us", -1) > 0][:3]
ratio = sorted(e["args"]["cpu_us"] / max(e["dur"], 1e-3) for e in comp)
assert ratio[len(ratio) // 2] <= 8, ratio[len(ratio) // 2]
assert all("cpu_us" not in e.get("args", {}) for e in t if e.get("cat", e["name"]) == "recv")
print("ok: metrics and trace parse and hold what they should")
PY
fi

# stages started one by one (as srun or mpirun would) leave FILE.stage-N;
# dtpipe --merge-trace joins them into one trace with a track per stage
write_plan "$WORK/q.ini" "mlp:12-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.05' 0 1
"$DTPIPE" --plan "$WORK/q.ini" --stage 1 --threads 1 --no-bind --quiet --job-key 7 --trace "$WORK/s.json" >"$WORK/o1" 2>&1 &
pid1=$!
"$DTPIPE" --plan "$WORK/q.ini" --stage 0 --threads 1 --no-bind --quiet --job-key 7 --trace "$WORK/s.json" >"$WORK/o0" 2>&1 ||
	{ cat "$WORK/o0" "$WORK/o1"; echo "FAIL: stage 0 alone"; exit 1; }
wait "$pid1" || { cat "$WORK/o1"; echo "FAIL: stage 1 alone"; exit 1; }
test -s "$WORK/s.json.stage-0" && test -s "$WORK/s.json.stage-1" ||
	{ echo "FAIL: no per-stage trace parts"; exit 1; }
"$DTPIPE" --plan "$WORK/q.ini" --merge-trace "$WORK/s.json" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: --merge-trace"; exit 1; }
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["traceEvents"]; p={e["pid"] for e in t}; assert p=={0,1}, p' "$WORK/s.json" ||
	{ echo "FAIL: merged trace"; exit 1; }
echo "ok: per-stage traces merged"
echo PASS
