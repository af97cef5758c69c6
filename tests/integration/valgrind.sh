#!/bin/sh
# valgrind memcheck of a 1-stage and a 2-stage run (a few steps of a small
# MLP, stages bound to cores through hwloc, so hwloc's PCI plugin loads where
# it is installed): no memory error and no definite leak, except the one
# third-party leak in tests/valgrind.supp (libpciaccess via hwloc's PCI
# plugin). The stages run under valgrind directly, as srun would start them
# (the launcher re-executes itself through /proc/self/exe, which under
# valgrind is valgrind's own tool).
. "$DTP_SRCDIR/tests/integration/lib.sh"

command -v valgrind >/dev/null 2>&1 ||
	{ echo "FAIL: valgrind is needed (scripts/setup.sh --test installs it)"; exit 1; }
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--keep-debuginfo=yes --suppressions=$DTP_SRCDIR/tests/valgrind.supp"

"$MKDATA" records "$WORK/rec" 48 16 12 4 5
MICRO=2
write_plan "$WORK/one.ini" "mlp:12-16-16-4" "$WORK/rec" gpipe no tcp 'lr = 0.05' 0-2
sed -i -e "s/^steps = 5$/steps = 3/" -e "s/^connect_timeout_ms = .*/connect_timeout_ms = 60000/" "$WORK/one.ini"
write_plan "$WORK/two.ini" "mlp:12-16-16-4" "$WORK/rec" 1f1b no tcp 'lr = 0.05' 0-1 2
sed -i -e "s/^steps = 5$/steps = 3/" -e "s/^connect_timeout_ms = .*/connect_timeout_ms = 60000/" "$WORK/two.ini"

# memcheck runs the stages tens of times slower and one thread at a time:
# neighbours that wait for each other get liveness bounds to match
SLOW="--peer-timeout-ms 60000 --hang-timeout-ms 120000"

check() {   # check NAME RC: the run's status and its report
	[ "$2" = 0 ] || { cat "$WORK/$1"; echo "FAIL: $1 under valgrind exited $2 (99: memcheck errors)"; exit 1; }
	if grep -q '== .*\(Invalid\|uninitialised\|definitely lost\)' "$WORK/$1"; then
		cat "$WORK/$1"; echo "FAIL: $1: memcheck reports"; exit 1
	fi
}

set +e
$VG "$DTPIPE" --plan "$WORK/one.ini" --stage 0 --threads 1 >"$WORK/one.out" 2>&1
rc=$?
set -e
check one.out $rc
grep -q 'test accuracy' "$WORK/one.out" || { cat "$WORK/one.out"; echo "FAIL: 1-stage run did not finish"; exit 1; }
echo "ok: 1-stage run clean under memcheck"

$VG "$DTPIPE" --plan "$WORK/two.ini" --stage 1 --threads 1 --job-key 5 $SLOW >"$WORK/s1.out" 2>&1 &
p1=$!
set +e
$VG "$DTPIPE" --plan "$WORK/two.ini" --stage 0 --threads 1 --job-key 5 $SLOW >"$WORK/s0.out" 2>&1
rc0=$?
wait "$p1"
rc1=$?
set -e
check s0.out $rc0
check s1.out $rc1
grep -q 'test accuracy' "$WORK/s1.out" || { cat "$WORK/s1.out"; echo "FAIL: 2-stage run did not finish"; exit 1; }
echo "ok: 2-stage run clean under memcheck (both stages)"
