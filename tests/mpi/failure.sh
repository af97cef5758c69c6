#!/bin/sh
# Failures of a replicated job (R x K = 2 x 2 under mpirun, started by
# dtpipe --plan alone): a rank killed mid-run ends the whole job with a
# non-zero status (the 30 s are only a hang guard); --stage with a
# replicated plan and a rank that is not under an MPI launcher are refused
# with status 2 and a message saying how to start the job.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/integration/lib-launch.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5
write_plan "$WORK/p.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no shm 'lr = 0.01' 0-1 2-3
printf '[parallel]\nreplicas = 2\n' >> "$WORK/p.ini"

# 1. a rank killed: the job stops, non-zero
"$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet --steps 1000000 --metrics "$WORK/m.jsonl" \
	>"$WORK/job.out" 2>&1 &
job=$!
wait_training "$WORK/m.jsonl" "$WORK/job.out"
# mpirun's children are the ranks; kill one of replica 1 (the 3rd started)
victim=$(ps -o pid= --ppid "$job" | sed -n 3p | tr -d ' ')
test -n "$victim" || { cat "$WORK/job.out"; kill "$job"; echo "FAIL: mpirun has no ranks"; exit 1; }
kill -9 "$victim"
wait_exit "$job" "the job after a rank died"
test "$rc" -ne 0 || { cat "$WORK/job.out"; echo "FAIL: the job exited 0 after a rank died"; exit 1; }
test -z "$(stages_of "$WORK/p.ini")" || { echo "FAIL: ranks left running"; exit 1; }
echo "ok: a killed rank ends the job with status $rc"

# 2. --stage N with a replicated plan: refused
set +e
"$DTPIPE" --plan "$WORK/p.ini" --stage 0 >"$WORK/o" 2>&1
rc=$?
set -e
test "$rc" -eq 2 && grep -q "replicas = 2.*mpirun" "$WORK/o" ||
	{ cat "$WORK/o"; echo "FAIL: --stage with replicas: status $rc"; exit 1; }
echo "ok: --stage refused: $(cat "$WORK/o")"

# 3. a rank of a launcher that is not MPI (srun without --mpi=pmix: a task of a
# job step, SLURM_STEP_ID set; a batch script's SLURM_PROCID alone is no rank):
# refused
set +e
SLURM_PROCID=0 SLURM_STEP_ID=0 "$DTPIPE" --plan "$WORK/p.ini" >"$WORK/o" 2>&1
rc=$?
set -e
test "$rc" -eq 2 && grep -q "srun --mpi=pmix -n 4" "$WORK/o" ||
	{ cat "$WORK/o"; echo "FAIL: SLURM_PROCID without MPI: status $rc"; exit 1; }
echo "ok: a rank without MPI refused: $(cat "$WORK/o")"
echo "PASS"
