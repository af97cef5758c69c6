# tests: each module's tests are in tests/<module>/local.mk
include tests/base/local.mk
include tests/model/local.mk
include tests/io/local.mk
include tests/rdma/local.mk
include tests/partition/local.mk
include tests/pipeline/local.mk
include tests/integration/local.mk
include tests/rxe/local.mk
include tests/slurm/local.mk
include tests/mpi/local.mk
# the include rule: no file includes another module's internal header
INTEGRATION_TESTS += tests/include_rule.sh
dist_check_SCRIPTS += tests/include_rule.sh
include tests/fuzz/local.mk
# helpers sourced by the tests that check a tool's exit status and output
EXTRA_DIST += tests/lib-tool.sh
