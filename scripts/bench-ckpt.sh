#!/bin/sh
# Checkpoint benchmark (issue 11), RUNS times, then the medians:
#  1. write and read throughput of one checkpoint of the GPT-2-small shape
#     with AdamW state (parameters, m, v: 3 x 124.4M floats, 1.49 GB) through
#     the checkpoint store (tools/dtpipe-bench-ckpt: the files, fsync, the
#     manifest, `latest`; read back from a cold page cache with every CRC
#     checked), beside dd of the same bytes to the same file system in the
#     same run: dd bs=8M conv=fsync from a copy of the store's own file (read
#     once into the page cache first, as the store's tensors are in memory:
#     the same bytes, not zeros, in case the disk treats zeros specially),
#     and a cold dd read (iflag=nocache
#     count=0 drops the file's pages first). ratio = store/dd.
#     Odd runs start with the store, even runs with dd.
#  2. step-time overhead of a checkpoint every N steps, measured end to end:
#     one stage of the gpt of docs/benchmarks.md (L=4 C=256 H=4 T=128 V=256,
#     micro-batch MB, AdamW) trained STEPS steps with [checkpoint] every = 0
#     (the default: only at the end) and every = N; overhead = (t_N - t_0) /
#     t_0 of the training wall time the run reports.
#   scripts/bench-ckpt.sh [BUILDDIR]
#   env: RUNS=3 DIR=/var/tmp MODEL=gpt:layers=12,dim=768,heads=12,seq=1024,vocab=50257
#        WRITERS=1 STEPS=40 EVERY=10 MB=16 THREADS=1 PARTS="io overhead"
set -eu
B=${1:-${DTP_BUILDDIR:-$(pwd)}}
BENCH="$B/tools/dtpipe-bench-ckpt"
DTPIPE="$B/tools/dtpipe"
MKDATA="$B/tests/integration/mkdata"
RUNS=${RUNS:-3}; WRITERS=${WRITERS:-1}; STEPS=${STEPS:-40}; EVERY=${EVERY:-10}; THREADS=${THREADS:-1}
MB=${MB:-16}; PARTS=${PARTS:-io overhead}
MODEL=${MODEL:-gpt:layers=12,dim=768,heads=12,seq=1024,vocab=50257}
for x in "$BENCH" "$DTPIPE" "$MKDATA"; do
	[ -x "$x" ] || { echo "bench-ckpt: build $x first (make; make tests/integration/mkdata)" >&2; exit 1; }
