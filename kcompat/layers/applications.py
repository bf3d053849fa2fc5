"""The layers ``keras.applications`` (and ``tf_keras.applications``) define for their own models:
``CustomScaleLayer`` (InceptionResNetV2's residual scale), ``LayerScale`` and ``StochasticDepth``
(ConvNeXt). Saved files name them by class (tf_keras registers ``CustomScaleLayer`` as
``Custom>CustomScaleLayer``); :func:`kcompat.layers.layer_class` finds them under either name."""

from __future__ import annotations

import numbers

import torch

from .. import initializers
from .base import Layer, Weight, WeightlessLayer, as_tensor
from .registry import keras_layer
from .regularization import NoiseLayer

__all__ = ["CustomScaleLayer", "LayerScale", "StochasticDepth"]


@keras_layer(package="Custom")
class CustomScaleLayer(WeightlessLayer):
    """``inputs[0] + inputs[1] * scale`` (the shortcut plus the scaled residual branch)."""

    def __init__(self, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(scale, numbers.Real) or isinstance(scale, bool):
            raise TypeError(f"`scale` must be a number. Received: scale={scale!r}")
        self.scale = scale

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"CustomScaleLayer takes a list of two tensors (shortcut, residual). Received: {inputs!r}")
        return [self._input(x) for x in inputs]

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras_layer(package="Custom")
class LayerScale(Layer):
    """``x * gamma``: a learned scale per channel (``projection_dim``), ``init_values`` to start."""

    WEIGHTS = (Weight("gamma", "gamma"),)

    def __init__(self, init_values: float, projection_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(projection_dim, numbers.Integral) or isinstance(projection_dim, bool) or projection_dim < 1:
            raise ValueError(f"`projection_dim` must be a positive integer. Received: projection_dim={projection_dim!r}")
        self.init_values = init_values
        self.projection_dim = int(projection_dim)

    def build(self, input_shape):
        if not self.built:
            self.add_weight("gamma", (self.projection_dim,), initializers.Constant(self.init_values))

    def _build_from_weights(self, shapes):
        if shapes.get("gamma") == (self.projection_dim,):
            self.build(None)

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        x, gamma = self._in_compute_dtype(inputs, self.gamma)
        return x * gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


@keras_layer(package="Custom")
class StochasticDepth(NoiseLayer):
    """The identity in inference; in training each sample's residual path is dropped with
    probability ``drop_path_rate`` (``floor(keep + uniform)``) and the kept ones scaled by ``1 / keep``."""

    def __init__(self, drop_path_rate: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(drop_path_rate, numbers.Real) or isinstance(drop_path_rate, bool) or not (
                0 <= drop_path_rate <= 1):
            raise ValueError(f"`drop_path_rate` must be a number in [0, 1]. Received: drop_path_rate={drop_path_rate!r}")
        self.drop_path_rate = drop_path_rate

    def call(self, inputs):
        keep = 1 - self.drop_path_rate
        shape = (inputs.shape[0],) + (1,) * (inputs.dim() - 1)
        draw = torch.rand(shape, dtype=inputs.dtype, device=inputs.device, generator=self._generator(inputs.device))
        return inputs / keep * torch.floor(keep + draw)

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config
