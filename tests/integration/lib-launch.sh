# Helpers for the tests of the local launcher (sourced after lib.sh).

# stages_of PLAN: pids of the live (not zombie) processes running with PLAN
stages_of() {
	ps -eo pid=,stat=,args= | awk -v p="$1" 'index($0, p) && $2 !~ /^Z/ && !/awk/ { print $1 }'
}

# wait_training METRICS OUT: a step is done (every stage connected); OUT is
# shown if not within 30 s
wait_training() {
	i=0
	until grep -q '"step"' "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 120 ]; then cat "$2"; echo "FAIL: the job did not start training"; exit 1; fi
		sleep 0.25
	done
}

# start_quiet NAME: a quiet 4-stage run of plan $WORK/NAME.ini over shm in the
# background (pid in $sup), returning once it trains
start_quiet() {
	next_port
	write_plan "$WORK/$1.ini" "mlp:12-24-24-24-4" "$WORK/rec" gpipe no shm 'lr = 0.01' 0 1 2 3
	"$DTPIPE" --plan "$WORK/$1.ini" --threads 1 --no-bind --steps 1000000 --quiet \
		--metrics "$WORK/$1.jsonl" >"$WORK/$1.out" 2>&1 &
	sup=$!
	wait_training "$WORK/$1.jsonl" "$WORK/$1.out"
}
