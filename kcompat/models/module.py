"""A Keras model as a ``torch.nn.Module``: its layers as submodules named as Keras names them
(where a name is no plain identifier, as :mod:`.names` maps it), its forward the model's call
graph (:mod:`.graph`) in Keras's call order."""

from __future__ import annotations

import torch

from .._malloc import keep_freed_memory
from ..layers import layer_class
from . import fusion
from .graph import TensorRef, call_arguments, call_training, refs, resolve

__all__ = ["KerasModel", "convention", "invoke"]


def invoke(layer, inputs, arguments, kind=None):
    """Call a layer that takes a call's own arguments: ``layer(*inputs, **arguments)`` where it takes
    its inputs as positional arguments (a Keras 3 node's ``args``: an operation, attention's query
    and value), else ``layer(inputs, **arguments)``. ``kind``: the class whose convention applies
    (kcompat's, for the user's module that replaces an op), the layer's own by default."""
    if getattr(kind or layer, "unpacks_arguments", False) and isinstance(inputs, list):
        return layer(*inputs, **arguments)
    return layer(inputs, **arguments)


def convention(spec, layer):
    """What says how the model calls layer ``spec``: kcompat's class for its Keras class (so the
    user's module that replaces an op node is called as the op is: with the call's arguments),
    else the module itself (a nested model, a custom class)."""
    return (layer_class(spec.class_name) if spec.graph is None else None) or layer


def _leaves(structure):
    """The leaves of a call's structure of shapes: each shape (a tuple), ``None`` for an unknown
    one, or a constant; lists and dicts walked."""
    if isinstance(structure, list):
        for value in structure:
            yield from _leaves(value)
    elif isinstance(structure, dict):
        for value in structure.values():
            yield from _leaves(value)
    else:
        yield structure


def _unknown(structure):
    """Whether a shape structure holds an unknown shape (``None`` for a whole tensor)."""
    return any(leaf is None for leaf in _leaves(structure))


def _has_none(shape, batch=False):
    """Whether a shape (or a list of them) has an unknown size, the batch axis aside with ``batch``."""
    return any(n is None for leaf in _leaves(shape) for n in (leaf[1:] if batch else leaf))


def _shapes_only(structure):
    """Whether a call's inputs are tensors only (shapes), no constants (``ops.add(x, 3.0)``)."""
    return all(isinstance(leaf, tuple) for leaf in _leaves(structure))


class _Unknown(Exception):
    pass


def _meta(structure):
    """Shapes as tensors on the meta device (an unknown batch as 1), constants as they are; a
    shape that is unknown (``None``) or has an unknown size raises ``_Unknown``."""
    if isinstance(structure, tuple):
        if any(n is None for n in structure[1:]):
            raise _Unknown
        return torch.empty((1 if structure[0] is None else structure[0], *structure[1:]), device="meta")
    if isinstance(structure, list):
        return [_meta(s) for s in structure]
    if structure is None:
        raise _Unknown  # a tensor whose shape is unknown
    return structure


def _meta_output(layer, shape, call, shapes, kind=None):
    """An op node's output shape: the op run on meta tensors of its inputs' shapes (``shape``) and
    of its ``call``'s keyword arguments' (from ``shapes``); no memory, no arithmetic. ``None`` where
    a size is unknown or the op needs values."""
    first = shape[0] if isinstance(shape, list) and shape else shape
    try:
        with torch.no_grad():
            tensors = {ref: _meta(shapes.get(ref)) for ref in refs(call.kwargs)}
            out = invoke(layer, _meta(shape), call_arguments(call, tensors), kind)
    except Exception:  # noqa: BLE001 - an op that needs its values (a shape read from a tensor): unknown
        return None
    unknown_batch = isinstance(first, tuple) and len(first) > 0 and first[0] is None

    def shape_of(y):
        if not isinstance(y, torch.Tensor):
            return None
        return (None, *y.shape[1:]) if unknown_batch and y.dim() else tuple(y.shape)
    return [shape_of(y) for y in out] if isinstance(out, (list, tuple)) else shape_of(out)


class _Unknown(dict):
    """Shapes by tensor: one no call could say (an op's several outputs on unknown sizes) is ``None``."""

    def __missing__(self, key):
        return None


