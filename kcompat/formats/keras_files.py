"""Reading Keras files without TensorFlow: what layers they hold and where each weight is.

Three layouts, recognised from the content:

- **Keras 3 archive** (``.keras``): a zip with ``config.json`` and ``model.weights.h5``.
- **"v3" weights** (``.weights.h5`` from Keras 3 or tf_keras, and inside the archive):
  ``layers/<class_name>[_N]/vars/<i>`` groups, nested for sub-models; Keras 3 also stores
  each layer's name as the group's ``name`` attribute.
- **Legacy HDF5** (``.h5`` whole models from Keras 2, or Keras 3's legacy ``.h5``): the model
  config in the root attributes and ``model_weights/<layer>/`` groups listing ``weight_names``.

Nothing is read into memory here: each weight is a :class:`Tensor` that reads on demand.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tempfile
import zipfile

import numpy as np

from .._memory import PHYSICAL_MEMORY
from ..serialization import to_snake_case
from . import tf_checkpoint
from .hdf5_heaps import looping_heap
from .records import CONV_TRANSPOSE, ConversionError, Layer, ModelFile, Tensor, with_path

__all__ = ["CONV_TRANSPOSE", "ConversionError", "Layer", "ModelFile", "Tensor", "open_model_file"]

CONTAINERS = {"Functional", "Sequential", "Model"}
# Layers whose weights Keras 3 keeps in their own sublayers' groups, in Keras's weight order
# (Keras 3 names a sublayer's group by its attribute, with or without the underscore: both are read)
_SUBOBJECTS = {"MultiHeadAttention": ("query_dense", "key_dense", "gate_dense", "value_dense", "output_dense")}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConversionError("reading Keras files needs h5py: pip install h5py") from exc
    return h5py


def _dataset_tensor(dataset, source, weight=True):
    """A :class:`Tensor` of an HDF5 dataset; ``weight``: one that will be read and written (its
    kind and size are checked; a skipped one, say an optimizer's, is only counted)."""
    h5py = _h5py()
    if not isinstance(dataset, h5py.Dataset):
        raise ConversionError(f"'{source}' is a {type(dataset).__name__.lower()} where Keras writes a weight (a dataset)")
    declared = int(np.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize
    if weight and (dataset.dtype.kind not in "fiub" or dataset.dtype.names is not None):
        raise ConversionError(f"dataset '{source}' holds {dataset.dtype} data, not the numbers of a weight")
    if weight and PHYSICAL_MEMORY is not None and declared > PHYSICAL_MEMORY:
        raise ConversionError(f"dataset '{source}' declares shape {dataset.shape} ({declared} bytes), more than this "
                              f"machine's memory ({PHYSICAL_MEMORY} bytes)")
    # A dataset may keep its bytes in other files (external storage, a virtual dataset's
    # sources): reading it would copy whatever those files hold, e.g. a user's private file.
    if dataset.external:
        raise ConversionError(f"dataset '{source}' keeps its data in another file "
                              f"({', '.join(str(e[0]) for e in dataset.external)}); kcompat reads only what is inside "
                              "the model file")
    if dataset.is_virtual:
        raise ConversionError(f"dataset '{source}' is a virtual dataset (its data lies in other files); kcompat "
                              "reads only what is inside the model file")

    def read():
        try:
            return np.asarray(dataset[()])
        except (OSError, RuntimeError, ValueError, KeyError) as exc:  # h5py's errors on corrupt data
            raise ConversionError(f"dataset '{source}' cannot be read: corrupt HDF5 data ({exc})") from None

    return Tensor(source, tuple(dataset.shape), np.dtype(dataset.dtype), read=read)


def open_model_file(path, config=None):
    """Open a Keras file or TF checkpoint of any supported layout (recognised from the content).

    ``config``: the model config a weights-only file was saved from (``model.to_json()``): v3
    weights (``.weights.h5``) from Keras 2 key layers by class counters only (``dense_1``), and
    the config's layer list names them."""
    path = str(path)
    if tf_checkpoint.is_checkpoint(path):
        return tf_checkpoint.open_checkpoint(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConversionError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ConversionError(f"{path}: cannot be read ({exc.strerror})") from None
    if head.startswith(ZIP_MAGIC):
        return _open_archive(path)
    if head == HDF5_MAGIC:
        h5py = _h5py()
        with open(path, "rb") as f:
            _refuse_looping_heap(path, f, os.path.getsize(path))
        try:
            handle = h5py.File(path, "r")
        except OSError as exc:
            raise ConversionError(f"{path}: corrupt or truncated HDF5 file ({exc})") from None
        return _from_hdf5(path, handle, None, [handle], names=config)
    raise ConversionError(
        f"{path}: not a Keras or TensorFlow model file (expected a .keras archive, an HDF5 .h5 file or "
        "a TF checkpoint)"
    )


def _refuse_looping_heap(path, stream, size, what="the file"):
    at = looping_heap(stream, size)
    if at is not None:
        raise ConversionError(f"{path}: corrupt HDF5 file: {what} has a global heap at byte {at} whose object walk "
                              "never ends (an object of size 0), on which the HDF5 library would hang; refused")


CONFIG_LIMIT = 64 * 2**20  # bytes of config.json inflated at most (a real model's is kilobytes)
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                zipfile.ZIP_LZMA: "lzma"}


def _member(archive, path, name):
    """The archive member ``name``'s info, refused when zipfile could not read it safely."""
    info = archive.getinfo(name)
    if info.flag_bits & 0x1:
        raise ConversionError(f"{path}: archive member {name} is encrypted; Keras writes none")
    if info.compress_type not in _ZIP_METHODS:
        raise ConversionError(f"{path}: archive member {name} uses compression method {info.compress_type}; "
                              f"readable: {', '.join(_ZIP_METHODS.values())}")
    return info


def _open_archive(path):
    try:
        archive = zipfile.ZipFile(path)
        names = set(archive.namelist())
        if "config.json" not in names or "model.weights.h5" not in names:
            raise ConversionError(f"{path}: a zip file but not a Keras archive (no config.json/model.weights.h5)")
        info = _member(archive, path, "config.json")
        weights_info = _member(archive, path, "model.weights.h5")
        # Capped by the declared size and by what inflating actually gives (a zip bomb lies).
        if info.file_size > CONFIG_LIMIT:
            raise ConversionError(f"{path}: config.json declares {info.file_size} bytes, more than the "
                                  f"{CONFIG_LIMIT} a model config may have")
        with archive.open("config.json") as member:
            raw = member.read(CONFIG_LIMIT + 1)
        if len(raw) > CONFIG_LIMIT:
            raise ConversionError(f"{path}: config.json inflates past {CONFIG_LIMIT} bytes; refused")
        config = json.loads(raw)
        if not isinstance(config, dict):
            raise ConversionError(f"{path}: config.json is a JSON {type(config).__name__}, not a model config object")
        weights = _member_file(path, archive, weights_info)
        _refuse_looping_heap(path, weights, weights_info.file_size, "the archive's model.weights.h5")
        weights.seek(0)
        handle = _h5py().File(weights, "r")
    except ConversionError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, RuntimeError,
            NotImplementedError) as exc:
        raise ConversionError(f"{path}: corrupt or truncated Keras archive ({exc})") from None
    return _from_hdf5(path, handle, config, [archive, weights, handle], kind="keras archive")


class _Window(io.RawIOBase):
    """A stored (uncompressed) archive member read in place: HDF5 seeks back and forth, which
    zipfile's member stream does by reading again from the start (minutes for a large model)."""

    def __init__(self, path, start, size):
        super().__init__()
        self._file, self._start, self._size, self._at = open(path, "rb"), start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._at

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._at))
        self._file.seek(self._start + self._at)
        data = self._file.read(n)
        buffer[:len(data)] = data
        self._at += len(data)
        return len(data)

    def close(self):
        self._file.close()
        super().close()


