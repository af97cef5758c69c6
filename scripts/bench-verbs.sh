#!/bin/sh
# Verbs transport benchmark (docs/benchmarks.md, "Transport"): net's
# tools/dtpipe-bench-net --transport verbs (64 KiB .. 64 MiB one-way bandwidth,
# small-message ping-pong latency) beside perftest's ib_write_bw / ib_write_lat
# measured in the same run. Without an RDMA device on this host, both run in
# one boot of the Soft-RoCE VM (tests/rxe/rxe-vm.sh; QEMU TCG, so absolute
# figures are emulation speed, ~30-50 MB/s: compare the ratio).
# usage: scripts/bench-verbs.sh [BUILDDIR] [SECONDS]   (SECONDS: dtpipe-bench-net --seconds,
#        sized for 4 GB/s, so 0.01 moves ~40 MB per size here)
# env: DTP_VERBS_HOST=IP  run on this host's RDMA device at IP instead of the VM
#      DTP_VERBS_GID=N     perftest -x GID index there (RoCE: the IPv4 one; default 0)
#      DTP_VERBS_PIN="A B" CPUs for the server and the client side (default "0 1"; "" to not
#                          pin). Both perftest and dtpipe-bench-net run as two processes, the
#                          server on CPU A, the client on CPU B, as two stages on two hosts each
#                          have their own cores. Unpinned, in the 2-vCPU VM, dtpipe's median
#                          one-way at 8-64 B swung 14-34 us between runs of the same binary
#                          (two processes, each a spinning caller and a parked progress thread,
#                          migrating over 2 vCPUs with the rxe work); pinned, 13.1-13.4 us at 8 B
#                          over 3 rounds, while ib_write_lat read the same pinned or not.
#      DTP_VERBS_MTU=N     (VM only) the guest NIC's MTU before the runs (default 9000, which
#                          gives rxe an active path MTU of 4096, as on an InfiniBand fabric;
#                          1500 gives 1024). At 1024 a 1 KiB tensor plus its 40-byte header is
#                          two packets where ib_write_lat's bare 1024 bytes are one: 1.7x
#                          (ib_write_lat -s 1064 itself: 1.45x its 1024-byte figure).
set -eu
B=${1:-${DTP_BUILDDIR:-build}}
SEC=${2:-0.01}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PIN=${DTP_VERBS_PIN-0 1}
bin=$B/tools/dtpipe-bench-net
[ -x "$bin" ] || { echo "bench-verbs: $bin not found: make -C $B tools/dtpipe-bench-net" >&2; exit 1; }

# runs where the RDMA device is; $1 = IP, $2 = GID index, $3 = device
cat >"${TMPDIR:-/tmp}/bench-verbs-inner.$$" <<'INNER'
IP=$1 G=$2 D=$3 SEC=$4 BIN=$5 PIN=$6
set -- $PIN
if [ $# = 2 ]; then PS="taskset -c $1" PC="taskset -c $2"; else PS= PC=; fi
pair() {   # pair SERVER-ARGS -- prints the client's result line
  $PS "$@" -d "$D" -x "$G" >/tmp/srv.$$ 2>&1 & sp=$!
  sleep 0.7
  $PC "$@" -d "$D" -x "$G" "$IP" 2>&1 | awk '/^ *[0-9]+ +[0-9]+ +[0-9.]+/ {print; exit}'
  wait $sp || true
}
echo "== pinned: server '${PS:-no}', client '${PC:-no}'"
echo "== reference: perftest on $D (gid index $G), same run"
echo "   #bytes  #iters  BW peak[MB/s]  BW average[MB/s]  MsgRate[Mpps]"
for s in 65536:600 1048576:40 16777216:5 67108864:5; do
  pair ib_write_bw -s ${s%:*} -n ${s#*:}
done
echo "   #bytes  #iters  t_min[us]  t_max[us]  t_typical[us] (the median)  t_avg[us]  t_stdev[us]  99%[us]  99.9%[us]"
for s in 8 64 1024 4096; do pair ib_write_lat -s $s -n 3000; done   # -n as dtpipe-bench-net's LAT_ITERS
echo "== dtpipe-bench-net --transport verbs --seconds $SEC (GB/s = 1e9 B/s)"
$PS $BIN --transport verbs --host "$IP" --port 19875 --seconds "$SEC" --server >/tmp/bsrv.$$ 2>&1 & sp=$!
sleep 0.5
$PC $BIN --transport verbs --host "$IP" --port 19875 --seconds "$SEC" --client
wait $sp || { echo "bench-verbs: the server side failed:"; cat /tmp/bsrv.$$; }
INNER
inner=${TMPDIR:-/tmp}/bench-verbs-inner.$$
trap 'rm -f "$inner"' EXIT
if [ -n "${DTP_VERBS_HOST:-}" ]; then
  dev=$(ibv_devices | awk 'NR > 2 && NF {print $1; exit}')
  echo "== host $(hostname), $dev"
  bash "$inner" "$DTP_VERBS_HOST" "${DTP_VERBS_GID:-0}" "$dev" "$SEC" "$bin" "$PIN"
  exit
fi
job=$(mktemp -d /tmp/dtpipe-bench-verbs.XXXXXX)
trap 'rm -f "$inner"; rm -rf "$job"' EXIT
cp "$bin" "$inner" "$job/"
echo "== Soft-RoCE VM (QEMU TCG, 2 vCPUs) on $(nproc) host cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
bash "$SRC/tests/rxe/rxe-vm.sh" -t 580 -m 2048 "$job" \
  "uname -r; ip link set \$RXE_NETDEV mtu ${DTP_VERBS_MTU:-9000} && sleep 0.5; ibv_devinfo -d \$RXE_DEV | grep active_mtu; bash ./$(basename "$inner") \$RXE_IP \$RXE_GID_INDEX \$RXE_DEV $SEC ./dtpipe-bench-net '$PIN'"
