#!/bin/sh
# THE invariant: with one BLAS thread per stage, a K-stage run and the 1-stage
# run of the same plan, seed and data give bit-identical losses and weights,
# for the mlp and the gpt, K = 2, 3, 4, GPipe and 1F1B, with and without
# recompute, ZB-H1 (backward split into B and W ops; no recompute), and
# ZB-H2 at K = 2 and 3 (each model one over tcp, the other over shm), over
# tcp and shm. Weights and losses (hex floats) are compared
# byte for byte.
. "$DTP_SRCDIR/tests/integration/lib.sh"

"$MKDATA" records "$WORK/rec" 240 40 12 4 7
"$MKDATA" tokens "$WORK/tok" 6000 800 32 7

check_model() {
	name=$1 spec=$2 data=$3 optim=$4
	write_plan "$WORK/$name-ref.ini" "$spec" "$data" gpipe no tcp "$optim" 0-3
	"$DTPIPE" --plan "$WORK/$name-ref.ini" --threads 1 --quiet --dump "$WORK/$name-ref" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: $name 1-stage run"; exit 1; }
	concat_params "$WORK/$name-ref" 1
	test "$(wc -l < "$WORK/$name-ref/losses")" -eq 5
	for K in 2 3 4; do
		case $K in
		2) units="0-1 2-3" ;;
		3) units="0 1-2 3" ;;
		4) units="0 1 2 3" ;;
		esac
		for sched in gpipe 1f1b zb-h1 zb-h2; do
			tr=tcp
			[ "$sched" = 1f1b ] && tr=shm
			rcs="no yes"
			[ "$sched" = zb-h1 ] && { rcs=no; [ "$K" = 3 ] && tr=shm; }
			if [ "$sched" = zb-h2 ]; then
				[ "$K" = 4 ] && continue
				rcs=no
				case $name-$K in mlp-3 | gpt-2) tr=shm ;; esac
			fi
			for rc in $rcs; do
				tag="$name-K$K-$sched-rc$rc"
				# shellcheck disable=SC2086
				write_plan "$WORK/$tag.ini" "$spec" "$data" "$sched" "$rc" "$tr" "$optim" $units
				"$DTPIPE" --plan "$WORK/$tag.ini" --threads 1 --quiet --dump "$WORK/$tag" \
					>"$WORK/out" 2>&1 || { cat "$WORK/out"; echo "FAIL: $tag did not run"; exit 1; }
				concat_params "$WORK/$tag" "$K"
				cmp "$WORK/$name-ref/losses" "$WORK/$tag/losses" ||
					{ echo "FAIL: $tag: losses differ from the 1-stage run"; exit 1; }
				cmp "$WORK/$name-ref/all.params" "$WORK/$tag/all.params" ||
					{ echo "FAIL: $tag: weights differ from the 1-stage run"; exit 1; }
				echo "ok: $tag bit-identical to 1 stage"
			done
		done
	done
}

# fewer micro-batches than stages (M=2, K=4; a warning, not an error)
MICRO=2
write_plan "$WORK/m2-ref.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no tcp 'lr = 0.1' 0-3
"$DTPIPE" --plan "$WORK/m2-ref.ini" --threads 1 --quiet --dump "$WORK/m2-ref" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: M=2 1-stage run"; exit 1; }
for sched in gpipe 1f1b; do
	write_plan "$WORK/m2-$sched.ini" "mlp:12-24-24-24-4" "$WORK/rec" $sched yes shm 'lr = 0.1' 0 1 2 3
	"$DTPIPE" --plan "$WORK/m2-$sched.ini" --threads 1 --quiet --dump "$WORK/m2-$sched" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out"; echo "FAIL: M=2 K=4 $sched"; exit 1; }
	concat_params "$WORK/m2-ref" 1
	concat_params "$WORK/m2-$sched" 4
	cmp "$WORK/m2-ref/losses" "$WORK/m2-$sched/losses" && cmp "$WORK/m2-ref/all.params" "$WORK/m2-$sched/all.params" ||
		{ echo "FAIL: M=2 K=4 $sched differs from 1 stage"; exit 1; }
	echo "ok: mlp-K4-M2-$sched-rcyes bit-identical to 1 stage"
done
# zb-h1, M=2 K=4, and its refusal of recompute (bad input: status 2, named)
write_plan "$WORK/m2-zb.ini" "mlp:12-24-24-24-4" "$WORK/rec" zb-h1 no shm 'lr = 0.1' 0 1 2 3
"$DTPIPE" --plan "$WORK/m2-zb.ini" --threads 1 --quiet --dump "$WORK/m2-zb" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; echo "FAIL: M=2 K=4 zb-h1"; exit 1; }
concat_params "$WORK/m2-zb" 4
cmp "$WORK/m2-ref/losses" "$WORK/m2-zb/losses" && cmp "$WORK/m2-ref/all.params" "$WORK/m2-zb/all.params" ||
	{ echo "FAIL: M=2 K=4 zb-h1 differs from 1 stage"; exit 1; }
echo "ok: mlp-K4-M2-zb-h1 bit-identical to 1 stage"
write_plan "$WORK/zb-rc.ini" "mlp:12-24-24-24-4" "$WORK/rec" zb-h1 yes shm 'lr = 0.1' 0-1 2-3
st=0
"$DTPIPE" --plan "$WORK/zb-rc.ini" --threads 1 --quiet >"$WORK/out" 2>&1 || st=$?
[ "$st" = 2 ] && grep -q "zb-h1 with recompute" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: zb-h1 with recompute: status $st, expected 2 and the reason"; exit 1; }
echo "ok: zb-h1 with recompute refused"
sed 's/^schedule = zb-h1$/schedule = zb-h2/' "$WORK/zb-rc.ini" >"$WORK/zb2-rc.ini"
st=0
"$DTPIPE" --plan "$WORK/zb2-rc.ini" --threads 1 --quiet >"$WORK/out" 2>&1 || st=$?
[ "$st" = 2 ] && grep -q "zb-h2 with recompute" "$WORK/out" ||
	{ cat "$WORK/out"; echo "FAIL: zb-h2 with recompute: status $st, expected 2 and the reason"; exit 1; }
echo "ok: zb-h2 with recompute refused"
MICRO=3

check_model mlp "mlp:12-24-24-24-4" "$WORK/rec" \
	'optimizer = sgd\nlr = 0.1\nmomentum = 0.9\nclip_norm = 0.5\nweight_decay = 0.01'
check_model gpt "gpt:layers=2,dim=16,heads=2,seq=8,vocab=32" "$WORK/tok" \
	'optimizer = adamw\nlr = 0.01\nclip_norm = 1.0\nweight_decay = 0.1\nwarmup_steps = 2'
echo "PASS"
