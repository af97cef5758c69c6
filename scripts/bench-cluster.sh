#!/bin/sh
# Predicted throughput and scaling efficiency at cluster scale (for
# docs/benchmarks.md, "Cluster scale"): dtpipe-partition plan --nodes chooses
# R replicas x K stages x M micro-batches for 1 .. 1024 nodes of a stated node
# type and predicts the step (schedule simulator + ring all-reduce model,
# src/partition/cluster.h). Nothing here runs on a cluster: the per-core speed
# is the sgemm-bound rate of one transformer block measured HERE, on one core
# (dtpipe-partition profile, OpenBLAS on one thread), and every unit's time is
# its FLOPs at that rate (--static --flops), scaled linearly to the node's
# cores. Weak scaling: the global batch grows with the nodes (PER_NODE
# sequences per node), and strong scaling: a fixed global batch (GLOBAL
# sequences, GPT-2's 512); efficiency = samples/s / (nodes x samples/s on 1 node),
# or on the fewest nodes where a layout fits.
# Usage: scripts/bench-cluster.sh [BUILDDIR]   (default: build)
# Environment: CORES (per node, 128), NET (ib-hdr), NODE_MEM (256G), PER_NODE
# (16), NODES ("1 2 4 ... 1024"), RATE (GFLOP/s per core; measured when unset).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
P="$B/tools/dtpipe-partition"
CORES=${CORES:-128}
NET=${NET:-ib-hdr}
NODE_MEM=${NODE_MEM:-256G}
PER_NODE=${PER_NODE:-16}
GLOBAL=${GLOBAL:-512}
NODES=${NODES:-1 2 4 8 16 32 64 128 256 512 1024}
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-cluster.XXXXXX")
trap 'rm -rf "$W"' EXIT

# GFLOP/s of the block rows of a one-core profile (median over reps)
rate_of() {   # rate_of C H
	OPENBLAS_NUM_THREADS=1 "$P" profile --model "gpt:L=2,C=$1,H=$2,T=128,V=256" --batch 2 \
		--reps 5 > "$W/profile"
	awk '$2 == "block" { s += $9; n++ } END { printf "%.2f\n", s / n }' "$W/profile"
}

echo "== node: $CORES cores, $NODE_MEM, network $NET; micro-batch 1 sequence of 1024 tokens," \
     "AdamW, 1F1B"
echo "== this machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
# one table: MODE weak (PER_NODE sequences per node) or strong (GLOBAL sequences)
table() {   # table MODE L C H RATE
	mode=$1 L=$2 C=$3 H=$4 r=$5
	printf '%6s %6s %4s %5s %8s %12s %9s %12s %14s %10s\n' nodes R K M per_node step_ms bubble \
		allreduce_ms samples/s efficiency
	base=
	for n in $NODES; do
		if [ "$mode" = weak ]; then g=$((PER_NODE * n)); else g=$GLOBAL; fi
		"$P" plan --model "gpt:L=$L,C=$C,H=$H,T=1024,V=50257" --flops "$r" --batch 1 \
			--nodes "$n" --cores-per-node "$CORES" --network "$NET" --node-mem "$NODE_MEM" \
			--global-batch "$g" --schedule 1f1b --top 1 -o "$W/plan.ini" > "$W/out" 2>&1 ||
			{ printf '%6d  no layout: %s\n' "$n" "$(tail -1 "$W/out" | cut -c1-100)"; continue; }
		# the rank-1 row: rank R K M per_node cores step pipe bubble allred exposed samples/s mem
		row=$(awk '$1 == 1 && NF == 13' "$W/out")
		set -- $row
		sps=$(awk -v g="$g" -v t="$7" 'BEGIN { printf "%.4f", g / (t / 1e3) }')
		[ -n "$base" ] || { base=$sps; n0=$n; }
		printf '%6d %6d %4d %5d %8d %12.1f %9s %12.1f %14.3f %9.1f%%\n' "$n" "$2" "$3" "$4" "$5" \
			"$7" "$9" "${10}" "$sps" "$(awk -v s="$sps" -v b="$base" -v n="$n" -v n0="$n0" \
			'BEGIN { print 100 * s * n0 / (n * b) }')"
	done
}

for shape in "gpt2-small 12 768 12" "gpt-48x1600 48 1600 25"; do
	set -- $shape
	name=$1 L=$2 C=$3 H=$4
	r=${RATE:-$(rate_of "$C" "$H")}
	echo "-- $name: gpt:L=$L,C=$C,H=$H,T=1024,V=50257; $r GFLOP/s per core (block, one core," \
	     "measured here)"
	echo "weak scaling: $PER_NODE sequences per node per step"
	table weak "$L" "$C" "$H" "$r"
	echo "strong scaling: $GLOBAL sequences per step"
	table strong "$L" "$C" "$H" "$r"
done
