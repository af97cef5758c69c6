#!/bin/sh
# A stop signal to one rank of a replicated job (R x K = 2 x 2 under mpirun):
# every replica stops after the same step, replica 0 writes the checkpoint
# while the others wait for it, the job exits 75 ("stopped, resumable"), and
# --resume ends with the weights and losses of the run that was never
# stopped. The waits are hang guards, not timings.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/mpi/lib.sh"

"$MKDATA" records "$WORK/rec" 480 40 12 4 7
MICRO=3 write_plan "$WORK/plan.ini" mlp:12-24-24-24-4 "$WORK/rec" 1f1b no shm \
	'optimizer = sgd\nlr = 0.1\nmomentum = 0.9' 0-1 2-3
printf '[parallel]\nreplicas = 2\n' >> "$WORK/plan.ini"
STEPS=60

# the uninterrupted run
timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps $STEPS --quiet \
	--dump "$WORK/ref" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: the reference run"; exit 1; }
concat_params "$WORK/ref" 2

# every rank spins for 8 s at the start of step 20 (the failure-detection
# test hook), so the signal lands while step 20 runs however fast the machine;
# a hang timeout far above that spin, so that no neighbour judges it a hang
# however the ranks drift apart on a loaded machine
DTP_TEST_HANG_AT_STEP=20 DTP_TEST_HANG_MS=8000 \
"$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps $STEPS --quiet --checkpoint-dir "$WORK/ck" \
	--hang-timeout-ms 60000 \
	--dump "$WORK/part" >"$WORK/out" 2>&1 &
JOB=$!
wait_losses "$WORK/part" 20
pid=$(rank_pid "$WORK/plan.ini" 3)
[ -n "$pid" ] || { cat "$WORK/out"; echo "FAIL: rank 3 (replica 1, stage 1) not found"; exit 1; }
kill -USR1 "$pid"
wait_exit $JOB "the replicated job after SIGUSR1 to rank 3"
[ "$rc" -eq 75 ] || { cat "$WORK/out"; echo "FAIL: exit $rc after SIGUSR1 to one rank, want 75"; exit 1; }
stopped=$(wc -l < "$WORK/part/losses")
[ "$stopped" -lt $STEPS ] || { echo "FAIL: the run did not stop early"; exit 1; }
test -f "$WORK/ck/step-$(printf %08d "$stopped")/manifest.json" ||
	{ ls -R "$WORK/ck"; echo "FAIL: no complete checkpoint of step $stopped"; exit 1; }
echo "ok: SIGUSR1 to rank 3 stopped every rank after step $stopped with 75 and a checkpoint"

timeout 300 "$DTPIPE" --plan "$WORK/plan.ini" --threads 1 --steps $STEPS --quiet --resume "$WORK/ck" \
	--dump "$WORK/rest" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: the resumed run"; exit 1; }
concat_params "$WORK/rest" 2
cmp "$WORK/ref/all.params" "$WORK/rest/all.params" ||
	{ echo "FAIL: the resumed run's weights differ from the uninterrupted run's"; exit 1; }
head -n "$stopped" "$WORK/ref/losses" | cmp - "$WORK/part/losses" &&
	tail -n +"$((stopped + 1))" "$WORK/ref/losses" | cmp - "$WORK/rest/losses" ||
	{ echo "FAIL: the losses before and after the stop are not the uninterrupted run's"; exit 1; }
echo "ok: resumed, the weights and losses equal the uninterrupted run's bit for bit"
echo "PASS"
