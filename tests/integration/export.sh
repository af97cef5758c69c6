#!/bin/sh
# dtpipe-export: a checkpoint written by 2 stages becomes one model-only
# safetensors file that a numpy-only reader (examples/safetensors_read.py)
# loads: every parameter of every unit, equal to the checkpoint's, no
# optimizer state, the model spec and step as metadata. The newest complete
# checkpoint, or --step N, or a step directory. A corrupt or truncated
# checkpoint is refused (exit 2) naming the file and the tensor, and the
# output file is left as it was.
. "$DTP_SRCDIR/tests/integration/lib.sh"

EXPORT="$DTP_BUILDDIR/tools/dtpipe-export"
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null ||
	{ echo "FAIL: $PY has no numpy: apt-get install python3-numpy (scripts/setup.sh --test does)"; exit 1; }
SPEC="gpt:layers=2,dim=16,heads=2,seq=8,vocab=32"
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7
write_plan "$WORK/p.ini" "$SPEC" "$WORK/tok" 1f1b no shm \
	'optimizer = adamw\nlr = 0.01\n[checkpoint]\nevery = 3' 0-1 2-3
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 6 --checkpoint-dir "$WORK/ck" \
	>"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: training"; exit 1; }
ck=$WORK/ck

# compare EXPORT STEPDIR STEP: the export holds exactly the checkpoint's
# parameters (names, shapes, bytes), no optimizer state, and the metadata
compare() {
	"$PY" - "$DTP_SRCDIR/examples" "$1" "$2" "$3" "$SPEC" <<'PYEOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
from safetensors_read import load
out, sdir, step, spec = sys.argv[2:6]
got, meta = load(out)
man = json.load(open(os.path.join(sdir, "manifest.json")))
want = {}
for f in man["files"]:
    want.update(load(os.path.join(sdir, f["name"]))[0])
want = {k: v for k, v in want.items() if not k.endswith((".adam_m", ".adam_v", ".momentum"))}
assert len(man["files"]) == 2, "the checkpoint should have 2 stage files"
assert sorted(got) == sorted(want), "tensors differ: %s vs %s" % (sorted(got), sorted(want))
for k in want:
    assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
    assert got[k].tobytes() == want[k].tobytes(), "tensor %s differs" % k
assert meta["dtpipe.model"] == spec, meta
assert meta["dtpipe.step"] == step, meta
print("ok: %d tensors of step %s, equal to the checkpoint's" % (len(got), step))
PYEOF
}

"$EXPORT" "$ck" "$WORK/m.st" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: export"; exit 1; }
grep -q "model of step 6 written" "$WORK/out" || { cat "$WORK/out"; echo "FAIL: not step 6"; exit 1; }
compare "$WORK/m.st" "$ck/step-00000006" 6 || { echo "FAIL: export of the newest"; exit 1; }
"$PY" "$DTP_SRCDIR/examples/safetensors_read.py" "$WORK/m.st" > "$WORK/read" ||
	{ echo "FAIL: safetensors_read.py cannot read the export"; exit 1; }
test "$(wc -l < "$WORK/read")" -eq 29 || { echo "FAIL: $(wc -l < "$WORK/read") tensors read, want 29"; exit 1; }
"$EXPORT" --step 3 "$ck" "$WORK/m3.st" >"$WORK/out" 2>&1 &&
	compare "$WORK/m3.st" "$ck/step-00000003" 3 || { cat "$WORK/out"; echo "FAIL: --step 3"; exit 1; }
"$EXPORT" "$ck/step-00000003/" "$WORK/m3b.st" >"$WORK/out" 2>&1 && cmp "$WORK/m3.st" "$WORK/m3b.st" ||
	{ cat "$WORK/out"; echo "FAIL: a step directory"; exit 1; }
echo "ok: the newest, --step 3 and a step directory exported"

# expect_refused NAME PATTERN ARGS...: exit 2, the message matches, OUT kept
expect_refused() {
	name=$1 pat=$2
	shift 2
	echo keep > "$WORK/kept.st"
	set +e
	"$EXPORT" "$@" "$WORK/kept.st" >"$WORK/out" 2>&1
	rc=$?
	set -e
	test "$rc" -eq 2 && grep -q "$pat" "$WORK/out" ||
		{ cat "$WORK/out"; echo "FAIL: $name: exit $rc, want 2 and '$pat'"; exit 1; }
	test "$(cat "$WORK/kept.st")" = keep || { echo "FAIL: $name: the output was touched"; exit 1; }
	ls "$WORK" | grep -q 'kept.st.' && { ls "$WORK"; echo "FAIL: $name: a temporary file is left"; exit 1; }
	echo "ok: $name refused: $(grep error "$WORK/out")"
}

# a flipped bit in a parameter's data (the head's weight, in stage-1's file)
cp -r "$ck" "$WORK/bad"
"$PY" - "$WORK/bad/step-00000006/stage-1.safetensors" unit.3.head.weight <<'PYEOF'
import json, struct, sys
path, name = sys.argv[1:3]
with open(path, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    begin = json.loads(f.read(n))[name]["data_offsets"][0]
    f.seek(8 + n + begin + 5)
    b = f.read(1)
    f.seek(8 + n + begin + 5)
    f.write(bytes([b[0] ^ 0x10]))
PYEOF
expect_refused "a corrupt tensor" "stage-1.safetensors.*unit\.3\.head\.weight.*CRC" "$WORK/bad"
# a truncated file: --step 6 refused naming the file; without --step the
# newest complete checkpoint (3) is used and step 6 is named as skipped
cp -r "$ck" "$WORK/trunc"
f="$WORK/trunc/step-00000006/stage-0.safetensors"
truncate -s $(( $(wc -c < "$f") - 100 )) "$f"
expect_refused "a truncated file" "stage-0.safetensors" --step 6 "$WORK/trunc"
"$EXPORT" "$WORK/trunc" "$WORK/t.st" >"$WORK/out" 2>&1 &&
	grep -q "step 6 skipped.*stage-0.safetensors" "$WORK/out" &&
	compare "$WORK/t.st" "$ck/step-00000003" 3 || { cat "$WORK/out"; echo "FAIL: fallback to step 3"; exit 1; }
echo "ok: a truncated newest checkpoint skipped (named), step 3 exported"
# a manifest with a changed step: its checksum refuses it
cp -r "$ck" "$WORK/man"
sed -i 's/"step": 6,/"step": 7,/' "$WORK/man/step-00000006/manifest.json"
expect_refused "a changed manifest" "manifest.json: checksum mismatch" --step 6 "$WORK/man"
rm "$WORK/man/step-00000006/manifest.json"
expect_refused "an incomplete checkpoint" "manifest.json: missing.*incomplete" --step 6 "$WORK/man"
expect_refused "a missing directory" "$WORK/none" "$WORK/none"
expect_refused "an unknown option" "unrecognized option" --bogus "$ck"
expect_refused "a step of another directory" "step 3, not of step 6" --step 6 "$ck/step-00000003"
echo PASS
