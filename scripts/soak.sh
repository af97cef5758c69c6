#!/bin/bash
# Recovery soak (docs/benchmarks.md, "Automatic recovery"): KILLS SIGKILLs of
# a random stage at a random moment (during start-up or resume right after a
# restart, or 1 to 2 x EVERY steps into an attempt) spread over runs of
# PER_RUN kills each, the runs taking the TRANSPORTS in turn; every run is
# `dtpipe --max-restarts PER_RUN` of a 4-stage mlp with a checkpoint every
# EVERY steps. Records per kill: seconds from the kill until every surviving
# stage of that attempt has exited, seconds from the kill until the restarted
# job has loaded its checkpoint ("resuming from"), and the work lost (steps
# trained at the kill minus the step of the checkpoint resumed from, at most
# EVERY); per run: completed (exit 0, losses and weights bit-identical to
# the uninterrupted run) or not, and hangs (a survivor alive HANG_S seconds
# after a kill, or a run not ended 300 s after its last kill: must be 0).
# Usage: scripts/soak.sh [BUILDDIR]
# env: KILLS=100 PER_RUN=5 EVERY=5 SEED=N STEPS=N TRANSPORTS="shm tcp" HANG_S=60
#      MAX_SECONDS (no new run starts after that many seconds: fewer kills)
#      CONNECT_MS=20000 (the plans' connect_timeout_ms)
#      STAGE_HOST (each stage's `host`; verbs needs the RDMA device's address)
#      DTP_ARGS (more dtpipe options, e.g. --no-bind)
# TRANSPORTS=verbs on a host without an RDMA device runs the whole soak inside
# the Soft-RoCE VM (tests/rxe/rxe-vm.sh; VM_TIMEOUT=S, default 3600; VM_MEM=MB).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
DTPIPE=$B/tools/dtpipe
MKDATA=$B/tests/integration/mkdata
[ -x "$MKDATA" ] || make -C "$B" tests/integration/mkdata >/dev/null
KILLS=${KILLS:-100}
PER_RUN=${PER_RUN:-5}
EVERY=${EVERY:-5}
SEED=${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
STEPS=${STEPS:-$((PER_RUN * 8 * EVERY + 100))}
TRANSPORTS=${TRANSPORTS:-shm tcp}
HANG_S=${HANG_S:-60}
STAGE_HOST=${STAGE_HOST:-}
DTP_ARGS=${DTP_ARGS:-}
MAX_SECONDS=${MAX_SECONDS:-0}
CONNECT_MS=${CONNECT_MS:-20000}
export OPENBLAS_NUM_THREADS=1

# verbs without an RDMA device here: the same soak inside the Soft-RoCE VM,
# from a copy of the programs laid out as a build tree (/job/tools/dtpipe)
case " $TRANSPORTS " in *" verbs "*)
	. "$top/tests/rxe/verbs-host.sh"
	if [ -z "$VERBS_HOST" ] && [ -z "${RXE_DEV:-}" ]; then
		J=$(mktemp -d "${TMPDIR:-/tmp}/dtp-soak-vm.XXXXXX")
		trap 'rm -rf "$J"' EXIT
		mkdir -p "$J/tools" "$J/tests/integration" "$J/scripts" "$J/tests/rxe"
		cp "$DTPIPE" "$J/tools/"; cp "$MKDATA" "$J/tests/integration/"
		cp "$0" "$J/scripts/soak.sh"; cp "$top/tests/rxe/verbs-host.sh" "$J/tests/rxe/"
		# procps ps (--ppid) and the GNU tools the soak uses, not busybox's
		bash "$top/tests/rxe/rxe-vm.sh" -t "${VM_TIMEOUT:-3600}" -m "${VM_MEM:-2048}" \
			-b 'ps date sort od awk grep sed mktemp tr wc cut tail cat sleep cmp' "$J" \
			"cd /job && KILLS=$KILLS PER_RUN=$PER_RUN EVERY=$EVERY SEED=$SEED STEPS=$STEPS \
			 TRANSPORTS='$TRANSPORTS' HANG_S=$HANG_S MAX_SECONDS=$MAX_SECONDS CONNECT_MS=$CONNECT_MS DTP_ARGS='--no-bind $DTP_ARGS' \
			 STAGE_HOST=\$RXE_IP bash scripts/soak.sh /job"
		exit $?
	fi
	STAGE_HOST=${STAGE_HOST:-$VERBS_HOST} ;;
