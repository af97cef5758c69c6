#!/bin/sh
# dtpipe-partition with interleaved plans: plan --schedule interleaved
# --virtual-stages 2 writes K x 2 chunks tiling the model in the interleaved
# order, report simulates the plan's schedule (a smaller bubble than 1f1b on
# the same stage times) and draws it, schedule = auto picks interleaved for
# a chunked plan, plan --schedule auto picks the layout, and bad input exits
# 2 naming the fix.
set -u
B=${DTP_BUILDDIR:-.}/tools/dtpipe-partition
. "${DTP_SRCDIR:-.}/tests/lib-tool.sh"
lib_tool_init partition_chunks
GPT=gpt:L=4,C=64,H=4,T=32,V=256   # 6 units: embed, 4 blocks, lnf

expect 0 "$B" plan --model $GPT --stages 3 --batch 4 --static --micro-batches 6 \
	--schedule interleaved --virtual-stages 2 -o "$T/il.ini"
grep -q '^schedule = interleaved$' "$T/il.ini" || fail "plan lost the schedule"
grep -q '^virtual_stages = 2$' "$T/il.ini" || fail "plan has no virtual_stages"
# 6 units over 3 x 2 chunks: one unit each, stage s holds s and s + 3
for s in 0 1 2; do
	grep -A2 "^\[stage.$s\]" "$T/il.ini" | grep -q "^units = $s, $((s + 3))$" ||
		{ fail "stage $s chunks"; cat "$T/il.ini"; }
done
grep -E -q '^  interleaved +[0-9.]+ +[0-9.]+% +[0-9.]+%  <- the plan' "$T/out" || { fail "plan summary"; cat "$T/out"; }

expect 0 "$B" report --plan "$T/il.ini" --static --svg "$T/il.svg"
il=$(awk '$1 == "interleaved" { sub("%", "", $3); print $3 }' "$T/out")
one=$(awk '$1 == "1f1b" { sub("%", "", $3); print $3 }' "$T/out")
[ -n "$il" ] && [ -n "$one" ] || { fail "report lacks the simulated steps"; cat "$T/out"; }
awk -v a="$il" -v b="$one" 'BEGIN { exit !(a < b) }' || fail "interleaved bubble $il% not below 1f1b's $one%"
[ "$(grep -c -E '^ +[0-2] +[01] +[0-5] ' "$T/out")" = 6 ] || { fail "report chunk rows"; cat "$T/out"; }
grep -q '<svg' "$T/il.svg" || fail "no svg timeline"

# auto over chunks: interleaved, said why
sed 's/^schedule = interleaved$/schedule = auto/' "$T/il.ini" >"$T/auto.ini"
expect 0 "$B" report --plan "$T/auto.ini" --static
grep -q 'schedule auto: interleaved, the one schedule for 2 chunks per stage' "$T/out" ||
	{ fail "auto over chunks"; cat "$T/out"; }

# plan --schedule auto chooses the layout too: with recompute (no zb-h1 or
# zb-h2) interleaved over 2 chunks beats 1f1b's one range per stage on the
# FLOPs (65.4 against 75.3 ms here), so the plan gets chunks; without it
# zb-h1 on one range wins (2262 against 2305 ms); M not a multiple of K
# leaves one range, said why
expect 0 "$B" plan --model $GPT --stages 3 --batch 4 --static --micro-batches 6 \
	--schedule auto --recompute -o "$T/la.ini"
has 'layout auto: 2 chunks per stage (interleaved), the shortest predicted step (one range per stage: 1f1b '
grep -q '^schedule = interleaved$' "$T/la.ini" && grep -q '^virtual_stages = 2$' "$T/la.ini" ||
	{ fail "auto layout: no chunks in the plan"; cat "$T/la.ini"; }
expect 0 "$B" report --plan "$T/la.ini" --static
expect 0 "$B" plan --model gpt:L=4,C=256,H=4,T=128,V=256 --stages 2 --batch 2 --static \
	--micro-batches 8 --schedule auto -o "$T/lb.ini"
has 'layout auto: one range of units per stage, the shortest predicted step (one range per stage: zb-h1 [0-9.]* ms; 2 chunks: '
grep -q '^schedule = zb-h1$' "$T/lb.ini" && ! grep -q '^virtual_stages' "$T/lb.ini" ||
	{ fail "auto layout: one range"; cat "$T/lb.ini"; }
expect 0 "$B" plan --model $GPT --stages 3 --batch 4 --static --micro-batches 4 --schedule auto
has 'chunks: M = 4 is not a multiple of K = 3'

# bad input: M not a multiple of K, chunks under 1f1b, a broken tiling
expect 2 "$B" plan --model $GPT --stages 3 --static --micro-batches 4 --schedule interleaved
grep -q 'multiple of K' "$T/out" || { fail "M % K message"; cat "$T/out"; }
expect 2 "$B" plan --model $GPT --stages 3 --static --virtual-stages 2 --schedule 1f1b
grep -q -- '--schedule interleaved' "$T/out" || { fail "chunks under 1f1b message"; cat "$T/out"; }
sed 's/^units = 1, 4$/units = 4, 1/' "$T/il.ini" >"$T/bad.ini"
expect 2 "$B" report --plan "$T/bad.ini" --static
grep -q 'bad.ini:[0-9]*: \[stage.1\] chunk 0 holds units 4-4 but unit 1 comes next' "$T/out" ||
	{ fail "tiling message"; cat "$T/out"; }

[ "$fails" = 0 ] && echo "PASS: interleaved plans" || exit 1
