#!/usr/bin/env bash
# The README's second command (and CI's): set everything up, then run the whole
# test suite:
#   1. build with -Wall -Wextra -Werror and run `make check` (CMocka unit tests,
#      multi-process integration tests, valgrind memcheck of a 1- and a 2-stage
#      run, verbs tests in the Soft-RoCE VM, dtpipe under a private Slurm);
#   2. a second tree with AddressSanitizer + UndefinedBehaviorSanitizer running
#      the unit tests (LeakSanitizer's suppressions: tests/lsan.supp);
#   3. a third tree configured --without-onednn (the portable build a site
#      without libdnnl gets) running the unit tests: it compiles with -Werror
#      and refuses precision = bf16 and fp32_matmul = onednn with a clear error;
#   4. the fuzz targets for a short while (once scripts/fuzz.sh exists);
#   5. `make distcheck`: the tarball configures with -Werror, builds, runs its
#      unit tests (not the integration suite again), installs and uninstalls.
# Both trees are configured again whenever what they need changed (see
# scripts/setup.sh). Ends with one line "N passed, N failed" and a non-zero
# exit if anything failed or no test ran at all.
set -uo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
jobs=$(nproc)
failed_phases=()
pass=0
fail=0

phase() { echo; echo "=================== $* ==================="; }

# add the counts of a tree's test-suite.log to the totals
count() {
	local log=$1 p f e x
	if [ ! -f "$log" ]; then
		echo "check.sh: no $log: that phase ran no test" >&2
		fail=$((fail + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0} + ${x:-0}))
	if [ "${p:-0}" = 0 ]; then
		echo "check.sh: $log counts no passing test" >&2
		fail=$((fail + 1))
	fi
}

phase "set-up: packages and the -Werror build"
if ! "$top/scripts/setup.sh" --test --werror; then
	echo "check.sh: set-up or build failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

phase "make check (unit, integration, valgrind, Soft-RoCE verbs, Slurm)"
rm -f build/test-suite.log
make -C build -j"$jobs" check || failed_phases+=("make check")
count build/test-suite.log

phase "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
rm -f build-asan/test-suite.log
if "$top/scripts/setup.sh" --werror --sanitizers --dir build-asan; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -C build-asan -j"$jobs" check-unit || failed_phases+=("sanitizers")
else
	failed_phases+=("sanitizers (set-up)")
fi
count build-asan/test-suite.log

phase "unit tests of a build without oneDNN (configure --without-onednn)"
rm -f build-nodnn/test-suite.log
if "$top/scripts/setup.sh" --werror --dir build-nodnn -- --without-onednn; then
	make -C build-nodnn -j"$jobs" check-unit || failed_phases+=("without oneDNN")
else
	failed_phases+=("without oneDNN (set-up)")
fi
count build-nodnn/test-suite.log

# ---- fuzz smoke phase: each libFuzzer target for a short while. Runs as soon
# ---- as scripts/fuzz.sh exists; a failing (or non-executable) script fails check.sh.
if [ -e scripts/fuzz.sh ]; then
	phase "fuzz targets, short smoke run (scripts/fuzz.sh --smoke)"
	if [ ! -x scripts/fuzz.sh ]; then
		echo "check.sh: scripts/fuzz.sh is not executable" >&2
		failed_phases+=("fuzz")
	elif ! scripts/fuzz.sh --smoke; then
		failed_phases+=("fuzz")
	fi
fi

phase "make distcheck (the tarball: -Werror build, unit tests, install)"
make -C build -j"$jobs" distcheck || failed_phases+=("distcheck")

echo
if [ ${#failed_phases[@]} -gt 0 ]; then
	echo "check.sh: FAILED: ${failed_phases[*]} (see the logs above; each tree's test-suite.log has the details)"
	[ "$fail" = 0 ] && fail=${#failed_phases[@]}
fi
echo "$pass passed, $fail failed"
[ ${#failed_phases[@]} -eq 0 ] && [ "$fail" = 0 ] && [ "$pass" -gt 0 ]
