"""Keras 3's merging layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``, ``Concatenate``. Each is called on a list of tensors; the elementwise ones
broadcast as Keras's do, and fold left to right in Keras's order (so float sums round alike).
"""

from __future__ import annotations

import functools

import torch

from .base import WeightlessLayer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


class _Merge(WeightlessLayer):
    minimum_inputs = 1

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs={inputs} "
                             "(not a list of tensors)")
        if len(inputs) < self.minimum_inputs:
            raise ValueError(f"A merge layer should be called on a list of at least {self.minimum_inputs} "
                             f"input{'s' if self.minimum_inputs > 1 else ''}. Got {len(inputs)} inputs.")
        return [self._input(x) for x in inputs]

    def call(self, inputs):
        return functools.reduce(self.merge, inputs)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + s for s in shapes]
        out = []
        for sizes in zip(*padded):
            known = [n for n in sizes if n is not None and n != 1]
            out.append(None if None in sizes and not known else (known[0] if known else 1))
        return tuple(out)


class Add(_Merge):
    """``keras.layers.Add``: the sum of the inputs."""

    merge = staticmethod(torch.add)


class Subtract(_Merge):
    """``keras.layers.Subtract``: ``inputs[0] - inputs[1]`` (exactly two inputs)."""

    merge = staticmethod(torch.sub)

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs}")
        return super()._inputs(inputs)


class Multiply(_Merge):
    """``keras.layers.Multiply``: the product of the inputs."""

    merge = staticmethod(torch.mul)


class Average(_Merge):
    """``keras.layers.Average``: the sum of the inputs divided by their number."""

    merge = staticmethod(torch.add)

    def call(self, inputs):
        return super().call(inputs) / len(inputs)


class Maximum(_Merge):
    """``keras.layers.Maximum``: the elementwise maximum."""

    merge = staticmethod(torch.maximum)


class Minimum(_Merge):
    """``keras.layers.Minimum``: the elementwise minimum."""

    merge = staticmethod(torch.minimum)


class Concatenate(_Merge):
    """``keras.layers.Concatenate`` along ``axis`` (-1: the channels of channels_last tensors)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        ranks = {x.dim() for x in inputs}
        if len(ranks) != 1:
            raise ValueError("A `Concatenate` layer should be called on a list of inputs with matching ranks. "
                             f"Received: input_shape={[tuple(x.shape) for x in inputs]}")
        return torch.cat(inputs, dim=self.axis)

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        out = list(shapes[0])
        sizes = [s[self.axis] for s in shapes]
        out[self.axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config
