# tests/slurm/netns-lib.sh - two Slurm "hosts" on one machine (sourced by the
# bash tests srun-netns.sh and srun-replicas.sh; needs root): network
# namespaces node2 10.78.0.2 and node3 10.78.0.3 bridged in a third, the
# controller in a fourth (10.78.0.1), a slurmd in each node's namespace with
# its own hostname and /etc/hosts; clients run through ${SLURM_CLIENT[@]}
# (the controller's namespace). Sets what slurm_test_begin sets (DTPIPE,
# SHARD, EXPORT, fail(); WORK, the current directory when it returns), and
# cleans everything up on exit.
set -u
. "${DTP_SRCDIR:?run through make check}/tests/slurm/slurm-lib.sh"
slurm_test_begin srunns
command -v ip >/dev/null || fail "ip (iproute2) missing: scripts/setup.sh --test installs it"

NS=dtp$$             # namespaces: ${NS}c (controller), ${NS}n2, ${NS}n3, ${NS}sw (bridge)
NETS="${NS}c ${NS}n2 ${NS}n3 ${NS}sw"
net_down() { local n; for n in $NETS; do ip netns del "$n" 2>/dev/null; done; }
SLURM_ON_EXIT='net_down; rm -rf "$WORK"'   # slurm_init chains it to its own

# the network first: slurm_init's mount namespace must see /run/netns/*
ip netns add "${NS}sw" || fail "ip netns add (root needed)"
ip -n "${NS}sw" link add br0 type bridge && ip -n "${NS}sw" link set br0 up || fail "bridge"
for n in c:1 n2:2 n3:3; do
	name=$NS${n%%:*} host=${n##*:}
	ip netns add "$name" || fail "ip netns add $name"
	ip -n "$name" link set lo up
	ip -n "${NS}sw" link add "p$host" type veth peer name eth0 netns "$name" || fail "veth for $name"
	ip -n "${NS}sw" link set "p$host" master br0 up
	ip -n "$name" addr add "10.78.0.$host/24" dev eth0
	ip -n "$name" link set eth0 up
done

slurm_init || exit 1
SLURM_CLIENT=(ip netns exec "${NS}c")
cat > "$SR/hosts" <<EOF
127.0.0.1 localhost
10.78.0.2 node2
10.78.0.3 node3
EOF
slurm_write_conf 10.78.0.1 \
	"NodeName=node2 NodeAddr=10.78.0.2 CPUs=2 State=UNKNOWN" \
	"NodeName=node3 NodeAddr=10.78.0.3 CPUs=2 State=UNKNOWN" \
	"PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE" || exit 1
# the PMIx plugin (srun --mpi=pmix) makes a directory per step under /tmp,
# named the same on every node: the nodes share one /tmp, so each gets one of
# its own, bound over $SR/pmix in its mount namespace
mkdir -p "$SR/pmix" "$SR/pmix-node2" "$SR/pmix-node3"
echo "PMIxCliTmpDirBase=$SR/pmix" > "$SR/mpi.conf"
slurm_start_ctld ip netns exec "${NS}c"
for n in 2 3; do
	# nsenter --net, not ip netns exec: that remounts /sys and slurmd 22.05 then
	# finds no /sys/fs/cgroup. Own UTS (hostname) and mount namespace, where
	# /etc/hosts names the nodes, for slurmd and so for its tasks.
	mkdir -p "$SR/spool/node$n"
	slurm_bg "$SR/log/slurmd-node$n.fg" nsenter --net="/run/netns/${NS}n$n" unshare --uts --mount \
		sh -c "mount --bind '$SR/hosts' /etc/hosts && mount --bind '$SR/pmix-node$n' '$SR/pmix' &&
		       hostname node$n && exec slurmd -D -N node$n"
done
slurm_wait_idle "node2 node3" 30 || exit 1
echo "ok: Slurm with node2 and node3 in their own network namespaces is up"
cd "$WORK" || exit 1