def _member_file(path, archive, info):
    """A seekable file of the archive member ``info``: stored members in place, others inflated
    once into a temporary file (zipfile checks the sizes and the CRC while inflating)."""
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            header = f.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise ConversionError(f"{path}: corrupt Keras archive (no local header for {info.filename})")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        if start + info.file_size > os.path.getsize(path):
            raise ConversionError(f"{path}: truncated Keras archive ({info.filename} runs past the file's end)")
        return _Window(path, start, info.file_size)
    spill = tempfile.TemporaryFile()
    try:
        with archive.open(info) as member:
            shutil.copyfileobj(member, spill, 2**20)
    except BaseException:
        spill.close()
        raise
    spill.seek(0)
    return spill


def _refuse_external_links(path, group, prefix="", seen=None):
    """Links into other files are refused before anything is read (following one would read
    another file of the user's disk); hard-linked groups are walked once each."""
    h5py = _h5py()
    seen = set() if seen is None else seen
    for name in group:  # names only: iterating follows no link
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise ConversionError(f"{path}: '{prefix}{name}' is a link into another file ({link.filename}); kcompat "
                                  "reads only what is inside the model file")
        if isinstance(link, h5py.HardLink):
            child = group.get(name)
            if isinstance(child, h5py.Group) and child.id not in seen:
                seen.add(child.id)
                _refuse_external_links(path, child, f"{prefix}{name}/", seen)


