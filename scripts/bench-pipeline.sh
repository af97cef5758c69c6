#!/bin/sh
# Pipeline benchmarks (docs/benchmarks.md, "Pipeline"):
#  1. speed-up of 2 stages x 1 thread over 1 stage x 1 thread, gpt L=4 C=256
#     T=128, M=8 (ideal 2 x 8/9 = 1.78x), SPEEDUP_REPS rounds (default 3),
#     each beside a co-run probe (the 1-stage job on both cores at once: the
#     speed-up the machine allows right now), the stage processes' threads
#     and cores, and PyTorch's Pipe (2 partitions, same M, CPU) and PyTorch on
#     one module, measured in the same run;
#  2. pipeline efficiency: the measured step time against the ideal from the
#     measured per-stage compute, (M+K-1)/M x the slowest stage's compute,
#     and where a step's time goes (a traced run: compute, receive and send
#     waits, the step's control messages, data, and what no span covers);
#  3. schedules at K = 2, M = 8: gpipe, 1f1b, zb-h1, zb-h2, interleaved and
#     auto, interleaved rep by rep (REPS reps, default 5), on the gpt above
#     (units 0-2 | 3-5: stage 1 holds the head, ~4% more FLOPs) and on one
#     of 8 blocks (0-4 | 5-9: the head ~2%); per schedule the median
#     measured step beside the schedule simulator's on that run's measured
#     stage compute and per-step work (B and W apart where the run split
#     them; dtpipe-partition report --trace), and the measured bubble beside
#     the simulated one and the ideal formula ((K-1)/(M+K-1); zb-h1 and
#     zb-h2 with F = B = W: (K-1)/(3M+K-1); interleaved 1F1B with v = 2
#     chunks per stage: (K-1)/(vM+K-1)); auto's row names its pick, and
#     the planned row runs what dtpipe-partition plan --schedule auto
#     writes from its profile (the layout too: one range per stage or
#     interleaved chunks, and the schedule); the
#     measured bubble is the schedule's: 1 - the slowest stage's compute
#     (fwd, bwd, bwd_b, bwd_w, recompute and the optimizer, each run's own)
#     / step, the step beyond M x the slowest stage's work (Megatron-LM's
#     bubble time over the ideal step, and the Zero Bubble paper's bubble
#     rate, whose cost is the largest stage's; on equal stages the same as
#     the stages' idle); beside it the stages' idle, 1 - their mean compute
#     / step (dtpipe's progress line), which adds what the partition leaves
#     unequal; then auto's step against the best fixed schedule's (the
#     lowest median step), run against run in the same reps (and the
#     planned row's; against the fastest fixed run of each rep too; and the
#     median step of the schedule each picked against the best row's) and
#     zb-h1's bubble over 1f1b's of
#     the same rep (medians of the per-rep ratios), on both measures,
#     zb-h1's step set against 1f1b's
#     compute (the split's cost counted as bubble), where 1f1b's and
#     zb-h1's idle goes (their traces, per stage), and what the split costs
#     stage 1's units alone (dtpipe-bench-split);
#  4. peak RSS per stage with and without recompute for M = 4, 8, 16.
# Parts 1 and 3 take their rounds only while every core runs at full speed
# (scripts/bench-lib.sh: each round waits for a quiet core probe and is
# probed again after; the figures come from the rounds clean at both ends).
# Usage: scripts/bench-pipeline.sh [BUILDDIR]   (default: build)
#   PARTS="speedup schedules rss" (the default: all) runs only those parts
#   PRECISION=bf16 runs every dtpipe job in bf16 (plan key precision; the
#   default fp32); the PyTorch references stay fp32
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
DTPIPE=$B/tools/dtpipe
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$top/scripts/bench-lib.sh"
bench_cores_init "$B" "$W"
MB=${MB:-2}          # sequences per micro-batch
STEPS=${STEPS:-6}
PORT=$(( 10000 + ($$ % 20000) ))   # below the ephemeral range (32768-)
PARTS=${PARTS:-speedup schedules rss}
PRECISION=${PRECISION:-fp32}
unset OPENBLAS_CORETYPE   # OpenBLAS's default kernel (the header line says so)
case $PRECISION in fp32|bf16) ;; *) echo "PRECISION=$PRECISION: use fp32 or bf16" >&2; exit 2 ;; esac
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# byte-level text: this machine's licence texts and dtpipe's docs, repeated
i=0
while [ $i -lt 8 ]; do cat /usr/share/common-licenses/* "$top"/docs/*.md; i=$((i + 1)); done > "$W/text.txt"
mkdir -p "$W/text"
"$B/tools/dtpipe-shard" text "$W/text.txt" --out "$W/text" >/dev/null

# plan FILE M RECOMPUTE UNITS...
plan() {
	f=$1 m=$2 rc=$3
	shift 3
	PORT=$((PORT + 8))
	{
		printf '[model]\nspec = gpt:layers=%d,dim=256,heads=4,seq=128,vocab=256\n' "${LAYERS:-4}"
		printf '[train]\nmicro_batch = %d\nmicro_batches = %d\nschedule = %s\n' "$MB" "$m" "${SCHED:-gpipe}"
		[ "${SCHED:-gpipe}" = interleaved ] && printf 'virtual_stages = %d\n' "${VSTAGES:-2}"
		printf 'recompute = %s\noptimizer = adamw\nlr = 3e-4\nsteps = %d\nlog_every = 1\n' "$rc" "$STEPS"
		printf 'precision = %s\n' "$PRECISION"
		printf '[data]\ntrain = %s/text\nloader_budget = 16M\n' "$W"
		printf '[transport]\nkind = shm\nbase_port = %d\n' "$PORT"
		s=0
		for u in "$@"; do printf '[stage.%d]\nunits = %s\n' $s "$u"; s=$((s + 1)); done
	} > "$f"
}

summ() {  # summ METRICS K M -> "step_s compute_max ideal overhead rss..."
	$PY - "$@" <<'PY'
import json, sys, statistics as st
path, K, M = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
L = [json.loads(l) for l in open(path)]
steps = [l for l in L if "step" in l][1:]          # the first step warms up
t = st.median(l["step_time"] for l in steps)
comp = [st.median(l["stages"][k]["compute"] for l in steps) for k in range(K)]
ideal = (M + K - 1) / M * max(comp)
rss = [r / 2**20 for r in [l for l in L if l.get("event") == "end"][0]["peak_rss"]]
print("%.4f %.4f %.4f %.1f %s" % (t, max(comp), ideal, 100 * (t / ideal - 1),
                                  " ".join("%.1f" % r for r in rss)))
PY
}

# where.py TRACE K WHAT: where each stage's step goes, from a trace: per stage
# and step, the spans' sums by kind (their category: an interleaved run's
# names add the micro-batch and chunk) and what no span covers, medians over
# the steps after the first, in ms; then each stage's idle (the step window
# less its compute: fwd, bwd, bwd_b, bwd_w, recompute, optim)
cat >"$W/where.py" <<'PY'
import json, sys, statistics as st, collections
ev = json.load(open(sys.argv[1]))
ev = [e for e in (ev["traceEvents"] if isinstance(ev, dict) else ev)
      if e.get("ph") == "X" and e.get("args", {}).get("step", -1) >= 1]
K, what = int(sys.argv[2]), sys.argv[3]
win = collections.defaultdict(lambda: [float("inf"), 0.0])
sums = collections.defaultdict(float)
for e in ev:
    w = win[e["args"]["step"]]
    w[0], w[1] = min(w[0], e["ts"]), max(w[1], e["ts"] + e["dur"])
    sums[(e["pid"], e["args"]["step"], e.get("cat", e["name"]))] += e["dur"]
kinds = ["fwd", "bwd", "bwd_b", "bwd_w", "optim", "recv", "send", "sync", "data"]
compute = ["fwd", "bwd", "bwd_b", "bwd_w", "recompute", "optim"]
steps = sorted(win)
print("  trace of %s (ms, median over %d steps; step window %.2f ms):" % (
    what, len(steps), st.median((win[s][1] - win[s][0]) / 1e3 for s in steps)))
print("  stage " + " ".join("%7s" % k for k in kinds) + "  untraced     idle")
for p in range(K):
    med = {k: st.median(sums[(p, s, k)] / 1e3 for s in steps) for k in kinds}
    other = st.median((win[s][1] - win[s][0] - sum(sums[(p, s, k)] for k in kinds)) / 1e3
                      for s in steps)
    idle = st.median((win[s][1] - win[s][0] - sum(sums[(p, s, k)] for k in compute)) / 1e3
                     for s in steps)
    print("  %5d " % p + " ".join("%7.2f" % med[k] for k in kinds) + "  %8.2f %8.2f" % (other, idle))
# the last stage's gap before a forward whose activation the stage before had
# finished 0.1 ms or more before (the time taking a tensor already sent costs)
done = {(e["args"]["step"], e["args"]["micro"]): e["ts"] + e["dur"] for e in ev
        if e["pid"] == K - 2 and e["name"] == "fwd"}
gaps, prev = [], {}
for e in sorted((e for e in ev if e["pid"] == K - 1 and e.get("cat") in compute),
                key=lambda e: e["ts"]):
    s, m = e["args"]["step"], e["args"]["micro"]
    if e["name"] == "fwd" and m > 0 and s in prev and done.get((s, m), 1e30) <= prev[s] - 100:
        gaps.append(e["ts"] - prev[s])
    prev[s] = e["ts"] + e["dur"]
if gaps:
    print("  stage %d's gap before a forward whose activation was sent: median %.3f ms over %d" % (
        K - 1, st.median(gaps) / 1e3, len(gaps)))
PY

# watch.py OUT CMD...: runs CMD and, while it runs, samples each stage
# process (the launcher's children): its threads, the cores it may run on,
# each thread's CPU time; prints one line per stage from the last sample
cat >"$W/watch.py" <<'PY'
import os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
def kids(pid):
    out = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and int(open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out
last = {}
while p.poll() is None:
    for k in kids(p.pid):
        try:
            av = open("/proc/%d/cmdline" % k).read().split("\0")
            if "--stage" not in av:      # not exec'd yet, or exiting
                continue
            st = av[av.index("--stage") + 1]
            cpus = [l.split()[1] for l in open("/proc/%d/status" % k) if l.startswith("Cpus_allowed_list")][0]
            th = []
            for t in sorted(os.listdir("/proc/%d/task" % k), key=int):
                f = open("/proc/%d/task/%s/stat" % (k, t)).read()
                name, rest = f[f.index("(") + 1:f.rindex(")")], f[f.rindex(")") + 2:].split()
                th.append((name, int(rest[11]) + int(rest[12])))  # utime + stime
            if len(th) >= len(last.get(st, ("", []))[1]):   # not while threads end
                last[st] = (cpus, th)
        except (OSError, ValueError, IndexError):
            pass
    time.sleep(0.5)
with open(out, "w") as f:
    for st in sorted(last):
        cpus, th = last[st]
        tot = sum(t[1] for t in th) or 1
        f.write("  stage %s: %d threads, cores %s; CPU time by thread: %s\n" % (
            st, len(th), cpus, ", ".join("%s %.0f%%" % ("main" if i == 0 else "thread %d" % i,
                                              100.0 * t[1] / tot) for i, t in enumerate(th))))
sys.exit(p.returncode)
PY

echo "== gpt L=4 C=256 T=128 V=256, precision $PRECISION, micro-batch $MB x M=8, $STEPS steps (machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg); OpenBLAS kernel: default, OPENBLAS_CORETYPE unset)"
if part speedup; then
plan "$W/k1.ini" 8 no 0-5
plan "$W/k2.ini" 8 no 0-2 3-5
plan "$W/k1b.ini" 8 no 0-5
# SPEEDUP_REPS rounds, each: the 1-stage job alone; the 2-stage job, traced
# (the timed run is the traced one, so the breakdown is of the figure
# itself); then the co-run probe: two 1-stage jobs at once, one pinned to
# each of cores 0 and 1 (--no-bind, taskset): how fast one core runs this
# model while the other core runs it too, right now. The K = 2 stages run
# exactly so, so 1.78x x (alone / co-run) is the speed-up this machine
# allows at that moment (on a shared or virtual machine the two cores are
# not independent: SMT siblings on the host, its other tenants, shared L3
# and memory bandwidth)
SPEEDUP_REPS=${SPEEDUP_REPS:-3}
: >"$W/rounds"
rounds_reset
r=0
while [ $r -lt "$SPEEDUP_REPS" ]; do
	round_begin "speed-up round $((r + 1))"
	"$DTPIPE" --plan "$W/k1.ini" --threads 1 --quiet --metrics "$W/k1.json" >/dev/null
	$PY "$W/watch.py" "$W/k2.threads" "$DTPIPE" --plan "$W/k2.ini" --threads 1 --quiet \
		--metrics "$W/k2.json" --trace "$W/k2.trace.$r"
	if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
		taskset -c 0 "$DTPIPE" --plan "$W/k1.ini" --threads 1 --no-bind --quiet \
			--metrics "$W/c0.json" >/dev/null &
		cpid=$!
		taskset -c 1 "$DTPIPE" --plan "$W/k1b.ini" --threads 1 --no-bind --quiet \
			--metrics "$W/c1.json" >/dev/null
		wait $cpid
	else   # no second core (or no taskset): no probe, alone / co-run reads 1
		cp "$W/k1.json" "$W/c0.json"; cp "$W/k1.json" "$W/c1.json"
	fi
	set -- $(summ "$W/k1.json" 1 8); t1=$1 c1=$2
	set -- $(summ "$W/c0.json" 1 8); tc0=$1
	set -- $(summ "$W/c1.json" 1 8); tc1=$1
	set -- $(summ "$W/k2.json" 2 8); t2=$1 c2=$2 ideal2=$3 over2=$4
	sc=$($PY - "$W/k2.json" <<'PY'
import json, sys, statistics as st
s = [json.loads(l) for l in open(sys.argv[1])]
s = [l for l in s if "step" in l][1:]
print(" ".join("%.4f" % st.median(l["stages"][k]["compute"] for l in s) for k in range(2)))
PY
)
	round_end "speed-up round $((r + 1))"
	echo "$t1 $c1 $t2 $c2 $ideal2 $over2 $tc0 $tc1 $sc $(cut -d' ' -f1 /proc/loadavg)" >>"$W/rounds"
	r=$((r + 1))
done
# the median clean round's figures (by speed-up) for the lines below; every
# round in the table after them
set -- $($PY - "$W/rounds" "$W/clean" <<'PY'
import sys, statistics as st
R = [list(map(float, l.split())) for l in open(sys.argv[1])]
ok = [l.strip() == "1" for l in open(sys.argv[2])]
pool = [i for i in range(len(R)) if ok[i]] or list(range(len(R)))
# the round whose speed-up is the median one
i = sorted(pool, key=lambda i: R[i][0] / R[i][2])[(len(pool) - 1) // 2]
r = R[i]
print("%.4f %.4f %.4f %.4f %.1f %d" % (r[0], r[2], r[3], r[4], r[5], i))
PY
)
t1=$1 t2=$2 c2=$3 ideal2=$4 over2=$5 mid=$6
echo "dtpipe 1 stage x 1 thread : $t1 s/step"
echo "dtpipe 2 stages x 1 thread: $t2 s/step  speed-up $($PY -c "print('%.2f' % ($t1/$t2))")x (ideal 1.78x)"
echo "  efficiency: slowest stage compute $c2 s/step, ideal GPipe step $ideal2 s, overhead $over2% (targets: speed-up >= 1.6x, overhead <= 5%)"
echo "  (the clean round with the median speed-up; each round below, in order run; $(clean_note))"
# where the K = 2 step goes, per round: the stages' compute against the
# 1-stage job's (inflation > 1: the stages' cores ran slower than one core
# alone did), the co-run probe, the speed-up the probe allows, and the
# overhead beyond compute (the GPipe bubble is in the ideal step)
$PY - "$W/rounds" "$W/clean" <<'PY'
import sys
ok = [l.strip() for l in open(sys.argv[2])]
print("  round clean load  1-stage s  2-stage s  speed-up  overhead  stage compute s (0, 1)  compute / 1-stage's  co-run 1-stage s  alone/co-run  speed-up co-run allows")
for i, l in enumerate(open(sys.argv[1])):
    t1, c1, t2, c2, ideal, over, tc0, tc1, s0, s1, load = map(float, l.split())
    tc = (tc0 + tc1) / 2
    print("  %5d %5s %4.1f %10.4f %10.4f %8.2fx %8.1f%%  %9.4f %9.4f  %19.2f  %16.4f  %12.2f  %21.2fx" % (
        i + 1, "yes" if ok[i] == "1" else "no", load, t1, t2, t1 / t2, over, s0, s1, (s0 + s1) / c1,
        tc, t1 / tc, 1.78 * t1 / tc))
PY
cores_log
cat "$W/k2.threads"   # the last round's 2-stage job, sampled while it ran
# the median round's trace, spans by kind
$PY "$W/where.py" "$W/k2.trace.$mid" 2 "a K = 2 step (round $((mid + 1)), the median one)"
if $PY -c 'import torch' 2>/dev/null; then
	tj=$($PY "$top/scripts/bench_pipe_torch.py" 4 256 4 128 256 "$MB" 8 "$STEPS" 2>/dev/null | tail -n 1)
	tone=$(echo "$tj" | $PY -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["one_stage_s"])')
	tpipe=$(echo "$tj" | $PY -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["pipe2_s"])')
	echo "PyTorch 1.13 (fp32) one module x 1 thread: $tone s/step"
	echo "PyTorch 1.13 Pipe 2 partitions, chunks=8: $tpipe s/step  (speed-up $($PY -c "print('%.2f' % ($tone/$tpipe))")x)"
	echo "dtpipe 2 stages vs Pipe throughput: $($PY -c "print('%.2f' % ($tpipe/$t2))")x"
else
	echo "PyTorch not importable by $PY: reference skipped"
fi
fi

REPS=${REPS:-5}
# sched_model WHAT UNITS0 UNITS1 CHUNKS0 CHUNKS1 (LAYERS set): the seven
# rows interleaved rep by rep, each rep in its own shuffled order (seeded by
# the rep, so a pass can be repeated; a rotation of one list would keep every
# row after the same neighbour), REPS reps; per schedule the medians; auto
# against the best fixed schedule (the lowest median step) run by run in the
# same reps, and zb-h1's bubble over 1f1b's of the same rep, medians of
# those per-rep ratios
sched_model() {
what=$1 u0=$2 u1=$3 c0=$4 c1=$5
echo "== schedules on $what: 2 stages x 1 thread, M=8, $STEPS steps, $REPS reps interleaved (load: $(cut -d' ' -f1-3 /proc/loadavg))"
# the planned row: the layout and schedule dtpipe-partition plan --schedule
# auto writes from its profile of this machine (one thread per unit)
"$B/tools/dtpipe-partition" plan --model "gpt:L=$LAYERS,C=256,H=4,T=128,V=256" --stages 2 \
	--batch "$MB" --micro-batches 8 --schedule auto --threads 1 --precision "$PRECISION" \
	-o "$W/pa.ini" >"$W/pa.out"
pa_sched=$(sed -n 's/^schedule = //p' "$W/pa.ini")
pa_v=$(sed -n 's/^virtual_stages = //p' "$W/pa.ini")
pa_u0=$(sed -n 's/^units = //p' "$W/pa.ini" | sed -n 1p)
pa_u1=$(sed -n 's/^units = //p' "$W/pa.ini" | sed -n 2p)
echo "  planned: $(grep '^layout auto:' "$W/pa.out")"
echo "  planned: $pa_sched, units $pa_u0 | $pa_u1"
: >"$W/runs"
rounds_reset
r=0
while [ $r -lt "$REPS" ]; do
	round_begin "$what rep $((r + 1))"
	set -- $($PY -c "import random; l = 'gpipe 1f1b zb-h1 zb-h2 interleaved auto planned'.split(); random.Random($r).shuffle(l); print(*l)")
	echo "  rep $((r + 1)) order: $*"
	for row in "$@"; do
		SCHED=$row VSTAGES=2
		if [ "$row" = planned ]; then
			SCHED=$pa_sched VSTAGES=${pa_v:-2}
			plan "$W/s.ini" 8 no "$pa_u0" "$pa_u1"
		elif [ "$row" = interleaved ]; then plan "$W/s.ini" 8 no "$c0" "$c1"
		else plan "$W/s.ini" 8 no "$u0" "$u1"; fi
		"$DTPIPE" --plan "$W/s.ini" --threads 1 --quiet --metrics "$W/s.json" --trace "$W/s.trace" \
			>/dev/null 2>"$W/why"
		# auto: the schedule dtpipe picked ("schedule auto: zb-h1, the shortest ...")
		pick=$SCHED
		[ "$SCHED" = auto ] && pick=$(sed -n 's/^dtpipe: schedule auto: \([a-z0-9-]*\),.*/\1/p' "$W/why")
		# the simulator on this run's measured stage compute and per-step
		# work (its last table for the schedule), no transfers
		sim=$("$B/tools/dtpipe-partition" report --plan "$W/s.ini" --trace "$W/s.trace" --static |
			awk -v k="$pick" '$1 == k { v = $2 } END { print v / 1000 }')
		# an interleaved run reports its 4 chunks: stage k = chunks k and k + 2
		bub=$($PY -c "
import json, statistics as st
L = [json.loads(l) for l in open('$W/s.json')]
s = [l for l in L if 'step' in l][1:]
t = st.median(l['step_time'] for l in s)
c = [st.median(sum(x['compute'] for j, x in enumerate(l['stages']) if j % 2 == k) for l in s)
     for k in range(2)]
print('%.4f %.4f %.4f' % (t, 1 - sum(c) / (2 * t), 1 - max(c) / t))")
		echo "$r $row $pick $bub $sim" >>"$W/runs"
		case $row in 1f1b|zb-h1) cp "$W/s.trace" "$W/$row.trace" ;; esac
	done
	round_end "$what rep $((r + 1))"
	r=$((r + 1))
