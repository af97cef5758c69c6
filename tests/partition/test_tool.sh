#!/bin/sh
# dtpipe-partition end to end: profile, plan (to a file that loads back),
# report with a trace, and exit status 2 with a clear message on bad input.
set -u
B=${DTP_BUILDDIR:-.}/tools/dtpipe-partition
. "${DTP_SRCDIR:-.}/tests/lib-tool.sh"
lib_tool_init partition_tool

expect 0 "$B" --help
grep -q 'usage: dtpipe-partition profile' "$T/out" || fail "--help has no usage"

# measured profile of a small gpt: 4 units, a row each
expect 0 "$B" profile --model gpt:L=2,C=32,H=2,T=16,V=64 --batch 2 --reps 1
[ "$(grep -c -E '^ +[0-9]+ (embed|block|lnf)' "$T/out")" = 4 ] || { fail "profile rows"; cat "$T/out"; }
# its times are this CPU model's: the header names it
grep -q '^# measured on .' "$T/out" || { fail "the profile names no CPU"; cat "$T/out"; }
if [ "$(uname -m)" = x86_64 ]; then
	grep -q '^# measured on .* family [0-9]* model [0-9]*' "$T/out" ||
		{ fail "the profile's CPU has no family and model"; cat "$T/out"; }
fi

