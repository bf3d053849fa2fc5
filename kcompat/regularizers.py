"""Keras 3's weight and activity regularizers on torch tensors.

A layer's ``losses`` holds their penalties as in Keras: kernel and bias penalties of
trainable weights, and the activity penalty of the last call divided by its batch size.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .serialization import KerasObject, deserialize, registry_of, serialize

__all__ = ["get", "serialize", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer"]


def _non_negative(value, name):
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or math.isinf(value) or math.isnan(value) or value < 0):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float."
            f"Received: {name}={value}"
        )
    return float(value)


def _float32(value):
    """Keras stores some factors as float32 tensors; their configs read back rounded."""
    return float(np.float32(value))


class Regularizer(KerasObject):
    keras_module = "keras.regularizers"

    def __call__(self, x):
        return x.new_zeros(())


class L1L2(Regularizer):
    """Keras's ``L1L2``: ``l1 * sum(|x|) + l2 * sum(x**2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _non_negative(0.0 if l1 is None else l1, "l1")
        self.l2 = _non_negative(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * torch.sum(torch.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * torch.sum(torch.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """Keras's ``L1``: ``l1 * sum(|x|)`` (``l1`` rounded to float32, as Keras stores it)."""

    def __init__(self, l1=0.01):
        self.l1 = _float32(_non_negative(0.01 if l1 is None else l1, "l1"))

    def __call__(self, x):
        return self.l1 * torch.sum(torch.abs(x))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """Keras's ``L2``: ``l2 * sum(x**2)``."""

    def __init__(self, l2=0.01):
        self.l2 = _non_negative(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        return self.l2 * torch.sum(torch.square(x))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras's orthogonality penalty; like Keras, only for rank-2 tensors."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _float32(_non_negative(factor, "factor"))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def __call__(self, x):
        if x.dim() != 2:
            raise ValueError(
                f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={tuple(x.shape)}"
            )
        axis = 1 if self.mode == "rows" else 0
        x = torch.nn.functional.normalize(x, dim=axis, eps=1e-12)
        product = x @ x.T if self.mode == "rows" else x.T @ x
        size = product.shape[0]
        off_diagonal = product * (1.0 - torch.eye(size, dtype=x.dtype, device=x.device))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * torch.sum(torch.abs(off_diagonal)) / pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's lower-case spellings (``keras.regularizers.l2(0.01)``).
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_REGISTRY = registry_of(L1, L2, L1L2, OrthogonalRegularizer, aliases={"l1_l2": L1L2})


def get(identifier, argument="kernel_regularizer"):
    """A regularizer from a Keras name or config, an instance or a callable."""
    return deserialize(identifier, _REGISTRY, argument)
