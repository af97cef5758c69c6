#!/bin/sh
# Data loader benchmark: the loader beside fio (ioengine=io_uring) reading the
# same shards at the same block size and queue depth, page-cached, cold
# (caches dropped, needs root) and O_DIRECT, in one run, RUNS times; prints
# each run's rows and then the medians.
#   scripts/bench-io.sh [BUILDDIR]
#   env: SHARDS=4 SHARD_MIB=512 QD=8 BS=1048576 RUNS=3 T=1024 DIR=/var/tmp
#        SETS="tok rec" MODES="page-cached cold O_DIRECT" DELIVER="raw inputs targets"
#        REF=1 (the reference loop beside inputs/targets) SETTLE=3 (seconds after each drop_caches) KEEP=1 (keep the shard sets) DATA=DIR (use the sets an earlier KEEP=1 run kept)
# Two shard sets of SHARDS x SHARD_MIB MiB each (removed after): llm.c uint16
# token shards (T=1024, batches of 8 windows) and dtpipe record shards
# (784 u8 features + int32 label, batches of 64 records). Per set and mode:
#   fio      sequential io_uring reads of the files, --bs BS --iodepth QD
#   raw      dtpipe-bench-io --deliver raw: file order, NULL outputs (the read path)
#   inputs   --deliver inputs --shuffle 1: what the first pipeline stage does
#   targets  --deliver targets --shuffle 1: what the last pipeline stage does
#   ref      dtpipe-bench-io --reference: the plain loop (pread one block at a
#            time, decode in file order) that delivers the same values, the
#            yardstick for inputs/targets (fio does no decode)
# Rates are shard bytes per second; ratio = loader / fio of the same run.
# Cold: the page cache is dropped before every read (fio's and each loader
# run's) and fincore checks that none of the set is left in it; O_DIRECT
# starts from the same empty cache. fio goes first in odd runs, last in even.
set -eu
B=${1:-${DTP_BUILDDIR:-$(pwd)}}
BENCH="$B/tools/dtpipe-bench-io"
SHARDS=${SHARDS:-4}; SHARD_MIB=${SHARD_MIB:-512}; QD=${QD:-8}; BS=${BS:-1048576}
RUNS=${RUNS:-3}; T=${T:-1024}
SETTLE=${SETTLE:-3}; REF=${REF:-1}; SETS=${SETS:-tok rec}; MODES=${MODES:-page-cached cold O_DIRECT}; DELIVER=${DELIVER:-raw inputs targets}
[ -x "$BENCH" ] || { echo "bench-io: build $BENCH first (make)" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench-io: fio not installed (apt install fio)" >&2; exit 1; }
if [ -n "${DATA:-}" ]; then   # shard sets made by an earlier run (KEEP=1): DATA/tok, DATA/rec
	D=$(mktemp -d "${DIR:-/var/tmp}/dtp-bench-io.XXXXXX")
	trap 'rm -rf "$D"' EXIT INT TERM
	ln -s "$DATA/tok" "$D/tok"; ln -s "$DATA/rec" "$D/rec"
else
	D=$(mktemp -d "${DIR:-/var/tmp}/dtp-bench-io.XXXXXX")
	[ "${KEEP:-0}" = 1 ] && echo "bench-io: keeping the shard sets in $D (DATA=$D next time)" ||
		trap 'rm -rf "$D"' EXIT INT TERM
	mkdir "$D/tok" "$D/rec"
python3 - "$D" "$SHARDS" "$SHARD_MIB" <<'PY'
import os, struct, sys, zlib
d, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ntok = (mib << 20) // 2 - 512            # file = 1024 + 2 * ntok bytes
rb = 784 + 4                             # 28x28 u8 features + int32 label
nrec = ((mib << 20) - 64) // rb
for s in range(n):
    with open(f"{d}/tok/bench_{s:06d}.bin", "wb") as f:
        h = [0] * 256; h[0], h[1], h[2] = 20240520, 1, ntok
        f.write(struct.pack("<256i", *h))
        left = 2 * ntok
        while left:
            k = min(left, 64 << 20); f.write(os.urandom(k)); left -= k
    with open(f"{d}/rec/bench_{s:06d}.dtpr", "wb") as f:
        h = struct.pack("<IIQIIII4IIII", 0x52505444, 1, nrec, 1, 3, 10, 2, 28, 28, 0, 0, rb, 64, 0)
        f.write(h + struct.pack("<I", zlib.crc32(h)))
        left, per = nrec, (64 << 20) // rb
        while left:
            k = min(left, per); b = bytearray(os.urandom(k * rb))
            for i in range(k):           # labels 0..9
                b[i * rb + 784:i * rb + 788] = bytes((b[i * rb + 784] % 10, 0, 0, 0))
            f.write(b); left -= k
PY
fi
cached() {     # pages of the set's files in the page cache (fincore, util-linux)
	fincore -n -b "$1"/* | awk '{r += $1} END {printf "%d", r}'
}
drop() {       # cold: drop the page cache and check that the set is out of it
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || { echo "bench-io: cannot drop caches (not root?)" >&2; exit 1; }
	c=$(cached "$1")
	[ "$c" -lt $((1 << 20)) ] || { echo "bench-io: $c bytes of $1 still cached after drop_caches" >&2; exit 1; }
	# A guest with free page reporting (virtio-balloon; the Firecracker
	# VM here) hands freed pages back to the host about 2 s after they
	# are freed: a read that starts before that refills the page cache
	# with pages the host still backs, one that starts after faults each
	# one in on the host, 2-3x slower. Waiting puts every reader (fio
	# and each loader run) in the same, second state.
	sleep "$SETTLE"
}
warm() { cat "$1"/* > /dev/null; }
fio_gbps() {   # $1 = set dir, $2 = direct 0|1 (the size from stat: reading it would warm the cache)
	files=$(ls "$1"/* | tr '\n' ':' | sed 's/:$//')
	total=$(stat -c %s "$1"/* | awk '{t += $1} END {printf "%d", t}')
	fio --name=seq --ioengine=io_uring --rw=read --bs="$BS" --iodepth="$QD" --direct="$2" --invalidate=0 \
	    --filename="$files" --file_service_type=sequential --size="$total" --output-format=json 2>/dev/null |
	python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.3f" % (j["bw_bytes"]/1e9))'
}
loader() {     # $1 = set dir, $2 = direct, $3 = deliver; prints GB/s and peak RSS
	sh=1; [ "$3" = raw ] && sh=0
	"$BENCH" "$1" --seq-len "$T" --direct "$2" --qd "$QD" --block "$BS" --budget $((64 << 20)) \
		--deliver "$3" --shuffle $sh |
	sed -n 's/.*GBps=\([0-9.]*\).*peak_rss_MiB=\([0-9.]*\).*/\1 \2/p'
}
reference() { # $1 = set dir, $2 = direct, $3 = inputs|targets: the plain read+decode loop
	"$BENCH" "$1" --reference --seq-len "$T" --direct "$2" --block "$BS" --deliver "$3" |
	sed -n 's/.*GBps=\([0-9.]*\).*/\1/p'
}
R="$D/rows"
: > "$R"
echo "shards: 2 sets of $SHARDS x $SHARD_MIB MiB (llm.c uint16 T=$T, batch 8; records 784 u8 + int32, batch 64);"
echo "block $BS, queue depth $QD, budget 64 MiB; $RUNS runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(uname -r)"
for run in $(seq 1 "$RUNS"); do
	for set in $SETS; do
		for mode in $MODES; do
			case $mode in
			page-cached) dir=0; prep=warm ;;
			cold) dir=0; prep=drop ;;
			O_DIRECT) dir=1; prep=drop ;;
			esac
			# fio first on odd runs, last on even ones: a drift of the
			# disk's speed during a run does not favour either side
			if [ $((run % 2)) = 1 ]; then $prep "$D/$set"; F=$(fio_gbps "$D/$set" $dir); fi
			: > "$D/pending"
			for what in $DELIVER; do
				$prep "$D/$set"; L=$(loader "$D/$set" $dir $what); ref=-
				if [ "$what" != raw ] && [ "$REF" = 1 ]; then
					$prep "$D/$set"; ref=$(reference "$D/$set" $dir $what)
				fi
				echo "$what $L $ref" >> "$D/pending"
			done
			if [ $((run % 2)) = 0 ]; then $prep "$D/$set"; F=$(fio_gbps "$D/$set" $dir); fi
			while read -r what g rss ref; do
				echo "$set $mode $what $F $g $rss $ref" | tee -a "$R" |
					awk '{printf "run '"$run"': %-4s %-12s %-8s fio %6.2f  dtp %6.2f GB/s  %4.0f%%  rss %s MiB  ref %s\n", $1, $2, $3, $4, $5, 100*$5/$4, $6, $7}'
			done < "$D/pending"
		done
	done
