"""``Tensor.get_shape()`` for TF1 code, on request: ``kcompat.compat.v1.enable_tensor_methods()``.

TF1 generator code reads static shapes as ``x.get_shape().as_list()`` and
``x.get_shape()[-1].value``. A torch tensor has ``x.shape``; importing kcompat changes nothing in
torch, so the TF1 spellings are added to ``torch.Tensor`` only when the user asks for them (one
call, before the ported code runs). Without it, write ``x.shape`` where the code says ``get_shape()``.
"""

from __future__ import annotations

import torch

__all__ = ["Dimension", "TensorShape", "enable_tensor_methods"]


class Dimension(int):
    """One static dimension (``tf.compat.v1.Dimension``): an int with TF1's ``.value``."""

    @property
    def value(self):
        return int(self)


class TensorShape(tuple):
    """A static shape (``tf.TensorShape``): a tuple of :class:`Dimension` with TF's methods."""

    def __new__(cls, dims):
        return super().__new__(cls, (Dimension(int(d)) for d in dims))

    def as_list(self):
        """The dimensions as a list of ints."""
        return [int(d) for d in self]

    @property
    def ndims(self):
        return len(self)

    @property
    def rank(self):
        return len(self)

    @property
    def dims(self):
        return list(self)

    def num_elements(self):
        """The number of elements a tensor of this shape holds."""
        n = 1
        for d in self:
            n *= int(d)
        return n

    def __getitem__(self, key):
        item = super().__getitem__(key)
        return TensorShape(item) if isinstance(key, slice) else item


def _get_shape(self):
    """``Tensor.get_shape()``: the static shape as a :class:`TensorShape`."""
    return TensorShape(self.shape)


def enable_tensor_methods():
    """Add TF1's ``get_shape()`` to ``torch.Tensor`` (where torch has no attribute of that name),
    so that TF1 code reading ``x.get_shape().as_list()`` runs unchanged. Idempotent."""
    existing = getattr(torch.Tensor, "get_shape", None)
    if existing is not None and existing is not _get_shape:
        raise RuntimeError("torch.Tensor already has a `get_shape` attribute that kcompat did not add; "
                           "kcompat leaves it alone.")
    torch.Tensor.get_shape = _get_shape
