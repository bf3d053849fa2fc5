"""Turn a Keras file or TF checkpoint into a PyTorch state dict for kcompat layers.

Where a model config is known (a whole-model ``.keras``/``.h5``, or ``config=`` for a weights
file or checkpoint), the output is :func:`kcompat.load_model`'s state dict: module path + torch
parameter name in torch layout (``up1.weight``, ``bn.running_mean``), every layer's config in
the JSON beside it. Without one, transposed convolutions become ``<layer path>.weight`` (torch
layout) and ``.bias``, TF1 checkpoint variables keep TF's layout under their dotted names
(``generator.deconv1.kernel``, the state dict of a ``kcompat.compat.v1`` port), and every other
weight is copied unchanged under its Keras/TF path. Optimizer slots and bookkeeping are left
out and counted, always.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any, TextIO

import numpy as np
import torch

from .._cli import one_line
from .._files import refuse_input, temporary, write_together
from .._progress import ProgressBar
from ..layers import BY_RANK, KERAS_LAYERS
from ..layers.base import constructor_error
from ..layouts import torch_order
from ..formats import input_files, safetensors_io, saved_model
from ..formats.keras_files import CONFIG_LIMIT, open_model_file
from ..formats.records import CONV_TRANSPOSE, ConversionError, with_path

__all__ = ["ConversionError", "convert", "load", "config_path", "state_dict_key"]

FORMATS = ("safetensors", "pt")


def config_path(output):
    """Where the layer configs of ``output`` are written: ``<output>.json``."""
    return f"{output}.json"


def _output_format(output, fmt):
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConversionError(f"{output}: unknown output format {fmt!r} (use one of {', '.join(FORMATS)})")
        return fmt
    return "pt" if str(output).endswith((".pt", ".pth", ".bin")) else "safetensors"


def _torch_dtype(dtype):
    if dtype == np.dtype(object):
        return None
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def state_dict_key(layer_path, reference, converted, role, key):
    """``(state-dict key, transform)`` of one tensor of the file: the converter's naming, alone.

    A transposed convolution kcompat rebuilds (``converted``): its kernel goes to
    ``<layer path>.weight`` in torch layout (``transform="to_torch_layout"``), its bias to
    ``<layer path>.bias``, as a ``kcompat.Conv{1,2,3}DTranspose`` at that path holds them. A TF1
    variable keeps TF's layout under its dotted name (``generator/deconv1/kernel`` ->
    ``generator.deconv1.kernel``, the ``kcompat.compat.v1`` port's parameter). Anything else keeps
    its Keras/TF ``key``.
    """
    if converted:
        if role == "kernel":
            return f"{layer_path}.weight", "to_torch_layout"
        return (f"{layer_path}.bias", None) if role == "bias" else (key, None)
    if reference == "tf1":
        return key.replace("/", "."), None
    return key, None


def plan(model):
    """``(items, layers_json, report)``: what to write (key, tensor, transform), configs, summary rows."""
    items, configs, rows, keys = [], {}, [], {}
    for layer in model.layers:
        shapes = [list(t.shape) for t in layer.tensors]
        if layer.converted:
            rank = CONV_TRANSPOSE[layer.class_name]
            action = f"converted to kcompat.{BY_RANK[rank].__name__} (torch layout)"
            if layer.config is not None:
                try:
                    module = BY_RANK[rank].from_config(layer.config)
                except (ValueError, TypeError) as exc:
                    raise ConversionError(
                        f"{model.path}: layer '{layer.path}' ({layer.class_name}) cannot be reproduced by "
                        f"kcompat: {constructor_error(exc)}"
                    ) from None
                kernel = next((t for t in layer.tensors if t.role == "kernel"), None)
                if kernel is None or len(kernel.shape) != rank + 2 or tuple(kernel.shape[:rank]) != module.kernel_size \
                        or kernel.shape[rank] != module.filters:
                    raise ConversionError(
                        f"{model.path}: layer '{layer.path}': kernel shape "
                        f"{None if kernel is None else tuple(kernel.shape)} does not match its config "
                        f"(kernel_size={module.kernel_size}, filters={module.filters})"
                    )
                if module.use_bias != any(t.role == "bias" for t in layer.tensors):
                    raise ConversionError(f"{model.path}: layer '{layer.path}': use_bias={module.use_bias} "
                                          "but the file holds the other number of weights")
                bias = next((t for t in layer.tensors if t.role == "bias"), None)
                if bias is not None and tuple(bias.shape) != (module.filters,):
                    raise ConversionError(f"{model.path}: layer '{layer.path}': bias shape {tuple(bias.shape)} does "
                                          f"not match its config (filters={module.filters})")
                for tensor in (kernel, bias):
                    if tensor is not None and tensor.dtype.kind != "f":
                        raise ConversionError(f"{model.path}: layer '{layer.path}': its {tensor.role} holds "
                                              f"{tensor.dtype} data; a Keras layer's weights are floating point")
                configs[layer.path] = {"class_name": BY_RANK[rank].__name__, "reference": layer.reference,
                                       "config": module.get_config(), "weights": []}
            else:
                action += "; no config in a weights-only file"
        elif layer.reference == "tf1":
            action = "copied (TF layout, the kcompat.compat.v1 state dict)"
        else:
            action = "copied unchanged"
        written = [(*state_dict_key(layer.path, layer.reference, layer.converted, t.role, t.key), t)
                   for t in layer.tensors]
        items += [(key, t, transform) for key, transform, t in written]
        if layer.path in configs:
            configs[layer.path]["weights"] = [key for key, _, _ in written]
        rows.append({"layer": layer.path, "class": layer.class_name, "shapes": shapes, "action": action})
    for key, tensor, _ in items:
        if key in keys:
            raise ConversionError(f"{model.path}: two weights would be written under {key!r} "
                                  f"({keys[key]} and {tensor.source})")
        keys[key] = tensor.source
    return items, configs, rows


def _shape_after(tensor, transform):
    shape = tuple(tensor.shape)
    return tuple(shape[a] for a in torch_order(len(shape) - 2)) if transform == "to_torch_layout" else shape


def _value(tensor, transform, where):
    """The tensor as written: read from the file ``where``, permuted to torch layout for kernels."""
    try:
        array = tensor.read()
    except ConversionError as exc:
        raise with_path(where, exc) from None
    if transform == "to_torch_layout":
        array = np.ascontiguousarray(array.transpose(torch_order(array.ndim - 2)))  # the read array is freed on return
    return torch.from_numpy(np.ascontiguousarray(array))


def _summary(model, items, configs, rows, output, fmt):
    skipped = {}
    for tensor in model.skipped:
        skipped[tensor.reason] = skipped.get(tensor.reason, 0) + 1
    return {
        "source": str(model.path), "kind": model.kind, "output": str(output), "format": fmt,
        "layers": rows, "tensors_in_file": len(items) + len(model.skipped),
        "written": len(items), "converted_layers": len(configs),
        "converted_tensors": sum(1 for _, t, _ in items if t.role in ("kernel", "bias")),
        "skipped": skipped,
    }


def _progress(total, stream):
    """A progress bar on a terminal, for conversions of more than 64 MB."""
    return ProgressBar(total, stream, enabled=total > 64 * 2**20,
                       counter=lambda done, total: f"{done / 2**20:.0f}/{total / 2**20:.0f} MB")


def _temporary(path):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, name = temporary(path)
    except FileNotFoundError:
        raise ConversionError(f"{path}: cannot write: directory {directory} does not exist") from None
    except PermissionError:
        raise ConversionError(f"{path}: cannot write: permission denied in {directory}") from None
    return fd, name


def _refuse_input(target, inputs):
    try:
        refuse_input(target, inputs, "kcompat-convert")
    except ValueError as exc:
        raise ConversionError(str(exc)) from None


def convert(source: str | os.PathLike, output: str | os.PathLike, *, config: str | os.PathLike | None = None,
            format: str | None = None, force: bool = False,  # noqa: A002
            progress_stream: TextIO | None = None) -> dict[str, Any]:
    """Convert ``source`` to ``output`` (safetensors or torch ``.pt``) and its ``.json``; return the summary.

    Where there is a model config (in ``source``, or ``config``: the ``model.json``/``.keras``/
    ``.h5`` a weights file or checkpoint was saved from), the output is ``load_model``'s state
    dict. Nothing is left behind on failure: both files are written to temporary names and renamed.
    """
    fmt = _output_format(output, format)
    targets = [output, config_path(output)]
    inputs = input_files(source) + ([str(config)] if config is not None and os.path.isfile(str(config)) else []) \
        + (input_files(config) if config is not None and saved_model.is_saved_model(config) else [])
    if config is None and saved_model.is_saved_model(source):  # its Keras config, and its variables
        config, source = source, saved_model.variables_prefix(source)
    for target in targets:
        if os.path.isdir(target):
            raise ConversionError(f"{target}: cannot write: is a directory")
        _refuse_input(target, inputs)
    if not force:
        for target in targets:
            if os.path.exists(target):
                raise ConversionError(f"{target}: already exists (use --force to overwrite)")
    document = _config_document(config)
    with open_model_file(source, document) as model:
        if document is not None or (model.config is not None and "checkpoint" not in model.kind):
            return _convert_model(source, config, model, output, fmt)
        items, configs, rows = plan(model)
        summary = _summary(model, items, configs, rows, output, fmt)
        if not items:
            left_out = ", ".join(f"{n} {reason}" for reason, n in summary["skipped"].items()) or "none"
            raise ConversionError(f"{source}: no model weights found ({summary['tensors_in_file']} tensors, all "
                                  f"left out: {left_out}); nothing written")
        entries = [(key, _torch_dtype(t.dtype), _shape_after(t, transform)) for key, t, transform in items]
        total = sum(safetensors_io.nbytes(dtype, shape) for _, dtype, shape in entries)
        progress = _progress(total, progress_stream)
        metadata = {"format": "pt", "source": os.path.basename(str(source)), "writer": "kcompat-convert"}

        def write_weights(stream):
            if fmt == "safetensors":
                safetensors_io.write_header(stream, entries, metadata)
                for _key, tensor, transform in items:
                    value = _value(tensor, transform, model.path)
                    raw = value.numpy() if value.dtype != torch.bfloat16 else value.view(torch.int16).numpy()
                    stream.write(memoryview(raw).cast("B") if raw.size else b"")  # no extra copy
                    progress.advance(value.numel() * value.element_size())
            else:
                state = {}
                for key, tensor, transform in items:
                    state[key] = _value(tensor, transform, model.path)
                    progress.advance(state[key].numel() * state[key].element_size())
                torch.save(state, stream)

        document = {"writer": "kcompat-convert", "version": 1, "source": str(source), "kind": model.kind,
                    "format": fmt, "layers": configs}
        try:
            _write_both(output, write_weights, json.dumps(document, indent=1).encode())
        finally:
            progress.close()
    return summary


def _config_document(config):
    """The model config in ``config`` (a Keras JSON file, or a .keras/.h5 holding one), or None."""
    if config is None:
        return None
    from ..models.loading import read_config

    if not os.path.isfile(str(config)) and not saved_model.is_saved_model(config):
        raise ConversionError(f"--config: {config}: no such file")
    try:
        return read_config(str(config), weights=...)  # the config alone: SOURCE holds the weights
    except (ValueError, OSError) as exc:
        raise ConversionError(f"--config: {exc}") from None


def _convert_model(source, config, model, output, fmt):
    """The state dict :func:`kcompat.load_model` builds from the config and ``source``'s weights:
    module path + torch parameter name, torch layout; each layer's config beside it."""
    from ..layers.base import Layer as KerasLayer
    from ..models.loading import load_model

    try:
        module = load_model(config if config is not None else source, weights=source if config is not None else None)
    except ValueError as exc:
        raise _one_line(exc) from None
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    if not state:
        raise ConversionError(f"{source}: the model has no weights; nothing written")
    configs, rows = {}, []
    for path, layer in module.named_modules():
        if not isinstance(layer, KerasLayer):
            continue
        keys = [f"{path}.{name}" for name in layer.state_dict()]
        configs[path] = {"class_name": type(layer).__name__, "config": layer.get_config(), "weights": keys}
        rows.append({"layer": path, "class": type(layer).__name__, "shapes": [list(state[k].shape) for k in keys],
                     "action": f"kcompat.{type(layer).__name__}" + (" (torch layout)" if keys else "")})
    skipped = {}
    for tensor in model.skipped:
        skipped[tensor.reason] = skipped.get(tensor.reason, 0) + 1
    in_file = sum(len(layer.tensors) for layer in model.layers) + len(model.skipped)
    unused = in_file - len(model.skipped) - len(state)
    if unused > 0:  # a checkpoint's other models (the DCGAN tutorial's discriminator)
        skipped["not in the model"] = unused
    summary = {"source": str(source), "kind": model.kind, "output": str(output), "format": fmt, "layers": rows,
               "tensors_in_file": in_file, "written": len(state),
               "converted_layers": len(configs),
               "converted_tensors": len(state), "skipped": skipped, "scheme": "load_model"}
    metadata = {"format": "pt", "source": os.path.basename(str(source)), "writer": "kcompat-convert"}
    document = {"writer": "kcompat-convert", "version": 2, "source": str(source), "kind": model.kind, "format": fmt,
                "scheme": "load_model", "layers": configs}
    _write_both(output, lambda stream: safetensors_io.write_state(stream, state, metadata) if fmt == "safetensors"
                else torch.save(state, stream), json.dumps(document, indent=1, default=repr).encode())
    return summary