done
echo "  $(clean_note)"
cores_log
printf '%-11s %10s %10s %8s %9s %9s %9s %9s %9s\n' schedule step_s sim_s sim_err bubble sim_bub ideal_bub idle sim_idle
$PY - "$W/runs" "$W/clean" <<'PY'
import sys, statistics as st, collections
K, M = 2, 8
ok = [l.strip() == "1" for l in open(sys.argv[2])]
# rep -> schedule -> (pick, t, the stages' idle, sim, the schedule's bubble)
runs = collections.defaultdict(dict)
for l in open(sys.argv[1]):
    r, name, pick, t, idle, bub, sim = l.split()
    if ok[int(r)] or not any(ok):      # the clean reps (all when none is)
        runs[int(r)][name] = (pick, float(t), float(idle), float(sim), float(bub))
names = ["gpipe", "1f1b", "zb-h1", "zb-h2", "interleaved", "auto", "planned"]
for name in names:
    rows = [runs[r][name] for r in sorted(runs)]
    picks = sorted(set(x[0] for x in rows))
    pick = picks[0] if len(picks) == 1 else "/".join(picks)
    t, idle, sim, bub = (st.median(x[i] for x in rows) for i in (1, 2, 3, 4))
    ideal = (K - 1) / ((3 * M if pick.startswith("zb-") else 2 * M if pick == "interleaved" else M)
                      + K - 1)
    # the simulator's step on the same compute: its bubble and idle
    simbub = 1 - (t * (1 - bub)) / sim if sim > 0 else float("nan")
    simidle = 1 - (t * (1 - idle)) / sim if sim > 0 else float("nan")
    err = st.median(x[1] / x[3] - 1 for x in rows if x[3] > 0)
    label = name if name == pick else "%s=%s" % (name, pick)
    print("%-11s %10.4f %10.4f %7.1f%% %8.1f%% %8.1f%% %8.1f%% %8.1f%% %8.1f%%" % (
        label, t, sim, 100 * err, 100 * bub, 100 * simbub, 100 * ideal, 100 * idle, 100 * simidle))
