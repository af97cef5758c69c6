#!/bin/bash
# Preemption under a real Slurm (a private single-node Slurm, slurm-lib.sh;
# docs/preemption.md). A 4-stage gpt with a checkpoint directory:
#  1. srun -n4 (one stage per task), then `scancel JOB`: Slurm sends SIGTERM
#     to every task; each stage finishes its step, the checkpoint is written,
#     every task exits 75 and so does srun; none says "a second stop signal".
#  2. srun -n1 of dtpipe's own launcher (SLURM_PROCID unset: it starts the
#     four stages itself), then `scancel JOB`: the launcher and each stage get
#     Slurm's SIGTERM, and each stage also the launcher's relay: still one
#     request, so a checkpoint and exit 75, not an abort.
#  3. examples/preempt.sbatch as a batch job, `scancel --signal=USR1 --batch
#     JOB`: the script passes the signal to srun, the stages checkpoint and
#     exit 75, the script requeues the job, the second start resumes and
#     finishes. Its losses and final weights (dtpipe-export) equal the
#     uninterrupted run's bit for bit.
#  4. the same batch job, plain `scancel JOB`: Slurm signals the script, srun
#     ("forcing job termination") and every task; each task still counts one
#     request: a checkpoint and exit 75; the script dies, no requeue.
# The stages wait in their first checkpoint (DTP_TEST_HOLD) until the signal
# is out, so that no stop races the end of the run.
# Slurm missing or not starting FAILS (scripts/setup.sh --test installs it).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "${DTP_SRCDIR:?run through make check}/tests/slurm/slurm-lib.sh"
slurm_test_begin preempt
# the private Slurm of slurm_start_single, with the time a stage has between
# scancel's SIGTERM and its SIGKILL (KillWait) long enough for a loaded machine
slurm_init || exit 1
slurm_write_conf 127.0.0.1 \
	"NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN" \
	"PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE" ||
	exit 1
sed -i 's/^KillWait=.*/KillWait=60/' "$SLURM_CONF"
slurm_start_ctld
slurm_start_slurmd localhost
slurm_wait_idle localhost 30 || exit 1
echo "ok: private Slurm up (SLURM_CONF=$SLURM_CONF)"
cd "$WORK" || exit 1

awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "stage %d checkpoints when Slurm asks; stage %d too.\n", i % 4, (i + 1) % 4 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

STEPS=200
# write_plan FILE UNITS...
write_plan() {
	local f=$1
	shift
	slurm_free_ports 4 || exit 1
	slurm_gpt_plan "$f" "micro_batches = 4\nschedule = 1f1b\nsteps = $STEPS" auto \
		"[checkpoint]\nevery = 5\n\n" "$@"
}
# the losses a run printed: "step N/T | loss X" of every step, once each
losses() { sed -n 's/^.*\(step [0-9]*\/[0-9]* | loss [^ |]*\).*$/\1/p' "$@" | sort -u -t/ -k1.6n; }
job_of() {  # job_of NAME: the id of the running job NAME
	"${SLURM_CLIENT[@]}" squeue -h -o '%i %j' | awk -v n="$1" '$2 == n { print $1; exit }'
}
steps_in() { grep -c 'step [0-9]*/[0-9]* | loss' "$1" 2>/dev/null; }
# Each run's stages wait in their first checkpoint's write (step 5), through
# the test hook DTP_TEST_HOLD (src/pipeline/ckpt_run.h), until the signal
# has been sent: the stop never races the end of the run.
export DTP_TEST_HOLD=$WORK/hold
hold() { echo 5 > hold.ckpt; rm -f hold.ckpt.stage-* hold.ckpt.stop.stage-*; }
# signalled PATTERN FILE: wait for FILE to show that the signal went out, and
# for the hold hook of every held stage to say it arrived (hang guards of 60
# and 120 s, not timings)
signalled() {
	local i
	for i in $(seq 600); do grep -q "$1" "$2" && break; sleep 0.1; done
	stops_seen "$2"
}
# four_stages PREFIX FILE WHY: the hold hook has made PREFIX.stage-N for all
# 4 stages (hang guard 120 s), else FILE is shown and the test fails with WHY
four_stages() {
	local i
	for i in $(seq 1200); do
		[ "$(ls "$1".stage-* 2>/dev/null | wc -l)" = 4 ] && return 0
		sleep 0.1
	done
	cat "$2"; fail "$3"
}
# stops_seen FILE: the 4 held stages have each seen the stop signal
stops_seen() { four_stages hold.ckpt.stop "$1" "the stop signal did not reach the 4 held stages in 120 s"; }
# held FILE WHAT: every stage waits in the hook
held() { four_stages hold.ckpt "$1" "$2: the stages did not reach step 5 in 120 s"; }
# stopped_ok FILE RC WHAT: exit 75, no abort, a checkpoint written (the last stage says which)
stopped_ok() {
	[ "$2" = 75 ] || { cat "$1"; fail "$3: exit $2, want 75 (stopped, resumable)"; }
	! grep -q "second stop signal: aborting\|a second signal: aborting" "$1" ||
		{ cat "$1"; fail "$3: one scancel counted as two signals"; }
	grep -q "stopped by SIGTERM after step [0-9]* of $STEPS: the checkpoint .* is written" "$1" ||
		{ cat "$1"; fail "$3: no checkpoint written"; }
}