class KerasModel(torch.nn.Module):
    """The model: ``model(x)`` (or ``model(x1, x2)``, ``model([x1, x2])``, ``model({"name": x})``
    for several inputs) takes and gives channels_last tensors as the Keras model does.

    ``train()``/``eval()`` are Keras's ``training=True/False`` for every layer; a call's own
    ``training`` saved in a Keras 2 config (``base(x, training=False)``) is kept, as Keras 2
    keeps it (:func:`~.graph.call_training`).
    """

    inference_fusion = True
    """In ``eval()`` without autograd, run each convolution with the BatchNormalization, residual
    Add and ReLU after it as one fused call (:mod:`.fusion`); ``False``: every layer on its own."""

    def __init__(self, graph, layers):
        super().__init__()
        self.graph = graph
        self._chains = None  # fusion.chains(self), found on the first fused call
        for spec in graph.layers:
            if spec.name in layers:
                self.add_module(spec.attr, layers[spec.name])  # names.py: a plain identifier, never Module's

    def __getstate__(self):
        """The module's state without its fused chains (a cache of this process's packed oneDNN
        weights: a copy or a pickle finds its own on its first fused call)."""
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return dict(state, _chains=None)

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
        inputs = self._inputs(args, kwargs)
        if not torch.compiler.is_compiling():
            keep_freed_memory()  # once per process (a model of the user's own modules has no kcompat layer)
        if self.inference_fusion and not self.training and not torch.is_grad_enabled() and fusion.enabled() \
                and not torch.compiler.is_compiling() and not torch.jit.is_tracing():
            return resolve(self.graph.outputs, self._fused_tensors(inputs))
        return resolve(self.graph.outputs, self.tensors(inputs))

    def tensors(self, inputs):
        """Every tensor the graph computes from ``inputs`` (one per model input, in order), by
        :class:`~.graph.TensorRef`: the model's inputs, and each output of each layer call."""
        values = dict(zip(self.graph.inputs, inputs))
        for spec, node in self.graph.order:
            self._store(spec, node, self.call_layer(spec, node, values), values)
        return values

    @staticmethod
    def _store(spec, node, outputs, values):
        for i, y in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs]):
            values[TensorRef(spec.name, node, i)] = y

    def _fused_tensors(self, inputs):
        """:meth:`tensors` in inference with :mod:`.fusion`'s chains, each one call at the place of
        its last layer (the tensors inside a chain are not kept)."""
        if self._chains is None or not all(chain.current(self) for chain in self._chains[0].values()):
            self._chains = fusion.chains(self)
        by_position, skipped = self._chains
        values = dict(zip(self.graph.inputs, inputs))
        for spec, node in self.graph.order:
            if (spec.name, node) in skipped:
                continue
            chain = by_position.get((spec.name, node))
            if chain is None:
                self._store(spec, node, self.call_layer(spec, node, values), values)
                continue
            y = chain.run(values)
            values[chain.output] = fusion.run_layers(self, chain, values) if y is None else y
        return values

    def call_layer(self, spec, node, values):
        """Call ``node`` of layer ``spec`` on its inputs taken from ``values`` (``{TensorRef: tensor}``)."""
        call = spec.calls[node]
        layer = self._modules[spec.attr]
        kind = convention(spec, layer)
        if getattr(kind, "takes_call_arguments", False):  # an op node: the call's own arguments
            return invoke(layer, resolve(call.inputs, values), call_arguments(call, values), kind)
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
        shapes = _Unknown(zip(self.graph.inputs, (None if s is None else tuple(s) for s in input_shapes)))
        for spec, node in self.graph.order:
            call = spec.calls[node]
            given = resolve(call.inputs, shapes)
            out = None if _unknown(given) else self._build_call(spec, given, call, shapes)
            for i, shape in enumerate(out if isinstance(out, list) else [out]):
                shapes[TensorRef(spec.name, node, i)] = shape
        return resolve(self.graph.outputs, shapes)

    def _build_call(self, spec, shape, call, shapes):
        """The output shape of one call on input ``shape`` (a tuple, or a list of them), building
        the layer first; ``None`` where it cannot be known."""
        layer = self._modules[spec.attr]
        kind = convention(spec, layer)
        if getattr(kind, "takes_call_arguments", False):
            return _meta_output(layer, shape, call, shapes, kind)
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
