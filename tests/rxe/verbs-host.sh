# Sourced by the verbs tests: is there an RDMA device on this host, and which
# IPv4 address reaches it? Sets VERBS_HOST (empty: no device, use the VM);
# exits with FAIL when a device exists but has no usable address.
VERBS_HOST=
ndev=$(ibv_devices 2>/dev/null | awk 'NR > 2 && NF >= 1' | wc -l)
if [ "$ndev" -gt 0 ]; then
	VERBS_HOST=${DTP_VERBS_HOST:-}
	if [ -z "$VERBS_HOST" ]; then
		nd=$(rdma link show 2>/dev/null | awk '/state ACTIVE/ {for (i = 1; i < NF; i++) if ($i == "netdev") {print $(i+1); exit}}')
		[ -n "$nd" ] && VERBS_HOST=$(ip -4 -o addr show dev "$nd" | awk '{sub(/\/.*/, "", $4); print $4; exit}')
	fi
	[ -n "$VERBS_HOST" ] || { echo "FAIL: RDMA device present but no IPv4 address on its netdev; set DTP_VERBS_HOST"; exit 1; }
fi
