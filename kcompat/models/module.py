"""A Keras model as a ``torch.nn.Module``: its layers as submodules named as Keras names them
(where a name is no plain identifier, as :mod:`.names` maps it), its forward the model's call
graph (:mod:`.graph`) in Keras's call order."""

from __future__ import annotations

import torch

from .graph import TensorRef, call_arguments, call_training, resolve

__all__ = ["KerasModel", "invoke"]


def invoke(layer, inputs, arguments):
    """Call a layer that takes a call's own arguments: ``layer(*inputs, **arguments)`` where it takes
    its inputs as positional arguments (a Keras 3 node's ``args``: an operation, attention's query
    and value), else ``layer(inputs, **arguments)``."""
    if getattr(layer, "unpacks_arguments", False) and isinstance(inputs, list):
        return layer(*inputs, **arguments)
    return layer(inputs, **arguments)


def _unknown(structure):
    """Whether a shape structure holds an unknown shape (``None`` for a whole tensor)."""
    if structure is None:
        return True
    if isinstance(structure, list):
        return any(_unknown(s) for s in structure)
    if isinstance(structure, dict):
        return any(_unknown(s) for s in structure.values())
    return False


def _has_none(shape, batch=False):
    """Whether a shape (or a list of them) has an unknown size, the batch axis aside with ``batch``."""
    if isinstance(shape, list):
        return any(_has_none(s, batch) for s in shape)
    if isinstance(shape, dict):
        return any(_has_none(s, batch) for s in shape.values())
    return any(n is None for n in (shape[1:] if batch else shape))


class _Unknown(Exception):
    pass


def _meta(structure, shapes=None):
    """Shapes as tensors on the meta device (an unknown batch as 1); in ``shapes`` mode a call's
    arguments: its TensorRefs' shapes as meta tensors, constants as they are."""
    if shapes is not None:
        if isinstance(structure, TensorRef):
            return _meta(shapes.get(structure))
        if isinstance(structure, list):
            return [_meta(s, shapes) for s in structure]
        if isinstance(structure, dict):
            return {k: _meta(s, shapes) for k, s in structure.items()}
        return structure
    if isinstance(structure, tuple):
        if any(n is None for n in structure[1:]):
            raise _Unknown
        return torch.empty((1 if structure[0] is None else structure[0], *structure[1:]), device="meta")
    if isinstance(structure, list):
        return [_meta(s) for s in structure]
    if structure is None:
        raise _Unknown  # a tensor whose shape is unknown
    return structure


def _meta_output(layer, shape, arguments, shapes):
    """An op node's output shape: the op run on meta tensors of its inputs' shapes (no memory,
    no arithmetic); ``None`` where a size is unknown or the op needs values."""
    first = shape[0] if isinstance(shape, list) and shape else shape
    try:
        with torch.no_grad():
            inputs = _meta(shape)  # constants among them stay as they are
            arguments = {k: _meta(v, shapes) for k, v in arguments.items() if k != "name"}
            out = invoke(layer, inputs, arguments)
    except Exception:  # noqa: BLE001 - an op that needs its values (a shape read from a tensor): unknown
        return None
    if not isinstance(out, torch.Tensor):
        return None
    unknown_batch = isinstance(first, tuple) and len(first) > 0 and first[0] is None
    return (None, *out.shape[1:]) if unknown_batch and out.dim() else tuple(out.shape)


def _shapes_only(structure):
    """Whether a call's inputs are tensors only (shapes), no constants (``ops.add(x, 3.0)``)."""
    if isinstance(structure, tuple):
        return True
    if isinstance(structure, list):
        return all(_shapes_only(s) for s in structure)
    if isinstance(structure, dict):
        return all(_shapes_only(s) for s in structure.values())
    return False


