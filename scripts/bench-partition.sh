#!/bin/sh
# Partition baselines side by side (for docs/benchmarks.md; not measured yet): the
# measured step time of dtpipe's min-max plan against the splits users get
# elsewhere, for the same model, K and M, in the same run:
#   layers  equal layers per stage (Megatron-LM's default)
#   params  equal parameter counts (DeepSpeed's partition_method=parameters)
# on a gpt whose units are uneven: a large vocabulary makes the head outweigh
# several blocks. Each plan is written by dtpipe-partition plan --split, then
# trained for STEPS steps; the median step (the first is a warm-up) is printed
# beside the prediction, with dtpipe's speed-up over each baseline.
# Usage: scripts/bench-partition.sh [BUILDDIR]   (default: build)
# Environment: MODEL (gpt spec), K, M, MB (micro-batch), STEPS, THREADS (per
# stage), PROFILE (--static for FLOP-based times instead of measuring).
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

echo "== $MODEL, K=$K, M=$M x micro-batch $MB, $STEPS steps, $THREADS thread(s) per stage" \
     "(machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
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
	"$B/tools/dtpipe" --plan "$W/$split.ini" --threads "$THREADS" --quiet \
		--metrics "$W/$split.json" > /dev/null
	eval "t_$split=\$(median_step \"\$W/\$split.json\")"
	units=$(grep '^units' "$W/$split.ini" | sed 's/units = //' | tr '\n' ' ')
	pred=$(sed -n 's/^predicted: [a-z0-9]* step \([0-9.]*\) ms.*/\1/p' "$W/$split.predicted")
	eval "t=\$t_$split"
	printf '%-7s units %-24s predicted %8s ms/step  measured %8.1f ms/step\n' "$split" \
		"$units" "$pred" "$($PY -c "print($t * 1e3)")"
done
echo "dtpipe min-max vs equal layers: $($PY -c "print('%.2f' % ($t_layers / $t_minmax))")x," \
     "vs equal parameters: $($PY -c "print('%.2f' % ($t_params / $t_minmax))")x" \
     "(target: >= 1.0 everywhere, >= 1.2 where the units are uneven)"
