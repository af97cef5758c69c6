#!/bin/sh
# dtpipe-partition end to end: profile, plan (to a file that loads back),
# report with a trace, and exit status 2 with a clear message on bad input.
set -u
B=${DTP_BUILDDIR:-.}/tools/dtpipe-partition
T=$(mktemp -d "${TMPDIR:-/tmp}/dtp_partition_tool.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# run CMD...: expect status $want; output in $T/out
expect() {
	want=$1; shift
	"$@" >"$T/out" 2>&1
	got=$?
	[ "$got" = "$want" ] || { fail "exit $got (want $want): $*"; cat "$T/out"; }
}

expect 0 "$B" --help
grep -q 'usage: dtpipe-partition profile' "$T/out" || fail "--help has no usage"

# measured profile of a small gpt: 4 units, a row each
expect 0 "$B" profile --model gpt:L=2,C=32,H=2,T=16,V=64 --batch 2 --reps 1
[ "$(grep -c -E '^ +[0-9]+ (embed|block|lnf)' "$T/out")" = 4 ] || { fail "profile rows"; cat "$T/out"; }

# a plan written to a file: 3 stages, loads back, whole model covered
expect 0 "$B" plan --model gpt:L=4,C=64,H=4,T=32,V=256 --stages 3 --batch 4 --static \
	--micro-batches 6 -o "$T/p.ini"
grep -q '^\[stage.2\]' "$T/p.ini" || fail "plan has no [stage.2]"
grep -q '^micro_batches = 6' "$T/p.ini" || fail "plan lost micro_batches"
grep -E -q '^predicted: gpipe step [0-9.]+ ms \(simulated\); bubble [0-9.]+%' "$T/out" ||
	{ fail "plan summary: the simulated gpipe step"; cat "$T/out"; }
expect 0 "$B" report --plan "$T/p.ini" --static
grep -q '^ *2 ' "$T/out" || { fail "report has no stage 2"; cat "$T/out"; }

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
grep -q 'no transfers: gpipe step 7.500 ms (simulated)' "$T/out" || { fail "measured gpipe step"; cat "$T/out"; }
# the plan's schedule, not always GPipe: 1F1B overlaps stage 1's backward with stage 0's forward
sed 's/^micro_batches = 2$/micro_batches = 2\nschedule = 1f1b/' "$T/mlp.ini" >"$T/mlp1f1b.ini"
expect 0 "$B" report --plan "$T/mlp1f1b.ini" --trace "$T/trace.json" --static
grep -q 'no transfers: 1f1b step 6.500 ms (simulated)' "$T/out" || { fail "measured 1f1b step"; cat "$T/out"; }

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

[ "$fails" = 0 ] && echo "PASS: dtpipe-partition" || exit 1
