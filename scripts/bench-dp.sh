#!/bin/sh
# Data-parallel benchmarks (docs/benchmarks.md, "Data-parallel replicas"),
# mlp 784-1024-1024-1024-10, global batch 256, SGD with momentum:
#  1. dtpipe R = 2, K = 1 (two ranks under mpirun, one core and one BLAS thread
#     each, micro-batch 128 x M = 1 per replica) against R = 1 on one core
#     (128 x M = 2): the same global batch, samples/s from the median step;
#  2. PyTorch 1.13 DistributedDataParallel (gloo, 2 processes x 1 thread, 128
#     each) and PyTorch in one process (1 thread, 256), same model and batch;
#  3. dtpipe's gradient sum per step (time in MPI calls, and the part waited
#     for after the backward) against a bare MPI_Allreduce of the same bytes
#     over the same ranks, measured at the end of the same run.
# Each configuration runs REPS times, interleaved; medians are printed, with
# the machine's load average. Usage: scripts/bench-dp.sh [BUILDDIR]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
DTPIPE=$B/tools/dtpipe
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-dp.XXXXXX")
trap 'rm -rf "$W"' EXIT
STEPS=${STEPS:-40}
OVERLAP=${OVERLAP:-no}   # [parallel] overlap of the R = 2 runs
REPS=${REPS:-3}
WIDTHS=784-1024-1024-1024-10
GLOBAL=256
PORT=$(( 10000 + ($$ % 20000) ))   # below the ephemeral range (32768-)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# random records, 784 u8 features and 10 classes (tests/integration/mkdata)
make -C "$B" tests/integration/mkdata >/dev/null
"$B/tests/integration/mkdata" records "$W/data" 20480 256 784 10 3 >/dev/null

# plan FILE REPLICAS MICRO_BATCH M
plan() {
	PORT=$((PORT + 8))
	{
		printf '[model]\nspec = mlp:%s\n' "$WIDTHS"
		printf '[train]\nmicro_batch = %d\nmicro_batches = %d\n' "$3" "$4"
		printf 'optimizer = sgd\nlr = 0.01\nmomentum = 0.9\nsteps = %d\nlog_every = 1\n' "$STEPS"
		printf '[data]\ntrain = %s/data/train\nloader_budget = 32M\n' "$W"
		printf '[transport]\nkind = shm\nbase_port = %d\n' "$PORT"
		printf '[parallel]\nreplicas = %d\noverlap = %s\n[stage.0]\nunits = 0-3\n' "$2" "$OVERLAP"
	} > "$1"
}

median_step() {  # median_step METRICS: the median step time, the first 3 steps warm up
	$PY - "$1" <<'PY'
import json, sys, statistics as st
L = [json.loads(l) for l in open(sys.argv[1])]
print("%.5f" % st.median(l["step_time"] for l in L if "step" in l and l["step"] > 3))
PY
}
med() { $PY -c 'import statistics, sys; print("%.5f" % statistics.median(float(a) for a in sys.argv[1:]))' "$@"; }

echo "== mlp $WIDTHS, global batch $GLOBAL, $STEPS steps x $REPS runs (machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
r1= r2= mpi= wait= bare= tone= tddp=
for rep in $(seq "$REPS"); do
	plan "$W/r1.ini" 1 128 2
	"$DTPIPE" --plan "$W/r1.ini" --threads 1 --quiet --metrics "$W/r1.json" >/dev/null
	r1="$r1 $(median_step "$W/r1.json")"
	plan "$W/r2.ini" 2 128 1
	"$DTPIPE" --plan "$W/r2.ini" --threads 1 --quiet --metrics "$W/r2.json" >"$W/r2.out"
	r2="$r2 $(median_step "$W/r2.json")"
	# stage 0: gradient sum over 2 replicas: X ms/step in MPI, Y ms of it waited
	# after the backward (...); bare MPI_Allreduce of the same S: Z ms
	set -- $(sed -n 's/.*: \([0-9.]*\) ms\/step in MPI, \([0-9.]*\) ms of it waited.*: \([0-9.]*\) ms$/\1 \2 \3/p' "$W/r2.out")
	mpi="$mpi $1" wait="$wait $2" bare="$bare $3"
	if $PY -c 'import torch' 2>/dev/null; then
		tj=$($PY "$top/scripts/bench_ddp_torch.py" "$WIDTHS" "$GLOBAL" "$STEPS" 2>/dev/null | tail -n 1)
		tone="$tone $(echo "$tj" | $PY -c 'import json,sys; print(json.load(sys.stdin)["one_process_s"])')"
		tddp="$tddp $(echo "$tj" | $PY -c 'import json,sys; print(json.load(sys.stdin)["ddp2_s"])')"
	fi
	echo "run $rep: dtpipe R=1 $(echo $r1 | awk '{print $NF}') s/step, R=2 $(echo $r2 | awk '{print $NF}') s/step; torch 1 process $(echo $tone | awk '{print $NF}'), DDP $(echo $tddp | awk '{print $NF}') s/step"
done
t1=$(med $r1) t2=$(med $r2)
echo "dtpipe R=1 K=1, 1 core : $t1 s/step, $($PY -c "print('%.0f' % ($GLOBAL/$t1))") samples/s"
echo "dtpipe R=2 K=1, 1 core each: $t2 s/step, $($PY -c "print('%.0f' % ($GLOBAL/$t2))") samples/s, speed-up $($PY -c "print('%.2f' % ($t1/$t2))")x (target >= 1.75x)"
m=$(med $mpi) wt=$(med $wait) br=$(med $bare)
if [ "$OVERLAP" = yes ]; then
	hid="$($PY -c "print('%.0f' % max(0, 100*(1-$wt/$br)))")% of it hidden behind the backward"
else
	hid="none of it hidden (overlap = no: blocking sums inside the backward)"
fi
echo "gradient sum per step (overlap = $OVERLAP): $m ms in MPI calls, $wt ms of it waited after the backward; bare MPI_Allreduce of the same bytes: $br ms -> $($PY -c "print('%.2f' % ($m/$br))")x the bare all-reduce (target <= 1.1x); $hid"
if [ -n "$tddp" ]; then
	to=$(med $tone) td=$(med $tddp)
	echo "PyTorch 1.13 one process x 1 thread: $to s/step, $($PY -c "print('%.0f' % ($GLOBAL/$to))") samples/s"
	echo "PyTorch 1.13 DDP gloo 2 x 1 thread: $td s/step, $($PY -c "print('%.0f' % ($GLOBAL/$td))") samples/s ($($PY -c "print('%.2f' % ($to/$td))")x its one process)"
	echo "dtpipe R=2 vs DDP samples/s: $($PY -c "print('%.2f' % ($td/$t2))")x (target >= 2x)"
else
	echo "PyTorch not importable by $PY: reference skipped"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
