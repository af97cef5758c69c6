#!/bin/sh
# Transport benchmark (docs/benchmarks.md, "Transport"): dtpipe-bench-net on
# loopback, printed beside the references measured in the same run:
#   tcp: qperf tcp_bw / tcp_lat (and iperf3 when installed),
#   shm: a memcpy into a shared mapping (dtpipe-bench-net --memcpy-ref), with
#        one buffer each way and rotating over 4 like the link;
# shm runs three times: buffers from dtp_link_alloc (one copy) rotating over 4
# per side; the same with one buffer per side (--buffers 1: the working set of
# the one-buffer memcpy reference); then the caller's own buffers
# (--own-buffers: two copies through the ring).
# usage: scripts/bench-net.sh [BUILDDIR] [SECONDS_PER_SIZE]
set -eu
B=${1:-${DTP_BUILDDIR:-build}}
S=${2:-0.5}
bin=$B/tools/dtpipe-bench-net
if [ ! -x "$bin" ]; then
	echo "bench-net: $bin not found: build it first (make -C $B tools/dtpipe-bench-net)" >&2
	exit 1
fi
echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
port=$((10000 + $$ % 20000))   # below the ephemeral range (32768-)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if command -v qperf >/dev/null 2>&1; then
	echo "== reference: qperf on 127.0.0.1 (GB/s = 1e9 bytes/s; latency one-way)"
	qperf -lp "$port" >/dev/null 2>&1 &
	qp=$!
	pids="$pids $qp"
	sleep 0.5
	for m in 64K 1M 4M 16M 64M; do
		qperf -lp "$port" -t 2 127.0.0.1 -m "$m" tcp_bw |
			sed -n "s/^ *bw *= */qperf  tcp_bw  msg $m: /p"
	done
	for m in 8 64; do
		qperf -lp "$port" -t 2 127.0.0.1 -m "$m" tcp_lat |
			sed -n "s/^ *latency *= */qperf  tcp_lat msg $m: /p"
	done
	kill "$qp" 2>/dev/null || true
	wait "$qp" 2>/dev/null || true
else
	echo "== qperf not installed: no tcp reference (apt-get install qperf)"
fi
if command -v iperf3 >/dev/null 2>&1; then
	echo "== reference: iperf3 on 127.0.0.1, 1 MiB writes"
	iperf3 -s -1 -p "$((port + 1))" >/dev/null 2>&1 &
	ip=$!
	pids="$pids $ip"
	sleep 0.5
	iperf3 -c 127.0.0.1 -p "$((port + 1))" -t 2 -l 1M -f g 2>/dev/null |
		sed -n 's/^.* \([0-9.]* Gbits\/sec\).*receiver$/iperf3 1 MiB writes: \1/p'
	wait "$ip" 2>/dev/null || true
fi
echo "== dtpipe tcp"
"$bin" --transport tcp --seconds "$S" --port "$((port + 2))"
echo "== reference memcpy into a shared mapping, then dtpipe shm (dtp_link_alloc buffers)"
"$bin" --transport shm --seconds "$S" --port "$((port + 3))" --memcpy-ref
echo "== dtpipe shm, dtp_link_alloc buffers, one per side (the one-buffer memcpy's working set)"
"$bin" --transport shm --seconds "$S" --port "$((port + 5))" --buffers 1
echo "== dtpipe shm, the caller's own buffers (ring)"
"$bin" --transport shm --seconds "$S" --port "$((port + 4))" --own-buffers
