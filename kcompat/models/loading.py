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
import logging
import os
import warnings
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch

from .._cli import one_line
from ..formats import saved_model
from ..formats.keras_files import open_model_file
from ..formats.records import ConversionError
from ..layers import layer_class
from ..layers.base import Layer, constructor_error, keras2_names, shapes_only
from . import graph as graph_module
from .module import KerasModel

__all__ = ["UnknownLayers", "WeightProblems", "load_model"]

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


def _describe(spec):
    """How a layer kcompat cannot build is named in the error: its name."""
    return repr(spec.name)


def custom_name(spec):
    """The ``custom_objects`` key that supplies a module for layer ``spec``: its Keras class name,
    or for an op node its op (``tf.signal.fft2d``, ``keras.ops.Fft2``), so that one factory
    replaces one op and not every op node of the model."""
    name = getattr(layer_class(spec.class_name), "custom_name", None)
    return name(spec.config) if name is not None else spec.class_name


def custom_key(spec, custom_objects):
    """The key of ``custom_objects`` whose factory builds layer ``spec`` (its op's, else its class
    name), or ``None``."""
    return next((key for key in (custom_name(spec), spec.class_name) if key in custom_objects), None)


def unknown_layers(graph, custom_objects=()):
    """``{class name: [layer description, ...]}`` of every layer of ``graph`` (nested models'
    too) that neither kcompat nor ``custom_objects`` can build, in the config's order."""
    found = {}
    for spec in graph.layers:
        if spec.graph is not None:
            for name, layers in unknown_layers(spec.graph, custom_objects).items():
                found.setdefault(name, []).extend(layers)
        elif spec.class_name != "InputLayer" and custom_key(spec, custom_objects or {}) is None:
            cls = layer_class(spec.class_name)  # an op node's class says when its op is missing
            kind = spec.class_name if cls is None else getattr(cls, "missing", lambda config: None)(spec.config)
            if kind:
                found.setdefault(kind, []).append(_describe(spec))
    return found


