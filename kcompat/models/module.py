"""A Keras model as a ``torch.nn.Module``: its layers as submodules named as Keras names them,
its forward the model's call graph (:mod:`.graph`) in Keras's call order."""

from __future__ import annotations

import torch

from .graph import TensorRef, call_training, resolve

__all__ = ["KerasModel"]


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
            if spec.name in layers and spec.name not in self._modules:
                if not isinstance(spec.name, str) or not spec.name or "." in spec.name:
                    raise ValueError(f"model {graph.name!r}: a layer named {spec.name!r} cannot be a torch "
                                     "submodule name (empty, or with '.')")
                if hasattr(type(self), spec.name):
                    # A Keras name that is a Module method ("double", "train"): a submodule beside it, so
                    # that state_dict() keys keep Keras's names; model.double is still the method.
                    self._modules[spec.name] = layers[spec.name]
                else:
                    self.add_module(spec.name, layers[spec.name])

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
        training = call_training(self.graph, call)
        extra = {} if training is None else {"training": training}
        return self._modules[spec.name](resolve(call.inputs, values), **extra)

    def extra_repr(self):
        return f"name={self.graph.name!r}"
