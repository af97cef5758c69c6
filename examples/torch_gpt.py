#!/usr/bin/env python3
"""Build a dtpipe-trained gpt in PyTorch and check its logits against dtpipe's.

Usage: torch_gpt.py MODEL LOGITS
  MODEL   a checkpoint directory (its newest complete step, as named by its
          `latest` file), one step-NNNNNNNN directory, or a file written by
          `dtpipe-export CKPT_DIR OUT.safetensors`
  LOGITS  a file written by `dtpipe-export --logits CKPT_DIR OUT.safetensors`:
          one batch of tokens ("inputs", (B, T)) and dtpipe's logits ("logits",
          (B, T, V)) computed by dtpipe's own model code
Prints the largest absolute difference between PyTorch's logits and dtpipe's;
exits 1 when it is above 1e-5 (or the two files are of different models).
Reads the files with examples/safetensors_read.py (json + numpy only).

dtpipe's gpt (src/model/{embedding,block,attention,layernorm,activation,head}.c):
  x = wte[tokens] + wpe[positions]                           (unit 0)
  per block: x = x + proj(attn(ln1(x)));  x = x + mlp.proj(gelu(mlp.fc(ln2(x))))
     attn: qkv = Linear(C, 3C) split into q, k, v (each C wide, head h in
     columns h*C/H ..), softmax(q k^T / sqrt(C/H)) causal, times v
     gelu: the tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
     layer norms: eps 1e-5, biased variance
  logits = head(lnf(x)), head a Linear(C, V) without bias, not tied to wte
Linear weights are (out, in), as nn.Linear's."""
import json, math, os, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_read import load  # noqa: E402

TOLERANCE = 1e-5

def parse_spec(text):
    kind, rest = text.split(":", 1)
    if kind != "gpt":
        sys.exit("torch_gpt.py: the model is a %s, not a gpt (%s)" % (kind, text))
    kv = dict(item.split("=") for item in rest.split(","))
    return {k: int(v) for k, v in kv.items()}

def load_model(path):
    """-> (spec text, {name: array}) from a checkpoint or an exported file"""
    if os.path.isfile(path):
        tensors, meta = load(path)
        return meta["dtpipe.model"], tensors
    sdir = path
    if not os.path.exists(os.path.join(path, "manifest.json")):
        with open(os.path.join(path, "latest")) as f:
            sdir = os.path.join(path, f.read().strip())
    with open(os.path.join(sdir, "manifest.json")) as f:
        man = json.load(f)
    tensors = {}
    for entry in man["files"]:
        tensors.update(load(os.path.join(sdir, entry["name"]))[0])
    # parameters only: the optimizer's state has a role suffix
    tensors = {k: v for k, v in tensors.items()
               if not k.endswith((".adam_m", ".adam_v", ".momentum"))}
    return man["model"], tensors

class Embed(torch.nn.Module):
    def __init__(self, V, C, T):
        super().__init__()
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(T, C)

    def forward(self, tok):
        return self.wte(tok) + self.wpe(torch.arange(tok.shape[1]))

class Attention(torch.nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.proj = torch.nn.Linear(C, C)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.H
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (a.view(B, T, self.H, hs).transpose(1, 2) for a in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, T, C))

class MLP(torch.nn.Module):
    def __init__(self, C):
        super().__init__()
        self.fc = torch.nn.Linear(C, 4 * C)
        self.proj = torch.nn.Linear(4 * C, C)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))

class Block(torch.nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.attn = Attention(C, H)
        self.ln2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.mlp = MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

class Head(torch.nn.Module):
    def __init__(self, C, V):
        super().__init__()
        self.lnf = torch.nn.LayerNorm(C, eps=1e-5)
        self.head = torch.nn.Linear(C, V, bias=False)

    def forward(self, x):
        return self.head(self.lnf(x))

def build(spec_text, tensors):
    s = parse_spec(spec_text)
    L, C, H, T, V = s["layers"], s["dim"], s["heads"], s["seq"], s["vocab"]
    units = [Embed(V, C, T)] + [Block(C, H) for _ in range(L)] + [Head(C, V)]
    model = torch.nn.Sequential(*units)
    # dtpipe's "unit.3.attn.qkv.weight" is the Sequential's "3.attn.qkv.weight";
    # strict: every parameter comes from the file and every tensor is used
    state = {k[len("unit."):]: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    spec, tensors = load_model(sys.argv[1])
    batch, meta = load(sys.argv[2])
    if meta.get("dtpipe.model") != spec:
        sys.exit("torch_gpt.py: %s holds the logits of %s, %s is a %s" %
                 (sys.argv[2], meta.get("dtpipe.model"), sys.argv[1], spec))
    model = build(spec, tensors)
    tok = torch.from_numpy(batch["inputs"].astype(np.int64))
    with torch.no_grad():
        logits = model(tok).numpy()
    want = batch["logits"]
    if logits.shape != want.shape:
        sys.exit("torch_gpt.py: PyTorch's logits are %s, dtpipe's %s" % (logits.shape, want.shape))
    diff = float(np.abs(logits - want).max())
    print("logits of %d x %d tokens, %d classes: max |PyTorch - dtpipe| = %.3g (largest |logit| %.3g)"
          % (want.shape[0], want.shape[1], want.shape[2], diff, float(np.abs(want).max())))
    if not diff <= TOLERANCE:
        print("FAIL: above %g" % TOLERANCE)
        sys.exit(1)
    print("ok: within %g" % TOLERANCE)

if __name__ == "__main__":
    main()
