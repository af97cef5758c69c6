#!/bin/bash
# A Slurm batch script that keeps a dtpipe job going through failures: a
# restart loop around srun. When a task dies (a stage killed, its node lost),
# the job runs again from the newest complete checkpoint on the nodes of the
# allocation that still answer, the model split again over as many stages as
# they hold (dtpipe-partition plan --from); the layout-free checkpoint makes
# the result bit-identical to the run that never failed (for equal threads
# per stage). Submit it with the allocation kept when a node fails:
#
#   sbatch -N 4 --ntasks-per-node=1 --no-kill examples/slurm-restart.sh plan.ini
#
# and add `--signal=B:USR1@120 --requeue` to have a preempted job (dtpipe
# exits 75 after writing a checkpoint) requeued and resumed by this script.
#
# Arguments: PLAN [dtpipe options...]. Environment: DTPIPE (default dtpipe),
# DTPIPE_PARTITION (dtpipe-partition), MAX_RESTARTS (3), CKPT_DIR (the plan's
# [checkpoint] dir; one is needed), PROBE_TIMEOUT (seconds for a node to run
# `true`, 20). Exit status: dtpipe's (0, 2 bad input, 75 preempted, 128+N the
# user's signal), or the last failure's when no restart is left.
#SBATCH --no-kill
set -u
PLAN=${1:?usage: slurm-restart.sh PLAN.ini [dtpipe options...]}
shift
DTPIPE=${DTPIPE:-dtpipe}
PARTITION=${DTPIPE_PARTITION:-dtpipe-partition}
MAX=${MAX_RESTARTS:-3}
CK=${CKPT_DIR:-$(sed -n 's/^dir *= *//p' "$PLAN" | head -n 1)}
[ -n "$CK" ] || { echo "slurm-restart: $PLAN has no [checkpoint] dir and CKPT_DIR is unset" >&2; exit 2; }
: "${SLURM_JOB_NODELIST:?run it inside a Slurm allocation (sbatch or salloc)}"
nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
per_node=$(( ${SLURM_NTASKS:-$(echo "$nodes" | wc -l)} / $(echo "$nodes" | wc -l) ))
[ "$per_node" -ge 1 ] || per_node=1
stages=$(grep -c '^\[stage\.' "$PLAN")
say() { echo "slurm-restart: $*" >&2; }

# the nodes of the allocation that still run a task (a few tries each).
# --overlap: the failed step may hold its CPUs until the controller has seen
# the lost node go (SlurmdTimeout); the probe and the next step need not wait
alive() {
	local n t err
	err=$(mktemp)
	for n in $nodes; do
		for t in 1 2 3; do
			if timeout "${PROBE_TIMEOUT:-20}" srun --overlap -N1 -n1 -w "$n" true >/dev/null 2>"$err"; then
				echo "$n"
				break
			fi
			[ "$t" = 3 ] && say "node $n does not answer: $(tail -n 1 "$err")"
			sleep 2
		done
	done
	rm -f "$err"
}

plan=$PLAN use=$nodes
for attempt in $(seq 0 "$MAX"); do
	n=$(echo "$use" | wc -l)
	k=$((n * per_node))
	[ "$k" -le "$stages" ] || k=$stages
	if [ "$attempt" -gt 0 ] && [ "$k" -ne "$(grep -c '^\[stage\.' "$plan")" ]; then
		plan="$CK/plan-restart-$attempt.ini"
		"$PARTITION" plan --from "$PLAN" --stages "$k" -o "$plan" >/dev/null || exit 2
		say "re-planned over $k stages on $(echo "$use" | paste -sd, -): $plan"
	fi
	resume=()
	[ -e "$CK/latest" ] && resume=(--resume "$CK")
	srun --overlap -N "$n" -n "$k" -w "$(echo "$use" | paste -sd, -)" --kill-on-bad-exit=1 \
		"$DTPIPE" --plan "$plan" --checkpoint-dir "$CK" "${resume[@]}" "$@"
	rc=$?
	case $rc in
	0 | 2 | 75 | 129 | 130 | 143) exit "$rc" ;;
	esac
	[ "$attempt" -lt "$MAX" ] || { say "srun exited $rc; no restart left ($MAX used)"; exit "$rc"; }
	use=$(alive)
	[ -n "$use" ] || { say "srun exited $rc and no node of the allocation answers"; exit "$rc"; }
	from="the newest complete checkpoint in $CK"
	[ -e "$CK/latest" ] || from="scratch (no checkpoint yet)"
	say "srun exited $rc; restart $((attempt + 1))/$MAX on $(echo "$use" | paste -sd, -) from $from"
done
