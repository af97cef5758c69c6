#!/bin/sh
# Model core benchmark: dtpipe's 1-stage training step vs OpenBLAS sgemm on the
# same shapes (same run) vs PyTorch 1.13, at 1 and 2 threads, with OpenBLAS's
# default core type and with OPENBLAS_CORETYPE=Haswell.
#   scripts/bench-model.sh [BUILDDIR]     (default: ./build)
# STEPS (default 10) and GPT2S_STEPS (default 2) set the timed steps.
set -eu
BUILDDIR=${1:-build}
BENCH=$BUILDDIR/tools/dtpipe-bench-model
SRCDIR=$(dirname "$0")/..
STEPS=${STEPS:-10}
GPT2S_STEPS=${GPT2S_STEPS:-2}
PY=/usr/bin/python3
if [ ! -x "$BENCH" ]; then
	echo "bench-model.sh: $BENCH not built: run 'make tools/dtpipe-bench-model' in $BUILDDIR" >&2
	exit 2
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for th in 1 2; do
	for core in default Haswell; do
		if [ $core = default ]; then
			env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$th "$BENCH" --steps "$STEPS" \
				--gpt2s-steps "$GPT2S_STEPS" | sed "s/^/dtpipe coretype=$core /" >>"$OUT"
		else
			OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=$th "$BENCH" --steps "$STEPS" \
				--gpt2s-steps "$GPT2S_STEPS" | sed "s/^/dtpipe coretype=$core /" >>"$OUT"
		fi
	done
	if $PY -c 'import torch' 2>/dev/null; then
		env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=passive OPENBLAS_NUM_THREADS=$th \
			$PY "$SRCDIR/scripts/bench_model_torch.py" --threads $th --steps "$STEPS" \
			--gpt2s-steps "$GPT2S_STEPS" | sed "s/^/torch coretype=default /" >>"$OUT"
	else
		echo "bench-model.sh: python3-torch not importable by $PY: PyTorch column skipped" >&2
	fi
done
echo "# raw lines"
cat "$OUT"
echo
echo "# table (throughput: samples/s for mlp, tokens/s for gpt; GFLOP/s = matmul FLOPs / best step)"
awk '
function kv(k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
{
	who = $1; core = kv("coretype"); c = kv("case"); th = kv("threads")
	tp = kv("samples_per_s"); if (tp == "") tp = kv("tokens_per_s")
	key = c "@" th
	if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	if (who == "dtpipe") { d[key, core] = tp; g[key, core] = kv("model_gflops"); s[key, core] = kv("sgemm_gflops") }
	else { t[key] = tp; tg[key] = kv("model_gflops") }
}
END {
	printf "| case | threads | dtpipe (default) | GFLOP/s | sgemm GFLOP/s | model/sgemm | dtpipe (Haswell) | GFLOP/s | sgemm GFLOP/s | model/sgemm | PyTorch | dtpipe/PyTorch |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, p, "@")
		torch = "-"; rel = "-"
		if (k in t) { torch = t[k]; if (t[k] > 0) rel = sprintf("%.2f", d[k, "default"] / t[k]) }
		rd = s[k, "default"] > 0 ? g[k, "default"] / s[k, "default"] : 0
		rh = s[k, "Haswell"] > 0 ? g[k, "Haswell"] / s[k, "Haswell"] : 0
		printf "| %s | %s | %s | %s | %s | %.2f | %s | %s | %s | %.2f | %s | %s |\n", p[1], p[2], d[k, "default"], g[k, "default"], s[k, "default"], rd, d[k, "Haswell"], g[k, "Haswell"], s[k, "Haswell"], rh, torch, rel
	}
}' "$OUT"
