#!/bin/sh
# The per-stage memory cap: a model whose parameters + gradients + AdamW state
# and loader do not fit one process under the cap is refused before anything
# is allocated, with the sizes named (exit 1); split over 4 stages, every
# stage fits and it trains, reporting each stage's peak RSS.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 100 10 12 4 5
optim='optimizer = adamw\nlr = 0.001'
write_plan "$WORK/one.ini" "mlp:12-1024-1024-1024-4" "$WORK/rec" gpipe no tcp "$optim" 0-3
status_of "$DTPIPE" --plan "$WORK/one.ini" --threads 1 --quiet --steps 2 --mem-cap 45M >"$WORK/out" 2>&1
test "$rc" -ne 0 || { cat "$WORK/out"; echo "FAIL: 1 stage ran over the cap"; exit 1; }
grep -q "over the memory cap of 45.0 MiB (params " "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no clear message"; exit 1; }
echo "ok: 1 stage refused: $(grep -o 'needs [0-9.]* MiB' "$WORK/out")"
write_plan "$WORK/four.ini" "mlp:12-1024-1024-1024-4" "$WORK/rec" gpipe no tcp "$optim" 0 1 2 3
"$DTPIPE" --plan "$WORK/four.ini" --threads 1 --steps 2 --mem-cap 45M >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: 4 stages under the cap did not run"; exit 1; }
grep "peak RSS per stage" "$WORK/out"

# schedule = auto chooses for the cap the command line gives, not the plan's
# (none): with --mem-cap under every schedule's need it says so before any
# stage starts, instead of picking one that a stage then refuses
sed 's/^schedule = .*/schedule = auto/' "$WORK/four.ini" >"$WORK/auto.ini"
grep -q '^schedule = auto$' "$WORK/auto.ini" || { echo "FAIL: no auto plan"; exit 1; }
status_of "$DTPIPE" --plan "$WORK/auto.ini" --threads 1 --quiet --steps 2 --mem-cap 1M >"$WORK/out" 2>&1
test "$rc" -ne 0 || { cat "$WORK/out"; echo "FAIL: auto ran over the cap"; exit 1; }
grep -q "schedule = auto: no schedule fits mem_cap = 1048576 bytes" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: auto did not choose for --mem-cap"; exit 1; }
echo "ok: auto chooses within --mem-cap"

# the cap also holds at run time, against the real peak RSS: a stage whose
# predicted arenas (about 2 MiB) fit a 4 MiB cap but whose process does not
# (libraries and heap: several MiB) stops after its first step
write_plan "$WORK/small.ini" "mlp:12-256-4" "$WORK/rec" gpipe no tcp "optimizer = sgd" 0-1
sed -i 's/^loader_budget = .*/loader_budget = 1M/' "$WORK/small.ini"
status_of "$DTPIPE" --plan "$WORK/small.ini" --threads 1 --quiet --steps 3 --mem-cap 4M >"$WORK/out" 2>&1
test "$rc" -ne 0 || { cat "$WORK/out"; echo "FAIL: ran over the cap at run time"; exit 1; }
grep -q "peak resident memory .* after step 1 is over the memory cap of 4.0 MiB" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: no clear run-time message"; exit 1; }
echo "ok: run-time cap: $(grep -o 'peak resident memory [0-9.]* MiB' "$WORK/out")"
echo PASS
