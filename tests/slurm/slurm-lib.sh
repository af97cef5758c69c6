# tests/slurm/slurm-lib.sh - a private, throwaway Slurm for the test suite
# (sourced by bash scripts; needs root). Everything lives in a temp dir with
# ports of its own, so it never meets a Slurm another test (or the machine)
# runs:
#   munged      its own key and socket
#   slurmctld   SlurmctldHost=<hostname>(ADDR), a free port
#   slurmd      one per node on the next port (several nodes only inside
#               network namespaces: srun-netns.sh)
# No systemd, no cgroups, no accounting database (facts: shared/cluster-sim).
#
# Nothing is left behind: the daemons run in a PID namespace of their own
# (unshare --pid --mount-proc), and so do the slurmstepds they fork and the
# tasks of every job. slurm_stop cancels the jobs, TERMs the daemons by PID,
# then SIGKILLs the namespace's init, which makes the kernel kill whatever
# still runs in it. Should the test itself be SIGKILLed (no trap runs), the
# init still ends: it reads a FIFO whose only writer is the test shell (and
# its sruns, each under a timeout), so it sees EOF and the namespace goes. slurm_init sets an EXIT trap that calls slurm_stop (and
# first the caller's cleanup in $SLURM_ON_EXIT), so a failing test cleans up
# too. Slurm missing or not starting is a FAILURE (scripts/setup.sh --test
# installs it), never a skip.
#
#   slurm_init                 temp dir $SR, PID namespace, munged, SLURM_CONF, trap
#   slurm_free_ports N         -> $SLURM_PORTS: first of N consecutive free TCP ports
#   slurm_write_conf ADDR LINE...   slurm.conf, controller at ADDR, then LINEs
#   slurm_bg LOG CMD...        run CMD in the namespace in the background (a daemon)
#   slurm_start_ctld [PREFIX...]    slurmctld (PREFIX: e.g. ip netns exec NS)
#   slurm_start_slurmd NODE [PREFIX...]
#   slurm_wait_idle "NODE..." SECONDS   (clients run through ${SLURM_CLIENT[@]})
#   slurm_start_single         all of it: one node "localhost" at 127.0.0.1
#   slurm_stop
#   slurm_test_begin NAME      the start every Slurm test shares (below)
#   slurm_gpt_plan FILE TRAIN KIND MORE UNITS...   the plan the tests train
#   params DIR K / same_as_ref DIR K WHAT          a run's weights, checked

# srun inside an outer allocation (make check under a real Slurm) would talk
# to the outer controller about the outer job: forget every SLURM_ variable.
for _v in $(env | sed -n 's/^\(SLURM[A-Z0-9_]*\)=.*/\1/p'); do unset "$_v"; done
unset _v

SR=
SLURM_NS_INIT=
SLURM_NS_ID=
SLURM_HOLDER=
SLURM_PIDS=
SLURM_LIFE_FD=
SLURM_ON_EXIT=${SLURM_ON_EXIT:-}
SLURM_CLIENT=()     # prefix for client commands (sinfo, squeue, scancel)

fail() { echo "FAIL: $*"; exit 1; }

# slurm_test_begin NAME: DTPIPE, SHARD and EXPORT (the tools built here; each
# must be), one BLAS thread a process, WORK a new temp dir dtp-NAME.* removed
# on exit ($SLURM_ON_EXIT, which a test may extend before slurm_init)
slurm_test_begin() {
	local p
	: "${DTP_BUILDDIR:?run through make check}"
	DTPIPE=$DTP_BUILDDIR/tools/dtpipe
	SHARD=$DTP_BUILDDIR/tools/dtpipe-shard
	EXPORT=$DTP_BUILDDIR/tools/dtpipe-export
	export OPENBLAS_NUM_THREADS=1
	for p in "$DTPIPE" "$SHARD" "$EXPORT"; do [ -x "$p" ] || fail "$p is not built"; done
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtp-$1.XXXXXX") || exit 1
	SLURM_ON_EXIT='rm -rf "$WORK"'
	trap 'eval "$SLURM_ON_EXIT"' EXIT   # until slurm_init takes over
}

