#!/usr/bin/python3
"""PyTorch 1.13 reference for scripts/bench-pipeline.sh: the same GPT
(pre-norm blocks, GELU MLP, byte vocabulary) trained on CPU for a few steps,
once as one module on 1 thread and once as torch.distributed.pipeline.sync.Pipe
with 2 partitions and `chunks` micro-batches. Prints one JSON line with the
median step times. Usage: bench_pipe_torch.py L C H T V B M STEPS

Every thread of it is one thread: torch's linear layers call Debian's
OpenBLAS (pthreads), whose thread count torch.set_num_threads does not set,
so OPENBLAS_NUM_THREADS=1 before torch loads it, unless the user set it."""
import json, os, sys, tempfile, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402 (after OPENBLAS_NUM_THREADS)
import torch.nn as nn  # noqa: E402

L, C, H, T, V, B, M, STEPS = (int(a) for a in sys.argv[1:9])
torch.set_num_threads(1)
torch.manual_seed(0)


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)

    def forward(self, idx):
        return self.wte(idx) + self.wpe(torch.arange(T))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = nn.MultiheadAttention(C, H, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"), nn.Linear(4 * C, C))
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(C)
        self.w = nn.Linear(C, V, bias=False)

    def forward(self, x):
        return self.w(self.ln(x))


def units():
    return [Embed()] + [Block() for _ in range(L)] + [Head()]


def bench(model, fwd):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B * M, T))
    y = torch.randint(0, V, (B * M, T))
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        opt.zero_grad()
        logits = fwd(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    return times[len(times) // 2]


u = units()
one = nn.Sequential(*u)
t_one = bench(one, one)

from torch.distributed import rpc
from torch.distributed.pipeline.sync import Pipe

os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", str(29000 + os.getpid() % 1000))
rpc.init_rpc("worker", rank=0, world_size=1,
             rpc_backend_options=rpc.TensorPipeRpcBackendOptions(
                 init_method="file://" + tempfile.mktemp()))
half = (L + 2) // 2
pipe = Pipe(nn.Sequential(nn.Sequential(*units()[:half]), nn.Sequential(*units()[half:])),
            chunks=M, checkpoint="never")
t_pipe = bench(pipe, lambda x: pipe(x).local_value())
rpc.shutdown()
print(json.dumps({"torch": torch.__version__, "one_stage_s": t_one, "pipe2_s": t_pipe,
                  "tokens_per_step": B * M * T,
                  "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"]}))
