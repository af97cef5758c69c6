#!/bin/sh
# A cut connection is noticed in bounded time by both ends: two stages over
# tcp, each in its own network namespace (10.79.0.1 and 10.79.0.2, joined by
# a veth pair), and mid-run (a) the link set down, (b) every packet dropped
# by an nftables rule. Neither process dies and no socket closes: only the
# silence of the heartbeats tells; each stage exits with status 1 naming the
# other and the cause. Needs root (namespaces), iproute2 and nftables
# (scripts/setup.sh --test installs both); it fails, never skips, without them. The
# 60 s waits are hang guards, not timings.
. "$DTP_SRCDIR/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
	echo "FAIL: netcut.sh needs root, ip (iproute2) and nft (nftables); run scripts/setup.sh --test as root"
	exit 1
fi
NS=dtpcut$$
PIDS=
net_down() { ip netns del "${NS}a" 2>/dev/null || true; ip netns del "${NS}b" 2>/dev/null || true; }
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done; net_down; rm -rf "$WORK"' EXIT

# net_up: the two namespaces and the veth pair between them, fresh
net_up() {
	net_down
	ip netns add "${NS}a" && ip netns add "${NS}b" || { echo "FAIL: ip netns add"; exit 1; }
	ip -n "${NS}a" link add veth0 type veth peer name veth0 netns "${NS}b" ||
		{ echo "FAIL: veth pair"; exit 1; }
	for n in a:1 b:2; do
		ip -n "$NS${n%%:*}" link set lo up
		ip -n "$NS${n%%:*}" addr add "10.79.0.${n##*:}/24" dev veth0
		ip -n "$NS${n%%:*}" link set veth0 up
	done
}

"$MKDATA" records "$WORK/rec" 200 20 12 4 5

# cut NAME COMMAND...: a 2-stage run across the namespaces; once it trains,
# run COMMAND; both stages must exit 1 naming the other and the silence
cut() {
	name=$1
	shift
	net_up
	write_plan "$WORK/$name.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0-1 2-3
	sed -i -e '/^\[stage\.0\]/a host = 10.79.0.1' -e '/^\[stage\.1\]/a host = 10.79.0.2' \
		"$WORK/$name.ini"
	ip netns exec "${NS}a" "$DTPIPE" --plan "$WORK/$name.ini" --stage 0 --threads 1 --no-bind \
		--quiet --steps 1000000 --heartbeat-ms 100 --peer-timeout-ms 4000 \
		>"$WORK/$name.0.out" 2>&1 &
	a=$!
	ip netns exec "${NS}b" "$DTPIPE" --plan "$WORK/$name.ini" --stage 1 --threads 1 --no-bind \
		--quiet --steps 1000000 --heartbeat-ms 100 --peer-timeout-ms 4000 --dump "$WORK/$name.d" \
		>"$WORK/$name.1.out" 2>&1 &
	b=$!
	PIDS="$a $b"
	wait_losses "$WORK/$name.d" 2
	"$@" || { echo "FAIL: $name: $*"; exit 1; }
	for s in 0 1; do
		if [ $s -eq 0 ]; then pid=$a other=1; else pid=$b other=0; fi
		wait_exit "$pid" "$name: stage $s"
		test "$rc" -eq 1 || { cat "$WORK/$name.$s.out"; echo "FAIL: $name: stage $s exited $rc, want 1"; exit 1; }
		grep -Eq "no heartbeat from stage $other for [0-9.]+ s .*network to it is cut" \
			"$WORK/$name.$s.out" ||
			{ cat "$WORK/$name.$s.out"; echo "FAIL: $name: stage $s does not name stage $other and the silence"; exit 1; }
		echo "ok: $name: stage $s exits 1: $(grep -Eo "no heartbeat from stage .*" "$WORK/$name.$s.out")"
	done
	PIDS=
}

cut linkdown ip -n "${NS}a" link set veth0 down
cut nftdrop sh -c "printf '%s\n' 'table inet dtpcut {' \
	'chain in { type filter hook input priority 0; policy drop; }' \
	'chain out { type filter hook output priority 0; policy drop; }' '}' |
	ip netns exec ${NS}b nft -f -"
echo PASS
