#!/bin/sh
# The cluster planner's predictions checked against what this machine can
# measure (issue 12; docs/benchmarks.md, "Partition and cluster planning"):
# R x K = 2 x 1, 1 x 2 and 2 x 2 on this machine's cores (2 x 2 on 2 cores is
# oversubscribed: two ranks per core), mlp 784-1024-1024-1024-10, SGD with
# momentum, global batch 256 in micro-batches of 32 (M = 256 / 32 / R), shm,
# one BLAS thread per rank. Each layout runs REPS times (interleaved); the
# figure is the median over runs of each run's median step (steps 4..),
# over the runs during which every core ran at full speed (each run waits
# for a quiet core probe and is probed again after: scripts/bench-lib.sh).
# The network model of this machine's shm comes from the same runs: the bare
# MPI_Allreduce of the mlp's gradients that the R = 2, K = 1 runs time at
# their end (a ring of 2: bytes / bw + 2 x latency, latency taken as 1 us).
# Then `dtpipe-partition plan --nodes 1 --cores-per-node CORES --shm-network
# GB/s,us --oversubscribe --busy` predicts every layout from a one-core
# profile with the per-step work (optimizer, norm, zeroing), each unit also
# timed while another core runs the same unit (the ranks of a run share
# memory bandwidth and cache the same way), and each layout's predicted
# step, bubble, all-reduce, per-step work and end-of-step exchange are
# printed beside the measured step.
# Usage: scripts/bench-cluster-here.sh [BUILDDIR]   (default: build)
# Environment: STEPS (30), REPS (3), CORES (this machine's: nproc).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-cluster-here.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$top/scripts/bench-lib.sh"
bench_cores_init "$B" "$W"
STEPS=${STEPS:-30}
REPS=${REPS:-3}
CORES=${CORES:-$(nproc)}
WIDTHS=784-1024-1024-1024-10
GLOBAL=256
MB=32
PORT=$(( 10000 + ($$ % 20000) ))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

make -C "$B" tests/integration/mkdata >/dev/null
"$B/tests/integration/mkdata" records "$W/data" 20480 256 784 10 3 >/dev/null

plan() {   # plan FILE R K
	M=$((GLOBAL / MB / $2))
	PORT=$((PORT + 8))
	{
		printf '[model]\nspec = mlp:%s\n' "$WIDTHS"
		printf '[train]\nmicro_batch = %d\nmicro_batches = %d\nschedule = gpipe\n' "$MB" "$M"
		printf 'optimizer = sgd\nlr = 0.01\nmomentum = 0.9\nsteps = %d\nlog_every = 1\n' "$STEPS"
		printf '[data]\ntrain = %s/data/train\nloader_budget = 32M\n' "$W"
		printf '[transport]\nkind = shm\nbase_port = %d\n' "$PORT"
		printf '[parallel]\nreplicas = %d\n' "$2"
		# K = 2: the min-max cut of this mlp (units 0-1 | 2-3, as the planner cuts it)
		if [ "$3" = 1 ]; then printf '[stage.0]\nunits = 0-3\n'
		else printf '[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2-3\n'; fi
	} > "$1"
}
median_step() {   # the median step of a --metrics file, steps 4..
	python3 - "$1" <<'PY'
import json, sys, statistics as st
L = [json.loads(l) for l in open(sys.argv[1])]
print("%.5f" % st.median(l["step_time"] for l in L if "step" in l and l["step"] > 3))
PY
}
med() { python3 -c 'import statistics, sys; print("%.5f" % statistics.median(float(a) for a in sys.argv[1:]))' "$@"; }

echo "== mlp $WIDTHS, global batch $GLOBAL (micro-batch $MB), $STEPS steps x $REPS runs;" \
     "$CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
	round_begin "run $rep"
	for rk in "2 1" "1 2" "2 2"; do
		set -- $rk
		plan "$W/p$1$2.ini" "$1" "$2"
		"$B/tools/dtpipe" --plan "$W/p$1$2.ini" --threads 1 --quiet --metrics "$W/m$1$2.json" \
			> "$W/o$1$2.txt" 2>&1 || { echo "R=$1 K=$2: the run failed"; cat "$W/o$1$2.txt"; exit 1; }
		median_step "$W/m$1$2.json" >>"$W/t$1$2"
	done
	b=$(sed -n 's/.*bare MPI_Allreduce of the same .*: \([0-9.]*\) ms$/\1/p' "$W/o21.txt" | head -1)
	echo "$b" >>"$W/bare"
	round_end "run $rep"
	echo "run $rep: 2x1 $(tail -n 1 "$W/t21") s, 1x2 $(tail -n 1 "$W/t12") s," \
	     "2x2 $(tail -n 1 "$W/t22") s per step; bare all-reduce $b ms; cores clean $ROUND_CLEAN"
done
echo "== $(clean_note)"
cores_log

# the shm model: the gradients' bytes (the profile's parameters x 4) over
# the bare all-reduce, less two latencies
OPENBLAS_NUM_THREADS=1 "$B/tools/dtpipe-partition" profile --model "mlp:$WIDTHS" --batch "$MB" \
	--reps 3 > "$W/profile"
bytes=$(awk '$1 == "all" { print $2 * 4 }' "$W/profile")
bms=$(med $(clean_lines "$W/bare"))
gbs=$(python3 -c "print('%.2f' % ($bytes / (($bms - 0.002) * 1e-3) / 1e9))")
echo "shm model: bare MPI_Allreduce of $bytes bytes over 2 ranks, median $bms ms: $gbs GB/s, 1 us"

# the planner's one-core profile, its per-step work included, each unit
# timed alone and beside a core running the same unit (--busy: the runs'
# ranks share the memory bandwidth and the last-level cache; the planner
# takes the busy figures since every core of the node computes)
OPENBLAS_NUM_THREADS=1 "$B/tools/dtpipe-partition" plan --model "mlp:$WIDTHS" \
	--batch "$MB" --optimizer sgd --nodes 1 --cores-per-node "$CORES" --global-batch "$GLOBAL" \
	--shm-network "$gbs,1" --oversubscribe --busy --top 100 --reps 7 -o "$W/chosen.ini" \
	> "$W/plan.txt" 2>&1 || { cat "$W/plan.txt"; exit 1; }
sed -n 's/^# compute beside/planner: compute beside/p' "$W/plan.txt"
printf '%-7s %4s %6s %13s %8s %13s %11s %11s %8s %13s %7s\n' layout M speed predicted_ms bubble \
	allreduce_ms exposed_ms perstep_ms ctrl_ms measured_ms /pred
for rk in "2 1" "1 2" "2 2"; do
	set -- $rk
	m=$(med $(clean_lines "$W/t$1$2"))
	# rank R K M per_node speed step pipe bubble allred exposed samples/s mem
	# perstep ctrl
	row=$(awk -v R="$1" -v K="$2" '$2 == R && $3 == K && NF == 15' "$W/plan.txt")
	[ -n "$row" ] || { echo "${1}x$2: the planner lists no such layout"; continue; }
	set -- $row
	printf '%-7s %4d %6s %13.1f %8s %13.2f %11.2f %11.2f %8.3f %13.1f %7.2f\n' "${2}x$3" "$4" \
		"$6" "$7" "$9" "${10}" "${11}" "${14}" "${15}" "$(python3 -c "print($m * 1e3)")" \
		"$(python3 -c "print($m * 1e3 / $7)")"
done
