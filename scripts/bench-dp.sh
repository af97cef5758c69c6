#!/bin/sh
# Data-parallel benchmarks (docs/benchmarks.md, "Data-parallel replicas"),
# mlp 784-1024-1024-1024-10, global batch 256, SGD with momentum:
#  1. dtpipe R = 2, K = 1 (two ranks under mpirun, one core and one BLAS thread
#     each, micro-batch 128 x M = 1 per replica) against R = 1 on one core
#     (128 x M = 2): the same global batch, samples/s from the median step;
#  2. PyTorch 1.13 DistributedDataParallel (gloo, 2 processes x 1 thread, 128
#     each) and PyTorch in one process (1 thread, 256), same model and batch;
#  3. dtpipe's gradient sum per step (time in MPI calls, the part waited for
#     after the backward, and the calls' own time without the wait for the
#     slower replica) against a bare MPI_Allreduce of the same bytes over the
#     same ranks, measured at the end of the same run; with the sharded
#     optimizer (SHARD=yes, the default) the sum is a reduce-scatter and the
#     step ends with an all-gather of the parameters, and their own time is
#     also set against a bare MPI_Reduce_scatter + MPI_Allgatherv of the same
#     bytes; the ratios are taken run by run (steady under load), and the
#     runs' CPU seconds are printed;
#  4. variants of the R = 2 run in the same loop (VARIANTS, below): the
#     MPI path instead of the node-shared sums (shm_reduce = no), and the
#     unsharded step.
# Each configuration runs REPS times, interleaved; medians are printed, with
# the machine's load average. Each rep waits for every core to run at full
# speed and is read again after (scripts/bench-lib.sh); the medians are over
# the reps clean at both ends. The whole benchmark runs once per OpenBLAS
# kernel in KERNELS (default "env default": OPENBLAS_CORETYPE as the
# environment sets it, then unset, OpenBLAS's own choice for this CPU; "env"
# is left out when the environment sets none), dtpipe and PyTorch with the
# same one; each block's header names it. Usage: scripts/bench-dp.sh [BUILDDIR]
set -eu
KERNELS=${KERNELS-"env default"}
case $KERNELS in
*" "*)
	for k in $KERNELS; do
		[ "$k" != env ] || [ -n "${OPENBLAS_CORETYPE:-}" ] || continue
		KERNELS=$k "$0" "$@"
	done
	exit 0 ;;
default) unset OPENBLAS_CORETYPE
	KERNEL="OpenBLAS's default for this CPU (OPENBLAS_CORETYPE unset)" ;;
env) KERNEL="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, as the environment sets it" ;;
*) echo "KERNELS: env and/or default, not $KERNELS" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
DTPIPE=$B/tools/dtpipe
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/dtp-bench-dp.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$top/scripts/bench-lib.sh"
bench_cores_init "$B" "$W"
STEPS=${STEPS:-40}
OVERLAP=${OVERLAP:-no}   # [parallel] overlap of the R = 2 runs
BUCKET=${BUCKET:-}       # [parallel] bucket_size of the R = 2 runs (empty: the default)
SHARD=${SHARD:-yes}      # [parallel] shard_optimizer of the R = 2 runs
SHM=${SHM:-yes}          # [parallel] shm_reduce of the R = 2 runs
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
		printf '[parallel]\nreplicas = %d\noverlap = %s\nshard_optimizer = %s\n' "$2" \
			"$OVERLAP" "$SHARD"
		printf 'shm_reduce = %s\n' "$SHM"
		[ -z "$BUCKET" ] || printf 'bucket_size = %s\n' "$BUCKET"
		printf '[stage.0]\nunits = 0-3\n'
	} > "$1"
}

median_step() {  # median_step METRICS: the median step time, the first 3 steps warm up
	$PY - "$1" <<'PY'
import json, sys, statistics as st
L = [json.loads(l) for l in open(sys.argv[1])]
print("%.5f" % st.median(l["step_time"] for l in L if "step" in l and l["step"] > 3))
PY
}
# cpu COMMAND...: run it under /usr/bin/time (its and its children's CPU
# seconds, user + system, to $W/cpu)
cpu() { /usr/bin/time -f '%U %S' -o "$W/cpu.t" "$@" && awk '{print $1 + $2}' "$W/cpu.t" > "$W/cpu"; }
med() { $PY -c 'import statistics, sys; print("%.5g" % statistics.median(float(a) for a in sys.argv[1:]))' "$@"; }