fixed = [n for n in names if n not in ("auto", "planned")]
# the target: auto's step against the best fixed schedule's, the schedule
# with the lowest median step (the one a user would have fixed), run
# against run in the same reps: the median of those paired ratios
med = {n: st.median(runs[r][n][1] for r in sorted(runs)) for n in fixed}
bestm = min(fixed, key=lambda n: med[n])
for row in ("auto", "planned"):
    rel = [runs[r][row][1] / runs[r][bestm][1] - 1 for r in sorted(runs)]
    print("%s against the best fixed schedule (%s, the lowest median step), rep by rep: median %+.1f%%, reps %s (target <= +3%%)" % (
        row, bestm, 100 * st.median(rel), " ".join("%+.1f%%" % (100 * x) for x in rel)))
# against the fastest run of each rep instead: the luckiest of five fixed
# schedules' runs, whichever it was (a run moves by 3-4% on a busy host, so
# this reads high even when auto picks the best schedule)
rel, best = [], collections.Counter()
for r in sorted(runs):
    b = min(fixed, key=lambda n: runs[r][n][1])
    best[b] += 1
    rel.append(runs[r]["auto"][1] / runs[r][b][1] - 1)
print("  auto against the fastest fixed run of each rep (%s): median %+.1f%%, reps %s" % (
    ", ".join("%s %dx" % kv for kv in best.most_common()), 100 * st.median(rel),
    " ".join("%+.1f%%" % (100 * x) for x in rel)))
