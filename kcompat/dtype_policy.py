"""Keras dtype policies: ``"float32"`` and friends, and the ``mixed_*`` policies.

A mixed policy keeps the weights in float32 and computes in float16/bfloat16, as Keras's
``mixed_float16`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .validation import floatx

__all__ = ["DTypePolicy", "get", "serialize"]

_TORCH = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
_NAMES = {v: k for k, v in _TORCH.items()}


@dataclass(frozen=True)
class DTypePolicy:
    name: str

    @property
    def variable_dtype(self) -> torch.dtype:
        return torch.float32 if self.name.startswith("mixed_") else _TORCH[self.name]

    @property
    def compute_dtype(self) -> torch.dtype:
        return _TORCH[self.name[len("mixed_"):]] if self.name.startswith("mixed_") else _TORCH[self.name]


def get(dtype) -> DTypePolicy:
    """A policy from ``None`` (Keras's ``floatx``), a name, a torch/numpy dtype or a Keras config."""
    if isinstance(dtype, DTypePolicy):
        return dtype
    if dtype is None:
        return DTypePolicy(floatx())
    name = dtype
    if isinstance(dtype, dict):  # Keras 3: {"class_name": "DTypePolicy", "config": {"name": ...}}
        name = (dtype.get("config") or {}).get("name")
    elif isinstance(dtype, torch.dtype):
        name = _NAMES.get(dtype)
    elif not isinstance(dtype, str):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    allowed = sorted(_TORCH) + ["mixed_float16", "mixed_bfloat16"]
    if name not in allowed:
        raise ValueError(
            f"Invalid `dtype` argument: expected one of {allowed}, a torch floating dtype or a "
            f"Keras DTypePolicy config. Received: dtype={dtype!r}"
        )
    return DTypePolicy(name)


def serialize(policy: DTypePolicy) -> dict:
    """Keras 3's serialized policy."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": policy.name},
            "registered_name": None}
