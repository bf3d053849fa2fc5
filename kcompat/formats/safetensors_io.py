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

from .records import ConversionError

__all__ = ["DTYPES", "nbytes", "write_header", "write_state", "read", "load_file"]

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
# Unsigned integers wider than a byte (TF checkpoints hold them): torch has them from 2.3.
DTYPES.update({getattr(torch, name): code for name, code in (("uint16", "U16"), ("uint32", "U32"), ("uint64", "U64"))
               if hasattr(torch, name)})
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


def write_state(stream, tensors, metadata=None):
    """Write ``tensors`` (``{key: tensor}``, a state dict) as a whole safetensors file to ``stream``."""
    items = [(key, t.detach().cpu().contiguous()) for key, t in tensors.items()]
    write_header(stream, [(key, t.dtype, tuple(t.shape)) for key, t in items], metadata)
    for _, t in items:
        raw = t.numpy() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy()
        stream.write(memoryview(raw).cast("B") if raw.size else b"")


def load_file(path):
    """``{key: tensor}`` of a safetensors file, as ``safetensors.torch.load_file`` gives it."""
    return read(path)[0]


def read(path):
    """``(tensors, metadata)`` of a safetensors file (``dict`` of CPU tensors).

    The header is checked before anything is allocated: its length against the file, its JSON,
    each entry's dtype, shape and offsets against each other and the data (a
    :class:`~kcompat.formats.records.ConversionError` naming what is wrong)."""

    def bad(problem):
        return ConversionError(f"{path}: not a valid safetensors file ({problem})")

    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(0)
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"{size} bytes, shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise bad(f"header length {length} exceeds the file's {size - 8} bytes after it")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad(f"the header is not JSON: {exc}") from None
        if not isinstance(header, dict):
            raise bad(f"the header is a JSON {type(header).__name__}, not an object")
        metadata = header.pop("__metadata__", {})
        base = 8 + length
        entries = []
        for key, info in header.items():
            entries.append((key, *_checked_entry(key, info, size - base, bad)))
        tensors = {}
        for key, dtype, shape, start, end in entries:
            f.seek(base + start)
            data = bytearray(f.read(end - start))
            tensor = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            tensors[key] = tensor.reshape(shape)
    return tensors, metadata


def _checked_entry(key, info, data_size, bad):
    """``(torch dtype, shape, start, end)`` of one header entry, or ``bad(problem)`` raised."""
    if not isinstance(info, dict):
        raise bad(f"entry {key!r} is not an object")
    dtype = _BY_NAME.get(info.get("dtype"))
    if dtype is None:
        raise bad(f"entry {key!r} has dtype {info.get('dtype')!r}; known: {', '.join(_BY_NAME)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise bad(f"entry {key!r} has shape {shape!r}, not a list of integers >= 0")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)):
        raise bad(f"entry {key!r} has data_offsets {offsets!r}, not two integers")
    start, end = offsets
    if not 0 <= start <= end <= data_size:
        raise bad(f"entry {key!r} has data_offsets {offsets} outside the {data_size} bytes of data")
    if end - start != nbytes(dtype, shape):
        raise bad(f"entry {key!r} holds {end - start} bytes but shape {shape} of {info['dtype']} needs "
                  f"{nbytes(dtype, shape)}")
    return dtype, shape, start, end
