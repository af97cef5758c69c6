#!/bin/sh
# precision = bf16 across stages: with one thread per stage, 2- and 3-stage
# bf16 runs give losses and weights bit-identical to the 1-stage bf16 run
# (activations and gradients cross the links as bf16, exactly the values the
# model rounded at its unit boundaries), for the mlp and the gpt; the bf16
# run really differs from the fp32 one; a peer of another precision is
# refused at the handshake with a message naming both. Built without oneDNN,
# a bf16 plan must be refused with what to do.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 240 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7

if ! grep -q '^#define DTP_HAVE_ONEDNN 1' "$DTP_BUILDDIR/config.h"; then
	write_plan "$WORK/p.ini" "mlp:12-24-4" "$WORK/rec" gpipe no tcp 'precision = bf16' 0-1
	if "$DTPIPE" --plan "$WORK/p.ini" --threads 1 --quiet >"$WORK/out" 2>&1; then
		echo "FAIL: a bf16 plan ran in a build without oneDNN"; exit 1
	fi
	grep -q 'libdnnl-dev' "$WORK/out" || { cat "$WORK/out"; echo "FAIL: no hint to install oneDNN"; exit 1; }
	echo "ok: built without oneDNN, bf16 refused: $(tail -n 1 "$WORK/out")"
	echo "PASS"
	exit 0
fi

run() { # run TAG PLAN K
	"$DTPIPE" --plan "$2" --threads 1 --quiet --dump "$WORK/$1" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $1 did not run"; exit 1; }
	concat_params "$WORK/$1" "$3"
}

check_model() {
	# (write_plan sets spec, data, optim, ... itself: sh has no locals)
	name=$1 mspec=$2 mdata=$3 fp32=$4 bf16="$4\nprecision = bf16"
	write_plan "$WORK/$name-fp32.ini" "$mspec" "$mdata" gpipe no tcp "$fp32" 0-3
	run "$name-fp32" "$WORK/$name-fp32.ini" 1
	write_plan "$WORK/$name-ref.ini" "$mspec" "$mdata" gpipe no tcp "$bf16" 0-3
	run "$name-ref" "$WORK/$name-ref.ini" 1
	test "$(wc -l < "$WORK/$name-ref/losses")" -eq 5
	if cmp -s "$WORK/$name-fp32/losses" "$WORK/$name-ref/losses"; then
		echo "FAIL: $name: the bf16 run's losses equal the fp32 run's"; exit 1
	fi
	for K in 2 3; do
		case $K in
		2) units="0-1 2-3" sched=gpipe rc=no tr=tcp ;;
		3) units="0 1-2 3" sched=1f1b rc=yes tr=shm ;;
		esac
		tag="$name-bf16-K$K-$sched-rc$rc-$tr"
		# shellcheck disable=SC2086
		write_plan "$WORK/$tag.ini" "$mspec" "$mdata" "$sched" "$rc" "$tr" "$bf16" $units
		run "$tag" "$WORK/$tag.ini" "$K"
		cmp "$WORK/$name-ref/losses" "$WORK/$tag/losses" ||
			{ echo "FAIL: $tag: losses differ from the 1-stage bf16 run"; exit 1; }
		cmp "$WORK/$name-ref/all.params" "$WORK/$tag/all.params" ||
			{ echo "FAIL: $tag: weights differ from the 1-stage bf16 run"; exit 1; }
		echo "ok: $tag bit-identical to 1 stage"
	done
	# --precision on the command line overrides the plan the same way
	write_plan "$WORK/$name-opt.ini" "$mspec" "$mdata" gpipe no tcp "$fp32" 0-1 2-3
	"$DTPIPE" --plan "$WORK/$name-opt.ini" --precision bf16 --threads 1 --quiet \
		--dump "$WORK/$name-opt" >"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: --precision bf16"; exit 1; }
	cmp "$WORK/$name-ref/losses" "$WORK/$name-opt/losses" ||
		{ echo "FAIL: $name: --precision bf16 differs from the plan's precision = bf16"; exit 1; }
	echo "ok: $name --precision bf16 = the plan's precision = bf16"
}

check_model mlp "mlp:12-24-24-24-4" "$WORK/rec" \
	'optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model gpt "gpt:layers=2,dim=16,heads=2,seq=8,vocab=32" "$WORK/tok" \
	'optimizer = adamw\nlr = 0.01\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'

# stage 1 in bf16, stage 0 in fp32: refused at the handshake (stage 0 then
# listens for the right peer until the connect timeout: long enough for a
# slow start of stage 1, short enough not to hold the test)
write_plan "$WORK/mix.ini" "mlp:12-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.1' 0 1
sed -i "s/^connect_timeout_ms = .*/connect_timeout_ms = 8000/" "$WORK/mix.ini"
"$DTPIPE" --plan "$WORK/mix.ini" --stage 0 --threads 1 --no-bind --quiet >"$WORK/s0.out" 2>&1 &
s0=$!
rc1=0
"$DTPIPE" --plan "$WORK/mix.ini" --stage 1 --precision bf16 --threads 1 --no-bind --quiet \
	>"$WORK/s1.out" 2>&1 || rc1=$?
rc0=0
wait "$s0" || rc0=$?
test "$rc1" -ne 0 || { cat "$WORK/s1.out"; echo "FAIL: a bf16 stage ran with an fp32 peer"; exit 1; }
test "$rc0" -ne 0 || { cat "$WORK/s0.out"; echo "FAIL: an fp32 stage ran with a bf16 peer"; exit 1; }
grep -q 'peer stage 0 runs precision fp32, this stage bf16' "$WORK/s1.out" ||
	{ cat "$WORK/s1.out"; echo "FAIL: stage 1 does not say why it was refused"; exit 1; }
grep -q 'runs precision bf16, this stage fp32' "$WORK/s0.out" ||
	{ cat "$WORK/s0.out"; echo "FAIL: stage 0 does not name the precision mismatch"; exit 1; }
echo "ok: mixed precision refused: $(grep -o 'stage 1: peer stage 0 runs precision[^:]*' "$WORK/s1.out" | head -n 1)"
echo "PASS"
