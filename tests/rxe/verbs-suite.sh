#!/bin/sh
# The verbs transport on real verbs: directly on this host when `ibv_devices`
# lists an RDMA device, else inside a Soft-RoCE QEMU VM (tests/rxe/rxe-vm.sh,
# or $RXE_VM): test_verbs_link (verbs-specific cases) and the shared transport
# suite `test_transport --transport verbs`. A VM that cannot boot FAILS.
# env: DTP_BUILDDIR, DTP_SRCDIR (set by make check); RXE_VM (launcher);
#      DTP_VERBS_HOST (host mode: the IP of an interface on the RDMA device)
set -u
B=${DTP_BUILDDIR:-.}
S=${DTP_SRCDIR:-$(dirname "$0")/../..}
LINK=$B/tests/rdma/test_verbs_link
SUITE=$B/tests/rdma/test_transport
[ -x "$LINK" ] || { echo "FAIL: $LINK is not built (make check builds it)"; exit 1; }

. "$S/tests/rxe/verbs-host.sh"
if [ -n "$VERBS_HOST" ]; then
  host=$VERBS_HOST
  echo "verbs-suite: RDMA device on this host, running directly on $host"
  "$LINK" --host "$host" || exit 1
  if [ -x "$SUITE" ]; then "$SUITE" --transport verbs --host "$host" || exit 1; fi
  exit 0
fi

echo "verbs-suite: no RDMA device here; running in a Soft-RoCE VM"
VM=${RXE_VM:-$S/tests/rxe/rxe-vm.sh}
JOB=$(mktemp -d /tmp/dtpipe-verbs-job.XXXXXX) || exit 1
trap 'rm -rf "$JOB"' EXIT
cp "$LINK" "$JOB/"
[ -x "$SUITE" ] && cp "$SUITE" "$JOB/"
# every timeout below is a hang guard only: the VM is emulated (TCG) and the
# machine may be busy; the transport suite once needed over 60 s (and a case
# gets 120 s, not the 40 s it gets on a real device)
bash "$VM" -t 900 "$JOB" '
  rc=0
  export DTP_TEST_CASE_LIMIT_S=120
  timeout 200 ./test_verbs_link || rc=1
  if [ -x ./test_transport ]; then
    timeout 480 ./test_transport --transport verbs --host $RXE_IP || rc=1
    # the shared suite through the eager path: per side 3 rounds x 7 tensors
    # of <= 1 KiB (eager) and 3 x 6 larger ones (WRITE), counted by the link
    DTP_VERBS_STATS=1 timeout 100 ./test_transport --transport verbs --host $RXE_IP \
      --case many_sizes_both_directions >stats.log 2>&1 || rc=1
    n=$(grep -c "eager sent 21 received 21 (held [0-9]*), rendezvous sent 18 received 18" stats.log)
    if [ "$n" != 2 ]; then
      echo "FAIL: many_sizes_both_directions did not go 21 eager + 18 WRITE each way:"; cat stats.log; rc=1
    else
      echo "PASS: many_sizes_both_directions: 21 eager + 18 WRITE each way"; grep "verbs stats" stats.log
    fi
  fi
  exit $rc'
rc=$?
[ $rc = 0 ] || echo "FAIL: verbs tests in the Soft-RoCE VM (exit $rc; 124 timeout, 125 VM did not boot)"
exit $rc
