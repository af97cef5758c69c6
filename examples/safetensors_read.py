#!/usr/bin/env python3
"""Read a safetensors file (a dtpipe checkpoint or export) with numpy only.
Usage: safetensors_read.py FILE  -> one line per tensor: name dtype shape=d0,d1 values"""
import json, struct, sys
import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}

def load(path):
    """-> ({name: numpy array}, {metadata key: value})"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=DTYPES[t["dtype"]])
        tensors[name] = a.reshape(t["shape"])
    return tensors, meta

if __name__ == "__main__":
    for name, a in load(sys.argv[1])[0].items():
        shape = "shape=" + ",".join(str(d) for d in a.shape)
        print(name, a.dtype, shape, *[repr(v) for v in a.ravel().tolist()])
