"""TensorFlow checkpoints (``model.ckpt.index`` + ``.data-*``) read without TensorFlow.

The tensor-bundle format: the ``.index`` file is a LevelDB-style sorted table mapping each
variable name to a ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c); the
empty key holds the ``BundleHeaderProto``. The tensors are raw little-endian bytes in the
``.data-NNNNN-of-MMMMM`` shards. Only the few protobuf fields needed are decoded here.
TF1 ``Saver`` checkpoints name variables ``generator/deconv1/kernel``; TF2 object
checkpoints add ``/.ATTRIBUTES/VARIABLE_VALUE`` paths and bookkeeping entries.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np

from .keras_files import ConversionError, Layer, ModelFile, Tensor

__all__ = ["checkpoint_files", "is_checkpoint", "open_checkpoint", "read_index"]

_TABLE_MAGIC = 0xDB4775248B80FB57
# TensorFlow DataType enum -> numpy (bfloat16 is read as uint16 bits and widened later).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 14: "bfloat16", 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
_OPTIMIZER_SLOT = re.compile(
    r"(/(Adam|Adam_\d+|Momentum|RMSProp|RMSProp_\d+|Adagrad|Adadelta|Adadelta_\d+|Ftrl|Ftrl_\d+|"
    r"ExponentialMovingAverage)$)|(^|/)(beta1_power|beta2_power|global_step)$|/OPTIMIZER_SLOT/|^optimizer/"
)
_BOOKKEEPING = re.compile(r"^_CHECKPOINTABLE_OBJECT_GRAPH$|^save_counter/|(^|/)iter(ations)?/")


def _prefix(path):
    path = str(path)
    if os.path.isdir(path):
        state = os.path.join(path, "checkpoint")
        if os.path.exists(state):
            with open(state) as f:
                match = re.search(r'^model_checkpoint_path:\s*"(.*)"', f.read(), re.M)
            if match:
                found = match.group(1)
                return found if os.path.isabs(found) else os.path.join(path, found)
        return None
    if path.endswith(".index"):
        return path[: -len(".index")]
    data = re.match(r"(.*)\.data-\d{5}-of-\d{5}$", path)
    if data:
        return data.group(1)
    return path


def checkpoint_files(path):
    """The files a checkpoint at ``path`` is read from: its ``.index``, its data shards and, for a
    directory, its ``checkpoint`` state file."""
    prefix = _prefix(path)
    if prefix is None:
        return []
    directory, base = os.path.split(os.path.abspath(prefix))
    shard = re.compile(re.escape(base) + r"\.data-\d{5}-of-\d{5}$")
    names = [n for n in os.listdir(directory or ".") if n == base + ".index" or shard.match(n)] \
        if os.path.isdir(directory or ".") else []
    files = [os.path.join(directory, n) for n in names]
    if os.path.isdir(str(path)):
        files.append(os.path.join(str(path), "checkpoint"))
    return files


def is_checkpoint(path):
    """True for a checkpoint prefix, its ``.index``/``.data-*`` file, or a directory with a ``checkpoint`` file.

    A path that is a file of its own counts only if it is the ``.index`` (whose table magic
    :func:`open_checkpoint` checks) or a data shard.
    """
    path = str(path)
    prefix = _prefix(path)
    if prefix is None or not os.path.isfile(prefix + ".index"):
        return False
    return not os.path.isfile(path) or path.endswith(".index") or path != prefix


# ----------------------------------------------------------------- decoding
def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """``(field_number, value)`` of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _block(data, offset, size):
    if offset + size + 5 > len(data):
        raise ValueError("a table block lies past the end of the file")
    if data[offset + size] != 0:
        raise ValueError("compressed table blocks are not supported")
    return data[offset:offset + size]


def _block_entries(block):
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + bytes(block[pos:pos + non_shared])
        pos += non_shared
        yield key, bytes(block[pos:pos + value_length])
        pos += value_length