def _from_hdf5(path, handle, config, handles, kind=None, names=None):
    try:
        _refuse_external_links(path, handle)
        if "model_config" in handle.attrs:
            model = _legacy_model(path, handle)
        elif "layers" in handle or "vars" in handle:
            model = _v3_weights(path, handle, config, kind or "keras weights (.weights.h5)", names)
        elif "layer_names" in handle.attrs or "model_weights" in handle:
            model = _legacy_weights(path, handle, names)
        else:
            raise ConversionError(f"{path}: an HDF5 file, but not one Keras wrote (no model config, no weights)")
    except ConversionError as exc:
        for h in reversed(handles):
            h.close()
        raise with_path(path, exc) from None
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # h5py's errors on a corrupt file
        for h in reversed(handles):
            h.close()
        raise ConversionError(f"{path}: corrupt or truncated HDF5 file ({exc})") from None
    model.handles = handles
    if config is not None:
        model.config = config
    return model


# ----------------------------------------------------------------- configs
def _reference(version):
    return "keras" if str(version).startswith("3") else "tf_keras"


def _model_layers(config):
    """``(layer_config, class_name)`` of a model config's layers, in order."""
    inner = config.get("config", config)
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if layers is not None and not (isinstance(layers, list) and all(
            isinstance(layer, dict) and isinstance(layer.get("config", {}), (dict, type(None))) for layer in layers)):
        raise ConversionError(f"the model config's `layers` must be a list of layer configs (objects with an object "
                              f"`config`); received {type(layers).__name__}"
                              f"{'' if not isinstance(layers, list) else ' with other items'}")
    return [(layer, layer.get("class_name")) for layer in layers or []]


def _layer_name(layer):
    return (layer.get("config") or {}).get("name") or layer.get("name")


def _is_container(layer):
    return layer.get("class_name") in CONTAINERS or "layers" in (layer.get("config") or {})