# srun_scancel NAME PATTERN WHAT SRUN-ARGS...: `srun -J NAME SRUN-ARGS...`
# (output in NAME.out), held in its first checkpoint, then `scancel` of its
# job; PATTERN in the output says the signal went out. It must stop resumable.
srun_scancel() {
	local name=$1 pat=$2 what=$3 pid jid
	shift 3
	hold
	srun -J "$name" "$@" >"$name.out" 2>&1 &
	pid=$!
	held "$name.out" "$what"
	jid=$(job_of "$name")
	[ -n "$jid" ] || { cat "$name.out"; fail "no job $name in squeue"; }
	"${SLURM_CLIENT[@]}" scancel "$jid"
	signalled "$pat" "$name.out"; rm -f hold.ckpt
	timeout 120 tail --pid=$pid -f /dev/null
	wait $pid
	stopped_ok "$name.out" $? "$what, scancel"
}
# sbatch_held N SCRIPT WHAT: SCRIPT as batch job tN (4 tasks, p4.ini,
# checkpoints in ckN, output in tN.out, the test's dtpipe first in PATH), its
# id in $jid, every stage held in its first checkpoint
sbatch_held() {
	hold
	PATH=$WORK/bin:$PATH PLAN=$WORK/p4.ini CKPT=$WORK/ck$1 \
		"${SLURM_CLIENT[@]}" sbatch -J "t$1" -n4 -c1 -O -o "$WORK/t$1.out" "$2" >sbatch.out 2>&1 ||
		{ cat sbatch.out; fail "sbatch $2"; }
	jid=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' sbatch.out)
	[ -n "$jid" ] || { cat sbatch.out; fail "no job id from sbatch"; }
	held "t$1.out" "$3"
}
# job_gone JID TENTHS: wait (a hang guard of TENTHS tenths of a second) until
# squeue no longer lists job JID
job_gone() {
	local i
	for i in $(seq "$2"); do
		[ -z "$("${SLURM_CLIENT[@]}" squeue -h -j "$1" 2>/dev/null)" ] && break
		sleep 0.1
	done
}

write_plan p4.ini 0 1 2 3
# the uninterrupted run (srun -n4, as the batch job runs it)
rm -f hold.ckpt
timeout 200 srun -n4 -O -l "$DTPIPE" --plan p4.ini --threads 1 --checkpoint-dir ref-ck >ref.out 2>&1 ||
	{ cat ref.out; fail "the uninterrupted srun -n4 run"; }
[ "$(losses ref.out | wc -l)" = $STEPS ] || { cat ref.out; fail "the reference printed no $STEPS losses"; }
"$EXPORT" ref-ck ref.safetensors >export.out 2>&1 || { cat export.out; fail "dtpipe-export ref-ck"; }

# 1. srun -n4, scancel
srun_scancel t1 "CANCELLED" "srun -n4" -n4 -O -l "$DTPIPE" --plan p4.ini --threads 1 --checkpoint-dir ck1
echo "ok: srun -n4, scancel: every stage finished its step, a checkpoint, srun exit 75"

