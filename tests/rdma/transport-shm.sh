#!/bin/sh
# The transport suite over shm on loopback: two forked stages per case, each
# case under a time limit (tests/rdma/transport_suite.c).
exec "${DTP_BUILDDIR:-.}/tests/rdma/test_transport" --transport shm --host 127.0.0.1
