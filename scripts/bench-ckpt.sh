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
#     count=0 drops the file's pages first). ratio = store/dd. The store
#     writes and reads its data with O_DIRECT where the file system takes it
#     (direct_files says how many of its files did); the same store through
#     the page cache (--buffered) is timed too, as the reference of before.
#     Odd runs start with the store, even runs with dd.
#  2. step-time overhead of periodic checkpoints, measured end to end: one
#     stage of the gpt of docs/benchmarks.md (TRAIN_MODEL, default L=4 C=256
#     H=4 T=128 V=256, micro-batch MB, AdamW) trained STEPS steps with no
#     periodic checkpoint (every = 0, every_seconds = 0: only the one at the
#     end, which all three runs write) and with every = EVERY steps, written
#     in the training thread (background = no) and in the background (yes).
#     overhead = (t - t_none) / t_none of the training wall time the run
#     reports. Steadier under load: the training thread's own time in the
#     periodic checkpoints (the "checkpoint" spans of --trace: the write, or
#     the snapshot's copy and the wait at publishing; not the run's last
#     checkpoint), per checkpoint, over the default interval (every_seconds =
#     600, DTP_PLAN_CKPT_EVERY_S): the overhead at the default interval.
#   scripts/bench-ckpt.sh [BUILDDIR]
#   env: RUNS=3 DIR=/var/tmp MODEL=gpt:layers=12,dim=768,heads=12,seq=1024,vocab=50257
#        WRITERS=1 STEPS=40 EVERY=10 MB=16 THREADS=1 PARTS="io overhead"
#        TRAIN_MODEL=gpt:layers=4,dim=256,heads=4,seq=128,vocab=256 DEFAULT_S=600
set -eu
B=${1:-${DTP_BUILDDIR:-$(pwd)}}
BENCH="$B/tools/dtpipe-bench-ckpt"
DTPIPE="$B/tools/dtpipe"
MKDATA="$B/tests/integration/mkdata"
RUNS=${RUNS:-3}; WRITERS=${WRITERS:-1}; STEPS=${STEPS:-40}; EVERY=${EVERY:-10}; THREADS=${THREADS:-1}
MB=${MB:-16}; PARTS=${PARTS:-io overhead}; DEFAULT_S=${DEFAULT_S:-600}
TRAIN_MODEL=${TRAIN_MODEL:-gpt:layers=4,dim=256,heads=4,seq=128,vocab=256}
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
echo "run store_write_s dd_write_s store_read_s dd_read_s bytes store_write_cpu_s store_read_cpu_s direct_files buffered_write_s buffered_read_s buffered_write_cpu_s"
: > "$D/rows"
run=1
while [ "$run" -le "$RUNS" ]; do
	store() {
		rm -rf "$D/ck"
		"$BENCH" --model "$MODEL" --writers "$WRITERS" "$D/ck" > "$D/store"
		# dd's source: the same bytes the store wrote (kept from the first run)
		[ -f "$D/src.bin" ] || cat "$D"/ck/step-*/stage-*.safetensors > "$D/src.bin"
		rm -rf "$D/ck"
		"$BENCH" --buffered --model "$MODEL" --writers "$WRITERS" "$D/ck" > "$D/buffered"
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
	row="$run $(awk '{print $4}' "$D/store") $(dd_s "$D/ddw") $(awk '{print $6}' "$D/store") $(dd_s "$D/ddr") $bytes $(awk '{print $8, $10, $12}' "$D/store") $(awk '{print $4, $6, $8}' "$D/buffered")"
	echo "$row"
	echo "$row" >> "$D/rows"
	run=$((run + 1))
done
col() { awk -v c="$1" '{print $c}' "$D/rows" | median; }
sw=$(col 2) dw=$(col 3) sr=$(col 4) dr=$(col 5) cw=$(col 7) cr=$(col 8) bw=$(col 10) br=$(col 11) bc=$(col 12)
awk -v b="$bytes" -v sw="$sw" -v dw="$dw" -v sr="$sr" -v dr="$dr" -v cw="$cw" -v cr="$cr" -v bw="$bw" -v br="$br" -v bc="$bc" 'BEGIN {
	printf "medians: write store %.0f MB/s, dd %.0f MB/s, ratio %.2f (store CPU %.1f s); read store %.0f MB/s, dd %.0f MB/s, ratio %.2f (store CPU %.1f s)\n",
	       b / sw / 1e6, b / dw / 1e6, dw / sw, cw, b / sr / 1e6, b / dr / 1e6, dr / sr, cr
	printf "the store through the page cache (--buffered, the path before O_DIRECT): write %.0f MB/s, ratio %.2f (CPU %.1f s); read %.0f MB/s, ratio %.2f\n",
	       b / bw / 1e6, dw / bw, bc, b / br / 1e6, dr / br }'
