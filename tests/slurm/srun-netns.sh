#!/bin/bash
# dtpipe across two "hosts" under srun: two network namespaces (node2
# 10.78.0.2, node3 10.78.0.3, bridged in a third), a slurmd in each, the
# controller in a fourth (10.78.0.1). The plans name no hosts: each stage finds
# its peers' hosts in the Slurm node list (src/rdma/bootstrap.c), so stages
# on different nodes talk TCP over the namespace addresses and stages on one
# node use shared memory (transport = auto says which, and why).
#   -N2 -n2: stage 0 on node2, stage 1 on node3, one TCP link
#   -N2 -n4: stages 0,1 on node2 and 2,3 on node3 (block distribution,
#            SLURM_STEP_TASKS_PER_NODE=2(x2)): shm, tcp, shm
# Losses and weights must be bit-identical to the 1-stage run. Every packet
# stays on loopback or inside the namespaces made here; clients run inside
# the controller's namespace. Needs root (namespaces, Slurm as root).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${DTP_SRCDIR:?run through make check}/tests/slurm/netns-lib.sh"

awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "node %d sends activations to node %d over tcp.\n", 2 + i % 2, 3 - i % 2 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

# write_plan FILE KIND SCHEDULE UNITS...
write_plan() {
	local f=$1 kind=$2 sched=$3
	shift 3
	slurm_free_ports 4 || exit 1
	slurm_gpt_plan "$f" "micro_batches = 4\nschedule = $sched\nsteps = 6" "$kind" "" "$@"
}
# expect_link OUT STAGE PEER KIND WHY
expect_link() {
	grep -q "^ *$2: dtpipe: stage $2: link to stage $3 uses $4 (transport = auto: $5)" "$1" ||
		{ cat "$1"; fail "stage $2 -> $3: expected $4 ($5)"; }
}

write_plan ref.ini tcp 1f1b 0-3   # the reference: one stage, no srun, no network
"$DTPIPE" --plan ref.ini --threads 1 --quiet --dump ref >ref.out 2>&1 || { cat ref.out; fail "1-stage run"; }

# report which node and address each task ran on, then become dtpipe
cat > where.sh <<'EOF'
#!/bin/sh
echo "task $SLURM_PROCID on $(hostname) $(ip -4 -o addr show dev eth0 | awk '{ print $4 }')"
exec "$@"
EOF
chmod +x where.sh

# run_job NAME SRUN_OPTIONS... -- PLAN: srun from the controller's namespace
# (180 s: a hang guard only; a busy machine must not fail a short job)
run_job() {
	local name=$1 plan
	shift
	plan=${*: -1}
	set -- "${@:1:$#-2}"
	timeout 180 "${SLURM_CLIENT[@]}" srun -l --kill-on-bad-exit=1 "$@" ./where.sh "$DTPIPE" --plan "$plan" \
		--threads 1 --quiet --dump "$name" >"$name.out" 2>&1
	rc=$?
	[ $rc = 0 ] || { cat "$name.out"; fail "$name: srun $* exited $rc"; }
}
# on_nodes OUT TASK:NODE...
on_nodes() {
	local out=$1 t
	shift
	for t in "$@"; do
		grep -q "^ *${t%%:*}: task ${t%%:*} on ${t##*:} 10.78.0.${t##*node}/24" "$out" ||
			{ cat "$out"; fail "task ${t%%:*} not on ${t##*:}"; }
	done
}

# 1. transport = tcp: the hosts come from the node list alone
write_plan p2.ini tcp gpipe 0-1 2-3
run_job tcp2 -N2 -n2 -- p2.ini
on_nodes tcp2.out 0:node2 1:node3
same_as_ref tcp2 2 "tcp -N2 -n2"
echo "ok: tcp, -N2 -n2: stage 0 on node2, stage 1 on node3 (host from the node list), bit-identical to 1 stage"
write_plan p4.ini tcp 1f1b 0 1 2 3
run_job tcp4 -N2 -n4 --distribution=block -- p4.ini
on_nodes tcp4.out 0:node2 1:node2 2:node3 3:node3
same_as_ref tcp4 4 "tcp -N2 -n4"
echo "ok: tcp, -N2 -n4: stages 0,1 on node2 and 2,3 on node3 (tasks per node 2(x2)), bit-identical to 1 stage"

# 2. transport = auto: both ends of a link must make the same choice, shm
# between stages on one node and tcp between nodes
write_plan p4a.ini auto 1f1b 0 1 2 3
run_job auto4 -N2 -n4 --distribution=block -- p4a.ini
on_nodes auto4.out 0:node2 1:node2 2:node3 3:node3
expect_link auto4.out 0 1 shm "no RDMA device, peer on this host"
expect_link auto4.out 1 0 shm "no RDMA device, peer on this host"
expect_link auto4.out 1 2 tcp "no RDMA device, peer on another host"
expect_link auto4.out 2 1 tcp "no RDMA device, peer on another host"
expect_link auto4.out 2 3 shm "no RDMA device, peer on this host"
expect_link auto4.out 3 2 shm "no RDMA device, peer on this host"
same_as_ref auto4 4 "auto -N2 -n4"
echo "ok: auto, -N2 -n4: shm on each node, tcp between them, bit-identical to 1 stage"
echo PASS
