"""TensorFlow checkpoints (``model.ckpt.index`` + ``.data-*``) read without TensorFlow.

The tensor-bundle format: the ``.index`` file is a LevelDB-style sorted table mapping each
variable name to a ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c); the
empty key holds the ``BundleHeaderProto``. The tensors are raw little-endian bytes in the
``.data-NNNNN-of-MMMMM`` shards, each checked against its CRC-32C as TensorFlow does. Only
the few protobuf fields needed are decoded here.

Optimizer state is recognised by what it is, not by where its key sits:

- TF2 object checkpoints (``<object path>/.ATTRIBUTES/VARIABLE_VALUE`` keys) are read
  through their object graph (``_CHECKPOINTABLE_OBJECT_GRAPH``). An optimizer is an object
  with slot variables or an integer iteration counter; a variable is a model weight when
  the graph reaches it without passing through an optimizer, or when an optimizer lists it
  as one it trains (Keras 3's ``_trainable_variables``: after training, the DCGAN and CVAE
  tutorials' checkpoints key every model variable under the optimizer). It is named by its
  path through the model. Slots, counters and hyperparameters are optimizer state.
- TF1 ``Saver`` checkpoints name variables ``generator/deconv1/kernel``: a slot is a
  variable ``<v>/<slot>`` of another variable ``v``'s shape (``Adam``, ``Adam_1``, a named
  optimizer's ``g_opt``); Adam's ``beta1_power[_N]``/``beta2_power[_N]`` and
  ``global_step`` are its counters.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np

from .crc32c import crc32c, mask, unmask
from .records import ConversionError, Layer, ModelFile, Tensor

__all__ = ["checkpoint_files", "is_checkpoint", "open_checkpoint", "proto_fields", "read_index"]

_OBJECT = np.dtype(object)  # the dtype of entries that are not arrays (skipped)
_TABLE_MAGIC = 0xDB4775248B80FB57
# TensorFlow DataType enum -> numpy (bfloat16 is read as uint16 bits and widened later).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 14: "bfloat16", 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
_STRING, _INTEGERS = 7, (3, 9)
_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_TF1_COUNTER = re.compile(r"(^|/)(beta[12]_power(_\d+)?|global_step)$")
_COUNTER_NAMES = ("iter", "_iterations", "iterations")  # an optimizer's step counter, by TF and Keras
# A tf.keras model's lists of all its variables (tracked beside its layers in a SavedModel's checkpoint)
_AGGREGATES = {"variables", "trainable_variables", "non_trainable_variables", "_variables", "weights",
               "trainable_weights", "non_trainable_weights", "keras_api"}


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


def proto_fields(buf):
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
    """A table block, its trailer's CRC-32C checked as TensorFlow's reader does."""
    if offset + size + 5 > len(data):
        raise ValueError("a table block lies past the end of the file")
    if data[offset + size] != 0:
        raise ValueError("compressed table blocks are not supported")
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    if crc32c(data[offset:offset + size + 1]) != unmask(stored):
        raise ValueError(f"block checksum mismatch in the block at byte {offset}")
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


_ENTRY_WIRE = {1: int, 2: bytes, 3: int, 4: int, 5: int, 6: int}


def _shape(proto):
    """The dims of a ``TensorShapeProto`` (unknown or negative sizes are a corrupt entry)."""
    dims = []
    for number, dim in proto_fields(proto):
        if number == 2:
            if not isinstance(dim, bytes):
                raise ValueError("a shape dimension of the wrong wire type")
            size = dict(proto_fields(dim)).get(1, 0)
            if not isinstance(size, int) or size >= 1 << 63:
                raise ValueError("a shape dimension that is not a size")
            dims.append(size)
    return tuple(dims)


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
            fields = list(proto_fields(value))
            if key == b"":
                header = dict(fields)
                if not isinstance(header.get(1, 1), int):
                    raise ValueError("a header field of the wrong wire type")
                continue
            entry = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0, "sliced": False, "crc32c": 0}
            for number, v in fields:
                if number in _ENTRY_WIRE and not isinstance(v, _ENTRY_WIRE[number]):
                    raise ValueError(f"field {number} of entry {key!r} has the wrong wire type")
                if number == 1:
                    entry["dtype"] = v
                elif number == 2:
                    entry["shape"] = _shape(v)
                elif number == 3:
                    entry["shard"] = v
                elif number == 4:
                    entry["offset"] = v
                elif number == 5:
                    entry["size"] = v
                elif number == 6:
                    entry["crc32c"] = v
                elif number == 7:
                    entry["sliced"] = True
            entries[key.decode()] = entry
    return header, entries


def _raw(data_path, entry, name):
    with open(data_path, "rb") as f:
        f.seek(entry["offset"])
        raw = f.read(entry["size"])
    if len(raw) != entry["size"]:
        raise ConversionError(f"{data_path}: truncated; variable {name} lies past the end of the file")
    return raw


def _checksum_error(data_path, name, stored, computed):
    return ConversionError(f"{data_path}: variable {name}: checksum does not match (stored {stored:#010x}, "
                           f"computed {computed:#010x} from its bytes): a corrupt checkpoint")


def _reader(data_path, entry, name):
    def read():
        dtype = _DTYPES.get(entry["dtype"])
        raw = _raw(data_path, entry, name)
        computed, stored = crc32c(raw), unmask(entry["crc32c"])
        if computed != stored:
            raise _checksum_error(data_path, name, stored, computed)
        if dtype == "bfloat16":
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(entry["shape"])
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).copy()

    return read


def _string_scalar(data_path, entry, name):
    """The bytes of a scalar string entry (the object graph), checksummed as TensorFlow writes
    it: the length (as uint32, or uint64 past 4 GiB), the length's masked CRC, the bytes."""
    raw = _raw(data_path, entry, name)
    try:
        length, pos = _varint(raw, 0)
    except ValueError:
        raise ConversionError(f"{data_path}: variable {name} is not a string tensor: a corrupt checkpoint") from None
    if pos + 4 + length != len(raw):
        raise ConversionError(f"{data_path}: variable {name} is stored as {len(raw)} bytes but holds a string of "
                              f"{length}: a corrupt checkpoint")
    crc = crc32c(struct.pack("<I" if length <= 0xFFFFFFFF else "<Q", length))
    stored = struct.unpack_from("<I", raw, pos)[0]
    if stored != mask(crc):
        raise _checksum_error(data_path, f"{name} (its length)", unmask(stored), crc)
    crc = crc32c(raw[pos + 4:], crc32c(raw[pos:pos + 4], crc))
    if crc != unmask(entry["crc32c"]):
        raise _checksum_error(data_path, name, unmask(entry["crc32c"]), crc)
    return raw[pos + 4:]