def _one_line(exc):
    """load_model's error as the converter's one-line one: each problem it lists after a '; '."""
    return ConversionError(one_line(exc))


def _write_both(output, write_weights, document):
    """``output`` (by ``write_weights(stream)``) and its ``.json`` (``document``, bytes): both or neither."""
    try:
        write_together([(output, write_weights), (config_path(output), document)], _temporary)
    except OSError as exc:
        raise ConversionError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _modules_from(configs, state, where):
    layers = {}
    for path, entry in configs.items():
        if entry.get("config") is None:
            continue
        cls = KERAS_LAYERS.get(entry.get("class_name", "Conv2DTranspose"))
        try:
            layer = cls.from_config(entry["config"])
        except (ValueError, TypeError) as exc:
            raise ConversionError(f"{where}: layer '{path}' cannot be built from its config: "
                                  f"{constructor_error(exc)}") from None
        missing = [key for key in entry["weights"] if key not in state]
        if missing:
            raise ConversionError(f"{where}: layer '{path}': the weights hold no tensor {missing[0]!r}")
        weights = {key[len(path) + 1:]: state[key] for key in entry["weights"]}
        if cls in BY_RANK.values() and "weight" not in weights:
            raise ConversionError(f"{where}: layer '{path}' has no kernel in the weights")
        try:
            layer.load_state_dict(weights)
        except RuntimeError as exc:  # torch lists every mismatch on lines of their own
            detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
            raise ConversionError(f"{where}: layer '{path}': the weights do not fit its config ({detail})") from None
        layers[path] = layer
    return layers


