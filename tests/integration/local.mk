# multi-process tests of the pipeline: stages as processes over tcp/shm on localhost
check_PROGRAMS += tests/integration/mkdata
tests_integration_mkdata_SOURCES = tests/integration/mkdata.c
tests_integration_mkdata_LDADD = $(DTP_ALL_LIBS)
INTEGRATION_TESTS += tests/integration/bit_identical.sh
dist_check_SCRIPTS += tests/integration/bit_identical.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/lib-launch.sh
INTEGRATION_TESTS += tests/integration/resume.sh tests/integration/failure.sh \
	tests/integration/observe.sh tests/integration/memcap.sh tests/integration/short-run.sh
dist_check_SCRIPTS += tests/integration/resume.sh tests/integration/failure.sh \
	tests/integration/observe.sh tests/integration/memcap.sh tests/integration/short-run.sh
# --mem-cap over shm counts the neighbours' arenas the links map
INTEGRATION_TESTS += tests/integration/memcap_shm.sh
dist_check_SCRIPTS += tests/integration/memcap_shm.sh
# failures noticed in bounded time by every neighbour, named; slow is not dead
INTEGRATION_TESTS += tests/integration/liveness.sh
dist_check_SCRIPTS += tests/integration/liveness.sh
# ... and a cut tcp connection (network namespaces; root, iproute2, nftables)
INTEGRATION_TESTS += tests/integration/netcut.sh
dist_check_SCRIPTS += tests/integration/netcut.sh
# the launcher: no stage outlives it; one documented exit status per outcome
INTEGRATION_TESTS += tests/integration/orphans.sh tests/integration/exit_status.sh
dist_check_SCRIPTS += tests/integration/orphans.sh tests/integration/exit_status.sh
# malformed inputs and faults, generated: one clear message, the documented
# exit status, nothing left behind
INTEGRATION_TESTS += tests/integration/redteam.sh
dist_check_SCRIPTS += tests/integration/redteam.sh
# valgrind memcheck of a 1-stage and a 2-stage run (third-party leaks in
# tests/valgrind.supp)
INTEGRATION_TESTS += tests/integration/valgrind.sh
dist_check_SCRIPTS += tests/integration/valgrind.sh
EXTRA_DIST += tests/valgrind.supp tests/lsan.supp
INTEGRATION_TESTS += tests/integration/bf16.sh
dist_check_SCRIPTS += tests/integration/bf16.sh
INTEGRATION_TESTS += tests/integration/fp32_matmul.sh
dist_check_SCRIPTS += tests/integration/fp32_matmul.sh
# dtpipe-bench-model's references on the step's thread count
INTEGRATION_TESTS += tests/integration/bench-model-threads.sh
INTEGRATION_TESTS += tests/integration/bench-split.sh
dist_check_SCRIPTS += tests/integration/bench-split.sh
INTEGRATION_TESTS += tests/integration/bench-cores.sh
dist_check_SCRIPTS += tests/integration/bench-cores.sh
dist_check_SCRIPTS += tests/integration/bench-model-threads.sh
# layout-free checkpoints: resumed under another layout, bit for bit
INTEGRATION_TESTS += tests/integration/relayout.sh
dist_check_SCRIPTS += tests/integration/relayout.sh
# checkpoints read by PyTorch (examples/torch_mlp.py): dtpipe's accuracy
INTEGRATION_TESTS += tests/integration/torch_mlp.sh
dist_check_SCRIPTS += tests/integration/torch_mlp.sh
# background checkpoints: the same files as written in the training thread,
# resumed bit for bit, a kill -9 while one is written leaves the previous one
INTEGRATION_TESTS += tests/integration/ckpt_bg.sh
dist_check_SCRIPTS += tests/integration/ckpt_bg.sh

# preemption: a stop signal to the launcher or any stage, a checkpoint, exit
# 75, and --resume ends bit-identical to the run never stopped
INTEGRATION_TESTS += tests/integration/preempt.sh
dist_check_SCRIPTS += tests/integration/preempt.sh
# dtpipe --check-env: sections, RDMA device, locked memory, MPI, bad plans
INTEGRATION_TESTS += tests/integration/check_env.sh
dist_check_SCRIPTS += tests/integration/check_env.sh
# dtpipe-export: one model-only safetensors file from a checkpoint; refusals
INTEGRATION_TESTS += tests/integration/export.sh
dist_check_SCRIPTS += tests/integration/export.sh
# the gpt in PyTorch (examples/torch_gpt.py): logits within 1e-5 of dtpipe's
INTEGRATION_TESTS += tests/integration/torch_gpt.sh
dist_check_SCRIPTS += tests/integration/torch_gpt.sh
# automatic recovery: 5 kills under --max-restarts, bit-identical to the
# uninterrupted run; --elastic onto fewer cores
INTEGRATION_TESTS += tests/integration/chaos.sh tests/integration/elastic.sh
dist_check_SCRIPTS += tests/integration/chaos.sh tests/integration/elastic.sh
# interleaved 1F1B for real: bit-identical to 1 stage, the wrap link over
# shm and tcp, checkpoints across interleaved and plain plans
INTEGRATION_TESTS += tests/integration/interleaved.sh
dist_check_SCRIPTS += tests/integration/interleaved.sh
# interleaved with recompute, background checkpoints; the trace names chunks
INTEGRATION_TESTS += tests/integration/interleaved_opts.sh
dist_check_SCRIPTS += tests/integration/interleaved_opts.sh