# ------------------------------------------------------------ what each variable is
def _object_graph(blob):
    """The nodes of a ``TrackableObjectGraph``: ``(children [(id, name)], checkpoint keys, slot ids)``."""
    nodes = []
    for number, node in proto_fields(blob):
        if number != 1:
            continue
        children, keys, slots = [], [], []
        for field, value in proto_fields(node):
            if field in (1, 2, 3) and not isinstance(value, bytes):
                raise ValueError("a node field of the wrong wire type")
            if field == 1:
                ref = dict(proto_fields(value))
                children.append((ref.get(1, 0), ref.get(2, b"").decode()))
            elif field == 2:
                keys.append(dict(proto_fields(value)).get(3, b"").decode())
            elif field == 3:
                slots.append(dict(proto_fields(value)).get(3, 0))
        nodes.append((children, keys, slots))
    if any(not 0 <= i < len(nodes) for children, _, slots in nodes for i in [c for c, _ in children] + slots):
        raise ValueError("a reference to a node that does not exist")
    return nodes


def _graph_roles(nodes, entries):
    """``{checkpoint key: model path, None for optimizer state, "" for the checkpoint's own
    save counter}`` of the variables the graph names.

    The model is what the root reaches without entering an optimizer (an object with slot
    variables or an integer iteration counter); an optimizer's ``_trainable_variables`` are
    model variables too, named by their path through the optimizer when nothing else reaches them.
    """
    def key(node):
        return next((k for k in nodes[node][1] if k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")), None)

    def integer_scalar(node):
        entry = entries.get(key(node))
        return entry is not None and entry["dtype"] in _INTEGERS and tuple(entry["shape"]) == ()

    optimizer = [bool(slots) or any(name in _COUNTER_NAMES and integer_scalar(child) for child, name in children)
                 for children, _, slots in nodes]

    def walk(enter_optimizers, aggregates=True):
        paths, queue = {0: ""}, [0]
        for node in queue:
            for child, name in nodes[node][0]:
                if child not in paths and (enter_optimizers or not optimizer[child]) and (
                        aggregates or name not in _AGGREGATES):
                    paths[child] = f"{paths[node]}/{name}" if paths[node] else name
                    queue.append(child)
        return paths

    # A variable's path through its layer, where one leads to it (a SavedModel's root also lists
    # every variable in `variables`, a shorter path): the aggregate lists only for what else is unreached.
    model, everywhere = walk(False, aggregates=False), walk(True)
    for node, path in walk(False).items():
        model.setdefault(node, path)
    for node in everywhere:
        trained = dict((name, child) for child, name in nodes[node][0]).get("_trainable_variables")
        if optimizer[node] and trained is not None:
            for child, _ in nodes[trained][0]:
                model.setdefault(child, everywhere.get(child, str(child)))
    counters = {child for child, name in nodes[0][0] if name == "save_counter" and integer_scalar(child)}
    roles = {}
    for node in range(len(nodes)):
        for k in nodes[node][1]:
            roles[k] = "" if node in counters else model[node] if node in model and node != 0 else None
    return roles


def _tf1_optimizer_state(name, entry, entries):
    """A TF1 slot (``<v>/<slot>`` shaped like ``v``) or one of an optimizer's counters."""
    if _TF1_COUNTER.search(name) and tuple(entry["shape"]) == ():
        return True
    owner = name.rpartition("/")[0]
    return "/.OPTIMIZER_SLOT/" in name or (owner in entries and tuple(entries[owner]["shape"]) == tuple(entry["shape"]))


def _shard(prefix, entry, shards):
    return f"{prefix}.data-{entry['shard']:05d}-of-{shards:05d}"


def _inside_shard(name, entry, data_path):
    """An entry lies inside its shard (checked before any read)."""
    if entry["offset"] + entry["size"] > os.path.getsize(data_path):
        raise ConversionError(f"{data_path}: truncated; variable {name} lies past the end of the file")


def _check_entry(name, entry, dtype, data_path):
    """An entry's size agrees with its shape and lies inside its shard (checked before any read,
    so that a corrupt index never asks for 2^62 bytes)."""
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    needed = int(np.prod(entry["shape"], dtype=object)) * itemsize
    if entry["size"] != needed:
        raise ConversionError(f"{data_path}: variable {name} is stored as {entry['size']} bytes but its shape "
                              f"{tuple(entry['shape'])} of {'bfloat16' if dtype == 'bfloat16' else np.dtype(dtype).name} "
                              f"needs {needed}: a corrupt checkpoint")
    _inside_shard(name, entry, data_path)


def _read_graph(prefix, entries, shards):
    entry = entries.get(_GRAPH_KEY)
    if entry is None:
        return None
    data_path = _shard(prefix, entry, shards)
    if entry["dtype"] != _STRING or tuple(entry["shape"]) != () or not os.path.isfile(data_path):
        raise ConversionError(f"{prefix}: the checkpoint's object graph is not a string in its data shard: "
                              "a corrupt checkpoint")
    _inside_shard(_GRAPH_KEY, entry, data_path)
    blob = _string_scalar(data_path, entry, _GRAPH_KEY)
    try:
        return _graph_roles(_object_graph(blob), entries)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise ConversionError(f"{prefix}: corrupt object graph in the checkpoint ({exc})") from None


def open_checkpoint(path):
    """A :class:`ModelFile` of a TF checkpoint: one entry per model variable, grouped by owner."""
    prefix = _prefix(path)
    try:
        header, entries = read_index(prefix)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{prefix}.index: corrupt or truncated TensorFlow checkpoint index ({exc})") from None
    shards = header.get(1, 1) or 1
    roles = _read_graph(prefix, entries, shards)
    layers, skipped = {}, []
    object_based = roles is not None or any("/.ATTRIBUTES/" in name for name in entries)

    def skip(name, entry, reason, read=None, dtype=_OBJECT):
        skipped.append(Tensor(name, entry["shape"], dtype, read=read, role="skip", reason=reason))

    for name, entry in entries.items():
        data_path = _shard(prefix, entry, shards)
        dtype = _DTYPES.get(entry["dtype"])
        if name == _GRAPH_KEY or (roles is not None and roles.get(name) == ""):
            skip(name, entry, "bookkeeping")
            continue
        if dtype is None or entry["sliced"]:
            skip(name, entry, "not a numeric tensor" if dtype is None else "partitioned variable")
            continue
        if not os.path.isfile(data_path):
            raise ConversionError(f"{data_path}: missing data shard of checkpoint {prefix}")
        _check_entry(name, entry, dtype, data_path)
        read = _reader(data_path, entry, name)
        as_read = np.dtype(np.float32 if dtype == "bfloat16" else dtype)
        if roles is not None and name in roles:
            path = roles[name]
        else:
            path = None if _tf1_optimizer_state(name, entry, entries) else name.split("/.ATTRIBUTES/")[0]
        if path is None:
            skip(name, entry, "optimizer state", read, as_read)
            continue
        owner = path.rsplit("/", 1)[0] if "/" in path else path
        layer = layers.get(owner)
        if layer is None:
            layer = layers[owner] = Layer(owner.replace("/", "."), "TF2 object" if object_based else "TF1 variables",
                                          None, "tf1")
        layer.tensors.append(Tensor(name, entry["shape"], as_read, read=read, role="tf1", name=path))
    kind = "TensorFlow 2 object checkpoint" if object_based else "TensorFlow 1 checkpoint (Saver)"
    return ModelFile(prefix, kind, list(layers.values()), skipped)
