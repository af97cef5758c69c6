#!/bin/sh
# dtpipe-bench-cores: one key=value line with a rate per allowed CPU, alone
# and together; exit 0 (quiet) or 3 (not), never anything else for a good
# call, whatever the load; --state keeps a best rate per CPU that only grows;
# --wait-quiet gives up after its bound; a state read on another CPU model
# is ignored; --ident names the CPU; bad arguments exit 2 naming them.
# (Whether a reading is quiet depends on the machine: not asserted.)
. "$DTP_SRCDIR/tests/integration/lib.sh"

BENCH="$DTP_BUILDDIR/tools/dtpipe-bench-cores"
N=$(nproc)

rc=0
"$BENCH" --secs 0.05 >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || { cat "$WORK/err"; echo "FAIL: exit $rc"; exit 1; }
line=$(cat "$WORK/out")
num='[0-9][0-9]*\.[0-9]'
list="$num"
i=1
while [ $i -lt "$N" ]; do list="$list,$num"; i=$((i + 1)); done
echo "$line" | grep -q "^cpus=[0-9,]* alone=$list together=$list full=$num slowest=[01]\.[0-9]* quiet=[01] waited_s=[0-9]*$" ||
	{ echo "$line"; echo "FAIL: not one line with $N rates alone and together"; exit 1; }
q=$(echo "$line" | sed 's/.* quiet=\([01]\).*/\1/')
{ [ "$q" = 1 ] && [ $rc = 0 ]; } || { [ "$q" = 0 ] && [ $rc = 3 ]; } ||
	{ echo "$line"; echo "FAIL: exit $rc with quiet=$q"; exit 1; }
echo "ok: a rate per CPU, exit $rc with quiet=$q"

# --state: a line per CPU, each best rate at least the last reading's
rc=0
"$BENCH" --secs 0.05 --state "$WORK/state" >"$WORK/out" 2>/dev/null || rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || { echo "FAIL: --state: exit $rc"; exit 1; }
model=$(sed -n '1s/^model \([^ ]*\)$/\1/p' "$WORK/state")
[ -n "$model" ] || { cat "$WORK/state"; echo "FAIL: the state does not start with its CPU model"; exit 1; }
[ "$(grep -c '^[0-9]' "$WORK/state")" = "$N" ] || { cat "$WORK/state"; echo "FAIL: not a line per CPU"; exit 1; }
grep '^[0-9]' "$WORK/state" >"$WORK/state.1"
# a best rate far above any core's: every reading against it is slow, and
# the file keeps it
{ echo "model $model"; awk '{ print $1, 1e6 }' "$WORK/state.1"; } >"$WORK/state"
rc=0
"$BENCH" --secs 0.05 --state "$WORK/state" >"$WORK/out" 2>/dev/null || rc=$?
[ $rc = 3 ] && grep -q ' quiet=0 ' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: exit $rc against a best rate no core reaches"; exit 1; }
awk '/^[0-9]/ && $2 != 1000000.000 { exit 1 }' "$WORK/state" || { cat "$WORK/state"; echo "FAIL: the best rate was not kept"; exit 1; }
echo "ok: --state keeps the best rate per CPU"

# the same rates read on another CPU model (or by a build before the model
# line) say nothing about this one: ignored, and the file rewritten
for head in "model NotThisCPU-0-0" ""; do
	{ [ -z "$head" ] || echo "$head"; awk '{ print $1, 1e6 }' "$WORK/state.1"; } >"$WORK/state.x"
	"$BENCH" --secs 0.05 --state "$WORK/state.x" >"$WORK/out" 2>/dev/null || true
	grep -q "^model $model\$" "$WORK/state.x" && ! grep -q ' 1000000' "$WORK/state.x" ||
		{ cat "$WORK/state.x"; echo "FAIL: a state from '${head:-no model}' was used"; exit 1; }
	full=$(sed 's/.* full=\([0-9.]*\) .*/\1/' "$WORK/out")
	awk -v f="$full" 'BEGIN { exit !(f < 1e5) }' || { cat "$WORK/out"; echo "FAIL: full speed taken from another model's state"; exit 1; }
done
echo "ok: a state from another CPU model is ignored"

# --ident: one line naming the CPU
"$BENCH" --ident >"$WORK/out" || { echo "FAIL: --ident exit"; exit 1; }
[ "$(wc -l <"$WORK/out")" = 1 ] && grep -q . "$WORK/out" || { cat "$WORK/out"; echo "FAIL: --ident is not one line"; exit 1; }
if [ "$(uname -m)" = x86_64 ]; then
	grep -q ' family [0-9]* model [0-9]*' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: --ident names no family and model"; exit 1; }
fi
echo "ok: --ident: $(cat "$WORK/out")"

# --wait-quiet gives up after its bound (about 2 s here: one more reading)
start=$(date +%s)
rc=0
"$BENCH" --secs 0.05 --state "$WORK/state" --wait-quiet 1 >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc = 3 ] && grep -q 'not quiet' "$WORK/err" || { cat "$WORK/err"; echo "FAIL: --wait-quiet: exit $rc"; exit 1; }
[ $(( $(date +%s) - start )) -lt 60 ] || { echo "FAIL: --wait-quiet 1 did not give up"; exit 1; }
echo "ok: --wait-quiet gives up"

for bad in "--secs 0" "--secs x" "--tolerance 2" "--wait-quiet -1" "--bogus"; do
	rc=0
	# shellcheck disable=SC2086
	"$BENCH" $bad >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && [ -s "$WORK/err" ] || { cat "$WORK/err"; echo "FAIL: '$bad': exit $rc"; exit 1; }
done
echo "ok: bad arguments exit 2"
