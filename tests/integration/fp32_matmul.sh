#!/bin/sh
# [model] fp32_matmul = onednn (the fp32 matmuls on oneDNN's fp32
# primitives): with one thread per stage, 2- and 3-stage runs give losses and
# weights bit-identical to the 1-stage run on the same backend, for the mlp
# and the gpt; --fp32-matmul onednn on the command line equals the plan key;
# a checkpoint resumes across backends (weights and optimizer state are fp32
# either way): 3 steps on openblas + resume for 3 on onednn give the run's
# step count and losses close to 6 steps on onednn. Built without oneDNN, the
# key and the option must be refused with what to do.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 240 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7

onednn() { # onednn PLAN: the plan with [model] fp32_matmul = onednn
	sed -i 's/^spec = .*/&\nfp32_matmul = onednn/' "$1"
	grep -q '^fp32_matmul = onednn$' "$1" || { echo "FAIL: no fp32_matmul in $1"; exit 1; }
}

# a value it does not know: refused naming the accepted ones
write_plan "$WORK/bad.ini" "mlp:12-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.1' 0-1
sed -i 's/^spec = .*/&\nfp32_matmul = mkl/' "$WORK/bad.ini"
if "$DTPIPE" --plan "$WORK/bad.ini" --threads 1 --quiet >"$WORK/out" 2>&1; then
	echo "FAIL: fp32_matmul = mkl accepted"; exit 1
fi
grep -q "fp32_matmul = 'mkl': use openblas" "$WORK/out" || { cat "$WORK/out"; echo "FAIL: no clear error"; exit 1; }
echo "ok: fp32_matmul = mkl refused: $(grep -o "fp32_matmul = 'mkl'[^(]*" "$WORK/out" | head -n 1)"

if ! grep -q '^#define DTP_HAVE_ONEDNN 1' "$DTP_BUILDDIR/config.h"; then
	write_plan "$WORK/p.ini" "mlp:12-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.1' 0-1
	onednn "$WORK/p.ini"
	if "$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet >"$WORK/out" 2>&1; then
		echo "FAIL: fp32_matmul = onednn ran in a build without oneDNN"; exit 1
	fi
	grep -q 'libdnnl-dev' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: no hint to install oneDNN"; exit 1; }
	echo "ok: built without oneDNN, fp32_matmul = onednn refused: $(tail -n 1 "$WORK/out")"
	echo "PASS"
	exit 0
fi

run() { # run TAG PLAN K [options]
	tag=$1 plan=$2 k=$3
	shift 3
	"$DTPIPE" --plan "$plan" --threads 1 --quiet --dump "$WORK/$tag" "$@" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $tag did not run"; exit 1; }
	concat_params "$WORK/$tag" "$k"
}

check_model() {
	name=$1 mspec=$2 mdata=$3 opt=$4
	write_plan "$WORK/$name-ref.ini" "$mspec" "$mdata" gpipe no tcp "$opt" 0-3
	onednn "$WORK/$name-ref.ini"
	run "$name-ref" "$WORK/$name-ref.ini" 1
	test "$(wc -l < "$WORK/$name-ref/losses")" -eq 5
	for K in 2 3; do
		case $K in
		2) units="0-1 2-3" sched=gpipe rc=no tr=tcp ;;
		3) units="0 1-2 3" sched=1f1b rc=yes tr=shm ;;
		esac
		tag="$name-onednn-K$K-$sched-rc$rc-$tr"
		# shellcheck disable=SC2086
		write_plan "$WORK/$tag.ini" "$mspec" "$mdata" "$sched" "$rc" "$tr" "$opt" $units
		onednn "$WORK/$tag.ini"
		run "$tag" "$WORK/$tag.ini" "$K"
		cmp "$WORK/$name-ref/losses" "$WORK/$tag/losses" ||
			{ echo "FAIL: $tag: losses differ from the 1-stage onednn run"; exit 1; }
		cmp "$WORK/$name-ref/all.params" "$WORK/$tag/all.params" ||
			{ echo "FAIL: $tag: weights differ from the 1-stage onednn run"; exit 1; }
		echo "ok: $tag bit-identical to 1 stage"
	done
	write_plan "$WORK/$name-opt.ini" "$mspec" "$mdata" gpipe no tcp "$opt" 0-1 2-3
	run "$name-opt" "$WORK/$name-opt.ini" 2 --fp32-matmul onednn
	cmp "$WORK/$name-ref/losses" "$WORK/$name-opt/losses" ||
		{ echo "FAIL: $name: --fp32-matmul onednn differs from the plan's fp32_matmul = onednn"; exit 1; }
	echo "ok: $name --fp32-matmul onednn = the plan's fp32_matmul = onednn"
}

check_model mlp "mlp:12-24-24-24-4" "$WORK/rec" \
	'optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model gpt "gpt:layers=2,dim=16,heads=2,seq=8,vocab=32" "$WORK/tok" \
	'optimizer = adamw\nlr = 0.01\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'

# a checkpoint written on one backend resumes on the other: the weights and
# the optimizer state are fp32 either way. Not bit for bit (the backends sum
# in other orders): the same training within fp32 rounding, losses to 1e-4.
write_plan "$WORK/ck.ini" "mlp:12-24-24-24-4" "$WORK/rec" 1f1b no tcp \
	'optimizer = adamw\nlr = 0.01\nclip_norm = 1.0' 0 1-3
close() { # close A B: the losses of runs A and B agree
	test "$(wc -l < "$WORK/$2/losses")" -eq 6 || { cat "$WORK/$2/losses"; echo "FAIL: $2: not 6 steps"; exit 1; }
	paste "$WORK/$1/losses" "$WORK/$2/losses" | awk '
		{ d = $NF - $(NF / 2); if (d < 0) d = -d; a = $NF < 0 ? -$NF : $NF
		  # (hex floats: an awk that read them as 0 fails here, not passes)
		  if (a == 0 || d > 1e-4 * a + 1e-6) { print "step " NR ": " $0; bad = 1 } }
		END { exit bad }' || { echo "FAIL: $2: losses off from $1"; exit 1; }
}
for from in openblas onednn; do
	to=$([ $from = openblas ] && echo onednn || echo openblas)
	run "full-$to" "$WORK/ck.ini" 2 --steps 6 --fp32-matmul "$to"
	run "half-$from" "$WORK/ck.ini" 2 --steps 3 --checkpoint-dir "$WORK/ck-$from" \
		--fp32-matmul "$from"
	run "half-$from" "$WORK/ck.ini" 2 --steps 6 --checkpoint-dir "$WORK/ck-$from" --resume \
		--fp32-matmul "$to"
	close "full-$to" "half-$from"
	echo "ok: 3 steps on $from + resume 3 on $to ~ 6 steps on $to: $(tail -n 1 "$WORK/half-$from/losses")"
done
echo "PASS"