def _converted_configs(path):
    """The layer entries of a ``kcompat-convert`` output's ``.json``, checked for their shape."""
    name = config_path(path)
    with open(name, "rb") as f:
        raw = f.read(CONFIG_LIMIT + 1)
    if len(raw) > CONFIG_LIMIT:
        raise ConversionError(f"{name}: larger than {CONFIG_LIMIT} bytes; not a kcompat-convert config file")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConversionError(f"{name}: not valid JSON ({exc}); a kcompat-convert config file is") from None
    layers = document.get("layers") if isinstance(document, dict) else None
    kinds = set(KERAS_LAYERS)
    if not isinstance(layers, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("config"), (dict, type(None)))
            and e.get("class_name", "Conv2DTranspose") in kinds
            and isinstance(e.get("weights"), list) and all(isinstance(k, str) for k in e["weights"])
            for e in layers.values()):
        raise ConversionError(f"{name}: not a kcompat-convert config file (expected \"layers\": {{path: "
                              "{\"class_name\", \"config\", \"weights\"}}})")
    return layers


def load(path: str | os.PathLike) -> dict[str, torch.nn.Module]:
    """The layers of a Keras file (or of a ``kcompat-convert`` output), built and loaded.

    Returns ``{layer path: kcompat layer}`` in the model's order: every layer of a whole-model
    file (:func:`kcompat.load_model`'s submodules, nested ones by dotted path) or of an output
    converted with a config; the transposed convolutions of an output converted without one.
    Weights-only files hold no configs: pass the config (``kcompat.load_model("model.json",
    weights=...)``), or build the layers and ``load_state_dict`` the converted weights.
    """
    path = str(path)
    if os.path.exists(config_path(path)):
        configs = _converted_configs(path)
        if path.endswith((".pt", ".pth", ".bin")):
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConversionError(f"{path}: not a plain state dict of tensors (torch.load with weights_only "
                                      f"refused it: {first})") from None
        else:
            state, _ = safetensors_io.read(path)
        return _modules_from(configs, state, path)
    with open_model_file(path) as model:
        if model.config is None or "checkpoint" in model.kind:
            return layers_of(model)
    from ..layers.base import Layer as KerasLayer
    from ..models.loading import load_model

    try:
        module = load_model(path)
    except ValueError as exc:
        raise _one_line(exc) from None
    return {name: m for name, m in module.named_modules() if isinstance(m, KerasLayer)}


def layers_of(model):
    """:func:`load` for a file already open (:func:`~.keras_files.open_model_file`)."""
    items, configs, _ = plan(model)
    if not configs and any(layer.converted for layer in model.layers):
        raise ConversionError(f"{model.path}: a weights-only file: it holds no layer configs to build from; "
                              "convert it with kcompat-convert and load_state_dict the weights into layers you build, "
                              "or pass the whole-model .keras/.h5 file")
    if not configs:
        raise ConversionError(f"{model.path}: no Conv1DTranspose, Conv2DTranspose or Conv3DTranspose layer with a "
                              "config in this file; a weights-only file or checkpoint holds no configs: pass the "
                              "whole-model .keras/.h5 file, or convert it with kcompat-convert and load_state_dict "
                              "the weights into layers you build")
    state = {key: _value(t, transform, model.path) for key, t, transform in items if key.rsplit(".", 1)[0] in configs}
    return _modules_from(configs, state, model.path)
