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
# For docs/benchmarks.md; every /pred should lie within 0.9-1.1. Each plan's
# run and report is a round taken while every core runs at full speed
# (scripts/bench-lib.sh), tried up to TRIES (default 3) times until clean.
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
. "$top/scripts/bench-lib.sh"
bench_cores_init "$B" "$W"
TRIES=${TRIES:-3}

# byte-level text: this machine's licence texts and dtpipe's docs, repeated
i=0
while [ $i -lt 8 ]; do cat /usr/share/common-licenses/* "$top"/docs/*.md; i=$((i + 1)); done > "$W/text.txt"
"$B/tools/dtpipe-shard" text "$W/text.txt" --out "$W/text" >/dev/null 2>&1

echo "== $STEPS steps, $THREADS thread(s) per stage (machine: $(nproc) cores," \
     "load $(cut -d' ' -f1 /proc/loadavg))"
# one_plan PLAN NAME: the traced run and the report, to $W/NAME.out
one_plan() {
	PORT=$((PORT + 16))
	sed -e "s/^steps = .*/steps = $STEPS/" -e "s|^train = .*|train = $W/text|" \
		-e "/^test = /d" -e "/^base_port = /d" -e "s/^warmup_steps = .*/warmup_steps = 0/" \
		-e "s/^\[transport\]\$/[transport]\nbase_port = $PORT/" "$top/$1" > "$W/$2.ini"
	if ! "$B/tools/dtpipe" --plan "$W/$2.ini" --threads "$THREADS" --quiet \
		--trace "$W/$2.trace" --metrics "$W/$2.json" > "$W/$2.run" 2>&1; then
		{ echo "$2: the run failed"; cat "$W/$2.run"; } > "$W/$2.out"
		return 0
	fi
	OPENBLAS_NUM_THREADS=$THREADS "$B/tools/dtpipe-partition" report --plan "$W/$2.ini" \
		--trace "$W/$2.trace" --metrics "$W/$2.json" --reps 7 --threads "$THREADS" --busy |
		sed -n '1,/^measured:/p' > "$W/$2.out"
}
for plan in $PLANS; do
	name=$(basename "$plan" .ini)
	rounds_reset
	clean_try "$TRIES" "$name" one_plan "$plan" "$name"
	echo "-- $plan ($(clean_note))"
	cores_log
	cat "$W/$name.out"
done
