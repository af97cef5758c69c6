#!/usr/bin/python3
"""PyTorch 1.13 reference for scripts/bench-dp.sh: the mlp of the dtpipe
runs (ReLU between the linear layers, cross-entropy, SGD with momentum)
trained on CPU with the same global batch, once in one process on 1 thread
and once as DistributedDataParallel (gloo) over 2 processes of 1 thread each,
each on half the batch. Prints one JSON line with the median step times
(the first steps warm up). Usage: bench_ddp_torch.py WIDTHS BATCH STEPS
(WIDTHS like 784-1024-1024-1024-10).

Debian's torch does its matmuls in the system BLAS (libblas ->
OpenBLAS, pthreads), and torch.set_num_threads(1) does not limit OpenBLAS's
own threads: without OPENBLAS_NUM_THREADS=1 "one thread" used both cores of
the test machine (31.6 ms/step against 58 ms with it). So the script sets
OPENBLAS_NUM_THREADS=1 before torch loads OpenBLAS, unless the user set it
(the DDP ranks inherit it). OpenBLAS's kernel is OPENBLAS_CORETYPE's, as for
dtpipe (bench-dp.sh runs both sides with the same one)."""
import json, os, sys, tempfile, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402 (after OPENBLAS_NUM_THREADS)
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn as nn  # noqa: E402

WIDTHS = [int(w) for w in sys.argv[1].split("-")]
BATCH, STEPS = int(sys.argv[2]), int(sys.argv[3])
WARM = 3


def model():
    layers = []
    for i in range(len(WIDTHS) - 1):
        layers.append(nn.Linear(WIDTHS[i], WIDTHS[i + 1]))
        if i + 2 < len(WIDTHS):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def bench(net, batch, barrier=None):
    torch.manual_seed(1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, WIDTHS[0])
    y = torch.randint(0, WIDTHS[-1], (batch,))
    times = []
    for _ in range(STEPS + WARM):
        if barrier:
            barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[WARM:])
    return times[len(times) // 2]


def ddp_rank(rank, world, init, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    net = nn.parallel.DistributedDataParallel(model())
    t = bench(net, BATCH // world)
    if rank == 0:
        with open(out, "w") as f:
            f.write(str(t))
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t_one = bench(model(), BATCH)
    d = tempfile.mkdtemp()
    init, out = "file://" + os.path.join(d, "rdv"), os.path.join(d, "t")
    mp.spawn(ddp_rank, args=(2, init, out), nprocs=2, join=True)
    t_ddp = float(open(out).read())
    print(json.dumps({"one_process_s": t_one, "ddp2_s": t_ddp,
                      "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
                      "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
                      "one_process_samples_s": BATCH / t_one, "ddp2_samples_s": BATCH / t_ddp}))
