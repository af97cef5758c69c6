#!/bin/sh
# dtpipe --check-env: a good plan exits 0 and prints every section; a plan
# that needs verbs on a host without an RDMA device, a locked-memory limit too
# low for its verbs links (prlimit --memlock), replicas without MPI and a bad
# plan are each named, with exit status 1 (2 for the bad plan).
set -u
: "${DTP_BUILDDIR:?run through make check}" "${DTP_SRCDIR:?run through make check}"
B="$DTP_BUILDDIR/tools/dtpipe"
. "$DTP_SRCDIR/tests/lib-tool.sh"
lib_tool_init check_env
chmod 755 "$T"

plan() {   # plan FILE TRANSPORT [extra sections]
	printf '[model]\nspec = mlp:256-512-512-10\n[train]\nmicro_batch = 32\nmicro_batches = 2\n' >"$1"
	printf '[transport]\nkind = %s\n[stage.0]\nunits = 0\n[stage.1]\nunits = 1-2\n%b' "$2" "${3:-}" >>"$1"
}
rdma=0
[ -d /sys/class/infiniband ] && [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ] && rdma=1

# a good plan: every section, and where each stage runs
plan "$T/good.ini" shm
expect 0 "$B" --check-env --plan "$T/good.ini"
for s in '== plan' '== RDMA devices' '== topology (hwloc)' '== stages of' \
	'== locked memory (RLIMIT_MEMLOCK' '== MPI and Slurm' '== CPU' '== OpenBLAS' '== cores' '== result: 0 problems'; do
	has "$s"
done
has 'mpirun: '
has 'kernel '
[ "$(grep -c -E '^ +[01] +[0-9]' "$T/out")" = 2 ] || { fail "a row per stage"; cat "$T/out"; }
[ $rdma = 1 ] || has 'none: no RDMA device'

# placed on a topology file: the NIC and its cores in the summary
expect 0 "$B" --check-env --plan "$T/good.ini" --topology "$DTP_SRCDIR/tests/partition/topo/two-pkg-nic1.xml"
has 'NICs: mlx5_0 (PUs 4-7)'
has '2 packages'

# verbs asked for on a host without an RDMA device
plan "$T/verbs.ini" verbs
if [ $rdma = 0 ]; then
	expect 1 "$B" --check-env --plan "$T/verbs.ini"
	has 'PROBLEM: the plan asks for transport = verbs and this host has no RDMA device'
	has 'exit status 1'
fi

# locked memory: too low for the verbs links, then unlimited
expect 1 prlimit --memlock=65536 "$B" --check-env --plan "$T/verbs.ini"
has 'soft 64 KiB'
has 'RLIMIT_MEMLOCK is too low: 64 KiB'
has 'raise it to at least'
# as much as the hard limit allows (raising it needs CAP_SYS_RESOURCE)
hard=$(ulimit -H -l)
[ "$hard" = unlimited ] || hard=$((hard * 1024))
expect $((1 - rdma)) prlimit --memlock="$hard" "$B" --check-env --plan "$T/verbs.ini"
hasnt 'is too low'
# the limit binds a process without CAP_IPC_LOCK: there it alone is a problem
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	expect 1 setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --memlock=65536 \
		"$B" --check-env --plan "$T/verbs.ini"
	has 'PROBLEM: RLIMIT_MEMLOCK is too low'
fi

# replicas need MPI: without mpirun and srun in PATH (and no launcher) it says so
plan "$T/rep.ini" shm '[parallel]\nreplicas = 2\n'
env -u OMPI_COMM_WORLD_RANK -u PMIX_RANK -u PMI_RANK -u SLURM_PROCID PATH=/nonexistent \
	"$B" --check-env --plan "$T/rep.ini" >"$T/out" 2>&1
[ $? = 1 ] || { fail "replicas without MPI: exit status"; cat "$T/out"; }
has 'the plan has 2 replicas'
has 'mpirun: not in PATH'

# a bad plan: exit 2, named
printf '[model]\nspec = mlp:16-4\n[stage.0]\nunits = 0-5\n' >"$T/bad.ini"
expect 2 "$B" --check-env --plan "$T/bad.ini"
has 'bad.ini'
has 'fix the plan (exit status 2)'
# cores that this machine does not have: the launcher's own check, exit 2
plan "$T/cores.ini" shm
sed -i 's/^units = 0$/units = 0\ncores = 4000-4001/' "$T/cores.ini"
expect 2 "$B" --check-env --plan "$T/cores.ini"
has '4000-4001'
# --topology alone is refused
expect 2 "$B" --topology x.xml

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "check_env: all passed"