# r2 TAG: one R = 2 run, its figures appended to $W/TAG.FIELD
r2() {
	plan "$W/r2.ini" 2 128 1
	cpu "$DTPIPE" --plan "$W/r2.ini" --threads 1 --quiet --metrics "$W/r2.json" >"$W/r2.out"
	median_step "$W/r2.json" >> "$W/$1.step"
	cat "$W/cpu" >> "$W/$1.cpu"
	# stage 0: gradient sum over 2 replicas: X ms/step in MPI, Y ms of it waited
	# after the backward (...); bare MPI_Allreduce of the same S: Z ms
	sed -n 's/.*: \([0-9.]*\) ms\/step in MPI, \([0-9.]*\) ms of it waited.*: \([0-9.]*\) ms$/\1 \2 \3/p' \
		"$W/r2.out" >> "$W/$1.sum"
	# stage 0: gradient sum in N buckets (...): the all-reduce calls' own time
	# X ms/step, waiting for slower replicas Y ms/step; own time / bare all-reduce Zx
	sed -n 's/.*own time \([0-9.]*\) ms\/step, waiting for slower replicas \([0-9.]*\) ms\/step; own time \/ bare all-reduce \([0-9.]*\)x$/\1 \3 \2/p' \
		"$W/r2.out" >> "$W/$1.own"
	sed -n 's/.*gradient sum in \([0-9]* buckets\{0,1\} ([^)]*)\).*/\1/p' "$W/r2.out" > "$W/$1.buckets"
	sed -n 's/.*reduction path: \([A-Za-z-]*\).*/\1/p' "$W/r2.out" > "$W/$1.path"
	# stage 0: waiting for slower replicas, by replica (ms/step): 0: X 1: Y
	sed -n 's/.*waiting for slower replicas, by replica (ms\/step): 0: \([0-9.]*\) 1: \([0-9.]*\).*/\1 \2/p' \
		"$W/r2.out" >> "$W/$1.waits"
	# stage 0: sharded optimizer: reduce-scatter + all-gather own time X ms/step
	# (all-gather G ms); bare MPI_Reduce_scatter + MPI_Allgatherv of the same S:
	# T ms (RS + AG); own / bare collectives Zx
	sed -n 's/.*reduce-scatter + all-gather own time \([0-9.]*\) ms\/step (all-gather \([0-9.]*\) ms); bare .*: \([0-9.]*\) ms (\([0-9.]*\) + \([0-9.]*\)); own \/ bare collectives \([0-9.]*\)x$/\1 \2 \3 \4 \5 \6/p' \
		"$W/r2.out" >> "$W/$1.shard"
}
# col FILE N: column N of FILE's clean reps, one word per value
col() { clean_lines "$1" | awk -v c="$2" '{print $c}'; }
# vals FILE: FILE's clean reps' values
vals() { clean_lines "$1"; }
last() { tail -n 1 "$1" | awk -v c="${2:-1}" '{print $c}'; }
# variants of the R = 2 run, interleaved with the others: the MPI path
# (shm_reduce = no: the ring reduce-scatter and MPI_Allgatherv, as on
# replicas across nodes) and the unsharded step (all-reduce, every replica
# updates everything) ("shm_reduce=yes|no" sets the path, "bucket_size=S"
# the bucket size, "shard_optimizer=yes|no" the step, and an
# "OMPI_MCA_x=y" item that MCA parameter, e.g.
# OMPI_MCA_btl_vader_single_copy_mechanism=cma: Open MPI's single-copy path,
# which dtpipe turns off when it starts mpirun itself, tools/launch-mpi.c);
# VARIANTS= leaves them out
VARIANTS=${VARIANTS-"shm_reduce=no shard_optimizer=no"}