# slurm_gpt_plan FILE TRAIN KIND MORE UNITS...: the small gpt the Slurm tests
# train on $WORK/data, ports from $SLURM_PORTS (slurm_free_ports). TRAIN: the
# [train] keys of the test (micro_batches, schedule, steps, ...), KIND the
# transport, MORE further sections (both printf %b), then a [stage.N] for
# each UNITS in turn.
slurm_gpt_plan() {
	local f=$1 train=$2 kind=$3 more=$4 s=0 u
	shift 4
	{
		printf '[model]\nkind = gpt\nlayers = 2\ndim = 16\nheads = 2\nseq_len = 16\nvocab = 256\n\n'
		printf '[train]\nmicro_batch = 2\n%b\n' "$train"
		printf 'optimizer = adamw\nlr = 1e-2\nclip_norm = 1.0\nseed = 7\nlog_every = 1\n\n'
		printf '[data]\ntrain = %s/data\nloader_budget = 8M\n\n' "$WORK"
		printf '[transport]\nkind = %s\nbase_port = %d\nconnect_timeout_ms = 20000\n\n' "$kind" "$SLURM_PORTS"
		printf '%b' "$more"
		for u in "$@"; do printf '[stage.%d]\nunits = %s\n\n' $s "$u"; s=$((s + 1)); done
	} > "$f"
}
# params DIR K: the weights stages 0..K-1 dumped (--dump DIR), in order
params() { local d=$1 k=$2 s; for s in $(seq 0 $((k - 1))); do cat "$d/params.stage-$s"; done; }
# same_as_ref DIR K WHAT: the run dumped in DIR (K stages) has the 6 losses
# and the weights of the 1-stage run dumped in ref
same_as_ref() {
	[ "$(wc -l < "$1/losses")" -eq 6 ] || fail "$3: $(wc -l < "$1/losses") losses, want 6"
	cmp -s ref/losses "$1/losses" || { paste ref/losses "$1/losses"; fail "$3: losses differ from the 1-stage run"; }
	cmp -s <(params ref 1) <(params "$1" "$2") || fail "$3: weights differ from the 1-stage run"
}

slurm_need() {
	local c miss=
	for c in munged mungekey munge unmunge slurmctld slurmd srun sinfo squeue scancel \
		 ss unshare nsenter timeout; do
		command -v "$c" >/dev/null 2>&1 || miss="$miss $c"
	done
	if [ -n "$miss" ]; then
		echo "FAIL: missing:$miss (Debian: slurm-wlm munge iproute2 util-linux;" \
		     "scripts/setup.sh --test installs them)"
		return 1
	fi
	[ "$(id -u)" = 0 ] || { echo "FAIL: the Slurm tests run the daemons as root"; return 1; }
}