done
echo
echo "medians over $RUNS runs (shard bytes per second; ratio = median of the per-run loader/fio ratios;"
echo "ref = the plain read+decode loop, file order, one pread at a time; dtp/ref = median of the per-run ratios):"
python3 - "$R" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    s, m, w, f, d, rss, ref = line.split()
    rows.setdefault((s, m, w), []).append((float(f), float(d), float(rss), None if ref == "-" else float(ref)))
print("| set | mode | delivery | fio GB/s | dtp GB/s | dtp/fio | ref GB/s | dtp/ref | dtp peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
name = {"tok": "tokens", "rec": "records"}
for s in ("tok", "rec"):
    for m in ("page-cached", "cold", "O_DIRECT"):
        for w in ("raw", "inputs", "targets"):
            v = rows.get((s, m, w))
            if not v:
                continue
            r = [x for x in v if x[3] is not None]
            refcols = ("%.2f | %.0f%%" % (st.median(x[3] for x in r), 100 * st.median(x[1] / x[3] for x in r))
                       if r else "- | -")
            print("| %s | %s | %s | %.2f | %.2f | %.0f%% | %s | %.1f MiB |" % (
                name[s], m, w, st.median(x[0] for x in v), st.median(x[1] for x in v),
                100 * st.median(x[1] / x[0] for x in v), refcols, max(x[2] for x in v)))
PY
