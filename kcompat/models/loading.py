"""``kcompat.load_model``: a Keras model file becomes a ``torch.nn.Module`` of kcompat layers.

The config (a ``.keras`` archive's ``config.json``, a whole-model ``.h5``'s ``model_config``, or
a Keras JSON file) gives the layers and the call graph; each layer is kcompat's layer of that
Keras class, built with ``from_config`` (Keras 3 and Keras 2 configs); the weights (the same
file, or ``weights=``: a ``.weights.h5``, a weights-only or whole-model ``.h5``, a TF2 object
checkpoint) are read by the converter's readers and set in Keras's layout and order with
``set_weights``.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch

from ..convert.keras_files import open_model_file
from ..convert.records import ConversionError
from ..layers import KERAS_LAYERS
from ..layers.base import Layer
from . import graph as graph_module
from .module import KerasModel

__all__ = ["load_model"]

_CONFIG_LIMIT = 64 << 20  # bytes of a JSON config file, as the converter caps config.json


def _read_json(path):
    size = os.path.getsize(path)
    if size > _CONFIG_LIMIT:
        raise ValueError(f"{path}: {size} bytes, more than the {_CONFIG_LIMIT} a model config may have")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except ValueError as exc:
            raise ValueError(f"{path}: not a JSON model config ({exc})") from None


def _build(graph, custom_objects, where):
    layers = {}
    for spec in graph.layers:
        if spec.class_name == "InputLayer":
            continue
        if spec.graph is not None:
            layers[spec.name] = _build(spec.graph, custom_objects, where)
            continue
        factory = custom_objects.get(spec.class_name)
        if factory is not None:
            layers[spec.name] = factory(dict(spec.config))
            continue
        cls = KERAS_LAYERS.get(spec.class_name)
        if cls is None:
            raise ValueError(
                f"{where}: layer {spec.name!r} is a {spec.class_name}, which kcompat does not reproduce"
                f"{' (its Python code is not in the file)' if spec.class_name == 'Lambda' else ''}. Pass "
                f"custom_objects={{{spec.class_name!r}: factory}}, factory(config) returning the torch.nn.Module "
                "to use for it.")
        try:
            with warnings.catch_warnings():  # a Keras 2 config's spellings (LeakyReLU's alpha) are its own
                warnings.filterwarnings("ignore", message="Argument `.*` is deprecated")
                layers[spec.name] = cls.from_config(dict(spec.config))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: layer {spec.name!r} ({spec.class_name}): {exc}") from None
    return KerasModel(graph, layers)


def _attribute(key):
    """A checkpoint variable's attribute name as Keras names the weight (``_kernel`` is ``kernel``)."""
    return key.rsplit("/", 1)[-1].lstrip("_")


def _has_weights(module):
    """Whether Keras counts the layer among those with weights (declared ones: built or not)."""
    if isinstance(module, KerasModel):
        return any(_has_weights(m) for m in module.children())
    return bool(getattr(module, "WEIGHTS", ())) or any(True for _ in module.parameters())


def _checkpoint_child(model, step):
    """The submodule name an object-graph step names: Keras 3's ``_operations/N`` (the model's
    operations, Input layers included), Keras 2's ``layer_with_weights-K``/``layer-N``."""
    specs = model.graph.layers
    operations = ([None] if model.graph.sequential else []) + [s.name for s in specs]
    number = step.rsplit("-", 1)[-1]
    if not number.isdigit():
        return None  # not a layer's step (an optimizer's, a tracked attribute's)
    if step.startswith("layer_with_weights-"):
        with_weights = [s.name for s in specs if s.name in model._modules and _has_weights(model._modules[s.name])]
        index, names = int(number), with_weights
    elif step.startswith("layer-"):
        index = int(number)
        names = [s.name for s in specs if not (model.graph.sequential and s.class_name == "InputLayer")]
    elif step.isdigit():
        index, names = int(step), operations
    else:
        return None
    return names[index] if 0 <= index < len(names) else None


def _checkpoint_layers(model, source):
    """``(module path, arrays in Keras order)`` per layer of a TF2 object checkpoint, under the
    root object (``tf.train.Checkpoint(generator=...)``'s name) whose layers fit the model."""
    roots = {}
    for entry in source.layers:
        root, _, rest = entry.path.partition(".")
        roots.setdefault(root, []).append((rest, entry))
        roots.setdefault("", []).append((entry.path, entry))  # the model as the root: model.save_weights("ckpt")
    best = None
    for root, entries in roots.items():
        found, misses = [], 0
        for rest, entry in entries:
            module, path = model, []
            steps = [s for s in rest.split(".") if s not in ("", "_functional", "_operations", "_layers")]
            for step in steps:
                name = _checkpoint_child(module, step) if isinstance(module, KerasModel) else None
                if name is None:
                    module = None
                    break
                path.append(name)
                module = module._modules.get(name)
            if not isinstance(module, Layer):
                misses += 1
                continue
            values = {_attribute(t.key): t for t in entry.tensors}
            names = module.weight_names()
            if sorted(values) != sorted(names):
                misses += 1
                continue
            found.append((".".join(path), [values[n].read() for n in names]))
        if best is None or (misses, -len(found)) < best[0]:
            best = ((misses, -len(found)), root, found)
    if best is None:
        raise ValueError(f"{source.path}: the checkpoint holds no model variables")
    return best[2]


