"""Keras 3's merging layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``, ``Concatenate``. Each is called on a list of tensors; the elementwise ones
broadcast as Keras's do, and fold left to right in Keras's order (so float sums round alike).
"""

from __future__ import annotations

import functools

import torch

from .._types import IntOrSequence
from ..validation import is_int
from .base import WeightlessLayer, building_keras2
from .normalization import l2_normalize
from .registry import keras_layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "batch_dot"]


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
        try:
            return functools.reduce(self.merge, inputs)
        except RuntimeError:  # shapes that do not fit: Keras's words (the shape rule), not torch's
            self.compute_output_shape([tuple(x.shape) for x in inputs])
            raise

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + s for s in shapes]
        out = []
        for sizes in zip(*padded):
            known = [n for n in sizes if n is not None and n != 1]
            if len(set(known)) > 1:  # Keras compares the shapes past the batch axis
                a, b = _incompatible(shapes)
                raise ValueError(f"Inputs have incompatible shapes. Received shapes {a[1:]} and {b[1:]}")
            out.append(None if None in sizes and not known else (known[0] if known else 1))
        return tuple(out)


def _incompatible(shapes):
    """The first two shapes (of ``shapes``, left to right as Keras folds them) that do not broadcast."""
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            n = min(len(a), len(b))
            if any(x is not None and y is not None and 1 not in (x, y) and x != y
                   for x, y in zip(a[len(a) - n:], b[len(b) - n:])):
                return a, b
    return shapes[0], shapes[1]


@keras_layer()
class Add(_Merge):
    """``keras.layers.Add``: the sum of the inputs."""

    merge = staticmethod(torch.add)


@keras_layer()
class Subtract(_Merge):
    """``keras.layers.Subtract``: ``inputs[0] - inputs[1]`` (exactly two inputs)."""

    merge = staticmethod(torch.sub)

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs}")
        return super()._inputs(inputs)


@keras_layer()
class Multiply(_Merge):
    """``keras.layers.Multiply``: the product of the inputs."""

    merge = staticmethod(torch.mul)


@keras_layer()
class Average(_Merge):
    """``keras.layers.Average``: the sum of the inputs divided by their number."""

    merge = staticmethod(torch.add)

    def call(self, inputs):
        return super().call(inputs) / len(inputs)


@keras_layer()
class Maximum(_Merge):
    """``keras.layers.Maximum``: the elementwise maximum."""

    merge = staticmethod(torch.maximum)


@keras_layer()
class Minimum(_Merge):
    """``keras.layers.Minimum``: the elementwise minimum."""

    merge = staticmethod(torch.minimum)


@keras_layer()
class Concatenate(_Merge):
    """``keras.layers.Concatenate`` along ``axis`` (-1: the channels of channels_last tensors)."""

    def __init__(self, axis: IntOrSequence = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        if not is_int(axis):
            raise TypeError(f"The `axis` argument of a Concatenate layer must be an int. Received: axis={axis!r}")
        self.axis = int(axis)

    def call(self, inputs):
        ranks = {x.dim() for x in inputs}
        if len(ranks) != 1:
            raise ValueError("A `Concatenate` layer should be called on a list of inputs with matching ranks. "
                             f"Received: input_shape={[tuple(x.shape) for x in inputs]}")
        try:
            return torch.cat(inputs, dim=self.axis)
        except (RuntimeError, IndexError):  # shapes or an axis that do not fit: Keras's words, not torch's
            self.compute_output_shape([tuple(x.shape) for x in inputs])
            raise

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError("A `Concatenate` layer requires inputs with matching shapes except for the "
                             f"concatenation axis. Received: input_shape={[tuple(s) for s in shapes]} "
                             f"(axis={self.axis})")
        axis = self.axis % rank if rank else 0
        for i in range(rank):
            sizes = {s[i] for s in shapes if len(s) == rank and s[i] is not None}
            if i != axis and len(sizes) > 1 or any(len(s) != rank for s in shapes):
                raise ValueError("A `Concatenate` layer requires inputs with matching shapes except for the "
                                 f"concatenation axis. Received: input_shape={[tuple(s) for s in shapes]}")
        out = list(shapes[0])
        sizes = [s[self.axis] for s in shapes]
        out[self.axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config


def batch_dot(x, y, axes):
    """Keras's ``batch_dot``: the dot product of each sample's ``x`` and ``y`` over ``axes``
    (no batch axis among them), ``x``'s other axes then ``y``'s; a rank-1 result as ``(batch, 1)``."""
    a0, a1 = (a % t.dim() for a, t in zip(axes, (x, y)))
    if 0 in (a0, a1):
        raise ValueError("Cannot perform batch_dot over axis 0. If your inputs are not batched, add a dummy batch "
                         "dimension to your inputs using keras.ops.expand_dims(x, 0)")
    if x.shape[a0] != y.shape[a1]:
        raise ValueError(f"Cannot do batch_dot on inputs with shapes {tuple(x.shape)} and {tuple(y.shape)} with "
                         f"axes={[a0, a1]}. x.shape[{a0}] != y.shape[{a1}] ({x.shape[a0]} != {y.shape[a1]}).")
    x_rank, y_rank = x.dim(), y.dim()
    x, y = torch.movedim(x, a0, -1), torch.movedim(y, a1, 1)
    x_mid, y_trail = x.shape[1:-1], y.shape[2:]
    x = x.reshape(x.shape[0], -1, x.shape[-1])
    y = y.reshape(y.shape[0], y.shape[1], -1)
    result = torch.matmul(x, y).reshape(x.shape[0], *x_mid, *y_trail)
    if x_rank == 2 and y_rank == 2:
        result = result.reshape(x.shape[0], 1)
    return result


@keras_layer()
class Dot(_Merge):
    """``keras.layers.Dot``: :func:`batch_dot` of two inputs over ``axes`` (``normalize``: each
    L2-normalized there first, with Keras 3's clamp; a Keras 2 model's with ``tf.linalg.l2_normalize``'s)."""

    minimum_inputs = 2

    def __init__(self, axes: IntOrSequence, normalize: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes}")
            if len(axes) != 2:
                raise ValueError(f"Invalid format for argument `axes`: it should contain two elements. Received: "
                                 f"axes={axes}")
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError(f"Invalid format for argument `axes`: list elements should be integers. Received: "
                                 f"axes={axes}")
        self.axes, self.normalize = axes, bool(normalize)
        self._keras2 = building_keras2()

    def _axes(self, ranks):
        axes = [self.axes] * 2 if isinstance(self.axes, int) else list(self.axes)
        return [a % r if a < 0 else a for a, r in zip(axes, ranks)]

    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"A `Dot` layer should be called on exactly 2 inputs. Received: inputs={inputs}")
        x, y = inputs
        axes = self._axes((x.dim(), y.dim()))
        if self.normalize:  # Keras 3's ops.normalize takes the backend's epsilon, 1e-7
            x, y = (l2_normalize(t, a, self._keras2, epsilon=1e-7) for t, a in zip((x, y), axes))
        return batch_dot(x, y, axes)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 2:
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={input_shape}")
        shape1, shape2 = list(input_shape[0]), list(input_shape[1])
        axes = self._axes((len(shape1), len(shape2)))
        shape1.pop(axes[0])
        shape2.pop(axes[1])
        shape2.pop(0)
        output = shape1 + shape2
        return tuple(output + [1] if len(output) == 1 else output)

    def get_config(self):
        config = super().get_config()
        config.update({"axes": self.axes, "normalize": self.normalize})
        return config
