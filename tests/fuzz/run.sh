#!/bin/sh
# Run libFuzzer targets of a tree configured with --enable-fuzzing (`make
# fuzz` calls this; so does scripts/fuzz.sh through make).
#   run.sh BUILDDIR SRCDIR SECONDS NAME...
# Each target fuzz_NAME runs SECONDS seconds on a working corpus
# (BUILDDIR/tests/fuzz/work/NAME, new inputs go there) seeded from
# SRCDIR/tests/fuzz/corpus/NAME and regress/NAME. A crash, a leak, a timeout
# (an input taking over FUZZ_TIMEOUT s, default 30) or running out of memory
# stops that target; the input that did it is kept in
# BUILDDIR/tests/fuzz/crashes/NAME/ and named at the end, and the exit status
# is 1. Logs: BUILDDIR/tests/fuzz/logs/NAME.log. Extra libFuzzer options:
# FUZZ_FLAGS.
set -u
builddir=$1 srcdir=$2 seconds=$3
shift 3
timeout=${FUZZ_TIMEOUT:-30}
failed=""
mkdir -p "$builddir/tests/fuzz/logs" || exit 1
for name in "$@"; do
	prog="$builddir/tests/fuzz/fuzz_$name"
	work="$builddir/tests/fuzz/work/$name"
	crashes="$builddir/tests/fuzz/crashes/$name"
	log="$builddir/tests/fuzz/logs/$name.log"
	if [ ! -x "$prog" ]; then
		echo "fuzz: $prog is not built (make in a tree configured with --enable-fuzzing)" >&2
		exit 1
	fi
	mkdir -p "$work" "$crashes" || exit 1
	dirs="$work $srcdir/tests/fuzz/corpus/$name"
	[ -d "$srcdir/tests/fuzz/regress/$name" ] && dirs="$dirs $srcdir/tests/fuzz/regress/$name"
	dict=""
	[ -f "$srcdir/tests/fuzz/dict/$name.dict" ] && dict="-dict=$srcdir/tests/fuzz/dict/$name.dict"
	echo "fuzz: $name for ${seconds}s (log $log)"
	# shellcheck disable=SC2086
	ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
	"$prog" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 -artifact_prefix="$crashes/" $dict \
		${FUZZ_FLAGS:-} $dirs >"$log" 2>&1
	rc=$?
	# the last status line (executions, coverage, corpus) and the totals
	grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 | sed "s/^/fuzz: $name: /"
	grep -E '^Done ' "$log" | tail -1 | sed "s/^/fuzz: $name: /"
	grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" |
		tr '\n' ' ' | sed "s/^/fuzz: $name: /; s/ \$/\\n/"
	if [ "$rc" -ne 0 ]; then
		unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz check failed' "$log" | head -3 >&2
		echo "FUZZ FAILURE: $name (exit status $rc): input ${unit:-not written}; log $log" >&2
		echo "  replay it: $prog ${unit:-INPUT}" >&2
		failed="$failed $name"
	fi
done
if [ -n "$failed" ]; then
	echo "FUZZ FAILED:$failed" >&2
	exit 1
fi
echo "fuzz: all targets ran clean: $*"