def _tf1_layers(model, source):
    """``(module path, arrays in Keras order)`` per layer of a TF1 ``Saver`` checkpoint of a Keras
    model (``tf.keras`` layers in a TF1 session): a layer's variables are ``<scope>/<weight>``, the
    scope ending with the layer's path (``generator/head1/up/kernel`` for ``head1.up``)."""
    scopes = [(entry.path.split("."), entry) for entry in source.layers]
    found, used = [], set()
    for path, module in model.named_modules():
        if not isinstance(module, Layer) or not module.WEIGHTS:
            continue
        parts = path.split(".")
        matches = [(scope, entry) for scope, entry in scopes if scope[-len(parts):] == parts]
        if len(matches) != 1:
            continue  # missing (none) or ambiguous: listed as missing by the caller
        scope, entry = matches[0]
        values = {t.key.rsplit("/", 1)[-1]: t for t in entry.tensors}
        names = module.weight_names()
        if not set(names) <= set(values):
            continue
        used.add(id(entry))
        found.append((path, [values[n].read() for n in names]))
    unexpected = [entry for _, entry in scopes if id(entry) not in used]
    return found, unexpected


def _load_weights(model, weights_path, strict, config=None):
    """Set every layer's weights from the file; return the problems (missing, unexpected, shapes)."""
    problems, loaded = [], set()
    with open_model_file(weights_path, config) as source:
        if source.kind.startswith("TensorFlow 2 object checkpoint"):
            entries = _checkpoint_layers(model, source)
        elif source.kind.startswith("TensorFlow 1 checkpoint"):
            entries, unexpected = _tf1_layers(model, source)
            problems += [f"unexpected: the checkpoint's variables {', '.join(t.key for t in e.tensors)} belong to no "
                         "layer of the model" for e in unexpected]
        else:
            entries = [(entry.path, entry) for entry in source.layers]
        for path, entry in entries:
            try:
                module = model.get_submodule(path)
            except AttributeError:
                problems.append(f"unexpected: the file's layer {path!r} ({entry.class_name}) is not in the model")
                continue
            arrays = entry if isinstance(entry, list) else [t.read() for t in entry.tensors]
            if not hasattr(module, "set_weights"):
                problems.append(f"layer {path!r}: its module ({type(module).__name__}) has no set_weights to "
                                "take the file's weights")
                continue
            loaded.add(path)
            numbers = [f"weight {i} holds {a.dtype} data" for i, a in enumerate(map(np.asarray, arrays))
                       if a.dtype.kind not in "fV"]  # V: ml_dtypes' bfloat16
            if numbers and isinstance(module, Layer):
                problems.append(f"layer {path!r}: {', '.join(numbers)}; a Keras layer's weights are floating point")
                continue
            try:
                module.set_weights(arrays)
            except ValueError as exc:
                problems.append(f"layer {path!r}: {exc}")
    for name, module in model.named_modules():
        if isinstance(module, Layer) and module.WEIGHTS and name not in loaded:
            problems.append(f"missing: layer {name!r} ({type(module).__name__}) has no weights in {weights_path}")
    if problems and strict:
        raise ValueError(f"{weights_path} does not fit the model ({len(problems)} problem"
                         f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems))
    return problems


def _build_by_running(model):
    """Build every layer to the shapes its config gives, by one inference pass on zeros of the
    inputs' shapes (batch 1), so that weights of other shapes are refused rather than built to.
    Skipped where an input's shape is not fully known (the weights then build the layers)."""
    specs = model.graph.input_specs
    if not specs or any(s is None or any(n is None for n in s[0][1:]) for s in specs):
        return
    inputs = [torch.zeros((1, *s[0][1:]), dtype=getattr(torch, s[1], torch.float32)) for s in specs]
    mode = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(mode)


def read_config(path, weights=None):
    """The model config in ``path`` (what :func:`load_model` reads). A JSON config holds no
    weights: one without ``weights`` is refused, unless ``weights`` is ``...`` (the config alone)."""
    path = str(path)
    if path.endswith(".json"):
        config = _read_json(path)
        if weights is None:
            raise ValueError(f"{path} is a model config without weights: pass weights= (the .h5 or .weights.h5 "
                             "file saved with it)")
    else:
        try:
            with open_model_file(path) as source:
                config = source.config
        except ConversionError as exc:
            raise ValueError(str(exc)) from None
        if config is None:
            raise ValueError(f"{path} holds weights but no model config: load_model('model.json', weights={path!r}) "
                             "with the config saved beside it (model.to_json())")
    return config


def read_graph(path, config):
    """The call graph (:mod:`.graph`) of ``config``, read from ``path``."""
    try:
        return graph_module.parse(config)
    except graph_module.ConfigError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_model(path, *, weights=None, custom_objects=None, strict=True):
    """The Keras model in ``path`` as a ``torch.nn.Module`` of kcompat layers.

    ``path``: a ``.keras`` archive, a whole-model ``.h5`` (Keras 3 or Keras 2), or a Keras JSON
    config (``model.to_json()``) with ``weights=`` the weights file; ``weights=`` may also be a
    TF2 object checkpoint prefix (``ckpt/ckpt-3``). ``custom_objects``: Keras
    class name -> ``factory(config)`` returning a torch module, for layers kcompat does not have.
    ``strict``: every layer of the model gets its weights and every weight of the file a layer,
    with the shapes the config gives (one error lists what does not fit). The module is in
    training mode, as torch modules are: call ``eval()`` for Keras's ``training=False``.
    """
    path = str(path)
    custom_objects = dict(custom_objects or {})
    config = read_config(path, weights)
    model = _build(read_graph(path, config), custom_objects, path)
    try:
        _build_by_running(model)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: the model's layers do not fit together on its input shapes: {exc}") from None
    try:
        _load_weights(model, str(weights or path), strict, config)
    except ConversionError as exc:
        raise ValueError(str(exc)) from None
    return model
