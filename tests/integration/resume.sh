#!/bin/sh
# Checkpoints: a run of 6 steps and a run of 3 steps + checkpoint + resume for
# 3 more give identical losses and weights (3 stages, 1F1B, AdamW, so the
# optimizer state and the loader positions must come back exactly); a
# checkpoint of other training settings, of another model, or corrupt with no
# older one to fall back to, is refused with exit status 2. (Resuming under
# another layout: relayout.sh.)
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5
opta='optimizer = adamw\nlr = 0.01\nclip_norm = 1.0'
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no tcp "$opta" 0 1-2 3

"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 6 --dump "$WORK/full" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: full run"; exit 1; }
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 3 --checkpoint-dir "$WORK/ck" \
	--dump "$WORK/half" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: first half"; exit 1; }
for s in 0 1 2; do
	test -s "$WORK/ck/step-00000003/stage-$s.safetensors" || { echo "FAIL: no part of stage $s"; exit 1; }
done
test -s "$WORK/ck/step-00000003/manifest.json" && test "$(cat "$WORK/ck/latest")" = step-00000003 ||
	{ ls -R "$WORK/ck"; echo "FAIL: no manifest or latest pointer"; exit 1; }
test -z "$(find "$WORK/ck" -name '*.tmp*')" || { ls -R "$WORK/ck"; echo "FAIL: temporary files left"; exit 1; }
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 6 --checkpoint-dir "$WORK/ck" --resume \
	--dump "$WORK/half" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: resumed half"; exit 1; }
cmp "$WORK/full/losses" "$WORK/half/losses" || { echo "FAIL: resumed losses differ"; exit 1; }
concat_params "$WORK/full" 3
concat_params "$WORK/half" 3
cmp "$WORK/full/all.params" "$WORK/half/all.params" || { echo "FAIL: resumed weights differ"; exit 1; }
echo "ok: 3 + resume 3 == 6 steps, bit for bit"

# zb-h2 (its W stash and longer warm-up): 3 steps + checkpoint + resume for 3
# more give the 1f1b run's bits (every schedule is bit-identical to 1 stage)
sed 's/^schedule = 1f1b$/schedule = zb-h2/' "$WORK/p.ini" >"$WORK/z.ini"
grep -q '^schedule = zb-h2$' "$WORK/z.ini" || { echo "FAIL: no zb-h2 plan"; exit 1; }
"$DTPIPE" --plan "$WORK/z.ini" --threads 1 --quiet --steps 3 --checkpoint-dir "$WORK/zck" \
	--dump "$WORK/zb" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: zb-h2 first half"; exit 1; }
"$DTPIPE" --plan "$WORK/z.ini" --threads 1 --quiet --steps 6 --checkpoint-dir "$WORK/zck" --resume \
	--dump "$WORK/zb" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: zb-h2 resumed half"; exit 1; }
cmp "$WORK/full/losses" "$WORK/zb/losses" || { echo "FAIL: zb-h2 resumed losses differ"; exit 1; }
concat_params "$WORK/zb" 3
cmp "$WORK/full/all.params" "$WORK/zb/all.params" || { echo "FAIL: zb-h2 resumed weights differ"; exit 1; }
echo "ok: zb-h2: 3 + resume 3 == 6 steps of 1f1b, bit for bit"

# a cosine decay to the end of the run (no steps, one epoch: 200 samples of
# 3 x 4 make 16 steps) learns its length once the stages agree on it: the
# same bits as the decay given as total_steps = 16
optc='optimizer = adamw\nlr = 0.01\nlr_schedule = cosine\nwarmup_steps = 2'
write_plan "$WORK/c.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no tcp "$optc" 0 1-2 3
sed -i 's/^steps = 5$/epochs = 1/' "$WORK/c.ini"
write_plan "$WORK/t.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no tcp "$optc\ntotal_steps = 16" 0 1-2 3
sed -i 's/^steps = 5$/steps = 16/' "$WORK/t.ini"
"$DTPIPE" --plan "$WORK/c.ini" --threads 1 --quiet --dump "$WORK/cos" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: cosine to the end"; exit 1; }
"$DTPIPE" --plan "$WORK/t.ini" --threads 1 --quiet --dump "$WORK/tot" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: cosine with total_steps"; exit 1; }
test "$(wc -l < "$WORK/cos/losses")" -eq 16 || { cat "$WORK/cos/losses"; echo "FAIL: not 16 steps"; exit 1; }
cmp "$WORK/cos/losses" "$WORK/tot/losses" || { echo "FAIL: cosine to the end != total_steps = 16"; exit 1; }
echo "ok: cosine to the end of 16 steps == total_steps = 16, bit for bit"

# other training settings (another seed) for the same model: refused, naming
# what differs, exit 2
write_plan "$WORK/q.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no tcp "$opta" 0-1 2 3
sed -i 's/^seed = 11$/seed = 12/' "$WORK/q.ini"
status_of "$DTPIPE" --plan "$WORK/q.ini" --threads 1 --quiet --checkpoint-dir "$WORK/ck" --resume >"$WORK/out" 2>&1
test "$rc" -eq 2 || { cat "$WORK/out"; echo "FAIL: mismatched checkpoint gave exit $rc, want 2"; exit 1; }
grep -q "another training settings.*seed=11.*seed=12" "$WORK/out" || { cat "$WORK/out"; echo "FAIL: no clear message"; exit 1; }
echo "ok: mismatched checkpoint refused (exit 2)"

# another model: refused
write_plan "$WORK/r.ini" "mlp:12-24-20-24-4" "$WORK/rec" 1f1b no tcp "$opta" 0 1-2 3
status_of "$DTPIPE" --plan "$WORK/r.ini" --threads 1 --quiet --checkpoint-dir "$WORK/ck" --resume >"$WORK/out" 2>&1
test "$rc" -eq 2 && grep -q "another model" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: checkpoint of another model: exit $rc"; exit 1; }
echo "ok: checkpoint of another model refused (exit 2)"
# a corrupt checkpoint (one byte of the data flipped) and none older: refused,
# naming the file and the tensor, exit 2
f="$WORK/ck/step-00000006/stage-1.safetensors"
size=$(wc -c < "$f")
printf '\377' | dd of="$f" bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
rm -rf "$WORK/ck/step-00000003"
status_of "$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 8 --checkpoint-dir "$WORK/ck" --resume >"$WORK/out" 2>&1
test "$rc" -eq 2 && grep -q "stage-1.safetensors: tensor \"unit\.2\..*CRC-32C mismatch" "$WORK/out" &&
	grep -q "holds no complete checkpoint that checks" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: corrupt checkpoint: exit $rc"; exit 1; }
echo "ok: corrupt checkpoint refused (exit 2)"
echo PASS
