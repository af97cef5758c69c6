#!/bin/sh
# Pipeline benchmarks (docs/benchmarks.md, "Pipeline"):
#  1. speed-up of 2 stages x 1 thread over 1 stage x 1 thread, gpt L=4 C=256
#     T=128, M=8 (ideal 2 x 8/9 = 1.78x), beside PyTorch's Pipe (2 partitions,
#     same M, CPU) and PyTorch on one module, measured in the same run;
#  2. pipeline efficiency: the measured step time against the ideal from the
#     measured per-stage compute, (M+K-1)/M x the slowest stage's compute;
#  3. peak RSS per stage with and without recompute for M = 4, 8, 16.
# Usage: scripts/bench-pipeline.sh [BUILDDIR]   (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
DTPIPE=$B/tools/dtpipe
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
MB=${MB:-2}          # sequences per micro-batch
STEPS=${STEPS:-6}
PORT=$(( 10000 + ($$ % 20000) ))   # below the ephemeral range (32768-)

# byte-level text: this machine's licence texts and dtpipe's docs, repeated
i=0
while [ $i -lt 8 ]; do cat /usr/share/common-licenses/* "$top"/docs/*.md; i=$((i + 1)); done > "$W/text.txt"
mkdir -p "$W/text"
"$B/tools/dtpipe-shard" text "$W/text.txt" --out "$W/text" >/dev/null

# plan FILE M RECOMPUTE UNITS...
plan() {
	f=$1 m=$2 rc=$3
	shift 3
	PORT=$((PORT + 8))
	{
		printf '[model]\nspec = gpt:layers=4,dim=256,heads=4,seq=128,vocab=256\n'
		printf '[train]\nmicro_batch = %d\nmicro_batches = %d\nschedule = gpipe\n' "$MB" "$m"
		printf 'recompute = %s\noptimizer = adamw\nlr = 3e-4\nsteps = %d\nlog_every = 1\n' "$rc" "$STEPS"
		printf '[data]\ntrain = %s/text\nloader_budget = 16M\n' "$W"
		printf '[transport]\nkind = shm\nbase_port = %d\n' "$PORT"
		s=0
		for u in "$@"; do printf '[stage.%d]\nunits = %s\n' $s "$u"; s=$((s + 1)); done
	} > "$f"
}

summ() {  # summ METRICS K M -> "step_s compute_max ideal overhead rss..."
	$PY - "$@" <<'PY'
import json, sys, statistics as st
path, K, M = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
L = [json.loads(l) for l in open(path)]
steps = [l for l in L if "step" in l][1:]          # the first step warms up
t = st.median(l["step_time"] for l in steps)
comp = [st.median(l["stages"][k]["compute"] for l in steps) for k in range(K)]
ideal = (M + K - 1) / M * max(comp)
rss = [r / 2**20 for r in [l for l in L if l.get("event") == "end"][0]["peak_rss"]]
print("%.4f %.4f %.4f %.1f %s" % (t, max(comp), ideal, 100 * (t / ideal - 1),
                                  " ".join("%.1f" % r for r in rss)))
PY
}

echo "== gpt L=4 C=256 T=128 V=256, micro-batch $MB x M=8, $STEPS steps (machine: $(nproc) cores)"
plan "$W/k1.ini" 8 no 0-5
plan "$W/k2.ini" 8 no 0-2 3-5
"$DTPIPE" --plan "$W/k1.ini" --threads 1 --quiet --metrics "$W/k1.json" >/dev/null
"$DTPIPE" --plan "$W/k2.ini" --threads 1 --quiet --metrics "$W/k2.json" >/dev/null
set -- $(summ "$W/k1.json" 1 8); t1=$1
set -- $(summ "$W/k2.json" 2 8); t2=$1 c2=$2 ideal2=$3 over2=$4
echo "dtpipe 1 stage x 1 thread : $t1 s/step"
echo "dtpipe 2 stages x 1 thread: $t2 s/step  speed-up $($PY -c "print('%.2f' % ($t1/$t2))")x (ideal 1.78x)"
echo "  efficiency: slowest stage compute $c2 s/step, ideal GPipe step $ideal2 s, overhead $over2%"
if $PY -c 'import torch' 2>/dev/null; then
	tj=$($PY "$top/scripts/bench_pipe_torch.py" 4 256 4 128 256 "$MB" 8 "$STEPS" 2>/dev/null | tail -n 1)
	tone=$(echo "$tj" | $PY -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["one_stage_s"])')
	tpipe=$(echo "$tj" | $PY -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["pipe2_s"])')
	echo "PyTorch 1.13 one module x 1 thread: $tone s/step"
	echo "PyTorch 1.13 Pipe 2 partitions, chunks=8: $tpipe s/step  (speed-up $($PY -c "print('%.2f' % ($tone/$tpipe))")x)"
	echo "dtpipe 2 stages vs Pipe throughput: $($PY -c "print('%.2f' % ($tpipe/$t2))")x"
else
	echo "PyTorch not importable by $PY: reference skipped"
fi

echo "== peak RSS per stage (MiB), 2 stages, gpipe, 2 steps"
STEPS=2
for m in 4 8 16; do
	for rc in no yes; do
		plan "$W/m.ini" $m $rc 0-2 3-5
		"$DTPIPE" --plan "$W/m.ini" --threads 1 --quiet --metrics "$W/m.json" >/dev/null
		set -- $(summ "$W/m.json" 2 $m)
		echo "M=$m recompute=$rc: stage 0 $5 MiB, stage 1 $6 MiB"
	done
done
