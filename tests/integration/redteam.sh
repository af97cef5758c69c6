#!/bin/sh
# Red team: malformed plans, bad options, datasets that do not fit the model,
# broken shards, FIFOs, NaN data, a diverging run, pipes, directories and
# unwritable paths, each generated here. Every case must give its one clear
# message (a key phrase), the documented exit status (2: bad input, 1: a
# failure at run time, docs/architecture.md) and leave nothing behind: no
# dtpipe process, no new /dev/shm/dtpipe-* file, no output file of a run that
# failed. Most cases fail at start-up, so the whole script takes well under a
# minute or two.
. "$DTP_SRCDIR/tests/integration/lib.sh"
SHARD="$DTP_BUILDDIR/tools/dtpipe-shard"
BENCHIO="$DTP_BUILDDIR/tools/dtpipe-bench-io"
IN="$WORK/in"
mkdir -p "$IN" "$WORK/o"
n=0 failed=0

# the processes a case left: those whose command line names this run's files
strays() { pgrep -f -- "$WORK/" 2>/dev/null | grep -v "^$$\$" || true; }

# dtpipe shared-memory files that appeared during a case, named for a
# process of the case (pids from $1 to $2) that is gone
new_shm() {
	for f in /dev/shm/dtpipe-*; do
		[ -e "$f" ] || continue
		grep -qxF "$f" "$WORK/shm.before" && continue
		pid=$(echo "$f" | sed 's|/dev/shm/dtpipe-\([0-9]*\)-.*|\1|')
		[ "$pid" -ge "$1" ] && [ "$pid" -le "$2" ] && ! kill -0 "$pid" 2>/dev/null && echo "$f"
	done
	return 0
}

# expect NAME RC PHRASE [KEEP] -- CMD...: run CMD in an empty directory (its
# outputs go there); KEEP: "keep" when a successful case may leave outputs
expect() {
	name=$1 want=$2 phrase=$3 keep=no
	shift 3
	if [ "$1" = keep ]; then keep=yes; shift; fi
	[ "$1" = "--" ] && shift
	n=$((n + 1))
	out="$WORK/o/$n"
	mkdir -p "$out"
	ls -d /dev/shm/dtpipe-* > "$WORK/shm.before" 2>/dev/null || : > "$WORK/shm.before"
	p0=$(sh -c 'echo $$')
	set +e
	(cd "$out" && timeout 120 "$@") > "$WORK/log" 2>&1
	rc=$?
	set -e
	p1=$(sh -c 'echo $$')
	why=""
	[ "$rc" -eq "$want" ] || why="exit status $rc, want $want;"
	grep -qF -- "$phrase" "$WORK/log" || why="$why no '$phrase' in the output;"
	if grep -qE "Segmentation fault|core dumped|AddressSanitizer|runtime error" "$WORK/log"; then
		why="$why a crash;"
	fi
	left=$(strays)
	if [ -n "$left" ]; then
		why="$why processes left: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" 2>/dev/null);"
		for p in $left; do kill -9 "$p" 2>/dev/null || true; done
	fi
	shm=$(new_shm "$p0" "$p1")
	[ -z "$shm" ] || why="$why /dev/shm files left: $shm;"
	if [ "$keep" = no ] && [ -n "$(ls -A "$out")" ]; then
		why="$why files left: $(ls -A "$out" | tr '\n' ' ');"
	fi
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		echo "FAIL $n $name: $why"
		sed 's/^/    | /' "$WORK/log" | head -n 12
	else
		echo "ok $n $name: exit $rc: $(grep -F -- "$phrase" "$WORK/log" | head -n 1 | cut -c1-150)"
	fi
}