# a measured plan times each unit on the threads its smallest stage will
# run (its cores, at most this machine's CPUs), not on every CPU here
for k in 1 2; do
	expect 0 "$B" plan --model gpt:L=2,C=32,H=2,T=16,V=64 --stages $k --batch 2 --reps 1 \
		-o "$T/thr$k.ini"
	least=$(sed -n 's/^cores = //p' "$T/thr$k.ini" | python3 -c '
import sys
def n(l):
    c = 0
    for part in l.split(","):
        a, _, b = part.partition("-")
        c += int(b or a) - int(a) + 1
    return c
print(min(n(l.strip()) for l in sys.stdin))')
	cpus=$(nproc)
	[ "$least" -gt "$cpus" ] && least=$cpus
	want="each unit on $least BLAS thread"
	grep -q "^# split on a measured profile in fp32, $want" "$T/out" ||
		{ fail "plan K=$k: not timed on $least thread(s)"; cat "$T/out"; }
done

# a plan written to a file: 3 stages, loads back, whole model covered
expect 0 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --stages 3 --batch 4 --static \
	--micro-batches 6 -o "$T/p.ini"
grep -q '^\[stage.2\]' "$T/p.ini" || fail "plan has no [stage.2]"
grep -q '^micro_batches = 6' "$T/p.ini" || fail "plan lost micro_batches"
grep -E -q '^  gpipe +[0-9.]+ +[0-9.]+% +[0-9.]+  <- the plan' "$T/out" ||
	{ fail "plan summary: the simulated gpipe step"; cat "$T/out"; }
for k in 1f1b zb-h1; do
	grep -E -q "^  $k +[0-9.]+ +[0-9.]+% +[0-9.]+" "$T/out" || { fail "plan summary: $k"; cat "$T/out"; }
done
expect 0 "$B" report --plan "$T/p.ini" --static
grep -q '^ *2 ' "$T/out" || { fail "report has no stage 2"; cat "$T/out"; }
grep -q 'warning' "$T/out" && { fail "a written plan loads with warnings"; cat "$T/out"; }

# a cluster plan: R, K, M chosen, the top layouts listed, replicas written
expect 0 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --batch 4 --static --nodes 4 \
	--cores-per-node 8 --network ib-hdr --top 3 -o "$T/cl.ini"
grep -q '^chosen: R = [0-9]* replicas x K = [0-9]* stages' "$T/out" || { fail "cluster choice"; cat "$T/out"; }
[ "$(grep -c -E '^ +[123] +[0-9]+ +[0-9]+ +[0-9]+ ' "$T/out")" = 3 ] || { fail "cluster top 3"; cat "$T/out"; }
R=$(sed -n 's/^chosen: R = \([0-9]*\) .*/\1/p' "$T/out")
if [ "$R" = 1 ]; then grep -q '^\[parallel\]' "$T/cl.ini" && fail "replicas = 1 written"
else grep -q "^replicas = $R\$" "$T/cl.ini" || { fail "plan lacks replicas = $R"; cat "$T/cl.ini"; }; fi
expect 0 "$B" report --plan "$T/cl.ini" --static
expect 2 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --static --nodes 4 --cores-per-node 8 \
	--network fast
grep -q 'GB/s,us' "$T/out" || { fail "bad --network message"; cat "$T/out"; }
expect 2 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --static --nodes 4
grep -q 'cores-per-node' "$T/out" || { fail "--nodes without cores"; cat "$T/out"; }

# report on unlike nodes: the stage on the 16-core node type computes twice as
# fast as on the 8-core one (per-stage speed, as plan weighs it)
printf '[model]\nspec = mlp:64-256-256-256-10\n[train]\nmicro_batch = 16\n' >"$T/ab.ini"
printf '[stage.0]\nunits = 0-1\nhost = a\n[stage.1]\nunits = 2-3\nhost = b\n' >>"$T/ab.ini"
TD="${DTP_SRCDIR:-..}/tests/partition/topo"
expect 0 "$B" report --plan "$T/ab.ini" --static --topology "a=$TD/two-pkg16-nic0.xml,b=$TD/two-pkg-nic1.xml"
grep -q '0: x2.00 1: x1.00' "$T/out" || { fail "report: per-stage speeds"; cat "$T/out"; }
fast=$(awk '$1 == 0 && $2 == "0-1" { print $3 }' "$T/out")
expect 0 "$B" report --plan "$T/ab.ini" --static --topology "$TD/two-pkg-nic1.xml"
slow=$(awk '$1 == 0 && $2 == "0-1" { print $3 }' "$T/out")
awk -v f="$fast" -v s="$slow" 'BEGIN { exit !(f > 0 && s / f > 1.99 && s / f < 2.01) }' ||
	fail "report: stage 0 on 16 cores $fast ms, on 8 cores $slow ms: want half"

# a memory cap no split meets: exit 2 and the least workable cap
expect 2 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --stages 2 --static --mem-cap 1K
grep -q 'memory cap of 1024 bytes' "$T/out" || { fail "mem cap message"; cat "$T/out"; }

# report beside a trace: stage 0 2 x (1000 + 2000) us, stage 1 2 x (500 + 500)
# + 1000 us of recompute, per micro-batch 3 ms and 1.5 ms
cat >"$T/mlp.ini" <<'INI'
[model]
kind = mlp
widths = 16-32-8-4
[train]
micro_batch = 4
micro_batches = 2
[stage.0]
units = 0-1
[stage.1]
units = 2
INI
cat >"$T/trace.json" <<'JSON'
{"traceEvents": [
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 0, "dur": 1000},
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 1000, "dur": 1000},
 {"name": "bwd", "ph": "X", "pid": 0, "tid": 0, "ts": 5000, "dur": 2000},
 {"name": "bwd", "ph": "X", "pid": 0, "tid": 0, "ts": 7000, "dur": 2000},
 {"name": "send", "ph": "X", "pid": 0, "tid": 0, "ts": 9000, "dur": 99999},
 {"name": "fwd", "ph": "X", "pid": 1, "tid": 0, "ts": 1000, "dur": 500},
 {"name": "fwd", "ph": "X", "pid": 1, "tid": 0, "ts": 2000, "dur": 500},
 {"name": "bwd", "ph": "X", "pid": 1, "tid": 0, "ts": 3000, "dur": 500},
 {"name": "bwd", "ph": "X", "pid": 1, "tid": 0, "ts": 4000, "dur": 500},
 {"name": "recompute", "ph": "X", "pid": 1, "tid": 0, "ts": 4500, "dur": 1000},
 {"name": "fwdx", "ph": "X", "pid": 1, "tid": 0, "ts": 4500, "dur": 1000},
 {"name": "step", "ph": "i", "pid": 1, "tid": 0, "ts": 9000}
]}
JSON
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/trace.json" --static
grep -E -q '^ +0 0-1 .* 3\.000 +66\.7%' "$T/out" || { fail "measured stage 0"; cat "$T/out"; }
grep -E -q '^ +1 2-2 .* 1\.500 +33\.3%' "$T/out" || { fail "measured stage 1"; cat "$T/out"; }
# the schedule simulator on the measured stages (closed form (M+K-1) x slowest: 9 ms)
grep -E -q '^  gpipe +7\.500 .*<- the plan' "$T/out" || { fail "measured gpipe step"; cat "$T/out"; }
# a measured profile: each stage's ops replayed (replay_ms, on its cores), and
# the measured spans per op kind beside the predicted ones (stage 0's forward
# 1 ms, its backward 2 ms)
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/trace.json" --reps 1
grep -q '^# replay_ms: .* on its own cores' "$T/out" || { fail "report: no replay line"; cat "$T/out"; }
grep -E -q '^stage +units +compute_ms +replay_ms +traced_ms' "$T/out" ||
	{ fail "report: no replay_ms column"; cat "$T/out"; }
