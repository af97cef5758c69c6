#!/bin/sh
# dtpipe-partition in the job's precision: a bf16 profile's links carry half
# the fp32 bytes; plan --precision bf16 writes [train] precision = bf16 (and
# --fp32-matmul onednn [model] fp32_matmul), and the plan loads and trains
# with dtpipe; plan --from and report take the plan's precision; a bad value
# is refused with exit 2. Built without oneDNN, bf16 is refused with dtpipe's
# message.
set -u
B=${DTP_BUILDDIR:-.}/tools/dtpipe-partition
DTPIPE=${DTP_BUILDDIR:-.}/tools/dtpipe
. "${DTP_SRCDIR:-.}/tests/lib-tool.sh"
lib_tool_init partition_bf16
export OPENBLAS_NUM_THREADS=1
GPT=gpt:L=2,C=128,H=2,T=128,V=64

expect 2 "$B" profile --model mlp:8-4 --precision fp16
has "precision 'fp16': use fp32 or bf16"
expect 2 "$B" plan --model mlp:8-4 --stages 1 --static --fp32-matmul mkl
has "fp32_matmul 'mkl': use openblas or onednn"

if ! grep -q '^#define DTP_HAVE_ONEDNN 1' "${DTP_BUILDDIR:-.}/config.h"; then
	expect 2 "$B" profile --model "$GPT" --batch 4 --reps 1 --precision bf16
	has "libdnnl-dev"
	[ "$fails" = 0 ] && echo "PASS: dtpipe-partition bf16 (built without oneDNN: refused)" || exit 1
	exit 0
fi

# the profile in fp32 and in bf16: the units' output as a stage holds it
# (fp32) alike, what a cut after it sends (link_MiB) half in bf16
link() { # link UNIT: out_MiB and link_MiB of that unit's row
	awk -v u="$1" '$1 == u { print $7, $8 }' "$T/out"
}
expect 0 "$B" profile --model "$GPT" --batch 4 --reps 1
has ", fp32; per-step work"
f32=$(link 1)
expect 0 "$B" profile --model "$GPT" --batch 4 --reps 1 --precision bf16
has ", bf16; per-step work"
b16=$(link 1)
[ "$f32" = "0.250 0.250" ] && [ "$b16" = "0.250 0.125" ] ||
	fail "block 1's out_MiB and link_MiB: fp32 '$f32', bf16 '$b16' (want 0.250 0.250, 0.250 0.125)"
expect 0 "$B" profile --model "$GPT" --batch 4 --static --precision bf16
has "bf16 (static: from FLOPs, whatever the precision"
[ "$(link 1)" = "0.250 0.125" ] || fail "static bf16 link bytes: $(link 1)"
expect 0 "$B" profile --model mlp:32-64-8 --batch 4 --reps 1 --fp32-matmul onednn
has ", fp32, matmuls on oneDNN; per-step work"

# plan in bf16: the key written, the plan trains with dtpipe (its data from
# mkdata), its replan and its report in bf16
expect 0 "$B" plan --model gpt:L=2,C=32,H=2,T=16,V=64 --stages 2 --batch 2 --micro-batches 2 \
	--reps 1 --precision bf16 -o "$T/bf.ini"
grep -q '^precision = bf16$' "$T/bf.ini" || { fail "plan: no precision = bf16"; cat "$T/bf.ini"; }
has "^# split on a measured profile in bf16, each unit on [0-9]* BLAS thread"
grep -q '^fp32_matmul' "$T/bf.ini" && fail "plan: fp32_matmul written without --fp32-matmul"
"${DTP_BUILDDIR:-.}/tests/integration/mkdata" tokens "$T/tok" 600 80 16 7 >/dev/null ||
	fail "mkdata tokens"
sed -i "s|^train = \$|train = $T/tok/train|; s|^test = \$|test = $T/tok/test|; s|^kind = auto|kind = shm|" \
	"$T/bf.ini"
expect 0 "$DTPIPE" --plan "$T/bf.ini" --steps 3 --threads 1 --dump "$T/run"
has "bf16"
[ "$(wc -l <"$T/run/losses" 2>/dev/null)" = 3 ] || { fail "bf16 plan: not 3 steps"; cat "$T/out"; }
# the plan's own warnings (the environment's OpenBLAS kernel is not the plan's)
grep warning "$T/out" | grep -v OPENBLAS_CORETYPE && fail "the bf16 plan runs with warnings"
expect 0 "$B" plan --from "$T/bf.ini" --stages 3 -o "$T/bf3.ini"
grep -q '^precision = bf16$' "$T/bf3.ini" || fail "plan --from lost precision = bf16"
expect 0 "$B" report --plan "$T/bf.ini" --reps 1
grep -q '^# .*bf.ini: 2 stages, micro-batch 2, M = 2, gpipe, bf16$' "$T/out" ||
	{ fail "report: not in bf16"; cat "$T/out"; }
expect 0 "$B" report --plan "$T/bf.ini" --static
has ", bf16$"
# the plan says what it runs in: report and plan --from refuse another
expect 2 "$B" report --plan "$T/bf.ini" --static --precision fp32
has "report takes the plan's \[train\] precision"
expect 2 "$B" plan --from "$T/bf.ini" --stages 3 --fp32-matmul onednn
has "plan --from takes the plan's"

# --fp32-matmul onednn written as [model] fp32_matmul; a cluster plan in bf16
expect 0 "$B" plan --model mlp:32-64-64-8 --stages 2 --batch 4 --static --fp32-matmul onednn \
	-o "$T/dnn.ini"
grep -q '^fp32_matmul = onednn$' "$T/dnn.ini" || { fail "plan: no fp32_matmul = onednn"; cat "$T/dnn.ini"; }
expect 0 "$B" report --plan "$T/dnn.ini" --static
has ", fp32, matmuls on oneDNN$"
expect 0 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --batch 4 --static --nodes 2 \
	--cores-per-node 4 --precision bf16 -o "$T/cl.ini"
grep -q '^precision = bf16$' "$T/cl.ini" || { fail "cluster plan: no precision = bf16"; cat "$T/cl.ini"; }
has "one-core profile in bf16"

[ "$fails" = 0 ] && echo "PASS: dtpipe-partition bf16" || exit 1
