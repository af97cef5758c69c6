#!/bin/sh
# No orphans: when the local launcher dies (SIGKILL; SIGPIPE when its output
# goes into `head -1`), every stage it started ends too (PR_SET_PDEATHSIG)
# instead of training on under init, and leaves no shared-memory segment.
# The 30 s bound is a hang guard, not a timing assertion.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/integration/lib-launch.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5

# wait_gone PLAN WHAT: every stage of PLAN ends within 30 s, and leaves no
# /dev/shm/dtpipe-PID-* of its own
wait_gone() {
	pids=$(cat "$WORK/pids")
	i=0
	while [ -n "$(stages_of "$1")" ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
	left=$(stages_of "$1")
	if [ -n "$left" ]; then
		ps -o pid,stat,args -p "$(echo $left | tr ' ' ,)" || :
		kill -9 $left 2>/dev/null || :
		echo "FAIL: $2: stages still running 30 s after the launcher died"
		exit 1
	fi
	for p in $pids; do
		for f in /dev/shm/dtpipe-"$p"-*; do
			test -e "$f" || continue
			rm -f "$f"
			echo "FAIL: $2: stage pid $p left $f"
			exit 1
		done
	done
}

# kill_launcher SIG: SIG the launcher of a quiet run in the middle of
# training (no stage writes to the dead launcher's pipes, so only the
# launcher's death can stop them; shm links: segments in /dev/shm)
kill_launcher() {
	start_quiet "$1"
	stages_of "$WORK/$1.ini" | grep -v "^$sup\$" > "$WORK/pids"
	test "$(wc -l < "$WORK/pids")" -eq 4 || { cat "$WORK/pids"; echo "FAIL: expected 4 stages"; exit 1; }
	kill -"$1" "$sup"
	wait "$sup" 2>/dev/null || :
	wait_gone "$WORK/$1.ini" "launcher killed by SIG$1"
	echo "ok: launcher killed by SIG$1 -> its 4 stages ended, no /dev/shm segment left"
}

# 1. the launcher killed outright; 2. dying of SIGPIPE, as when the reader of
#    its output (`head`) has gone and it writes a line
kill_launcher KILL
kill_launcher PIPE

# 3. the launcher's output into `head -1`: head exits, the launcher dies of
#    SIGPIPE at its next line, and its stages with it
next_port
write_plan "$WORK/h.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no shm 'lr = 0.01' 0 1 2 3
( "$DTPIPE" --plan "$WORK/h.ini" --threads 1 --no-bind --steps 1000000 2>&1 &&
	echo 0 > "$WORK/h.rc" || echo $? > "$WORK/h.rc" ) |
	head -1 > "$WORK/h.out"
test -s "$WORK/h.out" || { echo "FAIL: head got no line"; exit 1; }
test "$(cat "$WORK/h.rc")" -ne 0 || { echo "FAIL: the launcher exited 0 with its output closed"; exit 1; }
: > "$WORK/pids"
wait_gone "$WORK/h.ini" "output into head -1"
echo "ok: output into head -1 -> the launcher exited $(cat "$WORK/h.rc"), no stage left"
echo PASS
