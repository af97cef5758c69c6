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
. "${DTP_SRCDIR:?run through make check}/tests/slurm/netns-lib.sh"


srun_mpi=$("${SLURM_CLIENT[@]}" srun --mpi=list 2>&1)
echo "srun --mpi=list: $(echo "$srun_mpi" | tr '\n' ' ')"
echo "$srun_mpi" | grep -q pmix || fail "this Slurm has no pmix plugin (srun --mpi=list)"

awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "replica %d sums gradients with replica %d over tcp.\n", i % 2, 1 - i % 2 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

# write_plan FILE R M UNITS...
write_plan() {
	local f=$1 r=$2 m=$3
	shift 3
	slurm_free_ports 4 || exit 1
	slurm_gpt_plan "$f" "micro_batches = $m\nschedule = 1f1b\neps = 1e-6\nsteps = 6" auto \
		"[parallel]\nreplicas = $r\n\n" "$@"
}

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