# interleaved runs on another layout of the units (chunks); auto chooses
# among the schedules of the plan it is given
same = [runs[r]["auto"][1] / min(runs[r][n][1] for n in fixed if n != "interleaved") - 1
        for r in sorted(runs)]
print("  against the best of those on auto's own layout (gpipe, 1f1b, zb-h1, zb-h2): median %+.1f%%, reps %s" % (
    100 * st.median(same), " ".join("%+.1f%%" % (100 * x) for x in same)))
# the choice apart from its run: the schedule auto picked, its own fixed
# row's median step against the best fixed row's
for row in ("auto", "planned"):
    picks = sorted(set(runs[r][row][0] for r in sorted(runs)))
    if len(picks) == 1 and picks[0] in med:
        print("  %s's pick, %s: its row's median step %+.1f%% of the best row's (%s)" % (
            row, picks[0], 100 * (med[picks[0]] / med[bestm] - 1), bestm))
planned = [runs[r]["planned"][1] / min(runs[r][n][1] for n in fixed) - 1 for r in sorted(runs)]
print("  planned (dtpipe-partition plan --schedule auto: its layout and pick) against the fastest fixed run of each rep: median %+.1f%%, reps %s" % (
    100 * st.median(planned), " ".join("%+.1f%%" % (100 * x) for x in planned)))