;;
esac
case " $PARTS " in *" overhead "*) ;; *) exit 0 ;; esac

# ---- 2. the step-time overhead of periodic checkpoints
"$MKDATA" tokens "$D/tok" 400000 4000 256 7 >/dev/null
# plan FILE EVERY BACKGROUND
plan() {
	cat > "$1" <<PLAN
[model]
spec = $TRAIN_MODEL
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
every_seconds = 0
background = $3
keep = 2
[transport]
kind = shm
[stage.0]
units = 0-$(( $(echo "$TRAIN_MODEL" | sed -n 's/.*layers=\([0-9]*\).*/\1/p') + 1 ))
PLAN
}
plan "$D/pnone.ini" 0 no
plan "$D/psync.ini" "$EVERY" no
plan "$D/pbg.ini" "$EVERY" yes
# the run's own timing line: "... in S s ..." (training wall time)
train_s() { sed -n 's/.*trained [0-9]* steps in \([0-9.]*\) s.*/\1/p' "$1" | head -n 1; }
# seconds of the trace's "checkpoint" spans before the last step
ck_s() {
	awk -v last=$((STEPS - 1)) '/"name":"checkpoint"/ {
		d = $0; sub(/.*"dur":/, "", d); sub(/,.*/, "", d)
		st = $0; sub(/.*"step":/, "", st); sub(/,.*/, "", st)
		if (st + 0 < last) s += d } END { printf "%.3f", s / 1e6 }' "$1"
}
echo "run train_s_none train_s_every${EVERY}_sync train_s_every${EVERY}_background ckpt_thread_s_sync ckpt_thread_s_background"
: > "$D/orows"
run=1
while [ "$run" -le "$RUNS" ]; do
	# the order turns each run, so that no configuration always runs first
	case $((run % 3)) in 1) order="none sync bg" ;; 2) order="sync bg none" ;; *) order="bg none sync" ;; esac
	for cfg in $order; do
		rm -rf "$D/ck"
		"$DTPIPE" --plan "$D/p$cfg.ini" --threads "$THREADS" --checkpoint-dir "$D/ck" \
			--trace "$D/tr$cfg.json" > "$D/out$cfg" 2>&1 ||
			{ cat "$D/out$cfg"; exit 1; }
	done
	row="$run $(train_s "$D/outnone") $(train_s "$D/outsync") $(train_s "$D/outbg") $(ck_s "$D/trsync.json") $(ck_s "$D/trbg.json")"
	echo "$row"
	echo "$row" >> "$D/orows"
	run=$((run + 1))
done
t0=$(awk '{print $2}' "$D/orows" | median) ts=$(awk '{print $3}' "$D/orows" | median)
tb=$(awk '{print $4}' "$D/orows" | median)
cs=$(awk '{print $5}' "$D/orows" | median) cb=$(awk '{print $6}' "$D/orows" | median)
ck=$(du -sb "$D/ck/step-$(printf %08d "$STEPS")" | cut -f1)
awk -v t0="$t0" -v ts="$ts" -v tb="$tb" -v cs="$cs" -v cb="$cb" -v s="$STEPS" -v n="$EVERY" -v ck="$ck" -v def="$DEFAULT_S" 'BEGIN {
	k = int((s - 1) / n)
	printf "medians: %d steps in %.2f s (no periodic checkpoint), %.2f s (every = %d, %d checkpoints of %.1f MB more, in the training thread), %.2f s (the same in the background)\n",
	       s, t0, ts, n, k, ck / 1e6, tb
	printf "overhead at every = %d: %.1f%% in the training thread, %.1f%% in the background\n",
	       n, 100 * (ts - t0) / t0, 100 * (tb - t0) / t0
	printf "stall per checkpoint from the end-to-end times: %.3f s in the training thread, %.3f s in the background\n",
	       (ts - t0) / k, (tb - t0) / k
	printf "the training thread in each periodic checkpoint (trace spans): %.4f s written in it, %.4f s in the background\n",
	       cs / k, cb / k
	printf "overhead at the default interval (one checkpoint per every_seconds = %d s of training): %.3f%% written in the training thread, %.4f%% in the background\n",
	       def, 100 * cs / k / def, 100 * cb / k / def }'
echo "(all three write the run's last checkpoint, in the training thread)"
