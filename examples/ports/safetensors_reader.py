"""A safetensors file read into torch tensors with the standard library: an 8-byte little-endian
header length, the JSON header (dtype, shape and byte range of each tensor), then the raw bytes.
The ports' torch references read the weights the Tessera side wrote this way (Debian's python3
has no safetensors package).
"""
import json
import struct

import torch


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[a:b]), dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
    return out
