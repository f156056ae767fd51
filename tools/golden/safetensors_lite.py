"""A dependency-free safetensors reader/writer for PyTorch (needs only torch and numpy).

The format: an 8-byte little-endian header length N, N bytes of JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data.
save_safetensors lays files out like safetensors.torch.save_file (descending dtype, then name;
header padded with spaces to a multiple of 8), so Geodesy and PyTorch exchange them untouched.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

# name, numpy dtype, and position in the reference writer's dtype order
_DTYPES = {
    torch.float16: ("F16", np.float16, 13),
    torch.float32: ("F32", np.float32, 17),
    torch.float64: ("F64", np.float64, 19),
    torch.int64: ("I64", np.int64, 20),
}
_BY_NAME = {v[0]: (k, v[1]) for k, v in _DTYPES.items()}

assert sys.byteorder == "little", "safetensors data is little-endian"


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float16/32/64, int64) and optional {str: str} metadata."""
    items = sorted(tensors.items(), key=lambda kv: (-_DTYPES[kv[1].dtype][2], kv[0].encode("utf-8")))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in sorted(metadata.items())}
    for name, t in items:
        data = t.detach().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype][0], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """Returns ({name: tensor}, metadata) of a file with F16/F32/F64/I64 tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        dtype, np_dtype = _BY_NAME[info["dtype"]]
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata
