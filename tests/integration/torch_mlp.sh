#!/bin/sh
# The checkpoint files are ordinary safetensors: examples/torch_mlp.py builds
# the trained mlp in PyTorch from them (reading with json and numpy only) and
# gets dtpipe's own test accuracy (the correct counts must match; else within
# 0.1 points). Fails where Debian's python3 has no torch or numpy
# (scripts/setup.sh --test installs python3-torch and python3-numpy).
. "$DTP_SRCDIR/tests/integration/lib.sh"

PY=/usr/bin/python3
"$PY" -c 'import numpy, torch' 2>/dev/null ||
	{ echo "FAIL: $PY has no numpy or torch: apt-get install python3-numpy python3-torch (scripts/setup.sh --test does)"; exit 1; }

"$MKDATA" records "$WORK/rec" 600 500 12 4 9
write_plan "$WORK/p.ini" "mlp:12-32-32-4" "$WORK/rec" 1f1b no shm \
	'optimizer = adamw\nlr = 0.01' 0-1 2
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 40 --checkpoint-dir "$WORK/ck" \
	>"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: training"; exit 1; }
dtp=$(sed -n 's/.*test accuracy: .* (\([0-9]*\)\/\([0-9]*\)).*/\1 \2/p' "$WORK/out")
"$PY" "$DTP_SRCDIR/examples/torch_mlp.py" "$WORK/ck" "$WORK/rec/test" >"$WORK/py" 2>&1 ||
	{ cat "$WORK/py"; echo "FAIL: torch_mlp.py"; exit 1; }
pt=$(sed -n 's/^test accuracy: .* (\([0-9]*\)\/\([0-9]*\))$/\1 \2/p' "$WORK/py")
echo "dtpipe: $dtp, PyTorch: $pt (correct / samples)"
set -- $dtp $pt
test "$#" -eq 4 && test "$2" -eq 500 && test "$4" -eq 500 ||
	{ cat "$WORK/out" "$WORK/py"; echo "FAIL: no accuracy of 500 samples from both"; exit 1; }
# 0.1 points of 500 samples is less than one sample: the counts must be equal
test "$1" -eq "$3" || { echo "FAIL: dtpipe counts $1 correct, PyTorch $3"; exit 1; }
# and a model that learned something: more than the 25% of chance
test "$1" -gt 150 || { echo "FAIL: accuracy $1/500 is chance"; exit 1; }
echo PASS