# ----------------------------------------------------------------- v3 weights
def _v3_weights(path, handle, config, kind, names=None):
    layers, skipped = [], []
    reference = "keras" if config is not None or _has_names(handle) else "tf_keras"

    def walk(group, prefix, layer_configs, dotted):
        """``group`` holds ``layers/``; ``layer_configs`` the config's layers at this level (or None)."""
        if "vars" in group and len(group["vars"]):
            name = dotted or group.attrs.get("name", "")
            tensors = [_dataset_tensor(group["vars"][k], f"{prefix}vars/{k}")
                       for k in sorted(group["vars"], key=int)]
            layers.append(Layer(str(name) or "model", "Model", None, reference, tensors))
        if "layers" not in group:
            return
        keys = _v3_keys(layer_configs) if layer_configs is not None else {}
        for key in group["layers"]:
            sub = group["layers"][key]
            layer_config = keys.get(key)
            name = (sub["vars"].attrs.get("name") if "vars" in sub else None) or sub.attrs.get("name") \
                or (_layer_name(layer_config) if layer_config else None) or key
            name = str(name.decode() if isinstance(name, bytes) else name)
            sub_dotted = f"{dotted}.{name}" if dotted else name
            class_name = layer_config.get("class_name") if layer_config else _class_from_key(key)
            if layer_config is not None and _is_container(layer_config) or "layers" in sub:
                walk(sub, f"{prefix}layers/{key}/", [c for c, _ in _model_layers(layer_config)]
                     if layer_config is not None else None, sub_dotted)
                continue
            parts = [("", sub)]
            for part in _SUBOBJECTS.get(class_name, ()):
                name = next((n for n in (part, f"_{part}") if n in sub), None)
                if name is not None:
                    parts.append((f"{name}/", sub[name]))
            tensors = [_dataset_tensor(group["vars"][k], f"{prefix}layers/{key}/{part}vars/{k}")
                       for part, group in parts if "vars" in group for k in sorted(group["vars"], key=int)]
            if not tensors:
                continue
            layer = Layer(sub_dotted, class_name, (layer_config or {}).get("config"), reference, tensors)
            if layer.converted:
                use_bias = (layer.config or {}).get("use_bias", len(tensors) > 1)
                tensors[0].role = "kernel"
                if use_bias and len(tensors) > 1:
                    tensors[1].role = "bias"
            layers.append(layer)

    known = config if config is not None else names
    top = [c for c, _ in _model_layers(known)] if known is not None else None
    walk(handle, "", top, "")
    for section in ("optimizer", "metrics"):
        if section in handle:
            _collect(handle[section], f"{section}/", skipped, f"{section} state")
    return ModelFile(path, kind, layers, skipped)


def _has_names(handle):
    layers = handle.get("layers")
    return layers is not None and any("vars" in layers[k] and "name" in layers[k]["vars"].attrs for k in layers)


def _class_from_key(key):
    """``conv2d_transpose_3`` -> ``Conv2DTranspose`` (v3 keys are the snake-cased class name)."""
    base = key.rsplit("_", 1)[0] if key.rsplit("_", 1)[-1].isdigit() else key
    for rank in (1, 2, 3):
        if base == f"conv{rank}d_transpose":
            return f"Conv{rank}DTranspose"
    return base


def _v3_keys(layer_configs):
    """The ``layers/`` key Keras gives each layer: snake-cased class name, ``_N`` for repeats."""
    keys, counts = {}, {}
    for layer in layer_configs:
        base = to_snake_case(layer.get("class_name", "layer"))
        if base == "input_layer" or layer.get("class_name") == "InputLayer":
            base = "input_layer"
        n = counts.get(base, 0)
        counts[base] = n + 1
        keys[base if n == 0 else f"{base}_{n}"] = layer
    return keys


def _collect(group, prefix, out, reason):
    h5py = _h5py()

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            tensor = _dataset_tensor(obj, prefix + name, weight=False)
            tensor.role, tensor.reason = "skip", reason
            out.append(tensor)

    group.visititems(visit)


