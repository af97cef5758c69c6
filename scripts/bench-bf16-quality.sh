#!/bin/sh
# bf16 against fp32 on quality (issue 13), same plan, seed and data:
#   - Fashion-MNIST, the default job (dtpipe --print-default-plan: mlp
#     784-1024-1024-1024-10, AdamW, 10 epochs), on one stage: test accuracy,
#     target |bf16 - fp32| <= 0.3 points;
#   - the byte-level gpt of examples/gpt-text.ini on text, 1000 steps: the
#     training loss at step 1000 (mean of the last 50 logged steps, the
#     per-step loss being noisy), target within 1% of fp32.
# A K-stage run is bit-identical to the 1-stage one (tests/integration), so
# one stage measures the pipeline's quality too. Writes the curves (step,
# fp32 loss, bf16 loss) as CSV and a summary to OUT.
#
#   scripts/bench-bf16-quality.sh [BUILDDIR] [OUT]
#   env: THREADS (default 1), EPOCHS (default 10), GPT_STEPS (default 1000),
#        TEXT (text files for the gpt; default /usr/share/common-licenses/*)
set -eu
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${1:-$SRCDIR/build}
OUT=${2:-$SRCDIR/bench-bf16-quality}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-10}
GPT_STEPS=${GPT_STEPS:-1000}
DTPIPE=$BUILDDIR/tools/dtpipe
SHARD=$BUILDDIR/tools/dtpipe-shard
mkdir -p "$OUT"
[ -x "$DTPIPE" ] && [ -x "$SHARD" ] ||
	{ echo "bench-bf16-quality.sh: build dtpipe and dtpipe-shard in $BUILDDIR first" >&2; exit 2; }
grep -q '^#define DTP_HAVE_ONEDNN 1' "$BUILDDIR/config.h" ||
	{ echo "bench-bf16-quality.sh: $BUILDDIR was built without oneDNN (install libdnnl-dev, re-run configure)" >&2; exit 2; }

FM=$OUT/data/fashion-mnist
TXT=$OUT/data/text
[ -d "$FM/train" ] || "$SHARD" fashion-mnist --out "$FM"
if [ ! -d "$TXT" ]; then
	# shellcheck disable=SC2086
	"$SHARD" text ${TEXT:-/usr/share/common-licenses/*} --out "$TXT"
fi

# the default plan on one stage, its data here
"$DTPIPE" --print-default-plan | awk -v fm="$FM" -v ep="$EPOCHS" '
	/^\[stage\./ { exit }
	/^train = / { print "train = " fm "/train"; next }
	/^test = / { print "test = " fm "/test"; next }
	/^epochs = / { print "epochs = " ep; next }
	{ print }
	END { print "[stage.0]\nunits = 0-3" }' > "$OUT/mlp.ini"
awk -v txt="$TXT" -v n="$GPT_STEPS" '
	/^\[stage\./ { exit }
	/^train = / { print "train = " txt; next }
	/^steps = / { print "steps = " n; next }
	/^log_every = / { print "log_every = 1"; next }
	/^schedule = / { print "schedule = gpipe"; next }
	{ print }
	END { print "[stage.0]\nunits = 0-5" }' "$SRCDIR/examples/gpt-text.ini" > "$OUT/gpt.ini"

for job in mlp gpt; do
	for p in fp32 bf16; do
		echo "==> $job $p" >&2
		"$DTPIPE" --plan "$OUT/$job.ini" --precision "$p" --threads "$THREADS" --no-bind \
			--metrics "$OUT/$job-$p.jsonl" > "$OUT/$job-$p.out" 2>&1 ||
			{ cat "$OUT/$job-$p.out"; echo "bench-bf16-quality.sh: $job $p failed" >&2; exit 1; }
	done
	# curves: step, fp32 loss, bf16 loss
	for p in fp32 bf16; do
		grep '"step"' "$OUT/$job-$p.jsonl" | sed 's/.*"step": *\([0-9]*\).*"loss": *\([-0-9.e+]*\).*/\1 \2/' > "$OUT/$job-$p.curve"
	done
	{ echo "step,fp32,bf16"; awk 'NR == FNR { a[$1] = $2; next } $1 in a { print $1 "," a[$1] "," $2 }' \
		"$OUT/$job-fp32.curve" "$OUT/$job-bf16.curve"; } > "$OUT/$job-curves.csv"
done

acc() { sed -n 's/.*test accuracy: \([0-9.]*\)%.*/\1/p' "$OUT/mlp-$1.out"; }
tail_loss() { tail -n 50 "$OUT/gpt-$1.curve" | awk '{ s += $2 } END { printf "%.4f", s / NR }'; }
a32=$(acc fp32) a16=$(acc bf16) l32=$(tail_loss fp32) l16=$(tail_loss bf16)
{
	echo "OpenBLAS: $(grep -o 'OpenBLAS [A-Za-z0-9]* kernel' "$OUT/mlp-fp32.out" | head -n 1), threads $THREADS"
	awk -v a="$a32" -v b="$a16" -v n="$EPOCHS" 'BEGIN { d = b - a; printf "fashion-mnist %s epochs: test accuracy fp32 %.2f%%, bf16 %.2f%%, bf16 - fp32 %+.2f points (target within 0.3): %s\n", n, a, b, d, (d <= 0.3 && d >= -0.3) ? "met" : "NOT met" }'
	awk -v a="$l32" -v b="$l16" -v n="$GPT_STEPS" 'BEGIN { r = (b - a) / a; printf "gpt %s steps: loss (last 50 steps) fp32 %.4f, bf16 %.4f, %+.2f%% (target within 1%%): %s\n", n, a, b, 100 * r, (r <= 0.01 && r >= -0.01) ? "met" : "NOT met" }'
} | tee "$OUT/summary.txt"