# ---------------------------------------------------------------- inputs
"$MKDATA" records "$IN/rec" 96 24 12 4 5
"$MKDATA" records "$IN/rec16" 96 24 16 4 5
"$MKDATA" records "$IN/rec8c" 96 24 12 8 5
"$MKDATA" tokens "$IN/tok" 400 40 32 3
# a test set of another width than the training set
mkdir -p "$IN/mixed" && cp -r "$IN/rec/train" "$IN/rec16/test" "$IN/mixed/"
# one NaN feature in the first record (header 64 bytes, f32 features first)
cp -r "$IN/rec" "$IN/nan"
printf '\000\000\300\177' | dd of="$IN/nan/train/part-0.dtpr" bs=1 seek=64 conv=notrunc 2>/dev/null
# a label (the last 4 bytes of record 0: 64 + 12 * 4) the header does not announce
cp -r "$IN/rec" "$IN/label"
printf '\143\000\000\000' | dd of="$IN/label/train/part-0.dtpr" bs=1 seek=112 conv=notrunc 2>/dev/null
# shards broken in every way the format can be
brk() { rm -rf "$IN/$1"; cp -r "$IN/rec" "$IN/$1"; rm -f "$IN/$1/train/.dtpipe-index"; }
brk fifo && mkfifo "$IN/fifo/train/zz.dtpr"
brk fifobin && mkfifo "$IN/fifobin/train/zz.bin"
brk dirshard && mkdir "$IN/dirshard/train/zz.dtpr"
brk trunc && truncate -s 100 "$IN/trunc/train/part-1.dtpr"
brk short && truncate -s 30 "$IN/short/train/part-1.dtpr"
brk empty && : > "$IN/empty/train/part-1.dtpr"
brk crc && printf '\007' | dd of="$IN/crc/train/part-1.dtpr" bs=1 seek=24 conv=notrunc 2>/dev/null
brk magic && printf 'XXXX' | dd of="$IN/magic/train/part-1.dtpr" bs=1 seek=0 conv=notrunc 2>/dev/null
brk extra && printf 'junk' >> "$IN/extra/train/part-1.dtpr"
brk width && cp "$IN/rec16/train/part-1.dtpr" "$IN/width/train/part-1.dtpr"
brk tokmix && cp "$IN/tok/train/part-0.bin" "$IN/tokmix/train/"
brk junkbin && head -c 5000 /dev/urandom > "$IN/junkbin/train/zz.bin"
brk badindex && printf 'not an index' > "$IN/badindex/train/.dtpipe-index"
mkdir -p "$IN/nodata/train" "$IN/nodata/test"
mkdir -p "$IN/notes/train" && echo hi > "$IN/notes/train/README"

