#!/bin/sh
# Data loader benchmark: the loader beside fio (ioengine=io_uring) reading the
# same llm.c token shards at the same block size and queue depth, page-cached,
# cold (caches dropped, needs root) and O_DIRECT, in one run.
#   scripts/bench-io.sh [BUILDDIR]     env: SHARDS=4 SHARD_MIB=512 QD=8 BS=1048576
#                                           DIR=/var/tmp (the shards are removed after)
set -eu
B=${1:-${DTP_BUILDDIR:-$(pwd)}}
BENCH="$B/tools/dtpipe-bench-io"
SHARDS=${SHARDS:-4}; SHARD_MIB=${SHARD_MIB:-512}; QD=${QD:-8}; BS=${BS:-1048576}
[ -x "$BENCH" ] || { echo "bench-io: build $BENCH first (make)" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench-io: fio not installed (apt install fio)" >&2; exit 1; }
D=$(mktemp -d "${DIR:-/var/tmp}/dtp-bench-io.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
python3 - "$D" "$SHARDS" "$SHARD_MIB" <<'PY'
import os, struct, sys
d, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ntok = (mib << 20) // 2 - 512            # file = 1024 + 2 * ntok bytes
for s in range(n):
    with open(f"{d}/bench_{s:06d}.bin", "wb") as f:
        h = [0] * 256; h[0], h[1], h[2] = 20240520, 1, ntok
        f.write(struct.pack("<256i", *h))
        left = 2 * ntok
        while left:
            k = min(left, 64 << 20); f.write(os.urandom(k)); left -= k
PY
FILES=$(ls "$D"/*.bin | tr '\n' ':' | sed 's/:$//')
TOTAL=$(cat "$D"/*.bin | wc -c)
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "bench-io: cannot drop caches (not root?)" >&2; }
warm() { cat "$D"/*.bin > /dev/null; }
fio_gbps() {   # $1 = direct 0|1
	fio --name=seq --ioengine=io_uring --rw=read --bs="$BS" --iodepth="$QD" --direct="$1" --invalidate=0 \
	    --filename="$FILES" --file_service_type=sequential --size="$TOTAL" --output-format=json 2>/dev/null |
	python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.3f" % (j["bw_bytes"]/1e9))'
}
loader() {     # $1 = direct, $2 = extra flag; prints GB/s and peak RSS
	"$BENCH" "$D" --direct "$1" --qd "$QD" --block "$BS" --budget $((64 << 20)) $2 |
	sed -n 's/.*GBps=\([0-9.]*\).*peak_rss_MiB=\([0-9.]*\).*/\1 \2/p'
}
echo "shards: $SHARDS x $SHARD_MIB MiB llm.c uint16, T=1024; block $BS, queue depth $QD; $(nproc) cores; $(uname -r)"
printf '%-22s %10s %10s %7s %14s\n' mode "fio GB/s" "dtp GB/s" ratio "dtp peak RSS"
row() { printf '%-22s %10s %10s %6.0f%% %10s MiB\n' "$1" "$2" "$3" "$(echo "$3 $2" | awk '{print 100*$1/$2}')" "$4"; }
warm; F=$(fio_gbps 0); warm; set -- $(loader 0 ""); row "page-cached" "$F" "$1" "$2"
warm; set -- $(loader 0 --decode); row "page-cached + decode" "$F" "$1" "$2"
drop; F=$(fio_gbps 0); drop; set -- $(loader 0 ""); row "cold (drop caches)" "$F" "$1" "$2"
F=$(fio_gbps 1); set -- $(loader 1 ""); row "O_DIRECT" "$F" "$1" "$2"
