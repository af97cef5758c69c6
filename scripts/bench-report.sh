#!/bin/sh
# Does dtpipe-partition report tell the truth? For each example gpt plan: a
# short run with --trace and --metrics, then `dtpipe-partition report` with
# both (--threads as the run's), which prints each stage's predicted compute
# per micro-batch as the trace will show it (traced_ms: stages that share a
# core time-share it) beside the measured one (/pred), and its predicted
# resident set (rss_MiB) beside the peak RSS (/pred). The prediction profiles
# the units on this machine first (OpenBLAS on THREADS threads, as the stages
# run) with --busy: each unit also beside a busy core and sharing its CPU,
# and each unit's per-step work, which the report's step simulation places.
# For docs/benchmarks.md; every /pred should lie within 0.9-1.1.
# Usage: scripts/bench-report.sh [BUILDDIR]   (default: build)
# Environment: STEPS (20), THREADS (1), PLANS (examples/gpt-text.ini
# examples/gpt-large.ini), KEEP (a folder: keep each plan's run, trace,
# metrics and report there, for a look at the spans op by op).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
STEPS=${STEPS:-20}
THREADS=${THREADS:-1}
PLANS=${PLANS:-examples/gpt-text.ini examples/gpt-large.ini}
if [ -n "${KEEP:-}" ]; then
	mkdir -p "$KEEP"
	W=$(cd "$KEEP" && pwd)
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-report.XXXXXX")
	trap 'rm -rf "$W"' EXIT
fi
PORT=$(( 10000 + ($$ % 20000) ))

# byte-level text: this machine's licence texts and dtpipe's docs, repeated
i=0
while [ $i -lt 8 ]; do cat /usr/share/common-licenses/* "$top"/docs/*.md; i=$((i + 1)); done > "$W/text.txt"
"$B/tools/dtpipe-shard" text "$W/text.txt" --out "$W/text" >/dev/null 2>&1

echo "== $STEPS steps, $THREADS thread(s) per stage (machine: $(nproc) cores," \
     "load $(cut -d' ' -f1 /proc/loadavg))"
for plan in $PLANS; do
	name=$(basename "$plan" .ini)
	PORT=$((PORT + 16))
	sed -e "s/^steps = .*/steps = $STEPS/" -e "s|^train = .*|train = $W/text|" \
		-e "/^test = /d" -e "/^base_port = /d" -e "s/^warmup_steps = .*/warmup_steps = 0/" \
		-e "s/^\[transport\]\$/[transport]\nbase_port = $PORT/" "$top/$plan" > "$W/$name.ini"
	"$B/tools/dtpipe" --plan "$W/$name.ini" --threads "$THREADS" --quiet \
		--trace "$W/$name.trace" --metrics "$W/$name.json" > "$W/$name.run" 2>&1 ||
		{ echo "$name: the run failed"; cat "$W/$name.run"; continue; }
	echo "-- $plan"
	OPENBLAS_NUM_THREADS=$THREADS "$B/tools/dtpipe-partition" report --plan "$W/$name.ini" \
		--trace "$W/$name.trace" --metrics "$W/$name.json" --reps 7 --threads "$THREADS" --busy | sed -n '1,/^measured:/p'
done
