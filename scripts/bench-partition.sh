#!/bin/sh
# Partition baselines side by side (docs/benchmarks.md, "Baselines"): the
# measured step time of dtpipe's min-max plan against the splits users get
# elsewhere, for the same model, K and M, in the same run:
#   layers  equal layers per stage (Megatron-LM's default)
#   params  equal parameter counts (DeepSpeed's partition_method=parameters)
# on a gpt whose units are uneven: a large vocabulary makes the head outweigh
# several blocks. Each plan is written once by dtpipe-partition plan --split;
# then REPS rounds (default 3) each train the three plans for STEPS steps, one
# after the other, every round taken while all cores run at full speed
# (scripts/bench-lib.sh). Per plan: the median over the clean rounds of each
# round's median step (the first step is a warm-up), beside the prediction,
# and dtpipe's speed-up over each baseline (the median of the rounds' own
# ratios).
# Usage: scripts/bench-partition.sh [BUILDDIR]   (default: build)
# Environment: MODEL (gpt spec), K, M, MB (micro-batch), STEPS, REPS, THREADS
# (per stage), PROFILE (--static for FLOP-based times instead of measuring),
# QUIET_WAIT, QUIET_TOL (scripts/bench-lib.sh).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-partition.XXXXXX")
trap 'rm -rf "$W"' EXIT
MODEL=${MODEL:-gpt:L=6,C=256,H=4,T=128,V=16384}
K=${K:-3}
M=${M:-8}
MB=${MB:-2}
STEPS=${STEPS:-8}
REPS=${REPS:-3}
THREADS=${THREADS:-1}
PROFILE=${PROFILE:-}
PORT=$(( 10000 + ($$ % 20000) ))   # below the ephemeral range (32768-)

# byte-level text: this machine's licence texts and dtpipe's docs, repeated
i=0
while [ $i -lt 8 ]; do cat /usr/share/common-licenses/* "$top"/docs/*.md; i=$((i + 1)); done > "$W/text.txt"
mkdir -p "$W/text"
"$B/tools/dtpipe-shard" text "$W/text.txt" --out "$W/text" >/dev/null 2>&1

median_step() {  # median_step METRICS -> seconds per step, first step left out
	$PY - "$1" <<'PY'
import json, sys, statistics as st
L = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in L if "step" in l][1:]
print("%.4f" % st.median(l["step_time"] for l in steps))
PY
}

. "$top/scripts/bench-lib.sh"
bench_cores_init "$B" "$W"

echo "== $MODEL, K=$K, M=$M x micro-batch $MB, $STEPS steps x $REPS rounds, $THREADS thread(s)" \
     "per stage (machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
for split in minmax layers params; do
	# shellcheck disable=SC2086
	"$B/tools/dtpipe-partition" plan --model "$MODEL" --stages "$K" --batch "$MB" \
		--micro-batches "$M" --split "$split" $PROFILE -o "$W/$split.ini" \
		> "$W/$split.predicted"
	PORT=$((PORT + K))
	sed -i -e "s/^steps = .*/steps = $STEPS/" -e 's/^log_every = .*/log_every = 1/' \
		-e "s/^base_port = .*/base_port = $PORT/" -e "s|^train = .*|train = $W/text|" \
		-e 's/^loader_budget = .*/loader_budget = 16777216/' -e 's/^kind = auto$/kind = shm/' \
		"$W/$split.ini"
done
rounds_reset
: > "$W/rounds"
rep=1
while [ "$rep" -le "$REPS" ]; do
	round_begin "round $rep"
	line=$rep
	for split in minmax layers params; do
		"$B/tools/dtpipe" --plan "$W/$split.ini" --threads "$THREADS" --quiet \
			--metrics "$W/$split.json" > /dev/null
		line="$line $(median_step "$W/$split.json")"
	done
	round_end "round $rep"
	echo "$line" >> "$W/rounds"
	echo "round $line (s/step: minmax layers params)"
	rep=$((rep + 1))
done
echo "  ($(clean_note))"
cores_log
clean_lines "$W/rounds" > "$W/use"
for split in minmax layers params; do
	case $split in minmax) c=2 ;; layers) c=3 ;; params) c=4 ;; esac
	t=$($PY -c "import sys, statistics as st; print('%.1f' % (1e3 * st.median(float(l.split()[$c - 1]) for l in open(sys.argv[1]))))" "$W/use")
	units=$(grep '^units' "$W/$split.ini" | sed 's/units = //' | tr '\n' ' ')
	pred=$(sed -n 's/^[a-z0-9-]* step with .*: \([0-9.]*\) ms, bubble.*/\1/p' "$W/$split.predicted")
	printf '%-7s units %-24s predicted %8s ms/step  measured %8s ms/step\n' "$split" \
		"$units" "$pred" "$t"
done
$PY - "$W/use" <<'PY'
import sys, statistics as st
R = [[float(x) for x in l.split()[1:]] for l in open(sys.argv[1])]
l = [r[1] / r[0] for r in R]
p = [r[2] / r[0] for r in R]
f = lambda v: " ".join("%.2f" % x for x in v)
print("dtpipe min-max vs equal layers: %.2fx (rounds %s), vs equal parameters: %.2fx "
      "(rounds %s) (target: >= 1.0 everywhere, >= 1.2 where the units are uneven)"
      % (st.median(l), f(l), st.median(p), f(p)))
PY