esac
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-soak.XXXXXX")
trap 'rm -rf "$W"' EXIT
PORT=$(( 10000 + ($$ * 37) % 20000 ))
RANDOM=$SEED
echo "# soak: $KILLS kills, $PER_RUN per run, checkpoint every $EVERY steps, $STEPS steps, seed $SEED, over $TRANSPORTS"
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"

"$MKDATA" records "$W/rec" 4000 40 12 4 7 >/dev/null
plan() {  # plan FILE TRANSPORT
	PORT=$((PORT + 8))
	printf '[model]\nspec = mlp:12-24-24-24-4\n[train]\nmicro_batch = 4\nmicro_batches = 4\n' > "$1"
	printf 'schedule = 1f1b\noptimizer = adamw\nlr = 0.01\nseed = 11\nlog_every = 1\n' >> "$1"
	printf '[data]\ntrain = %s/rec/train\nloader_budget = 16M\n' "$W" >> "$1"
	printf '[checkpoint]\nevery = %d\nkeep = 2\n' "$EVERY" >> "$1"
	printf '[transport]\nkind = %s\nbase_port = %d\nconnect_timeout_ms = %d\n' "$2" "$PORT" "$CONNECT_MS" >> "$1"
	for s in 0 1 2 3; do
		printf '[stage.%d]\nunits = %d\n' $s $s >> "$1"
		[ -z "$STAGE_HOST" ] || printf 'host = %s\n' "$STAGE_HOST" >> "$1"
	done
}
now() { date +%s.%N; }
stages_of() { ps -o pid= --ppid "$1" | tr -d ' '; }
losses() { cat "$1/losses" 2>/dev/null | wc -l; }

: > "$W/kill-exit" ; : > "$W/resume" ; : > "$W/lost"
runs=0 completed=0 hangs=0 done_kills=0
read -r -a TRS <<< "$TRANSPORTS"
declare -A KILLS_OVER
for tr in "${TRS[@]}"; do
	KILLS_OVER[$tr]=0
	plan "$W/ref-$tr.ini" "$tr"
	"$DTPIPE" --plan "$W/ref-$tr.ini" --threads 1 $DTP_ARGS --quiet --steps $STEPS --dump "$W/ref-$tr" >"$W/ref.out" 2>&1 ||
		{ cat "$W/ref.out"; echo "reference run over $tr failed"; exit 1; }