# plan FILE SPEC DATA [UNITS...] (one stage per unit range; default 1 stage)
plan() {
	f=$1 spec=$2 data=$3
	shift 3
	[ $# -gt 0 ] || set -- "0-$((${UNITS:-3} - 1))"
	write_plan "$f" "$spec" "$data" gpipe no tcp 'lr = 0.05' "$@"
}
MLP="mlp:12-24-4"
UNITS=2 plan "$IN/p1.ini" "$MLP" "$IN/rec"
plan "$IN/p2.ini" "$MLP" "$IN/rec" 0 1
P="$IN/p2.ini"
# dtpipe as every case runs it (a program, for timeout)
run1="$WORK/run1"
printf '#!/bin/sh\nexec "%s" --threads 1 --no-bind --quiet "$@"\n' "$DTPIPE" > "$run1"
chmod +x "$run1"

# the good plan trains (the reference every case differs from)
expect good-plan 0 "test accuracy" -- "$run1" --plan "$P"

# ---------------------------------------------------------------- plans
# bad_plan NAME PHRASE: the plan text in $B (not piped in: a function at the
# end of a pipeline runs in a subshell, and its counts would be lost)
B="$IN/bad.ini"
bad_plan() {
	mv "$B" "$IN/bad-$n.ini"
	expect "plan-$1" 2 "$2" -- "$run1" --plan "$IN/bad-$n.ini"
}
expect plan-missing 2 "cannot open the plan file" -- "$run1" --plan "$IN/none.ini"
expect plan-directory 2 "is a directory" -- "$run1" --plan "$IN"
mkfifo "$IN/plan.fifo"
expect plan-fifo-nobody-writes 2 "empty" -- "$run1" --plan "$IN/plan.fifo"
( cat "$P" > "$IN/plan.fifo" ) &
expect plan-through-a-pipe 0 "test accuracy" -- "$run1" --plan "$IN/plan.fifo"
wait
# a writer that opens the pipe after dtpipe does (dtpipe waits up to 5 s)
( sleep 1; cat "$P" > "$IN/plan.fifo" ) &
expect plan-pipe-writer-late 0 "test accuracy" -- "$run1" --plan "$IN/plan.fifo"
wait
( cat "$P" > "$IN/plan.fifo" ) &
expect plan-pipe-as-option-value 0 "test accuracy" -- "$run1" "--plan=$IN/plan.fifo"
wait
expect plan-dev-null 2 "empty" -- "$run1" --plan /dev/null
: > "$B"; bad_plan empty "[model]"
head -c 3000 /dev/urandom | tr -d '\000' > "$B"; bad_plan binary-garbage "bad-$n.ini:"
sed 's/^\[train\]/[trian]/' "$P" > "$B"; bad_plan unknown-section "unknown section"
sed 's/^seed = 11/sede = 11/' "$P" > "$B"; bad_plan unknown-key "sede"
{ echo "lr = 0.1"; cat "$P"; } > "$B"; bad_plan key-outside-section "lr"
sed 's/^seed = 11/seed = 11\nseed = 12/' "$P" > "$B"; bad_plan duplicate-key "seed"
sed 's/^steps = 5/steps = five/' "$P" > "$B"; bad_plan steps-not-a-number "steps"
sed 's/^steps = 5/steps = 3000000000/' "$P" > "$B"; bad_plan steps-too-many "steps"
sed 's/^steps = 5/steps = 0\nepochs = 2000000/' "$P" > "$B"; bad_plan epochs-too-many "epochs"
sed 's/^steps = 5/steps = -4/' "$P" > "$B"; bad_plan steps-negative "steps"
sed 's/^schedule = gpipe/schedule = zigzag/' "$P" > "$B"; bad_plan schedule "gpipe"
sed 's/^lr = 0.05/lr = 0.05\noptimizer = lion/' "$P" > "$B"; bad_plan optimizer "sgd or adamw"
sed 's/^lr = 0.05/lr = nan/' "$P" > "$B"; bad_plan lr-nan "lr"
sed 's/^lr = 0.05/lr = -1/' "$P" > "$B"; bad_plan lr-negative "lr"
sed 's/^lr = 0.05/lr = 0.05\nnonfinite = maybe/' "$P" > "$B"; bad_plan nonfinite-word "stop"
sed 's/^kind = tcp/kind = pigeon/' "$P" > "$B"; bad_plan transport "auto, verbs, tcp or shm"
sed 's/^base_port = .*/base_port = 70000/' "$P" > "$B"; bad_plan port "base_port"
sed 's/^micro_batch = 4/micro_batch = 0/' "$P" > "$B"; bad_plan micro-batch-zero "micro_batch"
sed 's/^loader_budget = 16M/loader_budget = lots/' "$P" > "$B"; bad_plan size-word "loader_budget"
sed "s/^spec = .*/spec = mlp:/" "$P" > "$B"; bad_plan spec-empty "spec"
sed "s/^spec = .*/spec = mlp:12-0-4/" "$P" > "$B"; bad_plan spec-zero-width "spec"
sed "s/^spec = .*/spec = gpt:L=1,C=10,H=3,T=8,V=32/" "$P" > "$B"; bad_plan gpt-heads "heads"
sed "s/^spec = .*/spec = cnn:3x3/" "$P" > "$B"; bad_plan spec-kind "spec"
sed 's/^\[stage.1\]/[stage.2]/' "$P" > "$B"; bad_plan stage-gap "stage"
sed 's/^\[stage.1\]/[stage.01]/' "$P" > "$B"; bad_plan stage-leading-zero "stage"
sed '/^\[stage.1\]/,$d' "$P" > "$B"; bad_plan unit-dropped "unit"
sed 's/^units = 1$/units = 0-1/' "$P" > "$B"; bad_plan unit-repeated "unit"
sed '/^\[stage/,$d' "$P" > "$B"; bad_plan no-stages "stage"
sed 's/^units = 1$/units = 7/' "$P" > "$B"; bad_plan unit-out-of-range "unit"
sed 's/^units = 0$//' "$P" > "$B"; bad_plan stage-without-units "units"
{ cat "$P"; printf 'x = %05000d\n' 0; } > "$B"; bad_plan line-too-long "long"
sed 's/^lr = 0.05/lr = 0.05\ntotal_steps = 10/' "$P" > "$B"; bad_plan total-steps-without-cosine "total_steps"
sed 's/^\[model\]/[model]\nwidths = 12-4/' "$P" > "$B"; bad_plan spec-and-widths "spec"
printf '[model\nspec = %s\n' "$MLP" > "$B"; bad_plan broken-header "outside any section"

# ---------------------------------------------------------------- options
expect opt-steps-zero 2 "--steps 0" -- "$run1" --plan "$P" --steps 0
expect opt-steps-negative 2 "--steps -1" -- "$run1" --plan "$P" --steps -1
expect opt-steps-word 2 "--steps x" -- "$run1" --plan "$P" --steps x
expect opt-steps-int64-max 2 "from 1 to 2147483647" -- "$run1" --plan "$P" --steps 9223372036854775807
expect opt-steps-2-31 2 "from 1 to 2147483647" -- "$run1" --plan "$P" --steps 2147483648
expect opt-epochs-zero 2 "--epochs 0" -- "$run1" --plan "$P" --epochs 0
expect opt-epochs-huge 2 "--epochs 1048577" -- "$run1" --plan "$P" --epochs 1048577
expect opt-threads-zero 2 "--threads 0" -- "$run1" --plan "$P" --threads 0
expect opt-threads-huge 2 "--threads 99999999" -- "$run1" --plan "$P" --threads 99999999
expect opt-stage-negative 2 "--stage -1" -- "$run1" --plan "$P" --stage -1
expect opt-stage-absent 2 "does not exist" -- "$run1" --plan "$P" --stage 9
expect opt-transport 2 "auto, verbs, tcp or shm" -- "$run1" --plan "$P" --transport pigeon
expect opt-mem-cap-zero 2 "--mem-cap 0" -- "$run1" --plan "$P" --mem-cap 0
expect opt-mem-cap-word 2 "--mem-cap 1Q" -- "$run1" --plan "$P" --mem-cap 1Q
expect opt-mem-cap-1K 1 "memory cap of 1.0 KiB" -- "$run1" --plan "$P" --mem-cap 1K
expect opt-nonfinite-word 2 "use stop or skip" -- "$run1" --plan "$P" --nonfinite maybe
expect opt-unknown 2 "dtpipe --help" -- "$run1" --plan "$P" --bogus
expect opt-extra-argument 2 "unexpected argument" -- "$run1" --plan "$P" extra
expect opt-trace-missing-dir 2 "--trace $IN/none/t.json: cannot create it" -- \
	"$run1" --plan "$P" --trace "$IN/none/t.json"
expect opt-trace-directory 2 "is a directory" -- "$run1" --plan "$P" --trace "$IN"
expect opt-trace-under-a-file 2 "is not a directory" -- "$run1" --plan "$P" --trace "$P/t.json"
expect opt-metrics-missing-dir 2 "--metrics $IN/none/m.json: cannot create it" -- \
	"$run1" --plan "$P" --metrics "$IN/none/m.json"
expect opt-metrics-directory 2 "is a directory" -- "$run1" --plan "$P" --metrics "$IN"
expect opt-data-missing 2 "$IN/none" -- "$run1" --plan "$P" --data "$IN/none"
expect opt-resume-without-dir 2 "checkpoint directory" -- "$run1" --plan "$P" --resume

# ---------------------------------------------------------------- data against the model
# (write_plan sets name, rc, spec, data: dplan's own are d*)
dplan() {   # NAME RC PHRASE SPEC DATA [UNITS...]
	dname=$1 drc=$2 dph=$3 dspec=$4 ddata=$5
	shift 5
	plan "$IN/d-$n.ini" "$dspec" "$ddata" "$@"
	expect "data-$dname" "$drc" "$dph" -- "$run1" --plan "$IN/d-$n.ini"
}
dplan model-narrower 2 "each sample has 12 features but the model" "mlp:6-24-4" "$IN/rec" 0 1
dplan model-wider 2 "each sample has 12 features but the model" "mlp:100-24-4" "$IN/rec" 0 1
dplan model-wider-1-stage 2 "takes 100 inputs" "mlp:100-24-4" "$IN/rec" 0-1
dplan data-wider 2 "each sample has 16 features" "$MLP" "$IN/rec16" 0 1
dplan test-set-of-another-width 2 "test: each sample has 16 features" "$MLP" "$IN/mixed" 0 1
dplan more-classes-than-outputs 2 "8 classes" "$MLP" "$IN/rec8c" 0 1
dplan tokens-to-an-mlp 2 "token shards (llm.c *.bin), but the model" "$MLP" "$IN/tok" 0 1
dplan records-to-a-gpt 2 "record shards (dtpipe *.dtpr: features and a label), but the model" \
	"gpt:L=1,C=8,H=2,T=8,V=32" "$IN/rec" 0 1-2
# found when the batch comes: one stage, so that no peer's "closed the
# connection" races the status
dplan tokens-outside-vocab 2 "token outside [0, 7)" "gpt:L=1,C=8,H=2,T=8,V=7" "$IN/tok" 0-2
dplan label-outside-outputs 2 "target 99 is outside [0, 4)" "$MLP" "$IN/label" 0-1
dplan fifo-shard 2 "a FIFO, not a regular file" "$MLP" "$IN/fifo" 0 1
dplan fifo-bin-shard 2 "a FIFO, not a regular file" "$MLP" "$IN/fifobin" 0 1
dplan directory-shard 2 "a directory, not a regular file" "$MLP" "$IN/dirshard" 0 1
dplan truncated-shard 2 "part-1.dtpr" "$MLP" "$IN/trunc" 0 1
dplan shorter-than-header 2 "part-1.dtpr" "$MLP" "$IN/short" 0 1
dplan empty-shard 2 "part-1.dtpr" "$MLP" "$IN/empty" 0 1
dplan header-crc 2 "checksum" "$MLP" "$IN/crc" 0 1
dplan wrong-magic 2 "wrong magic" "$MLP" "$IN/magic" 0 1
dplan trailing-bytes 2 "part-1.dtpr" "$MLP" "$IN/extra" 0 1
dplan shards-of-two-widths 2 "differs from" "$MLP" "$IN/width" 0 1
dplan records-and-tokens-mixed 2 "differs from" "$MLP" "$IN/tokmix" 0 1
dplan random-bytes-as-bin 2 "zz.bin" "$MLP" "$IN/junkbin" 0 1
dplan empty-directory 2 "empty dataset directory" "$MLP" "$IN/nodata" 0 1
dplan no-shards-only-notes 2 "empty dataset directory" "$MLP" "$IN/notes" 0 1
dplan dataset-is-a-file 2 "no shard matches" "$MLP" "$P" 0 1
dplan corrupt-index-is-ignored 0 "test accuracy" "$MLP" "$IN/badindex" 0 1

# ---------------------------------------------------------------- values that are not finite
dplan nan-feature 1 "training diverged, or the data holds NaN/inf values" "$MLP" "$IN/nan" 0 1
plan "$IN/nan.ini" "$MLP" "$IN/nan" 0 1
expect nan-feature-skipped 0 "skipped (nonfinite = skip)" keep -- \
	"$run1" --plan "$IN/nan.ini" --nonfinite skip --steps 30 --metrics m.json
grep -q '"grad_norm":null,"skipped":true' "$WORK/o/$n/m.json" ||
	{ echo "FAIL $n: the metrics do not mark the skipped step"; failed=$((failed + 1)); }
sed 's/^lr = 0.05/lr = 0.05\nnonfinite = skip/' "$IN/nan.ini" > "$IN/nanskip.ini"
expect nan-feature-skip-from-the-plan 0 "skipped (nonfinite = skip)" -- "$run1" --plan "$IN/nanskip.ini" --steps 30
expect nan-feature-stop-overrides-plan 1 "training diverged" -- \
	"$run1" --plan "$IN/nanskip.ini" --steps 30 --nonfinite stop
sed 's/^lr = 0.05/lr = 1e20/' "$P" > "$IN/diverge.ini"
expect diverging-run 1 "training diverged" -- "$run1" --plan "$IN/diverge.ini" --steps 20
if grep -q "target" "$WORK/log"; then
	echo "FAIL $n: a diverging run is blamed on the targets"; failed=$((failed + 1))
fi

# ---------------------------------------------------------------- resume and step counts
expect checkpointed-run 0 "test accuracy" keep -- "$run1" --plan "$P" --steps 6 --checkpoint-dir "$IN/ck"
expect resume-fewer-steps 2 "nothing to train" -- \
	"$run1" --plan "$P" --steps 3 --checkpoint-dir "$IN/ck" --resume
expect resume-same-steps 2 "give --steps more than 6" -- \
	"$run1" --plan "$P" --steps 6 --checkpoint-dir "$IN/ck" --resume
expect resume-fewer-steps-writes-no-trace 2 "nothing to train" -- \
	"$run1" --plan "$P" --steps 3 --checkpoint-dir "$IN/ck" --resume --trace t.json
plan "$IN/wide.ini" "mlp:100-24-4" "$IN/rec" 0 1
expect bad-data-leaves-no-output 2 "takes 100 inputs" -- "$run1" --plan "$IN/wide.ini" \
	--trace t.json --metrics m.json --checkpoint-dir ck --dump dump
expect trace-written 0 "test accuracy" keep -- "$run1" --plan "$P" --steps 2 --trace t.json
test -s "$WORK/o/$n/t.json" || { echo "FAIL $n: no trace"; failed=$((failed + 1)); }

# ---------------------------------------------------------------- dtpipe-shard
expect shard-records-negative 2 "--records-per-shard -5" -- \
	"$SHARD" fashion-mnist --src "$IN" --out sh --records-per-shard -5
expect shard-records-zero 2 "--records-per-shard 0" -- \
	"$SHARD" fashion-mnist --src "$IN" --out sh --records-per-shard 0
expect shard-records-word 2 "--records-per-shard many" -- \
	"$SHARD" fashion-mnist --src "$IN" --out sh --records-per-shard many
expect shard-records-huge 2 "from 1 to 2147483647" -- \
	"$SHARD" fashion-mnist --src "$IN" --out sh --records-per-shard 99999999999
expect shard-records-space 2 "expected a count" -- \
	"$SHARD" fashion-mnist --src "$IN" --out sh --records-per-shard " 5"
expect shard-tokens-negative 2 "--tokens-per-shard -1" -- \
	"$SHARD" text "$P" --out sh --tokens-per-shard -1
expect shard-unknown-command 2 "unknown command" -- "$SHARD" cifar --out sh
expect shard-no-out 2 "--out DIR is required" -- "$SHARD" text "$P"
expect shard-text-no-file 2 "needs at least one FILE" -- "$SHARD" text --out sh
expect shard-fmnist-files 2 "takes no file arguments" -- "$SHARD" fashion-mnist "$P" --out sh
expect shard-help 0 "usage: dtpipe-shard" -- "$SHARD" --help

# ---------------------------------------------------------------- dtpipe-bench-io
expect bench-io-help 0 "Usage: dtpipe-bench-io" -- "$BENCHIO" --help
expect bench-io-no-path 2 "give the dataset PATH" -- "$BENCHIO"
expect bench-io-qd-1 2 "--qd 1" -- "$BENCHIO" "$IN/rec/train" --qd 1
expect bench-io-qd-word 2 "--qd x" -- "$BENCHIO" "$IN/rec/train" --qd x
expect bench-io-direct 2 "--direct 5" -- "$BENCHIO" "$IN/rec/train" --direct 5
expect bench-io-batch 2 "--batch 0" -- "$BENCHIO" "$IN/rec/train" --batch 0
expect bench-io-shuffle 2 "--shuffle 2" -- "$BENCHIO" "$IN/rec/train" --shuffle 2
expect bench-io-deliver 2 "--deliver all" -- "$BENCHIO" "$IN/rec/train" --deliver all
expect bench-io-block 2 "--block" -- "$BENCHIO" "$IN/rec/train" --block 100
expect bench-io-reference 2 "needs --deliver inputs or targets" -- "$BENCHIO" "$IN/rec/train" --reference
expect bench-io-missing 2 "$IN/none" -- "$BENCHIO" "$IN/none"
expect bench-io-fifo 2 "a FIFO, not a regular file" -- "$BENCHIO" "$IN/fifo/train" --seq-len 8

echo "$n cases, $failed failed"
test "$n" -ge 80
test "$failed" -eq 0