echo "== mlp $WIDTHS, global batch $GLOBAL, $STEPS steps x $REPS runs (machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "== OpenBLAS kernel: $KERNEL (dtpipe and PyTorch alike)"
for rep in $(seq "$REPS"); do
	round_begin "rep $rep"
	plan "$W/r1.ini" 1 128 2
	cpu "$DTPIPE" --plan "$W/r1.ini" --threads 1 --quiet --metrics "$W/r1.json" >/dev/null
	median_step "$W/r1.json" >>"$W/r1.step"
	cat "$W/cpu" >>"$W/r1.cpu"
	r2 main
	v=0
	for var in $VARIANTS; do
		v=$((v + 1))
		case $var in
		bucket_size=*) (BUCKET=${var#bucket_size=}; r2 "v$v") ;;
		shard_optimizer=*) (SHARD=${var#shard_optimizer=}; r2 "v$v") ;;
		shm_reduce=*) (SHM=${var#shm_reduce=}; r2 "v$v") ;;
		*=*) (export "$var"; r2 "v$v") ;;
		esac
		PORT=$((PORT + 8))   # the subshell's plan took the next ports
	done
	if $PY -c 'import torch' 2>/dev/null; then
		tj=$($PY "$top/scripts/bench_ddp_torch.py" "$WIDTHS" "$GLOBAL" "$STEPS" 2>/dev/null | tail -n 1)
		echo "$tj" | $PY -c 'import json,sys; print(json.load(sys.stdin)["one_process_s"])' >>"$W/tone"
		echo "$tj" | $PY -c 'import json,sys; print(json.load(sys.stdin)["ddp2_s"])' >>"$W/tddp"
	fi
	round_end "rep $rep"
	echo "run $rep: dtpipe R=1 $(last "$W/r1.step") s/step, R=2 $(last "$W/main.step") s/step (gradient sum's own time / bare all-reduce $(last "$W/main.own" 2)x); torch 1 process $(last "$W/tone" 2>/dev/null), DDP $(last "$W/tddp" 2>/dev/null) s/step; cores clean $(last "$W/clean")"
done
echo "== $(clean_note)"
cores_log
t1=$(med $(vals "$W/r1.step")) t2=$(med $(vals "$W/main.step"))
echo "dtpipe R=1 K=1, 1 core : $t1 s/step, $($PY -c "print('%.0f' % ($GLOBAL/$t1))") samples/s"
echo "dtpipe R=2 K=1, 1 core each ($(cat "$W/main.path") path): $t2 s/step, $($PY -c "print('%.0f' % ($GLOBAL/$t2))") samples/s, speed-up $($PY -c "print('%.2f' % ($t1/$t2))")x (target >= 1.75x)"
m=$(med $(col "$W/main.sum" 1)) wt=$(med $(col "$W/main.sum" 2)) br=$(med $(col "$W/main.sum" 3))
if [ "$OVERLAP" = yes ]; then
	hid="$($PY -c "print('%.0f' % max(0, 100*(1-$wt/$br)))")% of it hidden behind the backward"
else
	hid="none of it hidden (overlap = no: blocking sums inside the backward)"
fi
echo "gradient sum per step (overlap = $OVERLAP): $m ms in the sum's calls ($(cat "$W/main.path") path), $wt ms of it waited after the backward; bare MPI_Allreduce of the same bytes: $br ms -> $($PY -c "print('%.2f' % ($m/$br))")x the bare all-reduce (target <= 1.1x); $hid"
ow=$(med $(col "$W/main.own" 1))
echo "gradient sum in $(cat "$W/main.buckets"): the sum's calls' own time $ow ms/step, waiting for the slower replica $(med $(col "$W/main.own" 3)) ms/step; own time / bare all-reduce $(med $(col "$W/main.own" 2))x (median of the runs' own ratios; target <= 1.1x); $($PY -c "print('%.0f' % max(0, 100*(1-$ow/$br)))")% of a bare all-reduce hidden behind the backward"
if [ -s "$W/main.shard" ]; then
	echo "sharded optimizer ($(cat "$W/main.path") path): reduce-scatter + all-gather own time $(med $(col "$W/main.shard" 1)) ms/step (all-gather $(med $(col "$W/main.shard" 2)) ms); bare MPI_Reduce_scatter + MPI_Allgatherv of the same bytes $(med $(col "$W/main.shard" 3)) ms ($(med $(col "$W/main.shard" 4)) + $(med $(col "$W/main.shard" 5))); own / bare collectives $(med $(col "$W/main.shard" 6))x (median of the runs' own ratios; target <= 1.1x); own / bare all-reduce $(med $(col "$W/main.own" 2))x"
fi
[ ! -s "$W/main.waits" ] || echo "wait for the slower replica by replica: replica 0 $(med $(col "$W/main.waits" 1)) ms/step, replica 1 $(med $(col "$W/main.waits" 2)) ms/step (the one that waits less is the late one)"
echo "CPU seconds per run ($STEPS steps, user + system, all ranks): R=1 $(med $(vals "$W/r1.cpu")), R=2 $(med $(vals "$W/main.cpu"))"
v=0
for var in $VARIANTS; do
	v=$((v + 1))
	tv=$(med $(vals "$W/v$v.step"))
	sh=
	[ ! -s "$W/v$v.shard" ] || sh="; sharded: own / bare reduce-scatter + all-gather $(med $(col "$W/v$v.shard" 6))x (bare $(med $(col "$W/v$v.shard" 3)) ms)"
	echo "variant R=2 with $var ($(cat "$W/v$v.path") path): $tv s/step, speed-up $($PY -c "print('%.2f' % ($t1/$tv))")x, speed vs the default R=2 $($PY -c "print('%.2f' % ($t2/$tv))")x, $(cat "$W/v$v.buckets"); gradient sum $(med $(col "$W/v$v.sum" 1)) ms in MPI calls, own time $(med $(col "$W/v$v.own" 1)) ms, bare all-reduce $(med $(col "$W/v$v.sum" 3)) ms, own / bare $(med $(col "$W/v$v.own" 2))x$sh; CPU seconds $(med $(vals "$W/v$v.cpu"))"
done
if [ -s "$W/tddp" ]; then
	to=$(med $(vals "$W/tone")) td=$(med $(vals "$W/tddp"))
	echo "PyTorch 1.13 one process x 1 thread: $to s/step, $($PY -c "print('%.0f' % ($GLOBAL/$to))") samples/s"
	echo "PyTorch 1.13 DDP gloo 2 x 1 thread: $td s/step, $($PY -c "print('%.0f' % ($GLOBAL/$td))") samples/s ($($PY -c "print('%.2f' % ($to/$td))")x its one process)"
	echo "dtpipe R=2 vs DDP samples/s: $($PY -c "print('%.2f' % ($td/$t2))")x (target >= 2x)"
else
	echo "PyTorch not importable by $PY: reference skipped"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
