#!/bin/sh
# The gpt in PyTorch: examples/torch_gpt.py builds dtpipe's gpt in PyTorch
# 1.13 from a checkpoint (written by 3 stages) and from dtpipe-export's file,
# and its logits on one batch are within 1e-5 of dtpipe's own (dtpipe-export
# --logits, dtpipe's model code). The weights of another step give other
# logits: the comparison can fail. Fails where Debian's python3 has no torch
# or numpy (scripts/setup.sh --test installs python3-torch and python3-numpy).
. "$DTP_SRCDIR/tests/integration/lib.sh"

EXPORT="$DTP_BUILDDIR/tools/dtpipe-export"
PY=/usr/bin/python3
"$PY" -c 'import numpy, torch' 2>/dev/null ||
	{ echo "FAIL: $PY has no numpy or torch: apt-get install python3-numpy python3-torch (scripts/setup.sh --test does)"; exit 1; }

"$MKDATA" tokens "$WORK/tok" 6000 800 64 5
write_plan "$WORK/p.ini" "gpt:layers=3,dim=32,heads=4,seq=16,vocab=64" "$WORK/tok" gpipe no shm \
	'optimizer = adamw\nlr = 0.01\n[checkpoint]\nevery = 4' 0-1 2-3 4
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck" \
	>"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: training"; exit 1; }
"$EXPORT" "$WORK/ck" "$WORK/model.st" >"$WORK/out" 2>&1 &&
	"$EXPORT" --logits --batch 3 --seed 7 "$WORK/ck" "$WORK/logits.st" >>"$WORK/out" 2>&1 &&
	"$EXPORT" --logits --batch 3 --seed 7 --step 4 "$WORK/ck" "$WORK/logits4.st" >>"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: dtpipe-export"; exit 1; }
for model in "$WORK/model.st" "$WORK/ck"; do
	"$PY" "$DTP_SRCDIR/examples/torch_gpt.py" "$model" "$WORK/logits.st" >"$WORK/py" 2>&1 ||
		{ cat "$WORK/py"; echo "FAIL: torch_gpt.py $model"; exit 1; }
	cat "$WORK/py"
	grep -q "^ok: within 1e-05" "$WORK/py" || { echo "FAIL: no verdict"; exit 1; }
done
# the model of step 8 against the logits of step 4: other weights, refused
set +e
"$PY" "$DTP_SRCDIR/examples/torch_gpt.py" "$WORK/model.st" "$WORK/logits4.st" >"$WORK/py" 2>&1
rc=$?
set -e
test "$rc" -eq 1 && grep -q "^FAIL: above 1e-05" "$WORK/py" ||
	{ cat "$WORK/py"; echo "FAIL: the logits of step 4 matched the model of step 8 (exit $rc)"; exit 1; }
echo "ok: the logits of another step differ: $(head -n 1 "$WORK/py")"
echo PASS
