"""Keras 3's noise layers: ``Dropout``, ``SpatialDropout1D/2D/3D``, ``GaussianNoise``,
``GaussianDropout``. Identity in inference; in training the same distribution as Keras (not the
same draws): ``Dropout`` keeps each value with probability ``1 - rate`` and scales it by
``1 / (1 - rate)``. Training is Keras's ``training=`` where given, else the module's mode.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence

import torch

from .._types import OptionalInt
from ..validation import is_int, standardize_data_format
from .base import WeightlessLayer
from .registry import keras_layer

__all__ = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
           "GaussianDropout"]


def _rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
        raise ValueError("Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                         f"Received: rate={rate}")
    return rate


def _generator(seed, device):
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


class NoiseLayer(WeightlessLayer):
    def __init__(self, seed: OptionalInt = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self._generators = {}

    def _generator(self, device):
        """One generator per device from ``seed`` (so a seeded layer draws a repeatable sequence)."""
        if self.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = _generator(self.seed, device)
        return self._generators[device]

    def forward(self, inputs, training=None):
        inputs = self._inputs(inputs)
        return self.call(inputs) if self._is_training(training) else inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _noise_shape_argument(noise_shape):
    """Keras's checks of Dropout's ``noise_shape``, in its words: an iterable of positive ints or None."""
    if noise_shape is None:
        return None
    prefix = "Invalid value received for argument `noise_shape`. "
    if isinstance(noise_shape, str):
        raise ValueError(f"{prefix}Expected a tuple or list of integers. Received: noise_shape={noise_shape}")
    try:
        noise_shape = tuple(noise_shape)
    except TypeError:
        raise ValueError(f"{prefix}Expected an iterable of integers (e.g., a tuple or list). "
                         f"Received: noise_shape={noise_shape}") from None
    for i, dim in enumerate(noise_shape):
        if dim is not None and not is_int(dim):
            raise ValueError(f"{prefix}Expected all elements to be integers or None. Received element at index "
                             f"{i}: {dim} (type: {type(dim).__name__})")
        if dim is not None and dim <= 0:
            raise ValueError(f"{prefix}Expected all dimensions to be positive integers or None. Received negative "
                             f"or zero value at index {i}: {dim}")
    return noise_shape


@keras_layer()
class Dropout(NoiseLayer):
    """``keras.layers.Dropout`` (``noise_shape`` broadcasts one draw, ``None`` entries take the input's)."""

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None, seed: OptionalInt = None,
                 **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate)
        self.noise_shape = _noise_shape_argument(noise_shape)

    def _noise_shape(self, inputs):
        if self.noise_shape is None:
            return inputs.shape
        # Keras: a None takes the input's size on the same axis counted from the front; the mask
        # then broadcasts as arrays do (from the last axis).
        shape = tuple(n if s is None else s for s, n in zip(self.noise_shape, inputs.shape))
        try:
            fits = len(shape) <= inputs.dim() and torch.broadcast_shapes(shape, inputs.shape) == inputs.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"Dropout: noise_shape={self.noise_shape} does not broadcast to the input's shape "
                             f"{tuple(inputs.shape)}")
        return shape

    def call(self, inputs):
        if self.rate == 0:
            return inputs
        if self.rate == 1:
            return torch.zeros_like(inputs)
        keep = torch.rand(self._noise_shape(inputs), generator=self._generator(inputs.device), device=inputs.device,
                          dtype=inputs.dtype if inputs.is_floating_point() else torch.float32) >= self.rate
        return inputs * keep.to(inputs.dtype) / (1 - self.rate)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape})
        return config


class _SpatialDropout(Dropout):
    rank = None

    def __init__(self, rate: float, data_format: Optional[str] = None, seed: OptionalInt = None,
                 name: Optional[str] = None, dtype: Any = None, **kwargs) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = standardize_data_format(data_format) if self.rank > 1 else "channels_last"

    def _noise_shape(self, inputs):
        n, c = (inputs.shape[0], inputs.shape[-1]) if self.data_format == "channels_last" else inputs.shape[:2]
        ones = (1,) * self.rank
        return (n, *ones, c) if self.data_format == "channels_last" else (n, c, *ones)

    def get_config(self):
        config = {"rate": self.rate, "seed": self.seed, "name": self.name,
                  "dtype": self.dtype_policy.name}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


@keras_layer()
class SpatialDropout1D(_SpatialDropout):
    """``keras.layers.SpatialDropout1D``: whole channels dropped per sample."""

    rank = 1

    def __init__(self, rate: float, seed: OptionalInt = None, name: Optional[str] = None, dtype: Any = None,
                 **kwargs) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)


@keras_layer()
class SpatialDropout2D(_SpatialDropout):
    """``keras.layers.SpatialDropout2D``: whole feature maps dropped per sample."""

    rank = 2


@keras_layer()
class SpatialDropout3D(_SpatialDropout):
    """``keras.layers.SpatialDropout3D``: whole feature volumes dropped per sample."""

    rank = 3


@keras_layer()
class GaussianNoise(NoiseLayer):
    """``keras.layers.GaussianNoise``: ``inputs + N(0, stddev)`` in training."""

    def __init__(self, stddev: float, seed: OptionalInt = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.stddev = stddev

    def call(self, inputs):
        noise = torch.randn(inputs.shape, generator=self._generator(inputs.device), device=inputs.device,
                            dtype=inputs.dtype)
        return inputs + noise * self.stddev

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


@keras_layer()
class GaussianDropout(NoiseLayer):
    """``keras.layers.GaussianDropout``: ``inputs * N(1, sqrt(rate / (1 - rate)))`` in training."""

    def __init__(self, rate: float, seed: OptionalInt = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate)

    def call(self, inputs):
        if not 0 < self.rate < 1:
            return inputs
        noise = torch.randn(inputs.shape, generator=self._generator(inputs.device), device=inputs.device,
                            dtype=inputs.dtype)
        return inputs * (1 + noise * math.sqrt(self.rate / (1 - self.rate)))

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