slurm_port_free() {
	[ -z "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
}

# slurm_free_ports N: N consecutive TCP ports with no socket on them. The
# search starts at a place derived from our PID, so parallel tests seldom
# race for the same ports.
slurm_free_ports() {
	local n=$1 base i ok
	# 30400-32699: below Linux's ephemeral range (32768-), where a connection's
	# local port could take ours between the check and the bind, and above
	# the integration tests' range (tests/integration/lib.sh)
	base=$(( 30400 + ($$ * 53 + RANDOM) % 2200 ))
	for _ in $(seq 200); do
		ok=1
		for i in $(seq 0 $((n - 1))); do
			slurm_port_free $((base + i)) || { ok=0; break; }
		done
		if [ $ok = 1 ]; then SLURM_PORTS=$base; return 0; fi
		base=$(( 30400 + (base - 30400 + 97) % 2200 ))
	done
	echo "FAIL: found no $n consecutive free TCP ports"
	return 1
}

slurm_on_exit() {
	local rc=$?
	set +e
	trap '' INT TERM    # a second signal must not cut the cleanup short
	[ -n "$SLURM_ON_EXIT" ] && eval "$SLURM_ON_EXIT"
	slurm_stop
	exit $rc
}

# Run "$@" inside the daemons' PID (and mount) namespace.
slurm_ns() {
	nsenter -t "$SLURM_NS_INIT" --pid --mount -- "$@"
}

# slurm_bg LOG CMD...: CMD in the namespace, in the background, without the
# FIFO's write end (exec: no shell is left holding it)
slurm_bg() {
	local log=$1
	shift
	( exec {SLURM_LIFE_FD}>&- ; exec nsenter -t "$SLURM_NS_INIT" --pid --mount -- "$@" ) >"$log" 2>&1 &
	SLURM_PIDS="$SLURM_PIDS $!"
	disown $!   # no "Killed" job notice when slurm_stop ends the namespace
}

slurm_init() {
	local i
	slurm_need || return 1
	SR=$(mktemp -d "${TMPDIR:-/tmp}/dtp-slurm.XXXXXX") || return 1
	trap slurm_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	chmod 755 "$SR"      # munged: every directory above the socket needs o+x
	mkdir -p "$SR/munge/key" "$SR/ctld" "$SR/log" "$SR/spool"
	chmod 755 "$SR/munge"
	chmod 700 "$SR/munge/key"
	export SLURM_CONF=$SR/slurm.conf
	# the namespace: its init waits for EOF on the FIFO (the test shell is its
	# writer); --kill-child ends it if unshare dies
	mkfifo "$SR/life" || return 1
	unshare --pid --fork --mount-proc --kill-child sh -c 'read -r _ || :' <"$SR/life" >/dev/null 2>&1 &
	SLURM_HOLDER=$!
	exec {SLURM_LIFE_FD}>"$SR/life"
	for i in $(seq 100); do
		SLURM_NS_INIT=$(ps -o pid= --ppid "$SLURM_HOLDER" 2>/dev/null | tr -d ' ')
		[ -n "$SLURM_NS_INIT" ] && break
		sleep 0.05
	done
	[ -n "$SLURM_NS_INIT" ] || { echo "FAIL: unshare --pid --fork did not start"; return 1; }
	SLURM_NS_ID=$(ps -o pidns= -p "$SLURM_NS_INIT" | tr -d ' ')
	mungekey -c -k "$SR/munge/key/munge.key" 2>"$SR/log/mungekey.err" ||
		{ cat "$SR/log/mungekey.err"; echo "FAIL: mungekey"; return 1; }
	slurm_bg "$SR/log/munged.fg" munged -F --socket="$SR/munge/munge.sock" \
		--key-file="$SR/munge/key/munge.key" --pid-file="$SR/munge/munged.pid" \
		--seed-file="$SR/munge/munged.seed" --log-file="$SR/log/munged.log"
	for i in $(seq 100); do [ -S "$SR/munge/munge.sock" ] && break; sleep 0.05; done
	munge -S "$SR/munge/munge.sock" -n 2>/dev/null | unmunge -S "$SR/munge/munge.sock" >/dev/null 2>&1 ||
		{ cat "$SR/log/munged.fg" "$SR/log/munged.log" 2>/dev/null; echo "FAIL: munged did not start"; return 1; }
}

# slurm_write_conf CTLD_ADDR LINE...: controller on CTLD_ADDR, every slurmd on
# the next port; the LINEs (nodes, partition, options) go at the end.
slurm_write_conf() {
	local addr=$1 l
	shift
	slurm_free_ports 2 || return 1
	cat > "$SLURM_CONF" <<EOF
ClusterName=dtpci$$
SlurmctldHost=$(hostname)($addr)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SR/munge/munge.sock
SlurmctldPort=$SLURM_PORTS
SlurmdPort=$((SLURM_PORTS + 1))
StateSaveLocation=$SR/ctld
SlurmdSpoolDir=$SR/spool/%n
SlurmctldPidFile=$SR/slurmctld.pid
SlurmdPidFile=$SR/slurmd-%n.pid
SlurmctldLogFile=$SR/log/slurmctld.log
SlurmdLogFile=$SR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=2
SlurmdTimeout=10
EOF
	for l in "$@"; do printf '%s\n' "$l" >> "$SLURM_CONF"; done
}

slurm_start_ctld() {
	slurm_bg "$SR/log/slurmctld.fg" "$@" slurmctld -D -i
}

slurm_start_slurmd() {
	local node=$1
	shift
	mkdir -p "$SR/spool/$node"
	slurm_bg "$SR/log/slurmd-$node.fg" "$@" slurmd -D -N "$node"
}

slurm_wait_idle() {
	local nodes=$1 to=$2 i n p want
	want=$(echo "$nodes" | wc -w)
	for i in $(seq $((to * 10))); do
		n=$("${SLURM_CLIENT[@]}" sinfo -h -N -o '%N %T' 2>/dev/null |
		    awk '$2 == "idle" { n++ } END { print n + 0 }')
		[ "$n" -ge "$want" ] && return 0
		for p in $SLURM_PIDS; do   # a daemon that died will not come back
			kill -0 "$p" 2>/dev/null || break 2
		done
		sleep 0.1
	done
	"${SLURM_CLIENT[@]}" sinfo -N -o '%N %T %E' 2>&1
	tail -n 15 "$SR"/log/* 2>/dev/null
	echo "FAIL: Slurm nodes ($nodes) not idle (a daemon exited, or ${to}s passed; logs above)"
	return 1
}

# One node "localhost" (127.0.0.1) with DTP_SLURM_CPUS cpus (default 2: more tasks need srun -O).
slurm_start_single() {
	slurm_init || return 1
	slurm_write_conf 127.0.0.1 \
		"NodeName=localhost NodeAddr=127.0.0.1 CPUs=${DTP_SLURM_CPUS:-2} State=UNKNOWN" \
		"PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE" ||
		return 1
	slurm_start_ctld
	slurm_start_slurmd localhost
	slurm_wait_idle localhost 30
}

# PIDs (as seen here) of the processes still in the daemons' PID namespace
slurm_ns_members() {
	[ -n "$SLURM_NS_ID" ] || return 0
	# zombies (orphans the waiting init never reaps) do not count
	ps -e -o pid=,pidns=,stat= | awk -v ns="$SLURM_NS_ID" '$2 == ns && $3 !~ /^Z/ { print $1 }'
}

slurm_stop() {
	local p i left
	[ -n "$SR" ] || return 0
	# our own sruns (and other background jobs of the test) first
	for p in $(jobs -p); do
		case " $SLURM_HOLDER $SLURM_PIDS " in *" $p "*) ;; *) kill -TERM "$p" 2>/dev/null ;; esac
	done
	# jobs first, so that slurmstepd ends their tasks
	if [ -S "$SR/munge/munge.sock" ] && [ -f "$SLURM_CONF" ]; then
		for i in $(timeout 5 "${SLURM_CLIENT[@]}" squeue -h -o %i 2>/dev/null); do
			timeout 5 "${SLURM_CLIENT[@]}" scancel "$i" 2>/dev/null
		done
	fi
	# the daemons by PID (their pid files hold namespace PIDs): slurmds,
	# slurmctld, munged
	for p in $(cat "$SR"/slurmd-*.pid "$SR"/slurmctld.pid "$SR"/munge/munged.pid 2>/dev/null); do
		[ -n "$SLURM_NS_INIT" ] && slurm_ns kill -TERM "$p" 2>/dev/null
	done
	for i in $(seq 30); do
		[ "$(slurm_ns_members | wc -l)" -le 1 ] && break
		sleep 0.1
	done
	# then the namespace's init: the kernel kills what is left in it
	if [ -n "$SLURM_NS_INIT" ]; then
		kill -KILL "$SLURM_NS_INIT" 2>/dev/null
		for i in $(seq 50); do
			left=$(slurm_ns_members)
			[ -z "$left" ] && break
			sleep 0.1
		done
		[ -z "$left" ] || printf 'slurm-lib: still in the namespace: %s\n' "$left" >&2
	fi
	[ -n "$SLURM_LIFE_FD" ] && exec {SLURM_LIFE_FD}>&-
	wait "$SLURM_HOLDER" 2>/dev/null
	for p in $SLURM_PIDS; do   # the nsenters (disowned) follow their children
		for i in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	done
	SLURM_PIDS="" SLURM_HOLDER="" SLURM_NS_INIT="" SLURM_NS_ID="" SLURM_LIFE_FD=""
	if [ -n "${SLURM_KEEP:-}" ]; then
		printf 'slurm-lib: kept %s\n' "$SR" >&2
	else
		rm -rf "$SR"
	fi
	SR=
}