for i, what in ((4, "bubble (the slowest stage's idle)"),
                (2, "stages' idle (the unequal stages' part included)")):
    ratio = [runs[r]["zb-h1"][i] / runs[r]["1f1b"][i] for r in sorted(runs) if runs[r]["1f1b"][i] > 0]
    print("zb-h1's measured %s / 1f1b's of the same rep: median %.2fx, reps %s%s" % (
        what, st.median(ratio), " ".join("%.2f" % x for x in ratio),
        " (target <= 0.5x)" if i == 4 else ""))
# each measure above is a schedule's idle over its own compute; set zb-h1's
# step against 1f1b's compute too (t - t(1 - b): the part of a step beyond
# that compute), so that what splitting the backward adds counts as bubble
cz, hz, hi = [], [], []
for r in sorted(runs):
    (_, t1, i1, _, b1), (_, tz, iz, _, _) = runs[r]["1f1b"], runs[r]["zb-h1"]
    c1, c = t1 * (1 - i1), tz * (1 - iz)
    cz.append(c / c1 - 1)
    hi.append((1 - c1 / tz) / i1 if i1 > 0 else float("nan"))
    hz.append((tz - t1 * (1 - b1)) / (t1 * b1) if b1 > 0 else float("nan"))
print("zb-h1's compute %+.1f%% of 1f1b's (median of reps); its step less 1f1b's slowest-stage compute: %.2fx 1f1b's bubble (less its mean compute: %.2fx 1f1b's idle)" % (
    100 * st.median(cz), st.median(hz), st.median(hi)))
