#!/bin/sh
# One documented exit status per outcome (src/base/exit.h, dtpipe(1)):
# 0 success; 2 bad input, however the input is bad and whichever process
# finds it; 1 a runtime failure, including a stage killed by a signal;
# 128 + N when the user's signal N stops the job, said as an interruption,
# not as a stage failure. Each case leaves no stage behind.
. "$DTP_SRCDIR/tests/integration/lib.sh"
. "$DTP_SRCDIR/tests/integration/lib-launch.sh"

"$MKDATA" records "$WORK/rec" 200 20 12 4 5

# expect WANT NAME CMD...: run CMD, output in $WORK/NAME.out, status WANT
expect() {
	want=$1 name=$2
	shift 2
	set +e
	"$@" >"$WORK/$name.out" 2>&1
	got=$?
	set -e
	test "$got" -eq "$want" ||
		{ cat "$WORK/$name.out"; echo "FAIL: $name: exit status $got, want $want"; exit 1; }
	echo "ok: $name -> $got"
}

# 0: success
write_plan "$WORK/ok.ini" "mlp:12-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0-1 2
expect 0 success "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind --quiet --steps 2

# 2: bad input in the options, the plan file, the plan, the data, the placement
expect 2 bad-option-value "$DTPIPE" --plan "$WORK/ok.ini" --steps x
expect 2 unknown-option "$DTPIPE" --plan "$WORK/ok.ini" --no-such-option
expect 2 missing-plan "$DTPIPE" --plan "$WORK/none.ini"
ln -s loop.ini "$WORK/loop.ini"
expect 2 unopenable-plan "$DTPIPE" --plan "$WORK/loop.ini"
grep -q "loop.ini: cannot open the plan file" "$WORK/unopenable-plan.out" ||
	{ cat "$WORK/unopenable-plan.out"; echo "FAIL: no message for the plan"; exit 1; }
sed 's/^seed = 11$/seed = 11\nsede = 12/' "$WORK/ok.ini" > "$WORK/key.ini"
expect 2 unknown-plan-key "$DTPIPE" --plan "$WORK/key.ini"
expect 2 missing-data "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind --quiet \
	--data "$WORK/none"
# the user's paths are input whatever the errno: a dataset, or a checkpoint
# directory, where a regular file is; a checkpoint directory that cannot be
# created (ENOTDIR under a file; EPERM or EROFS under /sys, which root cannot
# write either: these exited 1 while the class came from the errno)
: > "$WORK/plainfile"
expect 2 data-under-file "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind --quiet \
	--data "$WORK/plainfile/train"
expect 2 ckpt-dir-is-file "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind --quiet \
	--steps 2 --checkpoint-dir "$WORK/plainfile"
expect 2 ckpt-dir-under-file "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind --quiet \
	--steps 2 --checkpoint-dir "$WORK/plainfile/ck"
if [ -d /sys/kernel ] && ! mkdir /sys/kernel/dtpipe-ck 2>/dev/null; then
	expect 2 ckpt-dir-unwritable "$DTPIPE" --plan "$WORK/ok.ini" --threads 1 --no-bind \
		--quiet --steps 2 --checkpoint-dir /sys/kernel/dtpipe-ck
	grep -q "cannot create.*dtpipe-ck" "$WORK/ckpt-dir-unwritable.out" ||
		{ cat "$WORK/ckpt-dir-unwritable.out"; echo "FAIL: no message for the directory"; exit 1; }
fi
# a stage whose cores are not on this machine: only the real error, naming them
sed 's/^units = 2$/units = 2\ncores = 4000/' "$WORK/ok.ini" > "$WORK/cores.ini"
expect 2 cores-elsewhere "$DTPIPE" --plan "$WORK/cores.ini" --threads 1 --quiet --steps 2
grep -q "cores 4000 are not all on this machine" "$WORK/cores-elsewhere.out" &&
	! grep -q "cannot bind" "$WORK/cores-elsewhere.out" ||
	{ cat "$WORK/cores-elsewhere.out"; echo "FAIL: cores-elsewhere: want only the real error"; exit 1; }

# 1: a stage killed by a signal is a runtime failure, said as such
start_quiet segv
victim=$(ps -o pid= --ppid "$sup" | sed -n 2p | tr -d ' ')
kill -SEGV "$victim"
wait_exit "$sup" "launcher after a stage's SIGSEGV"
test "$rc" -eq 1 && grep -q "stage [0-9] was killed by signal SIGSEGV" "$WORK/segv.out" ||
	{ cat "$WORK/segv.out"; echo "FAIL: stage killed by SIGSEGV: exit $rc, want 1 and a message"; exit 1; }
test -z "$(stages_of "$WORK/segv.ini")" || { echo "FAIL: stages left after SIGSEGV"; exit 1; }
echo "ok: a stage killed by SIGSEGV -> 1"

# 1: the launcher cannot start a stage (no file descriptor left for its
# second pipe): it says so, stops the stages it started, and exits 1. The
# shell counts its descriptors with a glob (its own directory handle among
# them, one more than it passes on): a count through $(ls ... | wc -l) saw
# one end or both of the substitution's pipe, as the listing raced the
# shell closing its write end, and the launcher then sometimes had room for
# all three stages.
write_plan "$WORK/fd.ini" "mlp:12-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.01' 0 1 2
expect 1 no-fds sh -c 'plan=$1; set -- /proc/$$/fd/*; ulimit -n $(($# + 6)) &&
	exec "$0" --plan "$plan" --threads 1 --no-bind --quiet --steps 1000000' "$DTPIPE" "$WORK/fd.ini"
grep -q "^dtpipe: cannot start stage [12]: pipe: " "$WORK/no-fds.out" ||
	{ cat "$WORK/no-fds.out"; echo "FAIL: no-fds: no message for the stage"; exit 1; }
test -z "$(stages_of "$WORK/fd.ini")" || { echo "FAIL: stages left after a failed start"; exit 1; }

# 128 + N: the user's SIGINT, SIGTERM, SIGHUP to the launcher
for sig in INT:130 TERM:143 HUP:129; do
	name=${sig%:*} want=${sig#*:}
	start_quiet "$name"
	kill -"$name" "$sup"
	wait_exit "$sup" "launcher after SIG$name"
	test "$rc" -eq "$want" ||
		{ cat "$WORK/$name.out"; echo "FAIL: SIG$name: exit $rc, want $want"; exit 1; }
	grep -q "^dtpipe: interrupted by SIG$name" "$WORK/$name.out" &&
		! grep -q "failed\|killed by signal" "$WORK/$name.out" ||
		{ cat "$WORK/$name.out"; echo "FAIL: SIG$name: not reported as an interruption"; exit 1; }
	test -z "$(stages_of "$WORK/$name.ini")" || { echo "FAIL: stages left after SIG$name"; exit 1; }
	echo "ok: SIG$name -> $rc, reported as an interruption"
done

# the same table in --help
"$DTPIPE" --help > "$WORK/help"
for s in "^  0  " "^  1  " "^  2  " "^  75  " "130 SIGINT" "143 SIGTERM"; do
	grep -q "$s" "$WORK/help" || { cat "$WORK/help"; echo "FAIL: --help does not list '$s'"; exit 1; }
done
echo PASS
