"""The safetensors file format, written and read without the ``safetensors`` package.

Layout: an 8-byte little-endian header length, a JSON header (``{key: {"dtype", "shape",
"data_offsets"}}`` plus ``__metadata__``), then the raw little-endian tensor bytes. The header
is known before any data is read, so tensors are written one at a time (streamed).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import torch

__all__ = ["DTYPES", "nbytes", "write_header", "read"]

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
_BY_NAME = {v: k for k, v in DTYPES.items()}


def nbytes(dtype, shape):
    """Bytes of a tensor of ``dtype`` and ``shape``."""
    return int(np.prod(shape, dtype=np.int64)) * torch.empty((), dtype=dtype).element_size()


def write_header(stream, entries, metadata=None):
    """Write the header for ``entries`` (``(key, torch dtype, shape)`` in data order); return sizes."""
    header, offset, sizes = {}, 0, []
    for key, dtype, shape in entries:
        size = nbytes(dtype, shape)
        header[key] = {"dtype": DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
        sizes.append(size)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    stream.write(struct.pack("<Q", len(raw)))
    stream.write(raw)
    return sizes


def read(path):
    """``(tensors, metadata)`` of a safetensors file (``dict`` of CPU tensors)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        metadata = header.pop("__metadata__", {})
        base = 8 + length
        tensors = {}
        for key, info in header.items():
            start, end = info["data_offsets"]
            f.seek(base + start)
            data = bytearray(f.read(end - start))
            dtype = _BY_NAME[info["dtype"]]
            tensor = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            tensors[key] = tensor.reshape(info["shape"])
    return tensors, metadata