done
D=$(mktemp -d "${DIR:-/var/tmp}/dtp-bench-ckpt.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
echo "bench-ckpt: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), file system of $D: $(df -T "$D" | awk 'NR==2 {print $2}')"

# dd's seconds from its last line ("..., 1.234 s, ...")
dd_s() { sed -n 's/.* copied, \([0-9.]*\) s,.*/\1/p' "$1"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

case " $PARTS " in
*" io "*)
echo "run store_write_s dd_write_s store_read_s dd_read_s bytes store_write_cpu_s store_read_cpu_s"
: > "$D/rows"
run=1
while [ "$run" -le "$RUNS" ]; do
	store() {
		rm -rf "$D/ck"
		"$BENCH" --model "$MODEL" --writers "$WRITERS" "$D/ck" > "$D/store"
		# dd's source: the same bytes the store wrote (kept from the first run)
		[ -f "$D/src.bin" ] || cat "$D"/ck/step-*/stage-*.safetensors > "$D/src.bin"
		rm -rf "$D/ck"
	}
	dd_pair() {
		bytes=$1
		rm -f "$D/dd.bin"
		cat "$D/src.bin" > /dev/null
		dd if="$D/src.bin" of="$D/dd.bin" bs=8M iflag=count_bytes count="$bytes" conv=fsync 2> "$D/ddw"
		dd if="$D/dd.bin" iflag=nocache count=0 2>/dev/null
		dd if="$D/dd.bin" of=/dev/null bs=8M 2> "$D/ddr"
		rm -f "$D/dd.bin"
	}
	if [ $((run % 2)) -eq 1 ]; then
		store
		bytes=$(awk '{print $2}' "$D/store")
		dd_pair "$bytes"
	else
		# the bytes are the model's: known from the first run
		dd_pair "$bytes"
		store
	fi
	row="$run $(awk '{print $4}' "$D/store") $(dd_s "$D/ddw") $(awk '{print $6}' "$D/store") $(dd_s "$D/ddr") $bytes $(awk '{print $8, $10}' "$D/store")"
	echo "$row"
	echo "$row" >> "$D/rows"
	run=$((run + 1))
done
col() { awk -v c="$1" '{print $c}' "$D/rows" | median; }
sw=$(col 2) dw=$(col 3) sr=$(col 4) dr=$(col 5) cw=$(col 7) cr=$(col 8)
awk -v b="$bytes" -v sw="$sw" -v dw="$dw" -v sr="$sr" -v dr="$dr" -v cw="$cw" -v cr="$cr" 'BEGIN {
	printf "medians: write store %.0f MB/s, dd %.0f MB/s, ratio %.2f (store CPU %.1f s); read store %.0f MB/s, dd %.0f MB/s, ratio %.2f (store CPU %.1f s)\n",
	       b / sw / 1e6, b / dw / 1e6, dw / sw, cw, b / sr / 1e6, b / dr / 1e6, dr / sr, cr }'
;;
esac
case " $PARTS " in *" overhead "*) ;; *) exit 0 ;; esac

# ---- 2. the step-time overhead of a checkpoint every N steps
"$MKDATA" tokens "$D/tok" 400000 4000 256 7 >/dev/null
plan() {
	cat > "$1" <<PLAN
[model]
spec = gpt:layers=4,dim=256,heads=4,seq=128,vocab=256
[train]
micro_batch = $MB
micro_batches = 1
optimizer = adamw
lr = 0.001
steps = $STEPS
seed = 1
log_every = 1000
[data]
train = $D/tok/train
test = $D/tok/test
[checkpoint]
every = $2
keep = 2
[transport]
kind = shm
[stage.0]
units = 0-5
PLAN
}
plan "$D/p0.ini" 0
plan "$D/pn.ini" "$EVERY"
# the run's own timing line: "... in S s ..." (training wall time)
train_s() { sed -n 's/.*trained [0-9]* steps in \([0-9.]*\) s.*/\1/p' "$1" | head -n 1; }
echo "run train_s_every0 train_s_every$EVERY"
: > "$D/orows"
run=1
while [ "$run" -le "$RUNS" ]; do
	for cfg in 0 n; do
		rm -rf "$D/ck"
		"$DTPIPE" --plan "$D/p$cfg.ini" --threads "$THREADS" --checkpoint-dir "$D/ck" > "$D/out$cfg" 2>&1 ||
			{ cat "$D/out$cfg"; exit 1; }
	done
	row="$run $(train_s "$D/out0") $(train_s "$D/outn")"
	echo "$row"
	echo "$row" >> "$D/orows"
	run=$((run + 1))
done
t0=$(awk '{print $2}' "$D/orows" | median) tn=$(awk '{print $3}' "$D/orows" | median)
ck=$(du -sb "$D/ck/step-$(printf %08d "$STEPS")" | cut -f1)
awk -v t0="$t0" -v tn="$tn" -v s="$STEPS" -v n="$EVERY" -v ck="$ck" 'BEGIN {
	printf "medians: %d steps in %.2f s (every = 0), %.2f s (every = %d: %d checkpoints of %.1f MB more): overhead %.1f%%\n",
	       s, t0, tn, n, s / n - 1, ck / 1e6, 100 * (tn - t0) / t0 }'
echo "(every = 0, the default, writes one checkpoint, at the end, in both)"
