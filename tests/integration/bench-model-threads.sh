#!/bin/sh
# dtpipe-bench-model times its references on the step's thread count: with
# OPENBLAS_NUM_THREADS=2 the gpt model runs a 2-participant pool (which holds
# OpenBLAS at one thread while the model lives), and the line must say
# threads=2, the count its references and its step ran on (it said 1 when the
# references were timed beside the model, on one thread).
. "$DTP_SRCDIR/tests/integration/lib.sh"

BENCH="$DTP_BUILDDIR/tools/dtpipe-bench-model"
for p in fp32 bf16; do
	if [ "$p" = bf16 ] && ! grep -q '^#define DTP_HAVE_ONEDNN 1' "$DTP_BUILDDIR/config.h"; then
		continue
	fi
	OPENBLAS_NUM_THREADS=2 "$BENCH" --case gpt --steps 1 --precision "$p" --no-reference \
		>"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err"; echo "FAIL: $p did not run"; exit 1; }
	grep -q '^case=gpt .* threads=2 ' "$WORK/out" ||
		{ cat "$WORK/out"; echo "FAIL: $p: the step and references are not on 2 threads"; exit 1; }
	echo "ok: $p: $(cut -d' ' -f1-4 "$WORK/out")"
done

# with its references on 2 threads (oneDNN built in): the concurrent
# reference (one-thread oneDNN on both cores at once) is measured, and the
# limit is the best of the precision's measured references, not the idle
# one-core rate doubled (scaled_*, shown only); and the optimizer's step
# is timed beside its memory reference (dtp_optim_stream)
if grep -q '^#define DTP_HAVE_ONEDNN 1' "$DTP_BUILDDIR/config.h"; then
	for p in fp32 bf16; do
		OPENBLAS_NUM_THREADS=2 "$BENCH" --case mlp --steps 1 --precision "$p" \
			>"$WORK/out" 2>"$WORK/err" ||
			{ cat "$WORK/err"; echo "FAIL: $p with references did not run"; exit 1; }
		# kv(): scripts/bench-lib.awk's ("" for a missing key, which fails
		# the checks below as a figure of 0 would)
		awk -v p="$p" "$(cat "$DTP_SRCDIR/scripts/bench-lib.awk")"'
		/^case=mlp/ {
			n++
			c = kv("concurrent_" (p == "fp32" ? "f32" : "bf16") "_gflops")
			if (c <= 0) { print "FAIL: " p ": no concurrent reference: " $0; bad = 1 }
			if (kv("scaled_" (p == "fp32" ? "f32" : "bf16") "_gflops") <= 0) {
				print "FAIL: " p ": no scaled figure: " $0; bad = 1
			}
			# the optimizer timed beside its memory reference
			if (kv("optim_ms_mean") <= 0 || kv("stream_ms_mean") <= 0 ||
			    kv("ratio_optim_stream") <= 0 || kv("ratio_limit_update") <= 0 ||
			    kv("ratio_limit_update") <= kv("ratio_limit")) {
				print "FAIL: " p ": no optimizer time or memory reference: " $0; bad = 1
			}
			best = c
			if (p == "fp32") {
				if (kv("sgemm_gflops") > best) best = kv("sgemm_gflops")
				if (kv("onednn_f32_gflops") > best) best = kv("onednn_f32_gflops")
			} else if (kv("onednn_bf16_gflops") > best) best = kv("onednn_bf16_gflops")
			d = kv("limit_gflops") - best
			if (d > 0.051 || d < -0.051) {
				print "FAIL: " p ": limit " kv("limit_gflops") " is not the best reference " best
				bad = 1
			}
		}
		END { if (n != 1) { print "FAIL: " p ": " n " lines"; bad = 1 } exit bad }
		' "$WORK/out" || { cat "$WORK/out"; exit 1; }
		echo "ok: $p: limit = best measured reference, concurrent one included"
	done
fi
echo "PASS"
