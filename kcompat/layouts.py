"""Where Keras/TensorFlow and PyTorch put the axes of the same weight (pure, no state).

Every kernel kcompat ports follows one rule: torch's layout is Keras's with the last two axes
reversed and moved to the front.

=====================  ===============================  ================================
layer                  Keras / TF                       torch
=====================  ===============================  ================================
Dense                  ``(in, out)``                    ``(out, in)``
ConvND                 ``(*k, in, out)``                ``(out, in, *k)``
ConvNDTranspose        ``(*k, filters, in)``            ``(in, filters, *k)``
=====================  ===============================  ================================

Functions take torch tensors or numpy arrays (``permute``/``transpose`` alike).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["KERNEL", "SAME", "Layout", "keras_order", "to_keras_layout", "to_torch_layout", "torch_order"]


def torch_order(rank):
    """Axes of a Keras kernel with ``rank`` spatial axes, in torch's order: ``(rank+1, rank, 0, ..)``."""
    return (rank + 1, rank, *range(rank))


def keras_order(rank):
    """Axes of a torch weight with ``rank`` spatial axes, in Keras's order (inverse of :func:`torch_order`)."""
    return (*range(2, rank + 2), 1, 0)


def _permuted(tensor, order):
    return tensor.permute(*order) if hasattr(tensor, "permute") else tensor.transpose(order)


def to_torch_layout(kernel):
    """Keras ``(*k, a, b)`` -> torch ``(b, a, *k)`` (a view)."""
    return _permuted(kernel, torch_order(kernel.ndim - 2))


def to_keras_layout(weight):
    """Torch ``(b, a, *k)`` -> Keras ``(*k, a, b)`` (a view)."""
    return _permuted(weight, keras_order(weight.ndim - 2))


class Layout(NamedTuple):
    """How one weight's Keras layout maps onto its torch layout, both ways."""

    name: str
    to_torch: object  # Keras-layout tensor -> torch-layout view
    to_keras: object  # torch-layout tensor -> Keras-layout view

    def torch_shape(self, keras_shape):
        return tuple(self.to_torch(_Shape(keras_shape)).shape)

    def keras_shape(self, torch_shape):
        return tuple(self.to_keras(_Shape(torch_shape)).shape)

    def keras_view_of_torch_memory(self, value):
        """``value`` (Keras layout) copied into torch-layout memory, seen in Keras layout: what TF1
        variables are, so that the torch view the computation takes costs no copy."""
        return self.to_keras(self.to_torch(value).contiguous())


class _Shape:
    """Stands in for a tensor of ``shape`` so that a layout's permutation can be read off."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)

    def transpose(self, order):
        return _Shape(self.shape[a] for a in order)


def _same(tensor):
    return tensor


SAME = Layout("same", _same, _same)
KERNEL = Layout("kernel", to_torch_layout, to_keras_layout)