PY
# where 1f1b's and zb-h1's idle goes (the last rep's traces)
$PY "$W/where.py" "$W/1f1b.trace" 2 "a 1f1b step"
$PY "$W/where.py" "$W/zb-h1.trace" 2 "a zb-h1 step"
}

if part schedules; then
# the gpt of the issue's figures (units 0 embedding, 1-4 blocks, 5 the
# head): stage 1 holds the head, about 4% more FLOPs than stage 0
LAYERS=4
sched_model "gpt L=4 (units 0-2 | 3-5; interleaved 0-1, 3 | 2, 4-5)" 0-2 3-5 "0-1, 3" "2, 4-5"
# eight blocks: the head a smaller share of stage 1 (about 2%)
LAYERS=8
sched_model "gpt L=8 (units 0-4 | 5-9; interleaved 0-2, 5-6 | 3-4, 7-9)" 0-4 5-9 "0-2, 5-6" "3-4, 7-9"
# what splitting the backward costs stage 1 (units 3-5) in one process:
# F + B + W per micro-batch with W right after B and one micro-batch late
# (zb-h1's stage 1), beside the whole backward (fp32 whatever PRECISION);
# alone, then beside units 0-2 computing on the other core as stage 0 does
# in a K = 2 run (two processes sharing the caches and memory)
OPENBLAS_NUM_THREADS=1 "$B/tools/dtpipe-bench-split" --units 3-5 --micro-batch "$MB" --M 8 \
	--reps "${SPLIT_REPS:-10}" | sed 's/^/  split cost: /'
OPENBLAS_NUM_THREADS=1 "$B/tools/dtpipe-bench-split" --units 3-5 --beside 0-2 --micro-batch "$MB" \
	--M 8 --reps "${SPLIT_REPS:-10}" | sed 's/^/  split cost: /'
SCHED=gpipe LAYERS=4
fi

part rss || exit 0
echo "== peak RSS per stage (MiB), 2 stages, gpipe, 2 steps"
STEPS=2
for m in 4 8 16; do
	for rc in no yes; do
		plan "$W/m.ini" $m $rc 0-2 3-5
		"$DTPIPE" --plan "$W/m.ini" --threads 1 --quiet --metrics "$W/m.json" >/dev/null
		set -- $(summ "$W/m.json" 2 $m)
		echo "M=$m recompute=$rc: stage 0 $5 MiB, stage 1 $6 MiB"
	done
done
