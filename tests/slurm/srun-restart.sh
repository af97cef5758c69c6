#!/bin/bash
# Recovery under Slurm (issue 11): examples/slurm-restart.sh, the restart loop
# around srun, runs as a batch job (sbatch --no-kill -N2 -n2) on two "hosts"
# (network namespaces, as in srun-netns.sh; a slurmd in each): one stage per
# node, a checkpoint every 2 steps. Mid-run the test SIGKILLs one task's
# process: the script restarts srun on both nodes from the checkpoint. Then it
# kills node3 whole (its slurmd, slurmstepd and task: every process in its
# namespace): the script finds node3 no longer answers, splits the model again
# over the one node left (dtpipe-partition plan --from) and resumes there. The
# job ends with exit 0, and its losses and weights are the uninterrupted
# 1-stage run's, bit for bit. Needs root (namespaces, Slurm as root).
. "${DTP_SRCDIR:?run through make check}/tests/slurm/netns-lib.sh"
PARTITION=$DTP_BUILDDIR/tools/dtpipe-partition
[ -x "$PARTITION" ] || fail "$PARTITION is not built"

awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "node %d sends activations to node %d over tcp.\n", 2 + i % 2, 3 - i % 2 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

slurm_free_ports 4 || exit 1
# enough steps that the run cannot end between a poll that sees the steps
# it waits for and the kill (a step takes ~10 ms here; as chaos.sh)
STEPS=300
plan() {  # plan FILE UNITS...
	local f=$1
	shift
	slurm_gpt_plan "$f" "micro_batches = 4\nschedule = 1f1b\nsteps = $STEPS" tcp \
		"[checkpoint]\ndir = $WORK/ck\nevery = 2\n\n" "$@"
}
plan ref.ini 0-3
"$DTPIPE" --plan ref.ini --threads 1 --quiet --checkpoint-dir "$WORK/ref-ck" --dump ref >ref.out 2>&1 ||
	{ cat ref.out; fail "1-stage run"; }
plan p2.ini 0-1 2-3

# the batch job: its script runs on node2, its sruns reach both nodes
DTPIPE=$DTPIPE DTPIPE_PARTITION=$PARTITION MAX_RESTARTS=2 PROBE_TIMEOUT=10 \
	timeout 400 "${SLURM_CLIENT[@]}" sbatch --wait --no-kill -N2 -n2 -o "$WORK/job.out" \
	"$DTP_SRCDIR/examples/slurm-restart.sh" "$WORK/p2.ini" --threads 1 --dump "$WORK/run" >sbatch.out 2>&1 &
job=$!
losses() { cat "$WORK/run/losses" 2>/dev/null | wc -l; }
wait_steps() {  # wait_steps N WHAT: the job trained N more steps (hang guard 240 s)
	local base i
	base=$(losses)
	for i in $(seq 2400); do
		[ "$(losses)" -ge $((base + $1)) ] && return 0
		kill -0 "$job" 2>/dev/null || { cat sbatch.out job.out; fail "$2: the job ended"; }
		sleep 0.1
	done
	cat job.out; fail "$2: no progress in 240 s"
}
wait_line() {  # wait_line PATTERN WHAT
	local i
	for i in $(seq 3000); do grep -q "$1" job.out 2>/dev/null && return 0; sleep 0.1; done
	cat job.out; fail "$2"
}
# 1. one task's process
wait_steps 6 "before the first kill"
victim=$(ps -eo pid=,args= | awk -v p="$WORK/p2.ini" -v d="$DTPIPE" 'index($0, p) && $2 == d { print $1; exit }')
[ -n "$victim" ] || { cat job.out; fail "no dtpipe task found"; }
kill -9 "$victim"
wait_line "slurm-restart: srun exited [0-9]*; restart 1/2 on node2,node3 from the newest complete checkpoint" "no restart on both nodes after a task was killed"
echo "ok: a task killed: the script restarts srun on node2,node3 from the checkpoint"
# 2. node3 whole: every process in its namespace (slurmd, slurmstepd, the task)
wait_steps 4 "before the node was killed"
ip netns pids "${NS}n3" | xargs -r kill -9
wait_line "slurm-restart: re-planned over 1 stages on node2" "no re-plan onto node2 alone"
wait_line "restart 2/2 on node2 from the newest complete checkpoint" "no restart on node2 after node3 died"
echo "ok: node3 killed: re-planned over node2 alone and resumed"
wait "$job"
rc=$?
cat job.out | grep -v "step [0-9]*/$STEPS"
[ $rc = 0 ] || { cat sbatch.out; fail "sbatch --wait exited $rc"; }
sort -u run/losses | sort -n > run/losses.u
[ "$(wc -l < run/losses.u)" -eq $STEPS ] || fail "$(wc -l < run/losses.u) distinct losses, want $STEPS"
cmp -s ref/losses run/losses.u || { diff ref/losses run/losses.u | head; fail "losses differ from the uninterrupted run"; }
cmp -s ref/params.stage-0 run/params.stage-0 || fail "weights differ from the uninterrupted run"
echo "ok: after a task and a node were killed: bit-identical to the uninterrupted run"
echo PASS
