#!/bin/bash
# dtpipe under a real Slurm srun (a private single-node Slurm, slurm-lib.sh):
#  1. srun -n4 runs one stage per task, the stage taken from SLURM_PROCID (each
#     task N says it is stage N); exit 0; losses and weights bit-identical to
#     the 1-stage run and to the same plan launched by dtpipe itself, over the
#     auto transport (shm: same host) and over tcp to the host of the node list;
#  2. more tasks than stages: the extra task names SLURM_PROCID and srun fails;
#  3. a stage SIGKILLed mid-run: without --kill-on-bad-exit its neighbours notice
#     and every stage exits, srun non-zero; with -K1 srun ends at once; scancel
#     ends the job. Each within a bound, never a hang.
# Slurm missing or not starting FAILS (scripts/setup.sh --test installs it).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "${DTP_SRCDIR:?run through make check}/tests/slurm/slurm-lib.sh"
slurm_test_begin srun
slurm_start_single || exit 1
echo "ok: private Slurm up (SLURM_CONF=$SLURM_CONF)"
cd "$WORK" || exit 1

# data: byte-level tokens of a small generated text
awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "stage %d sends activations to stage %d; gradients flow back.\n", i % 4, (i + 1) % 4 }' > text.txt
"$SHARD" text text.txt --out data >shard.out 2>&1 || { cat shard.out; fail "dtpipe-shard text"; }

# write_plan FILE KIND SCHEDULE STEPS UNITS...
write_plan() {
	local f=$1 kind=$2 sched=$3 steps=$4
	shift 4
	slurm_free_ports 4 || exit 1
	slurm_gpt_plan "$f" "micro_batches = 4\nschedule = $sched\nsteps = $steps" "$kind" "" "$@"
}

# references: one stage; the same 4-stage plan under dtpipe's own launcher
write_plan ref.ini tcp 1f1b 6 0-3
"$DTPIPE" --plan ref.ini --threads 1 --quiet --dump ref >ref.out 2>&1 || { cat ref.out; fail "1-stage run"; }
write_plan p4.ini auto 1f1b 6 0 1 2 3
"$DTPIPE" --plan p4.ini --threads 1 --quiet --dump local >local.out 2>&1 || { cat local.out; fail "launcher run"; }
same_as_ref local 4 "dtpipe's own launcher"
echo "ok: references (1 stage; 4 stages under dtpipe's launcher) agree"

# 1. srun -n4: one stage per task; DTP_DEBUG makes each stage say which it is
write_plan p4.ini auto 1f1b 6 0 1 2 3
DTP_DEBUG=1 timeout 120 srun -n4 -O -l "$DTPIPE" --plan p4.ini --threads 1 --dump srun-auto >srun-auto.out 2>&1
rc=$?
[ $rc = 0 ] || { cat srun-auto.out; fail "srun -n4 dtpipe exited $rc"; }
for s in 0 1 2 3; do
	grep -q "^ *$s: dtpipe: debug: stage $s: bound to cores" srun-auto.out ||
		{ cat srun-auto.out; fail "task $s (SLURM_PROCID=$s) did not run stage $s"; }
	[ -s "srun-auto/params.stage-$s" ] || fail "no weights from stage $s"
done
for s in 0 1 2; do
	grep -q "^ *$s: dtpipe: stage $s: link to stage $((s + 1)) uses shm (transport = auto: no RDMA device, peer on this host)" srun-auto.out ||
		{ cat srun-auto.out; fail "stage $s -> $((s + 1)): not shm between tasks on one node"; }
done
[ "$(grep -c '^ *[0-9]*: dtpipe: debug: stage [0-9]*: bound' srun-auto.out)" = 4 ] ||
	{ cat srun-auto.out; fail "not exactly 4 stage processes"; }
grep -q '^ *3: step 6/6 | loss' srun-auto.out || { cat srun-auto.out; fail "no step line from the last stage"; }
same_as_ref srun-auto 4 "srun -n4 (auto transport)"
echo "ok: srun -n4: task N ran stage N (from SLURM_PROCID), shm links, bit-identical to 1 stage"

