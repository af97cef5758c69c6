#!/bin/sh
# The pipeline on real verbs: dtpipe runs a 2-stage mlp (GPipe) and a 3-stage
# gpt (1F1B, recompute) with transport = verbs, inside the Soft-RoCE VM (or
# directly on a host with an RDMA device), and their losses and weights are
# compared byte for byte with the 1-stage runs of the same plans.
# env: DTP_BUILDDIR, DTP_SRCDIR (make check); RXE_VM; DTP_VERBS_HOST (host mode)
. "$DTP_SRCDIR/tests/integration/lib.sh"

JOB="$WORK/job"
mkdir -p "$JOB"
cp "$DTPIPE" "$JOB/"
"$MKDATA" records "$JOB/rec" 240 40 12 4 7
"$MKDATA" tokens "$JOB/tok" 3000 400 32 7
# plans with data paths relative to the job directory; hosts are added where it runs
write_plan "$JOB/mlp-1.ini" "mlp:12-24-24-4" rec gpipe no tcp 'lr = 0.1' 0-2
write_plan "$JOB/mlp-2.ini" "mlp:12-24-24-4" rec gpipe no verbs 'lr = 0.1' 0 1-2
write_plan "$JOB/gpt-1.ini" "gpt:L=2,C=16,H=2,T=8,V=32" tok 1f1b yes tcp 'optimizer = adamw\nlr = 0.003' 0-3
write_plan "$JOB/gpt-3.ini" "gpt:L=2,C=16,H=2,T=8,V=32" tok 1f1b yes verbs 'optimizer = adamw\nlr = 0.003' 0 1-2 3
cat > "$JOB/run.sh" <<'RUN'
# run.sh HOST: in the job directory, where the RDMA device is
host=$1 rc=0
for f in mlp-2.ini gpt-3.ini; do
	sed -i "s/^\(\[stage\.[0-9]*\]\)\$/\1\nhost = $host/" "$f"
done
for m in mlp:2 gpt:3; do
	name=${m%:*} k=${m#*:}
	./dtpipe --plan "$name-1.ini" --threads 1 --no-bind --quiet --dump "d-$name-1" > out 2>&1 ||
		{ cat out; echo "FAIL: $name 1 stage"; rc=1; continue; }
	timeout 200 ./dtpipe --plan "$name-$k.ini" --threads 1 --no-bind --quiet --dump "d-$name-$k" > out 2>&1 ||
		{ cat out; echo "FAIL: $name $k stages over verbs"; rc=1; continue; }
	cat "d-$name-1"/params.stage-* > a.params
	cat $(i=0; while [ $i -lt "$k" ]; do echo "d-$name-$k/params.stage-$i"; i=$((i + 1)); done) > b.params
	if cmp "d-$name-1/losses" "d-$name-$k/losses" && cmp a.params b.params; then
		echo "ok: $name, $k stages over verbs, bit-identical to 1 stage ($(wc -l < "d-$name-1/losses") steps)"
	else
		echo "FAIL: $name, $k stages over verbs, differs from 1 stage"; rc=1
	fi
done
exit $rc
RUN

. "$DTP_SRCDIR/tests/rxe/verbs-host.sh"
if [ -n "$VERBS_HOST" ]; then
	(cd "$JOB" && sh ./run.sh "$VERBS_HOST") || exit 1
	echo PASS
	exit 0
fi
VM=${RXE_VM:-$DTP_SRCDIR/tests/rxe/rxe-vm.sh}
bash "$VM" -t 280 "$JOB" 'sh ./run.sh $RXE_IP'
rc=$?
[ $rc = 0 ] || { echo "FAIL: the pipeline over verbs in the Soft-RoCE VM (exit $rc; 124 timeout, 125 VM did not boot)"; exit 1; }
echo PASS