done
while [ $done_kills -lt "$KILLS" ]; do
	if [ "$MAX_SECONDS" -gt 0 ] && [ $SECONDS -ge "$MAX_SECONDS" ]; then
		echo "# MAX_SECONDS=$MAX_SECONDS reached: $done_kills of $KILLS kills"
		break
	fi
	tr=${TRS[runs % ${#TRS[@]}]}
	runs=$((runs + 1))
	R="$W/run$runs"
	plan "$R.ini" "$tr"
	"$DTPIPE" --plan "$R.ini" --threads 1 $DTP_ARGS --steps $STEPS --checkpoint-dir "$R.ck" \
		--max-restarts "$PER_RUN" --dump "$R" >"$R.out" 2>&1 &
	sup=$!
	k=0 hung=0 base_lines=0 base_step=0
	# (a run that reaches its last step before all its kills ends the loop)
	while [ $k -lt "$PER_RUN" ] && [ $done_kills -lt "$KILLS" ] && [ $hung = 0 ] &&
		kill -0 "$sup" 2>/dev/null; do
		# when: right after the restart (start-up, loading), or after 1..2 x EVERY steps
		if [ $k -gt 0 ] && [ $((RANDOM % 5)) = 0 ]; then
			sleep 0.$((RANDOM % 10))
		else
			want=$(( $(losses "$R") + 1 + RANDOM % (2 * EVERY) ))
			t0=$SECONDS
			while [ "$(losses "$R")" -lt $want ] && [ $((SECONDS - t0)) -lt 120 ]; do sleep 0.02; done
		fi
		victim_stage=$((RANDOM % 4))
		pids=$(stages_of "$sup")
		victim=$(ps -o pid=,args= --ppid "$sup" | awk -v s="--stage $victim_stage " 'index($0, s) { print $1 }')
		[ -n "$victim" ] || { sleep 0.1; continue; }
		resumed=$(grep -c "resuming from" "$R.out")
		t_kill=$(now)
		# the victim may have ended since (the run finishing): no kill, no count
		kill -9 "$victim" 2>/dev/null || { sleep 0.1; continue; }
		k=$((k + 1)) done_kills=$((done_kills + 1))
		KILLS_OVER[$tr]=$((KILLS_OVER[$tr] + 1))
		# every survivor gone
		for p in $pids; do
			[ "$p" = "$victim" ] && continue
			while kill -0 "$p" 2>/dev/null; do
				awk -v a="$t_kill" -v b="$(now)" -v h="$HANG_S" 'BEGIN { exit !(b - a > h) }' && { hung=1; break; }
				sleep 0.01
			done
		done
		[ $hung = 1 ] && { echo "HANG: run $runs kill $k: a survivor still runs $HANG_S s after the kill"; break; }
		echo "$(now) $t_kill" | awk '{ printf "%.3f\n", $1 - $2 }' >> "$W/kill-exit"
		# what the killed attempt dumped (the next one has not started yet:
		# the launcher restarts once every stage has exited)
		sleep 0.05
		lines_at_end=$(losses "$R")
		at=$((base_step + lines_at_end - base_lines))   # the step this attempt reached
		# restarted and resumed (or from scratch: no "resuming" line)
		t0=$SECONDS
		until grep -q "restart $k/$PER_RUN" "$R.out" || [ $((SECONDS - t0)) -gt 60 ]; do sleep 0.02; done
		from=$(grep "restart $k/$PER_RUN" "$R.out" | sed -n 's/.*from checkpoint step-0*\([0-9][0-9]*\).*/\1/p')
		if [ -n "$from" ]; then
			until [ "$(grep -c "resuming from" "$R.out")" -gt "$resumed" ] || [ $((SECONDS - t0)) -gt 60 ]; do
				sleep 0.01
			done
			echo "$(now) $t_kill" | awk '{ printf "%.3f\n", $1 - $2 }' >> "$W/resume"
		else
			from=0
		fi
		# steps reached at the kill minus the checkpoint's
		echo $((at - from)) >> "$W/lost"
		base_step=$from base_lines=$lines_at_end
	done
	t0=$SECONDS
	while kill -0 "$sup" 2>/dev/null && [ $hung = 0 ]; do
		[ $((SECONDS - t0)) -lt 300 ] || { hung=1; echo "HANG: run $runs did not end"; }
		sleep 0.1
	done
	if [ $hung = 1 ]; then
		hangs=$((hangs + 1))
		kill -9 "$sup" 2>/dev/null
		wait "$sup" 2>/dev/null
		continue
	fi
	wait "$sup"
	rc=$?
	ok=no
	if [ $rc = 0 ]; then
		sort -u "$R/losses" | sort -n > "$R/losses.u"
		cat "$R"/params.stage-{0,1,2,3} > "$R/all"
		cat "$W/ref-$tr"/params.stage-{0,1,2,3} > "$W/ref-$tr.all"
		cmp -s "$R/losses.u" "$W/ref-$tr/losses" && cmp -s "$R/all" "$W/ref-$tr.all" && ok=yes
	fi
	[ $ok = yes ] && completed=$((completed + 1))
	echo "run $runs ($tr): $k kills, exit $rc, bit-identical: $ok"
	[ $ok = yes ] || tail -n 20 "$R.out"
	rm -rf "$R" "$R.ck"
done

stats() {  # stats FILE: n median max
	sort -g "$1" | awk '{ v[NR] = $1 } END { if (!NR) { print "0 - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print NR, m, v[NR] }'
}
# (here-strings, not <(...): the Soft-RoCE VM has no /dev/fd)
read -r n1 m1 x1 <<< "$(stats "$W/kill-exit")"
read -r n2 m2 x2 <<< "$(stats "$W/resume")"
read -r n3 m3 x3 <<< "$(stats "$W/lost")"
over=; for tr in "${TRS[@]}"; do over="$over $tr ${KILLS_OVER[$tr]},"; done
echo "kills: $done_kills (${over# }${over:+ }runs taking the transports in turn), runs: $runs, completed bit-identical: $completed, hangs: $hangs"
echo "kill -> every survivor exited: median $m1 s, max $x1 s ($n1 kills)"
echo "kill -> restarted job resumed from its checkpoint: median $m2 s, max $x2 s ($n2 restarts from a checkpoint)"
echo "work lost per failure: median $m3 steps, max $x3 steps (checkpoint interval $EVERY)"
[ "$hangs" = 0 ] && [ "$completed" = "$runs" ] && [ "${x3:-0}" -le "$EVERY" ]
