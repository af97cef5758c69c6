#!/bin/bash
# Data-parallel replicas under srun --mpi=pmix (Open MPI through Slurm's PMIx
# plugin) across two "hosts": the network namespaces of srun-netns.sh (node2
# 10.78.0.2, node3 10.78.0.3, controller 10.78.0.1). R x K = 2 x 2, -N2 -n4
# with block distribution: rank = replica x K + stage, so replica 0 (ranks
# 0, 1) runs on node2 and replica 1 (ranks 2, 3) on node3; each replica's
# pipeline link stays inside its node (shm, transport = auto) and the
# gradient sums cross the nodes over TCP (Open MPI's). The weights must match
# the 1-rank run with the same global batch (relative difference < 1e-5),
# and a killed rank must end the job (srun -K1). Needs root.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
: "${DTP_BUILDDIR:?run through make check}" "${DTP_SRCDIR:?run through make check}"
DTPIPE=$DTP_BUILDDIR/tools/dtpipe
SHARD=$DTP_BUILDDIR/tools/dtpipe-shard
export OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
for p in "$DTPIPE" "$SHARD"; do [ -x "$p" ] || fail "$p is not built"; done
command -v ip >/dev/null || fail "ip (iproute2) missing: scripts/setup.sh --test installs it"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtp-srundp.XXXXXX") || exit 1
NS=dtq$$             # namespaces: ${NS}c (controller), ${NS}n2, ${NS}n3, ${NS}sw (bridge)
NETS="${NS}c ${NS}n2 ${NS}n3 ${NS}sw"
net_down() { local n; for n in $NETS; do ip netns del "$n" 2>/dev/null; done; }
SLURM_ON_EXIT='net_down; rm -rf "$WORK"'
. "$DTP_SRCDIR/tests/slurm/slurm-lib.sh"
trap 'net_down; rm -rf "$WORK"' EXIT   # until slurm_init takes over (it chains SLURM_ON_EXIT)

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
# the PMIx plugin makes a directory per step under /tmp, named the same on
# every node: the two nodes share one /tmp, so each gets a directory of its
# own (bound over $SR/pmix in its mount namespace)
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


srun_mpi=$("${SLURM_CLIENT[@]}" srun --mpi=list 2>&1)
echo "srun --mpi=list: $(echo "$srun_mpi" | tr '\n' ' ')"
echo "$srun_mpi" | grep -q pmix || fail "this Slurm has no pmix plugin (srun --mpi=list)"

awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "replica %d sums gradients with replica %d over tcp.\n", i % 2, 1 - i % 2 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

# write_plan FILE R M UNITS...
write_plan() {
	local f=$1 r=$2 m=$3 s=0 u
	shift 3
	slurm_free_ports 4 || exit 1
	{
		printf '[model]\nkind = gpt\nlayers = 2\ndim = 16\nheads = 2\nseq_len = 16\nvocab = 256\n\n'
		printf '[train]\nmicro_batch = 2\nmicro_batches = %d\nschedule = 1f1b\n' "$m"
		printf 'optimizer = adamw\nlr = 1e-2\neps = 1e-6\nclip_norm = 1.0\nsteps = 6\nseed = 7\nlog_every = 1\n\n'
		printf '[data]\ntrain = %s/data\nloader_budget = 8M\n\n' "$WORK"
		printf '[transport]\nkind = auto\nbase_port = %d\nconnect_timeout_ms = 20000\n\n' "$SLURM_PORTS"
		printf '[parallel]\nreplicas = %d\n\n' "$r"
		for u in "$@"; do printf '[stage.%d]\nunits = %s\n\n' $s "$u"; s=$((s + 1)); done
	} > "$f"
}
params() { local d=$1 k=$2 s; for s in $(seq 0 $((k - 1))); do cat "$d/params.stage-$s"; done; }

write_plan ref.ini 1 8 0-3   # the reference: one rank, the same global batch of 8 x 2
"$DTPIPE" --plan ref.ini --threads 1 --quiet --dump ref >ref.out 2>&1 || { cat ref.out; fail "1-rank run"; }

printf '#!/bin/sh\necho "task $SLURM_PROCID on $(hostname)"\nexec "$@"\n' > where.sh
chmod +x where.sh

write_plan dp.ini 2 4 0-1 2-3
timeout 180 "${SLURM_CLIENT[@]}" srun -l --mpi=pmix --kill-on-bad-exit=1 -N2 -n4 --distribution=block \
	./where.sh "$DTPIPE" --plan dp.ini --threads 1 --quiet --dump dp >dp.out 2>&1
rc=$?
[ $rc = 0 ] || { cat dp.out; tail -n 25 "$SR"/log/slurmd-node*.log; fail "srun --mpi=pmix -N2 -n4 exited $rc"; }
for t in 0:node2 1:node2 2:node3 3:node3; do
	grep -q "^ *${t%%:*}: task ${t%%:*} on ${t##*:}\$" dp.out || { cat dp.out; fail "task ${t%%:*} not on ${t##*:}"; }
done
params ref 1 > ref.params
params dp 2 > dp.params
python3 - ref.params dp.params <<'PY' || fail "R=2 K=2 under srun: weights differ from the R=1 run"
import array, math, sys
a = array.array('f', open(sys.argv[1], 'rb').read())
b = array.array('f', open(sys.argv[2], 'rb').read())
assert len(a) == len(b) and len(a) > 0
d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))) / math.sqrt(sum(x * x for x in a))
print("relative difference %.3g" % d)
sys.exit(0 if d < 1e-5 else 1)
PY
echo "ok: srun --mpi=pmix -N2 -n4: replica 0 on node2, replica 1 on node3, weights of the R=1 run"

# a killed rank (the 3rd found: replica 1) ends the whole job, non-zero
write_plan kill.ini 2 4 0-1 2-3
timeout 180 "${SLURM_CLIENT[@]}" srun -l --mpi=pmix --kill-on-bad-exit=1 -N2 -n4 --distribution=block \
	"$DTPIPE" --plan kill.ini --threads 1 --quiet --steps 1000000 --dump kd >kill.out 2>&1 &
job=$!
i=0
while [ "$(cat kd/losses 2>/dev/null | wc -l)" -lt 2 ]; do
	i=$((i + 1))
	[ $i -lt 1200 ] || { cat kill.out; fail "no training step in 120 s"; }
	sleep 0.1
done
victim=$(pgrep -f -- "^$DTPIPE --plan kill.ini" | sed -n 3p)
[ -n "$victim" ] || { ps -ef; fail "no rank to kill"; }
kill -9 "$victim"
wait "$job"
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || { cat kill.out; fail "killed rank: srun exited $rc"; }
echo "ok: a killed rank ends the srun job (status $rc)"
echo PASS
