#!/bin/sh
# Build the fuzzing tree (build-fuzz/: clang-14, libFuzzer, ASan+UBSan) and
# run every fuzz target of tests/fuzz for a while.
#   scripts/fuzz.sh [--smoke] [--seconds N] [TARGET...]
# --smoke: 10 s per target (what check.sh runs); default 60 s (FUZZ_SECONDS).
# TARGET: plan spec shard_rec shard_tok index safetensors checkpoint hello frame
# verbs
# (default all). A crash, leak, timeout or out-of-memory fails loudly with
# the path of the input that did it (build-fuzz/tests/fuzz/crashes/TARGET/)
# and exit status 1; fix it, then copy the input to tests/fuzz/regress/TARGET/
# so that `make check` replays it from then on. Needs clang-14 and
# libfuzzer-14-dev. Set FUZZ_BUILDDIR for another tree, FUZZ_JOBS for make -j.
set -eu
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${FUZZ_BUILDDIR:-$srcdir/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=""
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) seconds=10 ;;
	--seconds) [ $# -ge 2 ] || { echo "fuzz.sh: --seconds needs a number" >&2; exit 2; }
		seconds=$2; shift ;;
	--seconds=*) seconds=${1#--seconds=} ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) targets="$targets $1" ;;
	esac
	shift
done
case $seconds in
''|*[!0-9]*) echo "fuzz.sh: --seconds wants a whole number of seconds, not '$seconds'" >&2; exit 2 ;;
esac
if ! command -v clang-14 >/dev/null 2>&1; then
	echo "fuzz.sh: clang-14 not found: apt-get install clang-14 libfuzzer-14-dev" >&2
	exit 2
fi
if [ ! -f "$builddir/Makefile" ] || ! grep -q -- '--enable-fuzzing' "$builddir/config.status" 2>/dev/null; then
	[ -x "$srcdir/configure" ] || (cd "$srcdir" && autoreconf -fi)
	mkdir -p "$builddir"
	echo "fuzz.sh: configuring $builddir (log $builddir/configure.log)"
	if ! (cd "$builddir" && "$srcdir/configure" --enable-fuzzing CC=clang-14 >configure.log 2>&1); then
		tail -n 20 "$builddir/configure.log" >&2
		echo "fuzz.sh: configure failed (log $builddir/configure.log)" >&2
		exit 1
	fi
fi
set -- make -C "$builddir" -j"${FUZZ_JOBS:-2}" fuzz FUZZ_SECONDS="$seconds"
[ -n "$targets" ] && set -- "$@" FUZZ_TARGETS="${targets# }"
exec "$@"