# ... over tcp, GPipe, 2 stages: the listener's host is the node of the Slurm node list
write_plan p2.ini tcp gpipe 6 0-1 2-3
timeout 120 srun -n2 -O -l "$DTPIPE" --plan p2.ini --threads 1 --quiet --dump srun-tcp >srun-tcp.out 2>&1
rc=$?
[ $rc = 0 ] || { cat srun-tcp.out; fail "srun -n2 dtpipe over tcp exited $rc"; }
same_as_ref srun-tcp 2 "srun -n2 (tcp, gpipe)"
echo "ok: srun -n2 over tcp (host from the node list), GPipe: bit-identical to 1 stage"

# 2. more tasks than stages: the extra one says where its rank came from
timeout 120 srun -n3 -O -l "$DTPIPE" --plan p2.ini --threads 1 --quiet >srun-n3.out 2>&1
rc=$?
[ $rc != 0 ] || { cat srun-n3.out; fail "srun -n3 on a 2-stage plan exited 0"; }
grep -q "^ *2: dtpipe: stage 2 (from SLURM_PROCID) does not exist" srun-n3.out ||
	{ cat srun-n3.out; fail "task 2 of 3 did not name SLURM_PROCID"; }
echo "ok: srun -n3 on a 2-stage plan: exit $rc, task 2 says: stage 2 (from SLURM_PROCID) does not exist"

# 3. a stage killed mid-run. VICTIM=N in the task's environment: once the last
# stage has logged 3 steps (every link is up), task N SIGKILLs itself (the
# shell execs dtpipe, so $$ is dtpipe; the loop ends with it, and the
# surrounding timeout 120 guards a hang).
cat > victim.sh <<'EOF'
#!/bin/sh
if [ "$SLURM_PROCID" = "$VICTIM" ]; then
	(while [ "$(cat "$DUMP/losses" 2>/dev/null | wc -l)" -lt 3 ] && kill -0 $$ 2>/dev/null; do
		sleep 0.1; done; kill -9 $$) >/dev/null 2>&1 &
fi
exec "$@"
EOF
chmod +x victim.sh
write_plan long.ini tcp 1f1b 100000000 0 1 2 3
now() { date +%s%N; }
# run_killed NAME SRUN_OPTION...: srun -n4 with stage 2 killed; sets rc and secs
run_killed() {
	local name=$1 t0
	shift
	t0=$(now)
	VICTIM=2 DUMP=$WORK/$name timeout 120 srun -n4 -O -l "$@" ./victim.sh "$DTPIPE" --plan long.ini \
		--threads 1 --quiet --dump "$name" >"$name.out" 2>&1
	rc=$?
	secs=$(( ($(now) - t0) / 1000000000 ))
	[ "$(wc -l < "$name/losses")" -ge 3 ] || { cat "$name.out"; fail "$name: killed before training ran"; }
	[ $rc != 0 ] || { cat "$name.out"; fail "$name: srun exited 0 though stage 2 was killed"; }
	[ $rc != 124 ] || { cat "$name.out"; fail "$name: srun still running after 120 s"; }
}
run_killed kill-plain
# every other stage notices by itself (a peer gone) and stops with a message
for st in 0 1 3; do
	grep -q "^ *$st: dtpipe: stage $st: .*peer stage [0-9]" kill-plain.out ||
		{ cat kill-plain.out; fail "stage $st did not report its pipeline broken"; }
done
echo "ok: stage 2 killed, no --kill-on-bad-exit: every stage stopped by itself, srun exit $rc after ${secs}s"
run_killed kill-K1 --kill-on-bad-exit=1
echo "ok: stage 2 killed, --kill-on-bad-exit=1: srun exit $rc after ${secs}s"

# scancel of the running job
timeout 120 srun -n4 -O -l "$DTPIPE" --plan long.ini --threads 1 --quiet --dump cancel >cancel.out 2>&1 &
srun_pid=$!
for i in $(seq 300); do [ "$(cat cancel/losses 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
jid=$(squeue -h -o %i | head -n 1)
[ -n "$jid" ] || { cat cancel.out; fail "no job in squeue while dtpipe runs"; }
t0=$(now)
scancel "$jid"
wait $srun_pid
rc=$?
secs=$(( ($(now) - t0) / 1000000000 ))
[ $rc != 0 ] && [ $rc != 124 ] || { cat cancel.out; fail "scancel: srun exit $rc"; }
echo "ok: scancel $jid: srun exit $rc after ${secs}s"
echo PASS
