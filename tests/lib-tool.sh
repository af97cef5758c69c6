# Shared helpers for the tests that run a tool and check its exit status and
# output (sourced): lib_tool_init NAME makes the scratch folder $T (removed on
# exit), then
#   fail MSG...        counts a failure in $fails and says it
#   expect N CMD...    runs CMD, its output in $T/out; a failure unless it
#                      exits N
#   has TEXT / hasnt TEXT: TEXT is / is not in the last run's output
lib_tool_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/dtp_$1.XXXXXX")
	trap 'rm -rf "$T"' EXIT
	fails=0
}
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
	want=$1; shift
	"$@" >"$T/out" 2>&1
	got=$?
	[ "$got" = "$want" ] || { fail "exit $got (want $want): $*"; cat "$T/out"; }
}
has() { grep -q -- "$1" "$T/out" || { fail "no '$1' in the output of the last run"; cat "$T/out"; }; }
hasnt() { grep -q -- "$1" "$T/out" && { fail "'$1' in the output of the last run"; cat "$T/out"; }; }
