"""Keras 3's core layers with weights: ``Dense``, ``Embedding``; and ``Rescaling``.

``Dense`` stores ``weight`` ``(units, in_features)`` as ``nn.Linear`` does (``kernel`` is
Keras's ``(in_features, units)`` view) and acts on the last axis of inputs of any rank, as
Keras's does. ``Embedding`` stores ``weight`` ``(input_dim, output_dim)`` as ``nn.Embedding``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from .. import activations, layouts, regularizers
from ..validation import standardize_int
from .base import Layer, Weight, as_tensor, WeightlessLayer

__all__ = ["Dense", "Embedding", "Identity", "Rescaling"]


def _no_lora(kwargs):
    for key in ("lora_rank", "lora_alpha", "quantization_config"):
        if kwargs.pop(key, None) is not None:
            raise ValueError(f"kcompat does not reproduce Keras's `{key}` (LoRA and quantized layers).")


class Dense(Layer):
    """``keras.layers.Dense``: ``activation(inputs @ kernel + bias)`` on the last axis."""

    WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, *, in_features=None,
                 **kwargs):
        _no_lora(kwargs)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, numbers.Integral) or isinstance(units, bool) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units}")
        if not isinstance(use_bias, bool):
            raise TypeError(f"The `use_bias` argument must be a bool. Received: use_bias={use_bias!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._weight_arguments(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._in_features_arg = None if in_features is None else standardize_int(in_features, "in_features")

    def _build_at_init(self):
        super()._build_at_init()
        if self._in_features_arg is not None:
            self._build_weights(self._in_features_arg)

    @property
    def in_features(self):
        return None if self.weight is None else self.weight.shape[1]

    def build(self, input_shape):
        features = tuple(input_shape)[-1]
        if features is None:
            raise ValueError(f"The last dimension of the inputs to a Dense layer should be defined. "
                             f"Found None. Full input shape received: {tuple(input_shape)}")
        self._build_weights(int(features))

    def _build_weights(self, in_features):
        if self.built:
            return
        self.add_weight("kernel", (in_features, self.units), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        kernel = shapes.get("kernel")
        if kernel is not None and len(kernel) == 2:
            self._build_weights(int(kernel[0]))

    def weight_names(self):
        return ["kernel", "bias"] if self.use_bias else ["kernel"]

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        if inputs.dim() == 0:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"min_ndim=2, found ndim=0.")
        self._build_on_call(inputs)
        weight, bias = self.weight, self.bias
        if inputs.shape[-1] != weight.shape[1]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 '
                             f"of input shape to have value {weight.shape[1]}, but received input with shape "
                             f"{tuple(inputs.shape)}")
        x, weight, bias = self._in_compute_dtype(inputs, weight, bias)
        outputs = F.linear(x, weight, bias)
        if self.activation is not activations.linear:
            outputs = self.activation(outputs)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_config("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                                  "kernel_constraint", "bias_constraint"),
            "quantization_config": None,
        })
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    def extra_repr(self):
        parts = [f"{self.units}"]
        if self.activation is not activations.linear:
            parts.append(f"activation={activations.serialize(self.activation)!r}")
        if not self.use_bias:
            parts.append("use_bias=False")
        if self.built:
            parts.append(f"in_features={self.in_features}")
        return ", ".join(parts)


class Embedding(Layer):
    """``keras.layers.Embedding``: integer indices to rows of ``embeddings`` (Keras's
    ``uniform(-0.05, 0.05)`` initializer); ``mask_zero`` as Keras's ``compute_mask``."""

    WEIGHTS = (Weight("embeddings", "weight"),)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, **kwargs):
        _no_lora(kwargs)
        kwargs.pop("input_length", None)  # Keras 2's configs
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = standardize_int(input_dim, "input_dim")
        self.output_dim = standardize_int(output_dim, "output_dim")
        self._weight_arguments(embeddings_initializer=embeddings_initializer,
                               embeddings_regularizer=embeddings_regularizer,
                               embeddings_constraint=embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self._initial_weights = weights

    def _build_at_init(self):
        super()._build_at_init()
        if self._initial_weights is not None:
            self.build(None)
            self.set_weights(self._initial_weights)

    def build(self, input_shape=None):
        if not self.built:
            self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                            regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint)

    def _build_from_weights(self, shapes):
        if shapes.get("embeddings") == (self.input_dim, self.output_dim):
            self.build()

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        if inputs.is_floating_point() or inputs.dtype == torch.bool:
            inputs = inputs.to(torch.int32)  # Keras casts to int32
        weight = self.weight
        if self.dtype_policy.name.startswith("mixed_"):
            weight = weight.to(self.compute_dtype)
        outputs = F.embedding(inputs.long(), weight)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def compute_mask(self, inputs, mask=None):
        """Keras's mask: ``inputs != 0`` where ``mask_zero``, else ``None``."""
        return as_tensor(inputs) != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **self._weight_config("embeddings_initializer", "embeddings_regularizer", "activity_regularizer",
                                  "embeddings_constraint"),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        })
        return config

    def extra_repr(self):
        return f"{self.input_dim}, {self.output_dim}" + (", mask_zero=True" if self.mask_zero else "")


class Rescaling(WeightlessLayer):
    """``keras.layers.Rescaling``: ``inputs * scale + offset`` in the compute dtype (uint8
    images come out float32, as in Keras)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def _input(self, inputs):
        inputs = super()._input(inputs)
        return inputs if inputs.is_floating_point() else inputs.to(self.compute_dtype)

    def call(self, inputs):
        # Keras's TF backend makes a Python float a float32 tensor before the cast: 1 / 127.5 is
        # rounded to float32 even in a float64 computation. kcompat rounds the same way.
        scale, offset = (torch.as_tensor(np.asarray(v, np.float32) if isinstance(v, float) else np.asarray(v))
                         .to(device=inputs.device, dtype=inputs.dtype) for v in (self.scale, self.offset))
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config


class Identity(WeightlessLayer):
    """``keras.layers.Identity``: the input, unchanged."""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