grep -E -q '^per op, traced ms predicted / measured: 0: F [0-9.]+ / 1\.000, B [0-9.]+ / 2\.000;' \
	"$T/out" || { fail "report: per op kind"; cat "$T/out"; }
# the profile times the units on the smallest stage's cores, as plan does,
# not on OpenBLAS's default of every CPU (--threads: that many, at most the
# CPUs here)
sed 's/^units = 0-1$/units = 0-1\ncores = 0/' "$T/mlp.ini" >"$T/mlpcores.ini"
expect 0 "$B" report --plan "$T/mlpcores.ini" --reps 1
grep -q "^# measured profile: each unit on 1 BLAS thread (the smallest stage's cores)$" "$T/out" ||
	{ fail "report: profile not on the smallest stage's cores"; cat "$T/out"; }
nthr=2
[ "$(nproc)" -lt 2 ] && nthr=1
expect 0 "$B" report --plan "$T/mlpcores.ini" --reps 1 --threads 2
grep -q "^# measured profile: each unit on $nthr BLAS threads* (--threads)$" "$T/out" ||
	{ fail "report --threads 2: profile not on $nthr threads"; cat "$T/out"; }
# two stages on one core: how long each computes beside the other, predicted
sed 's/^units = \(.*\)$/units = \1\ncores = 0/' "$T/mlp.ini" >"$T/mlp1core.ini"
expect 0 "$B" report --plan "$T/mlp1core.ini" --trace "$T/trace.json" --static
grep -E -q '^core-mates computing at once \(ms per micro-batch, predicted\): 0: [0-9.]+ 1: [0-9.]+$' \
	"$T/out" || { fail "report: core-mates overlap"; cat "$T/out"; }
