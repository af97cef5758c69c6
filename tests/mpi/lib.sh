# Shared start and checks of the data-parallel tests under mpirun (sourced
# after tests/integration/lib.sh): mpirun must be there, and the runs' weights
# (each run dumped to $WORK/TAG, its weights concatenated in
# $WORK/TAG/all.params) are compared two ways.
command -v mpirun >/dev/null ||
	{ echo "FAIL: no mpirun in PATH, but dtpipe was built with MPI: install openmpi-bin (scripts/setup.sh does)"; exit 1; }
"$DTPIPE" --help >/dev/null

# close A B MESSAGE: runs A and B's weights within float rounding: relative
# difference ||a - b|| / ||a|| below 1e-5
close() {
	python3 - "$WORK/$1/all.params" "$WORK/$2/all.params" <<'PY' || { echo "FAIL: $3"; exit 1; }
import array, math, sys
a = array.array('f', open(sys.argv[1], 'rb').read())
b = array.array('f', open(sys.argv[2], 'rb').read())
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))) / math.sqrt(sum(x * x for x in a))
print("relative difference %.3g" % d)
sys.exit(0 if d < 1e-5 else 1)
PY
}

# same A B MESSAGE: runs A and B's weights and losses, bit for bit
same() {
	cmp "$WORK/$1/all.params" "$WORK/$2/all.params" &&
		cmp "$WORK/$1/losses" "$WORK/$2/losses" || { echo "FAIL: $3"; exit 1; }
}

# rank_pid PLAN RANK: the pid of world rank RANK of the job started from
# PLAN (a process may end between pgrep and the reads: then nothing)
rank_pid() {
	for p in $(pgrep -x dtpipe); do
		c=$(cat "/proc/$p/cmdline" 2>/dev/null | tr '\0' ' ') || true
		case "$c" in *"$1"*) ;; *) continue ;; esac
		e=$(cat "/proc/$p/environ" 2>/dev/null | tr '\0' '\n') || true
		printf '%s\n' "$e" | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
	done
	return 0
}
