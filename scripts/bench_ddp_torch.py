#!/usr/bin/python3
"""PyTorch 1.13 reference for scripts/bench-dp.sh: the mlp of the dtpipe
runs (ReLU between the linear layers, cross-entropy, SGD with momentum)
trained on CPU with the same global batch, once in one process on 1 thread
and once as DistributedDataParallel (gloo) over 2 processes of 1 thread each,
each on half the batch. Prints one JSON line with the median step times
(the first steps warm up). Usage: bench_ddp_torch.py WIDTHS BATCH STEPS
(WIDTHS like 784-1024-1024-1024-10)."""
import json, os, sys, tempfile, time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

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
                      "one_process_samples_s": BATCH / t_one, "ddp2_samples_s": BATCH / t_ddp}))
