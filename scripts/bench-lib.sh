# Sourced by the benchmark scripts: rounds taken only while every core runs
# at full speed.
#
# On a virtual machine a vCPU shares its physical core with whatever the
# host runs there, and this one's vCPU 1 has been seen at 0.65x of vCPU 0 for
# minutes at a time, with nothing running in the guest and no steal time
# reported (docs/benchmarks.md, "The machine"). A figure that needs both
# cores (a K = 2 pipeline, R = 2 replicas, 2 threads) then measures the
# neighbour. dtpipe-bench-cores times a register-only FMA loop on each core,
# alone and all at once, against the best rate any core has reached in this
# run; each round waits (up to QUIET_WAIT s, default 300) for a reading in
# which every core reaches QUIET_TOL (default 0.93) of it, runs, and is read
# again: a round is clean when both readings are. Figures are then taken over
# the clean rounds (over all of them, said loudly, when none is clean).
# The best rates are kept across runs in CORES_STATE (default
# BUILDDIR/cores.state, one "cpu rate" line per CPU): a run that starts while
# the host already holds every core at half speed is judged against the
# speed seen before, not against itself. A state read on another CPU model
# is ignored (the file names it); delete it after changing the probe.
#
#   cpu_line BUILDDIR                   the CPU model as a "# cpu:" line
#   bench_cores_init BUILDDIR WORKDIR   once, before the first round (prints
#                                       cpu_line)
#   rounds_reset                        a new series of rounds (a new part)
#   round_begin LABEL                   before a round (waits for quiet)
#   round_end LABEL                     after it: one line to WORKDIR/clean
#   clean_try N LABEL CMD...            CMD as a round, retried until clean
#   clean_lines FILE                    FILE's lines of the clean rounds
#                                       (FILE holds one line per round)
#   clean_note                          "N of M rounds clean" for a header
# Every reading goes to WORKDIR/cores.log (printed by cores_log).

# cpu_line BUILDDIR: the CPU model as a "# cpu:" line, for beside every
# figure: a Zen 4 core runs the same AVX-512 code at about half a Zen 5
# core's rate (src/base/cpuid.h)
cpu_line() {
	[ -x "$1/tools/dtpipe-bench-cores" ] || make -C "$1" tools/dtpipe-bench-cores >/dev/null
	echo "# cpu: $("$1/tools/dtpipe-bench-cores" --ident)"
}

bench_cores_init() {
	CORES_BIN=$1/tools/dtpipe-bench-cores
	CORES_DIR=$2
	CORES_STATE=${CORES_STATE:-$1/cores.state}
	QUIET_WAIT=${QUIET_WAIT:-300}
	QUIET_TOL=${QUIET_TOL:-0.93}
	: >"$CORES_DIR/clean"
	: >"$CORES_DIR/cores.log"
	ROUND_OK=0
	cpu_line "$1"
}

# cores_reading LABEL WAIT: one probe (waiting up to WAIT s for quiet);
# 0 when quiet
cores_reading() {
	_r=$("$CORES_BIN" --state "$CORES_STATE" --tolerance "$QUIET_TOL" \
		--wait-quiet "$2" 2>/dev/null) && _q=0 || _q=$?
	echo "$1: $_r" >>"$CORES_DIR/cores.log"
	return $_q
}

rounds_reset() { : >"$CORES_DIR/clean"; : >"$CORES_DIR/cores.log"; }

round_begin() {
	if cores_reading "$1 (before)" "$QUIET_WAIT"; then ROUND_OK=1; else ROUND_OK=0; fi
}

round_end() {
	if cores_reading "$1 (after)" 0 && [ "$ROUND_OK" = 1 ]; then ROUND_CLEAN=1; else ROUND_CLEAN=0; fi
	echo "$ROUND_CLEAN" >>"$CORES_DIR/clean"
}

# clean_try N LABEL CMD...: CMD as one round, again (up to N tries in all)
# while a try is not clean; CMD writes its round's figures where the caller
# reads them, each try over the last; one line to WORKDIR/clean for the
# round, ROUND_CLEAN its flag
clean_try() {
	_n=$1 _l=$2 _t=1
	shift 2
	while :; do
		round_begin "$_l, try $_t"
		"$@"
		if cores_reading "$_l, try $_t (after)" 0 && [ "$ROUND_OK" = 1 ]; then
			ROUND_CLEAN=1
		else
			ROUND_CLEAN=0
		fi
		[ "$ROUND_CLEAN" = 0 ] && [ "$_t" -lt "$_n" ] || break
		_t=$((_t + 1))
	done
	echo "$ROUND_CLEAN" >>"$CORES_DIR/clean"
}

clean_lines() {
	if grep -q 1 "$CORES_DIR/clean"; then
		awk 'NR == FNR { ok[FNR] = $1; next } ok[FNR] == 1' "$CORES_DIR/clean" "$1"
	else
		cat "$1"
	fi
}

clean_note() {
	_n=$(grep -c . "$CORES_DIR/clean" || true)
	_c=$(grep -c 1 "$CORES_DIR/clean" || true)
	if [ "$_c" -gt 0 ]; then
		echo "$_c of $_n rounds clean (every core at >= $QUIET_TOL of full speed before and after; figures from those)"
	else
		echo "NONE of $_n rounds clean: a core ran below $QUIET_TOL of full speed around every round; figures from all rounds, and they measure the host as much as the code"
	fi
}

cores_log() { sed 's/^/  cores: /' "$CORES_DIR/cores.log"; }
