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
