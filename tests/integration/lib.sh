# Shared helpers for the pipeline integration tests (sourced).
set -eu
: "${DTP_BUILDDIR:?run through make check}" "${DTP_SRCDIR:?run through make check}"
DTPIPE="$DTP_BUILDDIR/tools/dtpipe"
MKDATA="$DTP_BUILDDIR/tests/integration/mkdata"
export OPENBLAS_NUM_THREADS=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtp-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# a port range of our own: tests run in parallel. Below 32768, where Linux
# hands out ephemeral ports: a listener there can collide with some
# connection's local port (SO_REUSEADDR does not help against a live socket).
PORT=$(( 10000 + ($$ * 37) % 20000 ))

next_port() { PORT=$((PORT + 8)); }

# wait_losses DIR N: the stage started with --dump DIR has done N steps (every
# stage connected, training runs, whatever the machine's load); 120 s is only
# a hang guard
wait_losses() {
	_i=0
	while [ "$(cat "$1/losses" 2>/dev/null | wc -l)" -lt "$2" ]; do
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || { echo "FAIL: no $2 training steps in 120 s"; exit 1; }
		sleep 0.1
	done
}

# wait_exit PID WHAT: PID must end (a failure must be noticed, a job must
# stop); 60 s is only a hang guard; its exit status in $rc
wait_exit() {
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		echo "FAIL: $2: still running after 60 s"
		exit 1
	fi
	status_of wait "$1"
}

# status_of CMD...: run CMD, its exit status in $rc (set -e does not end the
# test when it fails)
status_of() {
	set +e
	"$@"
	rc=$?
	set -e
}

# write_plan FILE SPEC DATA SCHEDULE RECOMPUTE TRANSPORT OPTIM_LINES UNITS...
# UNITS: one range per stage ("0-1" "2-3"); M = $MICRO (default 3)
write_plan() {
	f=$1 spec=$2 data=$3 sched=$4 rc=$5 tr=$6 optim=$7
	shift 7
	next_port
	{
		printf '[model]\nspec = %s\n\n' "$spec"
		printf '[train]\nmicro_batch = 4\nmicro_batches = %d\nschedule = %s\n' "${MICRO:-3}" "$sched"
		printf 'recompute = %s\nsteps = 5\nseed = 11\nlog_every = 1\n' "$rc"
		printf '%b\n' "$optim"
		printf '[data]\ntrain = %s/train\ntest = %s/test\nloader_budget = 16M\n\n' "$data" "$data"
		printf '[transport]\nkind = %s\nbase_port = %d\nconnect_timeout_ms = 20000\n\n' "$tr" "$PORT"
		s=0
		for u in "$@"; do
			printf '[stage.%d]\nunits = %s\n\n' "$s" "$u"
			s=$((s + 1))
		done
	} > "$f"
}

# concat_params DIR K -> DIR/all.params
concat_params() {
	d=$1 k=$2 s=0
	: > "$d/all.params"
	while [ "$s" -lt "$k" ]; do
		cat "$d/params.stage-$s" >> "$d/all.params"
		s=$((s + 1))
	done
}

# run_ok TAG ARGS...: dtpipe on one thread, quiet; its output in $WORK/out,
# printed and the test failed if it does not run
run_ok() {
	tag=$1
	shift
	"$DTPIPE" --threads 1 --quiet "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: $tag did not run"; exit 1; }
}

# same_dump REF K_REF TAG K_TAG: the --dump of run TAG (K_TAG parts) has the
# losses and weights of run REF (K_REF parts), bit for bit
same_dump() {
	concat_params "$WORK/$1" "$2"
	concat_params "$WORK/$3" "$4"
	cmp "$WORK/$1/losses" "$WORK/$3/losses" || { echo "FAIL: $3: losses differ from $1"; exit 1; }
	cmp "$WORK/$1/all.params" "$WORK/$3/all.params" || { echo "FAIL: $3: weights differ from $1"; exit 1; }
	echo "ok: $3 bit-identical to $1"
}
