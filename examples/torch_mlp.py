#!/usr/bin/env python3
"""Build a dtpipe-trained mlp in PyTorch from a checkpoint and evaluate it.

Usage: torch_mlp.py CKPT_DIR TEST_DIR
  CKPT_DIR  a checkpoint directory (the newest complete step under it, as
            named by its `latest` file) or one step-NNNNNNNN directory
  TEST_DIR  a directory of dtpipe record shards (*.dtpr)
Prints "test accuracy: P% (C/N)" as dtpipe's evaluation does.
Reads the files with examples/safetensors_read.py (json + numpy only)."""
import glob, json, os, struct, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_read import load  # noqa: E402

def step_dir(path):
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    with open(os.path.join(path, "latest")) as f:
        return os.path.join(path, f.read().strip())

def build(sdir):
    with open(os.path.join(sdir, "manifest.json")) as f:
        man = json.load(f)
    kind, widths = man["model"].split(":", 1)
    if kind != "mlp":
        sys.exit("torch_mlp.py: %s holds a %s, not an mlp" % (sdir, kind))
    widths = [int(w) for w in widths.split("-")]
    tensors = {}
    for entry in man["files"]:
        tensors.update(load(os.path.join(sdir, entry["name"]))[0])
    layers = []
    for u in range(len(widths) - 1):
        lin = torch.nn.Linear(widths[u], widths[u + 1])
        with torch.no_grad():   # dtpipe's linear weight is (out, in), as nn.Linear's
            lin.weight.copy_(torch.from_numpy(tensors["unit.%d.fc.weight" % u].copy()))
            lin.bias.copy_(torch.from_numpy(tensors["unit.%d.fc.bias" % u].copy()))
        layers.append(lin)
        if u < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers), widths

def read_records(test_dir):
    """every record of the *.dtpr shards, sorted by name -> (x float32, y int64)"""
    xs, ys = [], []
    for path in sorted(glob.glob(os.path.join(test_dir, "*.dtpr"))):
        with open(path, "rb") as f:
            data = f.read()
        magic, _, n, fdt, ldt, _, rank = struct.unpack_from("<IIQIIII", data, 0)
        dims = struct.unpack_from("<4I", data, 32)[:rank]
        rec = struct.unpack_from("<I", data, 48)[0]
        if magic != 0x52505444:
            sys.exit("torch_mlp.py: %s is not a record shard" % path)
        feat = int(np.prod(dims))
        fsz = 1 if fdt == 1 else 4
        lsz = 1 if ldt == 1 else 4
        raw = np.frombuffer(data, dtype=np.uint8, offset=64, count=n * rec).reshape(n, rec)
        f = raw[:, :feat * fsz].copy()
        if fdt == 1:
            x = f.astype(np.float32) / np.float32(255.0)
        else:
            x = f.view("<f4").reshape(n, feat)
        lab = raw[:, feat * fsz:feat * fsz + lsz].copy()
        y = lab.view("u1" if lsz == 1 else "<i4").reshape(n)
        xs.append(x)
        ys.append(y.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    model, widths = build(step_dir(sys.argv[1]))
    x, y = read_records(sys.argv[2])
    with torch.no_grad():
        logits = model(torch.from_numpy(x.reshape(len(x), widths[0])))
    correct = int((logits.argmax(dim=1) == torch.from_numpy(y)).sum())
    print("test accuracy: %.2f%% (%d/%d)" % (100.0 * correct / len(y), correct, len(y)))

if __name__ == "__main__":
    main()
