#!/bin/sh
# bf16 against fp32 on the model core (issue 13): dtpipe-bench-model in both
# precisions, 1 and 2 threads, OpenBLAS's default kernel for this CPU
# (OPENBLAS_CORETYPE unset), beside its reference rows measured in the same
# run on exactly the model's matmul shapes: OpenBLAS sgemm, oneDNN matmul
# fp32 and oneDNN matmul bf16 (bf16 operands, fp32 accumulation), and on 2
# threads oneDNN's one-thread matmul on both cores at once. The
# best reference of a precision is the machine's limit for it. fp32 runs on both
# fp32 matmul backends in the same run (--fp32-matmul both: OpenBLAS, the
# default, then oneDNN's fp32 matmul for the linear layers), beside the same
# references; the bf16 speed-up is against the default (OpenBLAS) fp32 step.
#
#   scripts/bench-bf16.sh [BUILDDIR]
#   env: CASES (default "mlp gpt gpt2s"), THREADS (default "1 2"), RUNS (default 3),
#        STEPS (default 10), GPT2S_STEPS (default 2), PIPELINE (default 1)
# Run it on a quiet machine; each cell is the median over RUNS of each run's
# best step. Each (case, threads, precision) block is a round taken while
# every core runs at full speed (scripts/bench-lib.sh), tried up to
# TRIES (default 3) times until it is clean at both ends. Every reference runs on the step's thread count. PIPELINE=1
# then runs the pipeline figures in bf16 (PRECISION=bf16 PARTS=speedup
# scripts/bench-pipeline.sh: K = 2 speed-up and overhead against the ideal
# GPipe step; targets >= 1.6x and <= 5%).
set -eu
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${1:-$SRCDIR/build}
BENCH=$BUILDDIR/tools/dtpipe-bench-model
CASES=${CASES:-mlp gpt gpt2s}
THREADS=${THREADS:-1 2}
RUNS=${RUNS:-3}
STEPS=${STEPS:-10}
GPT2S_STEPS=${GPT2S_STEPS:-2}
PIPELINE=${PIPELINE:-1}
[ -x "$BENCH" ] || { echo "bench-bf16.sh: build $BENCH first" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-bf16.XXXXXX")
OUT=$W/out
: >"$OUT"
trap 'rm -rf "$W"' EXIT
. "$SRCDIR/scripts/bench-lib.sh"
bench_cores_init "$BUILDDIR" "$W"
TRIES=${TRIES:-3}
# block CASE THREADS PRECISION: dtpipe, then PyTorch 1.13 beside it (bf16:
# its CPU autocast), to $W/blk
block() {
	env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS="$2" "$BENCH" --case "$1" \
		--precision "$3" --fp32-matmul both --steps "$STEPS" \
		--gpt2s-steps "$GPT2S_STEPS" >"$W/blk"
	env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=passive /usr/bin/python3 \
		"$SRCDIR/scripts/bench_model_torch.py" --case "$1" --threads "$2" \
		--precision "$3" --steps "$STEPS" --gpt2s-steps "$GPT2S_STEPS" \
		>>"$W/blk" 2>/dev/null || echo "bench-bf16.sh: PyTorch $1 $3 skipped" >&2
}
run=1
while [ "$run" -le "$RUNS" ]; do
	for c in $CASES; do
		for th in $THREADS; do
			for p in fp32 bf16; do
				clean_try "$TRIES" "run $run $c $th thread(s) $p" block "$c" "$th" "$p"
				cat "$W/blk" >>"$OUT"
			done
		done
	done
	run=$((run + 1))
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cores: $(clean_note)"
cores_log
echo "# raw lines"
cat "$OUT"
echo
echo "# medians over $RUNS run(s); GFLOP/s = matmul FLOPs / best step (attention's T x T"
echo "# scores counted in full); limit = the best reference of the precision, on"
echo "# n > 1 threads also oneDNN's one-thread matmul run n times at once, one per core"
echo "# (concurrent_*); scaled_* / ratio_scaled in the raw lines: n x the idle one-core rate"
awk "$(cat "$SRCDIR/scripts/bench-lib.awk")"'
/^case=/ && kv("core") ~ /^torch/ {
	add(tms, kv("case") "@" kv("threads") SUBSEP kv("precision"), kv("step_ms_best")); next
}
/^case=/ {
	k = kv("case") "@" kv("threads"); p = kv("precision"); core[k] = kv("core")
	if (p == "fp32" && kv("fp32_matmul") == "onednn") p = "fp32dnn"
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	add(ms, k SUBSEP p, kv("step_ms_best")); add(g, k SUBSEP p, kv("model_gflops"))
	add(sg, k SUBSEP p, kv("sgemm_gflops")); add(f32, k SUBSEP p, kv("onednn_f32_gflops"))
	add(b16, k SUBSEP p, kv("onednn_bf16_gflops")); add(rl, k SUBSEP p, kv("ratio_limit"))
	add(lim, k SUBSEP p, kv("limit_gflops"))
	add(om, k SUBSEP p, kv("optim_ms_mean")); add(sm, k SUBSEP p, kv("stream_ms_mean"))
	add(ro, k SUBSEP p, kv("ratio_optim_stream")); add(rlu, k SUBSEP p, kv("ratio_limit_update"))
}
END {
	printf "| case | threads | OpenBLAS kernel | sgemm | oneDNN fp32 | oneDNN bf16 | fp32 limit | bf16 limit | fp32 step ms (OpenBLAS) | fp32 GFLOP/s (OpenBLAS) | fp32 / limit (OpenBLAS) | fp32 step ms (oneDNN) | fp32 GFLOP/s (oneDNN) | fp32 / limit (oneDNN) | bf16 step ms | bf16 GFLOP/s | bf16 / limit | bf16 speed-up (over OpenBLAS fp32) | PyTorch fp32 ms | PyTorch bf16 autocast ms |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, q, "@")
		a = med(ms[k, "fp32"]); b = med(ms[k, "bf16"])
		printf "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.2fx | %.1f | %.1f |\n", q[1], q[2], core[k], med(sg[k, "fp32"] " " sg[k, "bf16"]), med(f32[k, "fp32"] " " f32[k, "bf16"]), med(b16[k, "fp32"] " " b16[k, "bf16"]), med(lim[k, "fp32"] " " lim[k, "fp32dnn"]), med(lim[k, "bf16"]), a, med(g[k, "fp32"]), med(rl[k, "fp32"]), med(ms[k, "fp32dnn"]), med(g[k, "fp32dnn"]), med(rl[k, "fp32dnn"]), b, med(g[k, "bf16"]), med(rl[k, "bf16"]), (b > 0 ? a / b : 0), med(tms[k, "fp32"]), med(tms[k, "bf16"])
	}
	# the optimizer step beside its memory reference (dtp_optim_stream: the
	# same bytes in the same cache state, no arithmetic); ratio 1: it costs
	# only its memory traffic. Last column: the step against its matmuls at
	# the limit plus that reference (ratio_limit_update)
	printf "\n| case | threads | precision | optimizer ms | memory reference ms | reference / optimizer | (limit + reference) / step |\n"
	printf "|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, q, "@")
		for (j = 1; j <= 3; j++) {
			p = j == 1 ? "fp32" : j == 2 ? "fp32dnn" : "bf16"
			printf "| %s | %s | %s | %.3f | %.3f | %.2f | %.2f |\n", q[1], q[2], p == "fp32dnn" ? "fp32 (oneDNN)" : p, med(om[k, p]), med(sm[k, p]), med(ro[k, p]), med(rlu[k, p])
		}
	}
}' "$OUT"
if [ "$PIPELINE" = 1 ]; then
	echo
	echo "# pipeline figures in bf16"
	env -u OPENBLAS_CORETYPE PRECISION=bf16 PARTS=speedup "$SRCDIR/scripts/bench-pipeline.sh" "$BUILDDIR" 2>/dev/null
fi