# ----------------------------------------------------------------- legacy HDF5
def _decode(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _legacy_model(path, handle):
    version = _decode(handle.attrs.get("keras_version", "2"))
    try:
        config = json.loads(_decode(handle.attrs["model_config"]))
    except ValueError:
        raise ConversionError(f"{path}: the model config in the file is not valid JSON") from None
    weights = handle["model_weights"]
    layers, skipped = _legacy_layers(weights, config, _reference(version))
    if "optimizer_weights" in handle:
        _collect(handle["optimizer_weights"], "optimizer_weights/", skipped, "optimizer state")
    return ModelFile(path, f"Keras {version} HDF5 model", layers, skipped, config=config)


def _legacy_weights(path, handle, config=None):
    group = handle["model_weights"] if "model_weights" in handle else handle
    version = _decode(group.attrs.get("keras_version", handle.attrs.get("keras_version", "2")))
    layers, skipped = _legacy_layers(group, config if isinstance(config, dict) else None, _reference(version))
    return ModelFile(path, f"Keras {version} HDF5 weights", layers, skipped)


def _variable(weight_name):
    """``conv/kernel:0`` -> ``conv/kernel``: TF's output index off a variable's name (the last one)."""
    head, colon, index = weight_name.rpartition(":")
    return head if colon and index.isdigit() else weight_name


def _weight_names(group):
    return [_decode(n) for n in group.attrs.get("weight_names", [])]


def _owner(top, variable, tree):
    """The dotted path of the layer that owns ``variable`` (a weight's name, ``:0`` off) in the
    group of top-level layer ``top``: Keras 2 writes ``<layer>/<weight>`` and a nested model's
    ``<inner>/<weight>``, Keras 3 ``<outer>/<inner>/<weight>``; a Keras 2 name may hold ``/``
    itself (``conv1/conv``), so the config's names decide where one ends (``tree``: name ->
    the names inside it), the longest first."""
    if top not in tree:  # no config: split at every '/' after the layer's own name (which may hold one)
        rest = variable[len(top) + 1:] if variable.startswith(top + "/") else variable
        owner = rest.split("/")[:-1]
        return ".".join([top] + owner) if owner else top
    rest = variable[len(top) + 1:] if variable.startswith(top + "/") else variable
    return ".".join([top] + (_inner_path(rest, tree[top]) or []))


def _inner_path(rest, inside):
    """The names from ``inside`` down to the layer ``rest`` (``<name>/<weight>``) belongs to: a
    name that starts it (the longest), else one inside a nested model (Keras 2 writes only the
    innermost layer's name), or ``None``."""
    for name in sorted(inside, key=len, reverse=True):
        if rest.startswith(name + "/"):
            return [name] + (_inner_path(rest[len(name) + 1:], inside[name]) or [])
    for name, below in inside.items():
        found = _inner_path(rest, below) if below else None
        if found:
            return [name] + found
    return None


def _legacy_layers(weights, config, reference):
    """Layers of a ``model_weights``-style group, matched to the (optional) model config."""
    configs, tree = {}, {}

    def index(layer_configs, prefix, names):
        for layer, _class_name in layer_configs:
            name = _layer_name(layer)
            configs[f"{prefix}{name}"] = layer
            names[name] = {}
            if _is_container(layer):
                index(_model_layers(layer), f"{prefix}{name}.", names[name])

    if config is not None:
        index(_model_layers(config), "", tree)
    layers, skipped = [], []
    for top in [_decode(n) for n in weights.attrs.get("layer_names", list(weights))]:
        group = weights[top]
        names = _weight_names(group)
        by_layer = {}
        for weight_name in names:
            variable = _variable(weight_name)
            dotted = _owner(top, variable, tree)
            by_layer.setdefault(dotted, []).append((weight_name, variable.split("/")[-1]))
        for dotted, entries in by_layer.items():
            layer_config = configs.get(dotted)
            class_name = layer_config.get("class_name") if layer_config else None
            tensors = [_dataset_tensor(group[name], f"model_weights/{top}/{name}") for name, _ in entries]
            for tensor, (name, _) in zip(tensors, entries):
                tensor.name = _variable(name)
            layer = Layer(dotted, class_name or "unknown", (layer_config or {}).get("config"), reference, tensors)
            if layer.converted:
                for tensor, (_, var) in zip(tensors, entries):
                    tensor.role = var if var in ("kernel", "bias") else "copy"
            layers.append(layer)
    return layers, skipped