# 2. dtpipe's launcher as the one task of a step
srun_scancel t2 "interrupted by SIGTERM" "the launcher under srun (srun -n1 dtpipe)" \
	-n1 -O env -u SLURM_PROCID "$DTPIPE" --plan p4.ini --threads 1 --checkpoint-dir ck2
echo "ok: launcher under srun, scancel: Slurm's SIGTERM and the launcher's relay are one request, exit 75"

# 3. examples/preempt.sbatch, preempted with USR1 to the batch script; its
# `dtpipe` (first in PATH) is the one built here with one BLAS thread per stage
mkdir bin
printf '#!/bin/sh\nexec "%s" "$@" --threads 1\n' "$DTPIPE" > bin/dtpipe
chmod +x bin/dtpipe
sbatch_held 3 "$DTP_SRCDIR/examples/preempt.sbatch" "examples/preempt.sbatch"
"${SLURM_CLIENT[@]}" scancel --signal=USR1 --batch "$jid"
# let the stages go once the signal has reached every one (the hold hook
# says so), however slowly Slurm, the script's trap and srun pass it on
stops_seen t3.out
rm -f hold.ckpt
# the requeued job waits for its begin time (Slurm delays a requeued job's
# start); start it sooner, but not in the second of the requeue: slurmd
# refuses a credential of the same job issued before the second its old one
# was revoked in ("Killing non-startable batch JobId=N: Job credential
# revoked", and the job ends FAILED). Should Slurm still not start it again,
# that part is Slurm's, not dtpipe's: the test says so with Slurm's view of
# the job and submits the same script again, as the requeue would have run it.
for i in $(seq 1200); do
	grep -q "^start .* restart [1-9]" t3.out && break
	st=$("${SLURM_CLIENT[@]}" squeue -h -j "$jid" -o '%t %r' 2>/dev/null)
	case $st in "PD BeginTime"*) "${SLURM_CLIENT[@]}" scontrol update JobId="$jid" StartTime=now+3 ;; esac
	sleep 0.1
done
if ! grep -q "^start .* restart [1-9]" t3.out; then
	echo "note: Slurm did not start the requeued job $jid again in 120 s (squeue: '$st'):"
	"${SLURM_CLIENT[@]}" scontrol show job "$jid" 2>&1 | grep -i 'JobState\|Reason\|Restarts\|Requeue' | head -5
	grep -i "JobId=$jid\b\|job_$jid\|requeue" "$SR/log/slurmctld.log" 2>/dev/null | tail -8
	"${SLURM_CLIENT[@]}" scancel "$jid" 2>/dev/null || true
	job_gone "$jid" 300
	PATH=$WORK/bin:$PATH PLAN=$WORK/p4.ini CKPT=$WORK/ck3 \
		"${SLURM_CLIENT[@]}" sbatch -J t3b -n4 -c1 -O --open-mode=append -o "$WORK/t3.out" \
		"$DTP_SRCDIR/examples/preempt.sbatch" >sbatch.out 2>&1 ||
		{ cat sbatch.out; fail "sbatch examples/preempt.sbatch (again)"; }
	jid=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' sbatch.out)
fi
# The job is over when the second start has said how it ended and squeue no
# longer lists it; squeue's output alone is not enough (between the requeue
# and the second start, or when a busy slurmctld does not answer, it can be
# empty for a moment).
for i in $(seq 3000); do
	st=$("${SLURM_CLIENT[@]}" squeue -h -j "$jid" -o '%t %r' 2>/dev/null)
	[ -z "$st" ] && grep -q "^training finished\|^dtpipe failed with status" t3.out && break
	case $st in "PD BeginTime"*) "${SLURM_CLIENT[@]}" scontrol update JobId="$jid" StartTime=now ;; esac
	[ $((i % 50)) = 0 ] && echo "$st"
	sleep 0.1
