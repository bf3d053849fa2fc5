"""Keras 3's weight constraints, and the call that applies them after an optimizer step.

Axes refer to the Keras layout of the weight (``(kh, kw, filters, in_channels)`` for a
transposed kernel), so a constraint configured for a Keras model means the same here.
Keras applies constraints inside ``optimizer.apply``; in PyTorch call
:func:`apply_constraints` (or ``layer.apply_constraints()``) right after
``optimizer.step()``.
"""

from __future__ import annotations

import torch

from .serialization import KerasObject, deserialize, registry_of, serialize

__all__ = ["get", "serialize", "apply_constraints", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"]

EPSILON = 1e-7  # keras.backend.epsilon()


def _norms(w, axis):
    dims = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    return torch.sqrt(torch.sum(torch.square(w), dim=dims, keepdim=True))


class Constraint(KerasObject):
    keras_module = "keras.constraints"

    def __call__(self, w):
        return w


class MaxNorm(Constraint):
    """Keras's ``MaxNorm``: rescale slices along ``axis`` whose L2 norm exceeds ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (torch.clamp(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keras's ``MinMaxNorm``: move slice norms into ``[min_value, max_value]`` at ``rate``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * torch.clamp(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Keras's ``NonNeg``: negative weights set to zero."""

    def __call__(self, w):
        return torch.clamp(w, min=0)


class UnitNorm(Constraint):
    """Keras's ``UnitNorm``: slices along ``axis`` scaled to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


_REGISTRY = registry_of(MaxNorm, MinMaxNorm, NonNeg, UnitNorm)


def get(identifier, argument="kernel_constraint"):
    """A constraint from a Keras name or config, an instance or a callable."""
    return deserialize(identifier, _REGISTRY, argument)


@torch.no_grad()
def apply_constraints(module: torch.nn.Module) -> None:
    """Project the weights of every kcompat layer in ``module`` onto their constraints.

    Call after ``optimizer.step()``, where Keras applies them.
    """
    for sub in module.modules():
        apply = getattr(sub, "_apply_own_constraints", None)
        if apply is not None:
            apply()