class KerasModel(torch.nn.Module):
    """The model: ``model(x)`` (or ``model(x1, x2)``, ``model([x1, x2])``, ``model({"name": x})``
    for several inputs) takes and gives channels_last tensors as the Keras model does.

    ``train()``/``eval()`` are Keras's ``training=True/False`` for every layer; a call's own
    ``training`` saved in a Keras 2 config (``base(x, training=False)``) is kept, as Keras 2
    keeps it (:func:`~.graph.call_training`).
    """

    def __init__(self, graph, layers):
        super().__init__()
        self.graph = graph
        for spec in graph.layers:
            if spec.name in layers:
                self.add_module(spec.attr, layers[spec.name])  # names.py: a plain identifier, never Module's

    def _inputs(self, args, kwargs):
        names = self.graph.input_names
        if kwargs:
            missing = [n for n in names if n not in kwargs]
            if missing or len(kwargs) != len(names):
                raise ValueError(f"model {self.graph.name!r} takes inputs {names}; received {sorted(kwargs)}")
            return [kwargs[n] for n in names]
        if len(args) == 1 and isinstance(args[0], dict):
            return self._inputs((), args[0])
        if len(args) == 1 and isinstance(args[0], (list, tuple)) and len(names) > 1:
            args = tuple(args[0])
        if len(args) != len(names):
            raise ValueError(f"model {self.graph.name!r} takes {len(names)} input(s) ({', '.join(names)}); "
                             f"received {len(args)}")
        return list(args)

    def forward(self, *args, training=None, **kwargs):
        if training is not None and bool(training) != self.training:  # a nested model called with training=
            mode = self.training
            self.train(bool(training))
            try:
                return self.forward(*args, **kwargs)
            finally:
                self.train(mode)
        return resolve(self.graph.outputs, self.tensors(self._inputs(args, kwargs)))

    def tensors(self, inputs):
        """Every tensor the graph computes from ``inputs`` (one per model input, in order), by
        :class:`~.graph.TensorRef`: the model's inputs, and each output of each layer call."""
        values = dict(zip(self.graph.inputs, inputs))
        for spec, node in self.graph.order:
            outputs = self.call_layer(spec, node, values)
            for i, y in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs]):
                values[TensorRef(spec.name, node, i)] = y
        return values

    def call_layer(self, spec, node, values):
        """Call ``node`` of layer ``spec`` on its inputs taken from ``values`` (``{TensorRef: tensor}``)."""
        call = spec.calls[node]
        layer = self._modules[spec.attr]
        if getattr(layer, "takes_call_arguments", False):  # an op node: the call's own arguments
            return invoke(layer, resolve(call.inputs, values), call_arguments(call, values))
        training = call_training(self.graph, call)
        extra = {} if training is None else {"training": training}
        return layer(resolve(call.inputs, values), **extra)

    def build(self, *input_shapes):
        """Build every layer to the shapes ``input_shapes`` give (one per model input, batch axis
        included, ``None`` for an unknown size), as Keras's ``build``: from each layer's
        ``compute_output_shape``, nothing run and nothing of an activation's size allocated.
        Returns the output shapes (``None`` where unknown). A layer whose input shape cannot be
        known this way (a size it needs is ``None``, a custom module) stays unbuilt: its weights
        build it. Raises ``ValueError`` where the known shapes do not fit a layer."""
        shapes = dict(zip(self.graph.inputs, (None if s is None else tuple(s) for s in input_shapes)))
        for spec, node in self.graph.order:
            call = spec.calls[node]
            given = resolve(call.inputs, shapes)
            out = None if _unknown(given) else self._build_call(spec, given, call.kwargs, shapes)
            outs = out if isinstance(out, list) else [out]
            several = spec.graph is not None and isinstance(spec.graph.outputs, (list, tuple))
            for i in range(len(spec.graph.outputs) if several else 1):
                shapes[TensorRef(spec.name, node, i)] = outs[i] if i < len(outs) else None
        return resolve(self.graph.outputs, shapes)

    def _build_call(self, spec, shape, arguments, shapes):
        """The output shape of one call on input ``shape`` (a tuple, or a list of them), building
        the layer first; ``None`` where it cannot be known."""
        layer = self._modules[spec.attr]
        if getattr(layer, "takes_call_arguments", False):
            return _meta_output(layer, shape, arguments, shapes)
        if not _shapes_only(shape):
            return None  # a constant among the inputs: its layer (an op node) builds nothing
        if spec.input_shape is None:
            spec.input_shape = shape
        known = not _has_none(shape, batch=True)
        try:
            if isinstance(layer, KerasModel):
                out = layer.build(*(shape if isinstance(shape, list) and len(layer.graph.inputs) > 1 else [shape]))
                return list(out.values()) if isinstance(out, dict) else out
            if not hasattr(layer, "compute_output_shape"):
                return None
            if hasattr(layer, "build") and not getattr(layer, "built", True):
                layer.build(shape)
            out = layer.compute_output_shape(shape)
        except (ValueError, TypeError, IndexError, KeyError, NotImplementedError) as exc:
            if known:
                raise ValueError(f"layer {spec.name!r} ({spec.class_name}) on input shape {shape}: {exc}") from None
            return None  # a size it needs is unknown: its weights build it
        return tuple(out) if isinstance(out, (list, tuple)) and all(
            isinstance(n, (int, type(None))) for n in out) else out

    def extra_repr(self):
        return f"name={self.graph.name!r}"
