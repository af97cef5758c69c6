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
echo "PASS"
