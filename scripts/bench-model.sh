#!/bin/sh
# Model core benchmark: dtpipe's 1-stage training step vs OpenBLAS sgemm on the
# same shapes (same run) vs PyTorch 1.13, at 1 and 2 threads, with OpenBLAS's
# default core type and with OPENBLAS_CORETYPE=Haswell.
#   scripts/bench-model.sh [BUILDDIR]     (default: ./build)
# STEPS (default 10) and GPT2S_STEPS (default 2) set the timed steps; RUNS
# (default 1) repeats the whole set, interleaving the configurations (so load
# changes hit all of them alike), and the table shows per-cell medians over
# the runs of each run's best step. CASE (default all) picks mlp, gpt or gpt2s;
# THREADS (default "1 2") the OpenBLAS thread counts.
set -eu
BUILDDIR=${1:-build}
BENCH=$BUILDDIR/tools/dtpipe-bench-model
SRCDIR=$(dirname "$0")/..
STEPS=${STEPS:-10}
GPT2S_STEPS=${GPT2S_STEPS:-2}
RUNS=${RUNS:-1}
CASE=${CASE:-all}
THREADS=${THREADS:-1 2}
PY=/usr/bin/python3
if [ ! -x "$BENCH" ]; then
	echo "bench-model.sh: $BENCH not built: run 'make tools/dtpipe-bench-model' in $BUILDDIR" >&2
	exit 2
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
run=1
while [ $run -le "$RUNS" ]; do
for th in $THREADS; do
	for core in default Haswell; do
		if [ $core = default ]; then
			env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$th "$BENCH" --case "$CASE" \
				--steps "$STEPS" --gpt2s-steps "$GPT2S_STEPS" |
				sed "s/^/dtpipe coretype=$core run=$run /" >>"$OUT"
		else
			OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=$th "$BENCH" --case "$CASE" \
				--steps "$STEPS" --gpt2s-steps "$GPT2S_STEPS" |
				sed "s/^/dtpipe coretype=$core run=$run /" >>"$OUT"
		fi
	done
	if $PY -c 'import torch' 2>/dev/null; then
		env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=passive OPENBLAS_NUM_THREADS=$th \
			$PY "$SRCDIR/scripts/bench_model_torch.py" --case "$CASE" --threads $th \
			--steps "$STEPS" --gpt2s-steps "$GPT2S_STEPS" |
			sed "s/^/torch coretype=default run=$run /" >>"$OUT"
	else
		echo "bench-model.sh: python3-torch not importable by $PY: PyTorch column skipped" >&2
	fi
done
run=$((run + 1))
done
. "$SRCDIR/scripts/bench-lib.sh"
cpu_line "$BUILDDIR"
echo "# raw lines"
cat "$OUT"
echo
echo "# table: medians over $RUNS run(s) (throughput: samples/s for mlp, tokens/s for gpt;"
echo "# GFLOP/s = matmul FLOPs / best step; model/sgemm = median of the per-run ratios)"
awk "$(cat "$SRCDIR/scripts/bench-lib.awk")"'
{
	who = $1; core = kv("coretype"); c = kv("case"); th = kv("threads")
	tp = kv("samples_per_s"); if (tp == "") tp = kv("tokens_per_s")
	key = c "@" th
	if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	if (who == "dtpipe") {
		add(d, key SUBSEP core, tp); add(g, key SUBSEP core, kv("model_gflops"))
		add(s, key SUBSEP core, kv("sgemm_gflops")); add(r, key SUBSEP core, kv("ratio"))
	} else add(t, key, tp)
}
END {
	printf "| case | threads | dtpipe (default) | GFLOP/s | sgemm GFLOP/s | model/sgemm | dtpipe (Haswell) | GFLOP/s | sgemm GFLOP/s | model/sgemm | PyTorch | dtpipe/PyTorch |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, p, "@")
		torch = "-"; rel = "-"
		dd = med(d[k, "default"]); dh = med(d[k, "Haswell"])
		if (k in t) { torch = sprintf("%.0f", med(t[k])); if (med(t[k]) > 0) rel = sprintf("%.2f", dd / med(t[k])) }
		printf "| %s | %s | %.0f | %.1f | %.1f | %.2f | %.0f | %.1f | %.1f | %.2f | %s | %s |\n", p[1], p[2], dd, med(g[k, "default"]), med(s[k, "default"]), med(r[k, "default"]), dh, med(g[k, "Haswell"]), med(s[k, "Haswell"]), med(r[k, "Haswell"]), torch, rel
	}
}' "$OUT"