def unknown_message(where, found, advice):
    """One line that lists every class kcompat cannot build, with counts and (the first few) layers."""
    count = sum(len(v) for v in found.values())
    parts = []
    for class_name, layers in sorted(found.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(layers[:4]) + (f", and {len(layers) - 4} more" if len(layers) > 4 else "")
        why = ": its Python code is not in the file" if class_name == "Lambda" else ""
        # a name from the file (an op's) stays on the line: a newline in it is shown escaped
        shown_name = class_name if isinstance(class_name, str) and class_name.isprintable() else repr(class_name)
        parts.append(f"{shown_name} x{len(layers)} ({shown}{why})")
    return (f"{where}: kcompat does not reproduce {count} layer{'s' if count > 1 else ''} of this model: "
            f"{'; '.join(parts)}. {advice}")


class UnknownLayers(ValueError):
    """Layers kcompat cannot build (:func:`unknown_layers`): ``found`` and the file, ``where``,
    for a caller with other advice (kcompat-port's ``--custom-objects``)."""

    def __init__(self, where, found):
        example = ", ".join(f"{name!r}: factory" for name in found)
        super().__init__(unknown_message(where, found, f"Pass custom_objects={{{example}}}, factory(config) "
                                                       "returning the torch.nn.Module to use for it."))
        self.where, self.found = where, found


def _build(graph, custom_objects, where):
    found = unknown_layers(graph, custom_objects)
    if found:
        raise UnknownLayers(where, found)
    if not graph.keras2:
        return _build_layers(graph, custom_objects, where)
    with keras2_names():
        return _build_layers(graph, custom_objects, where)


def _build_layers(graph, custom_objects, where):
    layers = {}
    for spec in graph.layers:
        if spec.class_name == "InputLayer":
            continue
        if spec.graph is not None:
            layers[spec.name] = _build_layers(spec.graph, custom_objects, where)
            continue
        key = custom_key(spec, custom_objects)
        if key is not None:
            layers[spec.name] = custom_objects[key](dict(spec.config))
            if not isinstance(layers[spec.name], torch.nn.Module):
                raise ValueError(f"{where}: custom_objects[{spec.class_name!r}] returned a "
                                 f"{type(layers[spec.name]).__name__} for layer {spec.name!r}, not a torch.nn.Module")
            continue
        try:
            with warnings.catch_warnings():  # a Keras 2 config's spellings (LeakyReLU's alpha) are its own
                warnings.filterwarnings("ignore", message="Argument `.*` is deprecated")
                layers[spec.name] = layer_class(spec.class_name).from_config(dict(spec.config))
        except (TypeError, ValueError) as exc:  # the constructor's own words, not the config dump
            raise ValueError(f"{where}: layer {spec.name!r} ({spec.class_name}): {constructor_error(exc)}") from None
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
    operations = ([None] if model.graph.sequential else []) + [s.attr for s in specs]
    number = step.rsplit("-", 1)[-1]
    if not number.isdigit():
        return None  # not a layer's step (an optimizer's, a tracked attribute's)
    if step.startswith("layer_with_weights-"):
        with_weights = [s.attr for s in specs if s.attr in model._modules and _has_weights(model._modules[s.attr])]
        index, names = int(number), with_weights
    elif step.startswith("layer-"):
        index = int(number)
        names = [s.attr for s in specs if not (model.graph.sequential and s.class_name == "InputLayer")]
    elif step.isdigit():
        index, names = int(step), operations
    else:
        return None
    return names[index] if 0 <= index < len(names) else None


def _checkpoint_layers(model, source):
    """``(module path, tensors in Keras order)`` per layer of a TF2 object checkpoint, under the
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
            found.append((".".join(path), [values[n] for n in names]))
        if best is None or (misses, -len(found)) < best[0]:
            best = ((misses, -len(found)), root, found)
    if best is None:
        raise ValueError(f"{source.path}: the checkpoint holds no model variables")
    return best[2]


def _tf1_layers(model, source):
    """``(module path, tensors in Keras order)`` per layer of a TF1 ``Saver`` checkpoint of a Keras
    model (``tf.keras`` layers in a TF1 session): a layer's variables are ``<scope>/<weight>``, the
    scope ending with the layer's Keras path (``generator/head1/up/kernel`` for ``head1.up``)."""
    scopes = [(entry.path.split("."), entry) for entry in source.layers]
    found, used = [], set()
    for _spec, parts, path in graph_module.layer_paths(model.graph):
        module = model.get_submodule(path)
        if not isinstance(module, Layer) or not module.WEIGHTS:
            continue
        parts = list(parts)
        matches = [(scope, entry) for scope, entry in scopes if scope[-len(parts):] == parts]
        if len(matches) != 1:
            continue  # missing (none) or ambiguous: listed as missing by the caller
        scope, entry = matches[0]
        values = {t.key.rsplit("/", 1)[-1]: t for t in entry.tensors}
        names = module.weight_names()
        if not set(names) <= set(values):
            continue
        used.add(id(entry))
        found.append((path, [values[n] for n in names]))
    unexpected = [entry for _, entry in scopes if id(entry) not in used]
    return found, unexpected


class WeightProblems(NamedTuple):
    """What did not fit when weights were loaded (``load_model(..., strict=False)`` warns with it and
    keeps it as ``model.weight_problems``), as ``torch``'s ``load_state_dict`` reports its keys:
    ``missing`` layers of the model that got no weights, ``unexpected`` weights of the file that
    belong to no layer, ``mismatched`` layers whose weights in the file have other shapes or kinds
    (these keep their initializers' values). Each entry is one line that names the layer."""

    missing: list
    unexpected: list
    mismatched: list

    def __bool__(self):
        return bool(self.missing or self.unexpected or self.mismatched)

    def lines(self):
        return self.missing + self.unexpected + self.mismatched


def _keras_shapes(module):
    """The Keras-layout shapes a built kcompat layer's weights have, in Keras order (``None`` unbuilt)."""
    if not isinstance(module, Layer) or not module.built or not module.WEIGHTS:
        return None
    return [tuple(shape) for shape, *_ in module._created.values()]


def _misfit(module, tensors):
    """Why ``tensors`` (the file's weights of one layer, :class:`~kcompat.formats.records.Tensor` s
    or arrays) cannot be the layer's, from their shapes and kinds alone (nothing read), or ``""``."""
    declared = [getattr(module._spec(n), "dtype", None) for n in module.weight_names()] \
        if isinstance(module, Layer) and len(module.weight_names()) == len(tensors) else [None] * len(tensors)
    kinds = [f"weight {i} holds {np.dtype(t.dtype)} data" for i, (t, own) in enumerate(zip(tensors, declared))
             if np.dtype(t.dtype).kind not in "fV"  # V: ml_dtypes' bfloat16
             and not (own is not None and not own.is_floating_point and np.dtype(t.dtype).kind in "iub")]
    if kinds and isinstance(module, Layer):
        return f"{', '.join(kinds)}; a Keras layer's weights are floating point (but for the integer ones it declares)"
    expected = _keras_shapes(module)
    if expected is None:
        return ""
    given = [tuple(t.shape) for t in tensors]
    names = list(module._created)
    if len(given) != len(expected):  # the words of Layer.set_weights, which would say the same
        return (f"Layer {module.name} weight list length mismatch: expected {len(expected)} arrays "
                f"({', '.join(names)}), received {len(given)}.")
    for name, want, have in zip(names, expected, given):
        if want != have:
            return (f"Layer {module.name} weight shape mismatch for `{name}`: expected {want} (Keras layout), "
                    f"received {have}.")
    return ""


def load_state(module, state):
    """``module.load_state_dict(state)`` (a ported model's), where a module of the user's (a
    ``custom_objects`` factory's) may hold ``torch.nn.UninitializedParameter`` s: each is first
    given the shape of its entry in ``state``, as :func:`load_model` gives it the file's."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if torch.nn.parameter.is_lazy(tensor) and name in state:
            tensor.materialize(tuple(state[name].shape))
    return module.load_state_dict(state)


def _plain_tensors(module):
    """Where a plain torch module (a ``custom_objects`` factory's) takes a Keras layer's weights, in
    Keras's order: its parameters, then its buffers, as registered."""
    return [*module.parameters(), *module.buffers()]


def _plain_misfit(module, tensors):
    mine = _plain_tensors(module)
    if len(mine) != len(tensors):
        return (f"its module ({type(module).__name__}) has {len(mine)} parameters and buffers to take the file's "
                f"{len(tensors)} weights (in Keras's order)")
    for i, (have, t) in enumerate(zip(mine, tensors)):
        if not torch.nn.parameter.is_lazy(have) and tuple(have.shape) != tuple(t.shape):
            return (f"its module ({type(module).__name__}): weight {i}: expected {tuple(have.shape)} (its parameter's "
                    f"shape), received {tuple(t.shape)}")
        if np.dtype(t.dtype).kind not in "fV" and have.is_floating_point():
            return f"weight {i} holds {np.dtype(t.dtype)} data for a floating-point parameter"
    return ""


def _set_plain(module, arrays):
    with torch.no_grad():
        for have, array in zip(_plain_tensors(module), arrays):
            array = np.asarray(array)
            if torch.nn.parameter.is_lazy(have):  # torch.nn.UninitializedParameter: the file's shape
                have.materialize(array.shape)
            have.copy_(torch.as_tensor(array.astype(np.float32) if array.dtype.name == "bfloat16" else array))


def _declared_bytes(model):
    return sum(int(np.prod(shape, dtype=np.int64)) * m.dtype.itemsize for m in model.modules()
               if isinstance(m, Layer) for shape, *_ in m._created.values())


def _materialize(model, where):
    """Draw every weight :func:`~kcompat.layers.base.shapes_only` left on the meta device, once
    the file's weights are known to fit (memory for the weights, never more than the machine has)."""
    from .._memory import PHYSICAL_MEMORY

    total = _declared_bytes(model)
    if PHYSICAL_MEMORY is not None and total > PHYSICAL_MEMORY:
        raise ValueError(f"{where}: the model's config declares {total} bytes of weights, more than this machine's "
                         f"memory ({PHYSICAL_MEMORY} bytes)")
    for module in model.modules():
        if isinstance(module, Layer):
            module._materialize()


def _file_entries(model, source):
    """``(module path or None, the file's name for it, tensors)`` per layer of the open weights file,
    and the problems found on the way (a checkpoint's variables that belong to no layer)."""
    problems = []
    if source.kind.startswith("TensorFlow 2 object checkpoint"):
        return [(path, path, tensors) for path, tensors in _checkpoint_layers(model, source)], problems
    if source.kind.startswith("TensorFlow 1 checkpoint"):
        entries, unexpected = _tf1_layers(model, source)
        problems += [f"unexpected: the checkpoint's variables {', '.join(t.key for t in e.tensors)} belong to no "
                     "layer of the model" for e in unexpected]
        return [(path, path, tensors) for path, tensors in entries], problems
    return [(graph_module.locate(model.graph, entry.path), entry.path, entry.tensors) for entry in source.layers], \
        problems


def _load_weights(model, weights_path, strict, config=None):
    """Set every layer's weights from the file; return the :class:`WeightProblems`. Shapes and kinds
    are checked against the layers (built on the meta device from the config's shapes) before any
    weight is allocated or read."""
    missing, mismatched = [], []
    with open_model_file(weights_path, config) as source:
        entries, unexpected = _file_entries(model, source)
        plan, seen = [], set()
        for path, label, tensors in entries:
            module = model.get_submodule(path) if path is not None else None
            if module is None or path in seen:
                unexpected.append(f"unexpected: the file's layer {label!r} is not in the model")
                continue
            seen.add(path)
            why = _misfit(module, tensors) if hasattr(module, "set_weights") else _plain_misfit(module, tensors)
            if why:
                mismatched.append(f"layer {label!r}: {why}")
                continue
            plan.append((path, label, module, tensors))
        keras_paths = {path: ".".join(parts) for _, parts, path in graph_module.layer_paths(model.graph)}
        loaded = {path for path, _, _ in entries if path is not None}  # a mismatched layer is not missing
        for name, module in model.named_modules():
            if isinstance(module, Layer) and module.WEIGHTS and module.weight_names() and name not in loaded:
                missing.append(f"missing: layer {keras_paths.get(name, name)!r} ({type(module).__name__}) has no "
                               f"weights in {weights_path}")
        problems = WeightProblems(missing, unexpected, mismatched)
        if problems and strict:
            raise ValueError(_misfits_message(weights_path, problems))
        _materialize(model, weights_path)
        for _, label, module, tensors in plan:
            arrays = [t.read() if hasattr(t, "read") else t for t in tensors]
            try:
                module.set_weights(arrays) if hasattr(module, "set_weights") else _set_plain(module, arrays)
            except ValueError as exc:
                mismatched.append(f"layer {label!r}: {exc}")
    if problems and strict:
        raise ValueError(_misfits_message(weights_path, problems))
    return problems


def _misfits_message(weights_path, problems):
    lines = problems.lines()
    shown = lines[:_SHOWN] + ([f"... and {len(lines) - _SHOWN} more (load with strict=False: "
                               "model.weight_problems lists them all)"] if len(lines) > _SHOWN else [])
    return (f"{weights_path} does not fit the model ({len(lines)} problem{'s' if len(lines) > 1 else ''}): "
            + "; ".join(shown))


_SHOWN = 8  # problems an error names; a file of another model has hundreds


def _build_from_shapes(model, where):
    """Build every layer to the shapes the config gives its inputs (:meth:`KerasModel.build`), on
    the meta device: no weight memory yet, and none of an activation's size ever."""
    specs = model.graph.input_specs
    try:
        with shapes_only():
            model.build(*[None if s is None else s[0] for s in specs])
    except ValueError as exc:
        raise ValueError(f"{where}: the model's layers do not fit together on its input shapes: {exc}") from None


def read_config(path, weights=None):
    """The model config in ``path`` (what :func:`load_model` reads). A JSON config holds no
    weights: one without ``weights`` is refused, unless ``weights`` is ``...`` (the config alone)."""
    path = str(path)
    if saved_model.is_saved_model(path):
        try:
            return saved_model.read_keras_config(path)
        except ConversionError as exc:
            raise ValueError(str(exc)) from None
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


def _load(path, weights, custom_objects, strict):
    config = read_config(path, weights)
    model = _build(read_graph(path, config), custom_objects, path)
    _build_from_shapes(model, path)
    if weights is None and saved_model.is_saved_model(path):
        weights = saved_model.variables_prefix(path)  # the SavedModel's own variables
    try:
        return model, _load_weights(model, str(weights or path), strict, config)
    except ConversionError as exc:
        raise ValueError(str(exc)) from None


def load_model(path: str | os.PathLike, *, weights: str | os.PathLike | None = None,
               custom_objects: Mapping[str, Any] | None = None, strict: bool = True) -> KerasModel:
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
    try:
        model, problems = _load(path, weights, dict(custom_objects or {}), strict)
    except UnknownLayers:
        raise  # already one line: the names in it are written with repr
    except ValueError as exc:  # one line, whatever a name or a value in the file holds (a newline)
        raise ValueError(one_line(exc)) from None
    model.weight_problems = problems
    log = logging.getLogger(__name__)
    if log.isEnabledFor(logging.INFO):  # (the counts cost a walk of the model: only when shown)
        layers = sum(1 for spec in model.graph.layers if spec.class_name != "InputLayer")
        log.info("%s: %d layers, %d tensors loaded%s", path, layers, len(model.state_dict()),
                 f"; {len(problems)} did not fit" if problems else "")
    if problems:
        warnings.warn(_misfits_message(str(weights or path), problems) + "; strict=False keeps the initializers' "
                      "values there (model.weight_problems lists them)", stacklevel=2)
    return model
