#!/usr/bin/python3
"""PyTorch reference for tools/dtpipe-bench-model: trains the same models
(same shapes, batch, optimizer, loss) with Debian's python3-torch 1.13 and
prints the same key=value line. FLOPs are counted with the same formula as
dtp_model_matmuls (matmuls only; full T x T attention scores).

usage: bench_model_torch.py [--case mlp|gpt|gpt2s|all] [--steps N]
                            [--gpt2s-steps N] [--threads N]
With 2 threads set OMP_WAIT_POLICY=passive (scripts/bench-model.sh does):
otherwise torch's OpenMP threads spin against OpenBLAS's.

torch's fp32 linear layers call Debian's OpenBLAS (pthreads), whose thread
count torch.set_num_threads does not set: without OPENBLAS_NUM_THREADS a
"1-thread" run multiplied on every core. The script sets
OPENBLAS_NUM_THREADS to --threads before torch loads OpenBLAS."""
import argparse
import math
import os
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="all")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--gpt2s-steps", type=int, default=2)
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    return ap.parse_args()


ARGS = parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
import torch  # noqa: E402 (after OPENBLAS_NUM_THREADS)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        hs = C // self.H
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.H, hs).transpose(1, 2)
        k = k.view(B, T, self.H, hs).transpose(1, 2)
        v = v.view(B, T, self.H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, C, H, T, V):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.blocks = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.lnf = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)))

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x, self.mask)
        return self.head(self.lnf(x))


def mlp_flops(widths, B):
    f = 0
    for i in range(len(widths) - 1):
        ic, oc = widths[i], widths[i + 1]
        f += 2 * B * ic * oc * (2 if i == 0 else 3)   # no d(input) for layer 0
    return f


def gpt_flops(L, C, H, T, V, B):
    N = B * T
    return 3 * (L * (24 * N * C * C + 4 * B * T * T * C) + 2 * N * C * V)


CASES = {
    "mlp": dict(kind="mlp", widths=[784, 1024, 1024, 1024, 10], B=256),
    "gpt": dict(kind="gpt", L=4, C=256, H=4, T=128, V=256, B=16),
    "gpt2s": dict(kind="gpt", L=12, C=768, H=12, T=128, V=50257, B=8),
}


def run(name, c, steps, bf16=False):
    torch.manual_seed(1)
    B = c["B"]
    if c["kind"] == "mlp":
        w = c["widths"]
        layers = []
        for i in range(len(w) - 1):
            layers.append(nn.Linear(w[i], w[i + 1]))
            if i < len(w) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.rand(B, w[0])
        y = torch.randint(0, w[-1], (B,))
        flops = mlp_flops(w, B)
        per_step = B
        unit = "samples_per_s"
    else:
        model = GPT(c["L"], c["C"], c["H"], c["T"], c["V"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
        x = torch.randint(0, c["V"], (B, c["T"]))
        y = torch.randint(0, c["V"], (B * c["T"],))
        flops = gpt_flops(c["L"], c["C"], c["H"], c["T"], c["V"], B)
        per_step = B * c["T"]
        unit = "tokens_per_s"
    best, total, first, loss = 1e30, 0.0, None, None
    for s in range(steps + 1):     # step 0 warms up, not timed
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        # bf16: CPU autocast (bf16 matmuls, fp32 weights and optimizer)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
            loss = F.cross_entropy(out.view(-1, out.shape[-1]).float(), y)
        loss.backward()
        opt.step()
        t = time.perf_counter() - t0
        if s == 0:
            first = loss.item()
        else:
            total += t
            best = min(best, t)
    print("case=%s precision=%s threads=%d core=torch-%s B=%d steps=%d step_ms_mean=%.2f "
          "step_ms_best=%.2f %s=%.0f model_gflops=%.1f loss_first=%.4f loss_last=%.4f"
          % (name, "bf16" if bf16 else "fp32", torch.get_num_threads(), torch.__version__,
             B, steps,
             total / steps * 1e3, best * 1e3, unit, per_step / best,
             flops / best * 1e-9, first, loss.item()), flush=True)


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    names = list(CASES) if a.case == "all" else [a.case]
    for n in names:
        if n not in CASES:
            sys.exit("unknown case %s" % n)
        run(n, CASES[n], a.gpt2s_steps if n == "gpt2s" else a.steps,
            a.precision == "bf16")


if __name__ == "__main__":
    main()