done
[ -z "$st" ] || { cat t3.out; fail "examples/preempt.sbatch: the job did not end in 300 s"; }
grep -q "^stopped with a checkpoint: requeueing the job" t3.out || { cat t3.out; fail "preempt.sbatch: no stop and requeue"; }
# the step the stages agreed to stop after (the periodic checkpoint the hook
# holds is written in the background, so training may go on a step past it)
k=$(sed -n 's/.*stopped by SIGUSR1 after step \([0-9]*\) of .*/\1/p' t3.out | head -1)
[ -n "$k" ] || { cat t3.out; fail "preempt.sbatch: no stop after a step"; }
grep -q "^dtpipe: resuming from $WORK/ck3/step-0*$k " t3.out || { cat t3.out; fail "preempt.sbatch: the second start did not resume from step $k"; }
grep -q "^training finished" t3.out || { cat t3.out; fail "preempt.sbatch: the second start did not finish"; }
cmp -s <(losses ref.out) <(losses t3.out) || { diff <(losses ref.out) <(losses t3.out) | head; fail "preempt.sbatch: losses differ from the uninterrupted run"; }
"$EXPORT" ck3 t3.safetensors >export.out 2>&1 || { cat export.out; fail "dtpipe-export ck3"; }
# the tensors' bytes (the header names the checkpoint each came from)
st_data() { tail -c +$((9 + $(od -An -tu8 -N8 "$1"))) "$1"; }
cmp -s <(st_data ref.safetensors) <(st_data t3.safetensors) || fail "preempt.sbatch: final weights differ from the uninterrupted run"
echo "ok: examples/preempt.sbatch, scancel --signal=USR1 --batch: checkpoint, requeue, resumed, bit-identical"

# 4. plain scancel of that batch job: Slurm sends SIGTERM to the script, to
# srun (which says "forcing job termination") and to every task; each stage
# still counts one request: a checkpoint and exit 75. The script dies of its
# SIGTERM, so the job is not requeued.
sbatch_held 4 "$DTP_SRCDIR/examples/preempt.sbatch" "examples/preempt.sbatch (scancel)"
"${SLURM_CLIENT[@]}" scancel "$jid"
signalled "STEP $jid.0 ON localhost CANCELLED" t4.out; rm -f hold.ckpt
job_gone "$jid" 1200
# srun's report of the tasks' ends ("srun: error: localhost: tasks 0-2: Exited
# with exit code 75", one line per group of tasks): each says 75
codes=$(sed -n 's/^srun: error: [^:]*: tasks\{0,1\} [0-9,-]*: //p' t4.out | sort -u)
[ "$codes" = "Exited with exit code 75" ] || { cat t4.out; fail "scancel of the batch job: the tasks did not all exit 75"; }
stopped_ok t4.out 75 "scancel of the batch job"
! grep -q "requeueing" t4.out || { cat t4.out; fail "scancel of the batch job: requeued"; }
[ -s ck4/latest ] || fail "scancel of the batch job: no latest checkpoint"
echo "ok: scancel of examples/preempt.sbatch: every task checkpointed and exited 75, not requeued"

# 5. a batch script that runs dtpipe's launcher itself (one node, no srun), as
# docs/preemption.md offers: the batch step's SLURM_PROCID=0 is no stage number
# (only a task of a job step has one), so it launches all four stages; the
# script's USR1 (scancel --signal=USR1 --batch) reaches them through it
cat > launcher.sbatch <<'EOF'
#!/bin/bash
dtpipe --plan "$PLAN" --checkpoint-dir "$CKPT" --resume-if-any &
pid=$!
trap 'kill -USR1 "$pid" 2>/dev/null' USR1
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
wait "$pid"
echo "dtpipe exited $?"
EOF
sbatch_held 5 launcher.sbatch "the launcher in a batch script"
"${SLURM_CLIENT[@]}" scancel --signal=USR1 --batch "$jid"
signalled "interrupted by SIGUSR1" t5.out; rm -f hold.ckpt
job_gone "$jid" 1200
grep -q "^dtpipe exited 75" t5.out || { cat t5.out; fail "the launcher in a batch script: not stopped with 75"; }
grep -q "stopped by SIGUSR1 after step [0-9]* of $STEPS: the checkpoint .* is written" t5.out ||
	{ cat t5.out; fail "the launcher in a batch script: no checkpoint"; }
echo "ok: the launcher in a batch script: all four stages, USR1 to the script: a checkpoint, exit 75"
echo PASS