def read_index(prefix):
    """``(header, entries)``: the bundle header fields and ``{name: entry dict}`` in file order."""
    with open(prefix + ".index", "rb") as f:
        data = f.read()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (bad magic)")
    footer = data[-48:]
    _, pos = _varint(footer, 0)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    header, entries = {}, {}
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block_entries(_block(data, offset, size)):
            fields = list(_fields(value))
            if key == b"":
                header = dict(fields)
                continue
            entry = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0, "sliced": False}
            for number, v in fields:
                if number == 1:
                    entry["dtype"] = v
                elif number == 2:
                    entry["shape"] = tuple(dict(_fields(dim)).get(1, 0) for n, dim in _fields(v) if n == 2)
                elif number == 3:
                    entry["shard"] = v
                elif number == 4:
                    entry["offset"] = v
                elif number == 5:
                    entry["size"] = v
                elif number == 7:
                    entry["sliced"] = True
            entries[key.decode()] = entry
    return header, entries


def _reader(data_path, entry, name):
    def read():
        dtype = _DTYPES.get(entry["dtype"])
        with open(data_path, "rb") as f:
            f.seek(entry["offset"])
            raw = f.read(entry["size"])
        if len(raw) != entry["size"]:
            raise ConversionError(f"{data_path}: truncated; variable {name} lies past the end of the file")
        if dtype == "bfloat16":
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(entry["shape"])
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).copy()

    return read


def _check_entry(name, entry, dtype, data_path):
    """An entry's size agrees with its shape and lies inside its shard (checked before any read,
    so that a corrupt index never asks for 2^62 bytes)."""
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    needed = int(np.prod(entry["shape"], dtype=object)) * itemsize
    if entry["size"] != needed:
        raise ConversionError(f"{data_path}: variable {name} is stored as {entry['size']} bytes but its shape "
                              f"{tuple(entry['shape'])} of {'bfloat16' if dtype == 'bfloat16' else np.dtype(dtype).name} "
                              f"needs {needed}: a corrupt checkpoint")
    if entry["offset"] + entry["size"] > os.path.getsize(data_path):
        raise ConversionError(f"{data_path}: truncated; variable {name} lies past the end of the file")


def open_checkpoint(path):
    """A :class:`ModelFile` of a TF checkpoint: one entry per variable, dotted TF paths."""
    prefix = _prefix(path)
    try:
        header, entries = read_index(prefix)
    except (ValueError, struct.error, IndexError) as exc:
        raise ConversionError(f"{prefix}.index: corrupt or truncated TensorFlow checkpoint index ({exc})") from None
    shards = header.get(1, 1) or 1
    layers, skipped = {}, []
    object_based = any("/.ATTRIBUTES/" in name for name in entries)
    for name, entry in entries.items():
        data_path = f"{prefix}.data-{entry['shard']:05d}-of-{shards:05d}"
        dtype = _DTYPES.get(entry["dtype"])
        if _BOOKKEEPING.search(name):
            skipped.append(Tensor(name, entry["shape"], np.dtype(object), read=None, role="skip",
                                  reason="bookkeeping"))
            continue
        if dtype is None or entry["sliced"]:
            tensor = Tensor(name, entry["shape"], np.dtype(object), read=None, role="skip",
                            reason="not a numeric tensor" if dtype is None else "partitioned variable")
            skipped.append(tensor)
            continue
        if not os.path.isfile(data_path):
            raise ConversionError(f"{data_path}: missing data shard of checkpoint {prefix}")
        _check_entry(name, entry, dtype, data_path)
        tensor = Tensor(name, entry["shape"], np.dtype(np.float32 if dtype == "bfloat16" else dtype),
                        read=_reader(data_path, entry, name))
        if _OPTIMIZER_SLOT.search(name):
            tensor.role, tensor.reason = "skip", "optimizer state"
            skipped.append(tensor)
            continue
        # TF2 object checkpoints: "<object path>/<attribute>/.ATTRIBUTES/VARIABLE_VALUE".
        path = name.split("/.ATTRIBUTES/")[0]
        owner = path.rsplit("/", 1)[0] if "/" in path else path
        layer = layers.get(owner)
        if layer is None:
            layer = layers[owner] = Layer(owner.replace("/", "."), "TF2 object" if object_based else "TF1 variables",
                                          None, "tf1")
        tensor.role, tensor.name = "tf1", path
        layer.tensors.append(tensor)
    kind = "TensorFlow 2 object checkpoint" if object_based else "TensorFlow 1 checkpoint (Saver)"
    return ModelFile(prefix, kind, list(layers.values()), skipped)