# the trace's per-step work beside the ops: per stage, the optim spans
# before the ops and after the exchange (stage 0: 0.2 + 0.3 ms, stage 1:
# 0.5 + 1.0) and between the last compute and the exchange (0.1, 0.2), the
# median over the steps after the first (step 0's 5 ms is the warm-up's).
# On the critical path: stage 0's 0.5 (stage 1's 1.5 ends within stage 0's
# first forward of 1 ms) and stage 0's 0.1 after its last backward, so the
# gpipe step of 7.5 ms becomes 8.1 plus the exchange's hops (microseconds)
stepwork() {  # stepwork STEP T0 ZERO0 OPT0 ZERO1 OPT1
	st=$1 t=$2
	cat <<EV
 {"name": "optim", "ph": "X", "pid": 0, "ts": $t, "dur": $3, "args": {"step": $st, "micro": 0}},
 {"name": "optim", "ph": "X", "pid": 1, "ts": $t, "dur": $5, "args": {"step": $st, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 0, "ts": $((t + 2000)), "dur": 1000, "args": {"step": $st, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 0, "ts": $((t + 3000)), "dur": 1000, "args": {"step": $st, "micro": 1}},
 {"name": "fwd", "ph": "X", "pid": 1, "ts": $((t + 3000)), "dur": 500, "args": {"step": $st, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 1, "ts": $((t + 4000)), "dur": 500, "args": {"step": $st, "micro": 1}},
 {"name": "bwd", "ph": "X", "pid": 1, "ts": $((t + 4500)), "dur": 1000, "args": {"step": $st, "micro": 0}},
 {"name": "bwd", "ph": "X", "pid": 1, "ts": $((t + 5500)), "dur": 1000, "args": {"step": $st, "micro": 1}},
 {"name": "bwd", "ph": "X", "pid": 0, "ts": $((t + 5500)), "dur": 2000, "args": {"step": $st, "micro": 0}},
 {"name": "bwd", "ph": "X", "pid": 0, "ts": $((t + 7500)), "dur": 2000, "args": {"step": $st, "micro": 1}},
 {"name": "optim", "ph": "X", "pid": 0, "ts": $((t + 9500)), "dur": 100, "args": {"step": $st, "micro": 0}},
 {"name": "optim", "ph": "X", "pid": 1, "ts": $((t + 6500)), "dur": 200, "args": {"step": $st, "micro": 0}},
 {"name": "sync", "ph": "X", "pid": 0, "ts": $((t + 9600)), "dur": 100, "args": {"step": $st, "micro": 0}},
 {"name": "sync", "ph": "X", "pid": 1, "ts": $((t + 6700)), "dur": 3000, "args": {"step": $st, "micro": 0}},
 {"name": "optim", "ph": "X", "pid": 0, "ts": $((t + 9700)), "dur": $4, "args": {"step": $st, "micro": 0}},
 {"name": "optim", "ph": "X", "pid": 1, "ts": $((t + 9700)), "dur": $6, "args": {"step": $st, "micro": 0}},
EV
}
{
	echo '{"traceEvents": ['
	stepwork 0 0 5000 5000 5000 5000
	stepwork 1 20000 200 300 500 1000
	echo ' {"name": "step", "ph": "i", "pid": 0, "ts": 40000}]}'
} >"$T/work.json"
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/work.json" --static
grep -q 'measured per-step work (ms; before the ops + after them): 0: 0.500 + 0.100 1: 1.500 + 0.200' "$T/out" ||
	{ fail "the trace's per-step work"; cat "$T/out"; }
grep -E -q '^  gpipe +7\.500 .*<- the plan' "$T/out" || { fail "ops-only gpipe step"; cat "$T/out"; }
grep -E -q '^  gpipe +8\.1[0-9][0-9] .*<- the plan' "$T/out" ||
	{ fail "gpipe step with the per-step work"; cat "$T/out"; }
# the plan's schedule, not always GPipe: 1F1B overlaps stage 1's backward with stage 0's forward
sed 's/^micro_batches = 2$/micro_batches = 2\nschedule = 1f1b/' "$T/mlp.ini" >"$T/mlp1f1b.ini"
expect 0 "$B" report --plan "$T/mlp1f1b.ini" --trace "$T/trace.json" --static
grep -E -q '^  1f1b +6\.500 .*<- the plan' "$T/out" || { fail "measured 1f1b step"; cat "$T/out"; }
# schedule = auto: the simulator's pick, named with why, and marked as the plan's
sed 's/^micro_batches = 2$/micro_batches = 2\nschedule = auto/' "$T/mlp.ini" >"$T/mlpauto.ini"
expect 0 "$B" report --plan "$T/mlpauto.ini" --static
grep -E -q '^schedule auto: (1f1b|zb-h1|zb-h2|gpipe), the shortest predicted step \(1f1b ' "$T/out" ||
	{ fail "auto: the pick and why"; cat "$T/out"; }
grep -q '<- the plan' "$T/out" || { fail "auto: the pick marked"; cat "$T/out"; }

# --svg: the plan schedule's step, a box per F, B and W of each micro-batch on
# each stage (the first stage's B and W, W right after B, as one backward);
# with a trace, its last training step's events under it
sed 's/^micro_batches = 2$/micro_batches = 3\nschedule = zb-h1/' "$T/mlp.ini" >"$T/mlpzb.ini"
expect 0 "$B" report --plan "$T/mlpzb.ini" --static --svg "$T/t.svg"
head -c 5 "$T/t.svg" | grep -q '<svg' || { fail "svg header"; head -3 "$T/t.svg"; }
for kn in fwd:6 bwd:3 bwd_b:3 bwd_w:3; do
	k=${kn%:*} n=${kn#*:}
	[ "$(grep -c "<title>$k [0-2]:" "$T/t.svg")" = "$n" ] || { fail "svg: $n $k boxes"; grep -c "<title>$k " "$T/t.svg"; }
done
grep -q 'measured' "$T/t.svg" && fail "svg without a trace has measured rows"
cat >"$T/step.json" <<'JSON'
{"traceEvents": [
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 100, "dur": 1000, "args": {"step": 0, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 9000, "dur": 1000, "args": {"step": 1, "micro": 0}},
 {"name": "recv", "ph": "X", "pid": 1, "tid": 0, "ts": 9000, "dur": 1000, "args": {"step": 1, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 1, "tid": 0, "ts": 10000, "dur": 500, "args": {"step": 1, "micro": 0}},
 {"name": "bwd_b", "ph": "X", "pid": 1, "tid": 0, "ts": 10500, "dur": 400, "args": {"step": 1, "micro": 0}},
 {"name": "bwd_w", "ph": "X", "pid": 1, "tid": 0, "ts": 10900, "dur": 400, "args": {"step": 1, "micro": 0}},
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 90000, "dur": 1000, "args": {"step": -15, "micro": 0}}
]}
JSON
expect 0 "$B" report --plan "$T/mlpzb.ini" --static --trace "$T/step.json" --svg "$T/m.svg"
grep -q 'stage 1 measured' "$T/m.svg" || { fail "svg: measured rows"; cat "$T/m.svg"; }
# step 1 only, from its first event: stage 1's B from 1.5 to 1.9 ms
grep -q '<title>bwd_b 0: 1.500-1.900 ms' "$T/m.svg" || { fail "svg: the measured B"; grep bwd_b "$T/m.svg"; }
[ "$(grep -c '<title>fwd 0: 0.000-1.000 ms' "$T/m.svg")" = 1 ] || fail "svg: step 0 or an evaluation drawn"

# measured compute as a ratio to the prediction, and the peak RSS of a
# metrics file beside each stage's predicted arenas
printf '{"step":1,"loss":2.5}\n{"event":"end","peak_rss":[104857600,52428800]}\n' >"$T/m.json"
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/trace.json" --metrics "$T/m.json" --static
grep -q 'peak_rss_MiB' "$T/out" || { fail "report: no peak RSS column"; cat "$T/out"; }
grep -E -q '^ +0 0-1 .* 3\.000 +66\.7% +[0-9.]+ +100\.0 +[0-9.]+$' "$T/out" ||
	{ fail "report: stage 0 measured and RSS"; cat "$T/out"; }
grep -E -q '^ +1 2-2 .* 1\.500 +33\.3% +[0-9.]+ +50\.0 +[0-9.]+$' "$T/out" ||
	{ fail "report: stage 1 measured and RSS"; cat "$T/out"; }
printf '{"event":"end","peak_rss":[1]}\n' >"$T/m1.json"
# CPU time over the compute spans (args.cpu_us, as dtpipe writes them): per
# micro-batch, per busy thread, beside the stage's ops alone (stage 0 had
# its core 80% of the time: 2.4 ms of CPU in 3 ms of spans; stage 1 1.4 ms
# in 1.5, its recompute 0.8 of 1)
sed -e 's/"dur": 1000}/"dur": 1000, "args": {"cpu_us": 800}}/' \
	-e 's/"dur": 2000}/"dur": 2000, "args": {"cpu_us": 1600}}/' \
	-e 's/"dur": 500}/"dur": 500, "args": {"cpu_us": 500}}/' "$T/trace.json" >"$T/cpu.json"
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/cpu.json" --static
grep -E -q '^stage .* measured_ms +share +/pred +cpu_ms +/pred$' "$T/out" ||
	{ fail "report: no cpu_ms column"; cat "$T/out"; }
grep -E -q '^ +0 0-1 .* 3\.000 +66\.7% +[0-9.]+ +2\.400 +[0-9.]+$' "$T/out" ||
	{ fail "report: stage 0 cpu_ms"; cat "$T/out"; }
grep -E -q '^ +1 2-2 .* 1\.500 +33\.3% +[0-9.]+ +1\.400 +[0-9.]+$' "$T/out" ||
	{ fail "report: stage 1 cpu_ms"; cat "$T/out"; }
# one compute span without it: no column (a trace from before cpu_us)
sed '0,/"cpu_us": 800/s/, "args": {"cpu_us": 800}//' "$T/cpu.json" >"$T/cpu1.json"
expect 0 "$B" report --plan "$T/mlp.ini" --trace "$T/cpu1.json" --static
! grep -q 'cpu_ms' "$T/out" || { fail "report: cpu_ms from a partial trace"; cat "$T/out"; }
expect 2 "$B" report --plan "$T/mlp.ini" --metrics "$T/m1.json" --static
grep -q 'peak RSS of 1 stages, the plan has 2' "$T/out" || { fail "metrics stage count"; cat "$T/out"; }
# a plan that recomputes: its last stage runs each forward inside "recompute"
# and writes no "fwd" (2 x (1000 + 500) us: 1.5 ms per micro-batch)
cat >"$T/rec.json" <<'JSON'
{"traceEvents": [
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 0, "dur": 1000},
 {"name": "fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 1000, "dur": 1000},
 {"name": "recompute", "ph": "X", "pid": 0, "tid": 0, "ts": 5000, "dur": 1000},
 {"name": "bwd", "ph": "X", "pid": 0, "tid": 0, "ts": 6000, "dur": 2000},
 {"name": "recompute", "ph": "X", "pid": 0, "tid": 0, "ts": 8000, "dur": 1000},
 {"name": "bwd", "ph": "X", "pid": 0, "tid": 0, "ts": 9000, "dur": 2000},
 {"name": "recompute", "ph": "X", "pid": 1, "tid": 0, "ts": 2000, "dur": 1000},
 {"name": "bwd", "ph": "X", "pid": 1, "tid": 0, "ts": 3000, "dur": 500},
 {"name": "recompute", "ph": "X", "pid": 1, "tid": 0, "ts": 3500, "dur": 1000},
 {"name": "bwd", "ph": "X", "pid": 1, "tid": 0, "ts": 4500, "dur": 500}
]}
JSON
sed 's/^micro_batches = 2$/micro_batches = 2\nrecompute = yes/' "$T/mlp.ini" >"$T/mlprec.ini"
expect 0 "$B" report --plan "$T/mlprec.ini" --trace "$T/rec.json" --static
grep -E -q '^ +1 2-2 .* 1\.500 ' "$T/out" || { fail "measured recomputing last stage"; cat "$T/out"; }
expect 2 "$B" report --plan "$T/mlp.ini" --metrics "$T/trace.json" --static
grep -q 'no "end" line' "$T/out" || { fail "metrics without end"; cat "$T/out"; }

# bad input: exit 2, and the message says where
printf '[model]\nkind = mlp\nwidths = 16-32-8-4\n[stage.0]\nunits = 0-1\n' >"$T/bad.ini"
expect 2 "$B" report --plan "$T/bad.ini" --static
grep -q "bad.ini:4: unit(s) 2-2 are in no stage" "$T/out" || { fail "plan error"; cat "$T/out"; }
echo '{"traceEvents": [' >"$T/broken.json"
expect 2 "$B" report --plan "$T/mlp.ini" --trace "$T/broken.json" --static
grep -q "broken.json" "$T/out" || fail "trace error names the file"
expect 2 "$B" frobnicate
expect 2 "$B" plan --stages 2
expect 2 "$B" plan --model mlp:8-4 --stages 0
expect 2 "$B" profile --model mlp:8-x

# the shipped examples load without warnings and fit their memory caps
for f in "${DTP_SRCDIR:-.}"/examples/*.ini; do
	expect 0 "$B" report --plan "$f" --static
	grep -q 'warning\|over mem_cap' "$T/out" && { fail "$f"; cat "$T/out"; }
done

# so does the full example in docs/plan-format.md
awk '/^```ini/{f=1;next}/^```/{f=0}f' "${DTP_SRCDIR:-.}/docs/plan-format.md" >"$T/doc.ini"
expect 0 "$B" report --plan "$T/doc.ini" --static

# planning for nodes described by lstopo XML files, one node type per host:
# the stage whose link leaves a node gets the cores of the NIC's package
TOPO="${DTP_SRCDIR:-.}/tests/partition/topo"
expect 0 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --stages 4 --batch 4 --static \
	--micro-batches 4 -o "$T/two.ini" \
	--topology "a=$TOPO/two-pkg-nic1.xml,b=$TOPO/two-pkg16-nic0.xml"
stage() { awk -v s="[stage.$1]" '$0==s{f=1;next}/^\[/{f=0}f' "$T/two.ini"; }
stage 1 | grep -q '^host = a$' || { fail "stage 1 host"; cat "$T/two.ini"; }
stage 1 | grep -q '^cores = 4-7$' || { fail "stage 1 not on the NIC's package"; cat "$T/two.ini"; }
stage 1 | grep -q '^nic = mlx5_0$' || { fail "stage 1 nic"; cat "$T/two.ini"; }
stage 1 | grep -q '^# NUMA node 1, NIC mlx5_0: sends .* local to mlx5_0' || fail "stage 1 why"
stage 2 | grep -q '^cores = 0-7$' || { fail "stage 2 on the 16-core node type"; cat "$T/two.ini"; }
stage 3 | grep -q '^cores = 8-15$' || fail "stage 3 cores"
stage 3 | grep -q '^# NUMA node 1, NIC -: shared memory only' || fail "stage 3 why"
grep -E -q '^ +2 b +0-7 +0 +mlx5_0 +sends' "$T/out" || { fail "plan placement table"; cat "$T/out"; }
expect 0 "$B" report --plan "$T/two.ini" --static \
	--topology "a=$TOPO/two-pkg-nic1.xml,b=$TOPO/two-pkg16-nic0.xml"
grep -E -q '^ +1 a +4-7 +1 +mlx5_0 +cores given by the plan; sends .* nearest NIC mlx5_0' \
	"$T/out" || { fail "report placement"; cat "$T/out"; }
# the baselines for the same K: equal layers (Megatron-LM), equal parameters
# (DeepSpeed); with a large vocabulary the head outweighs the blocks
expect 0 "$B" plan --model gpt:L=6,C=64,H=4,T=32,V=8192 --stages 3 --static --split layers \
	-o "$T/layers.ini"
[ "$(grep '^units' "$T/layers.ini" | tr '\n' ' ')" = "units = 0-2 units = 3-4 units = 5-7 " ] ||
	{ fail "equal-layers split"; cat "$T/layers.ini"; }
expect 0 "$B" plan --model gpt:L=6,C=64,H=4,T=32,V=8192 --stages 3 --static --split params \
	-o "$T/params.ini"
grep -q '^units = 7$' "$T/params.ini" || { fail "equal-params split"; cat "$T/params.ini"; }
expect 2 "$B" plan --model mlp:8-8-4 --stages 2 --static --split even
expect 2 "$B" plan --model gpt:L=2,C=32,H=2,T=16,V=64 --stages 3 --static --split layers
grep -q "use 1 to 2 stages" "$T/out" || { fail "equal layers, K > L"; cat "$T/out"; }

# uneven nodes: the stage on the 16-core node type takes more of the model
expect 0 "$B" plan --model gpt:L=6,C=64,H=4,T=32,V=256 --stages 2 --batch 4 --static \
	-o "$T/uneven.ini" --topology "a=$TOPO/two-pkg-nic1.xml,b=$TOPO/two-pkg16-nic0.xml"
grep -A3 '^\[stage.0\]' "$T/uneven.ini" | grep -q '^units = 0-2$' ||
	{ fail "uneven split"; cat "$T/uneven.ini"; }
expect 0 "$B" plan --model gpt:L=6,C=64,H=4,T=32,V=256 --stages 2 --batch 4 --static \
	-o "$T/even.ini" --topology "a=$TOPO/two-pkg-nic1.xml,b=$TOPO/two-pkg-nic1.xml"
grep -A3 '^\[stage.0\]' "$T/even.ini" | grep -q '^units = 0-3$' ||
	{ fail "even split"; cat "$T/even.ini"; }
expect 2 "$B" plan --model mlp:8-8-4 --stages 2 --static --topology "$T/none.xml"
grep -q "none.xml: cannot read it as a topology.*lstopo --of xml" "$T/out" ||
	{ fail "--topology error"; cat "$T/out"; }
expect 2 "$B" plan --model mlp:8-8-4 --stages 1 --static \
	--topology "a=$TOPO/two-pkg-nic1.xml,b=$TOPO/two-pkg-nic1.xml"
grep -q "names 2 hosts but --stages is 1" "$T/out" || { fail "hosts > stages"; cat "$T/out"; }

# a plan written for another machine: dtpipe stops before starting anything,
# with one message that names the stage, its cores and what to do
cat >"$T/far.ini" <<'INI'
[model]
kind = mlp
widths = 16-32-8-4
[stage.0]
units = 0-1
cores = 4090-4093
[stage.1]
units = 2
cores = 4094-4095
INI
expect 2 "${DTP_BUILDDIR:-.}/tools/dtpipe" --plan "$T/far.ini" --steps 1
[ "$(grep -c . "$T/out")" = 1 ] || { fail "more than one line for a foreign plan"; cat "$T/out"; }
grep -q "far.ini:4: \[stage.0\]: cores 4090-4093 are not all on this machine.*another machine" \
	"$T/out" || { fail "foreign plan message"; cat "$T/out"; }

# plan --from: the same plan split again over 3 stages; it loads, keeps the
# settings, clears the cores; more stages than units is bad input
cat >"$T/from.ini" <<'INI'
[model]
spec = mlp:16-32-32-8-4
[train]
seed = 77
[stage.0]
units = 0-1
cores = 0
[stage.1]
units = 2-3
INI
expect 0 "$B" plan --from "$T/from.ini" --stages 3 -o "$T/re.ini"
[ "$(grep -c '^\[stage\.' "$T/re.ini")" = 3 ] && grep -q '^seed = 77' "$T/re.ini" &&
	! grep -q '^cores' "$T/re.ini" || { fail "plan --from"; cat "$T/re.ini"; }
expect 0 "$B" report --plan "$T/re.ini" --static
expect 2 "$B" plan --from "$T/from.ini" --stages 5
grep -q "at most 4 stages" "$T/out" || { fail "plan --from, too many stages"; cat "$T/out"; }

[ "$fails" = 0 ] && echo "PASS: dtpipe-partition" || exit 1
