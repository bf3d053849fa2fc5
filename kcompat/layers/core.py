"""Keras 3's core layers with weights: ``Dense``, ``Embedding``; and ``Rescaling``.

``Dense`` stores ``weight`` ``(units, in_features)`` as ``nn.Linear`` does (``kernel`` is
Keras's ``(in_features, units)`` view) and acts on the last axis of inputs of any rank, as
Keras's does. ``Embedding`` stores ``weight`` ``(input_dim, output_dim)`` as ``nn.Embedding``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .. import activations, layouts, regularizers
from .._types import Identifier, OptionalInt
from ..validation import image_data_format, is_int, standardize_int
from .base import Layer, Weight, WeightlessLayer, as_tensor
from .registry import keras_layer

__all__ = ["Dense", "EinsumDense", "Embedding", "Identity", "Rescaling", "analyze_einsum"]


def _no_lora(kwargs):
    for key in ("lora_rank", "lora_alpha", "quantization_config"):
        if kwargs.pop(key, None) is not None:
            raise ValueError(f"kcompat does not reproduce Keras's `{key}` (LoRA and quantized layers).")


@keras_layer()
class Dense(Layer):
    """``keras.layers.Dense``: ``activation(inputs @ kernel + bias)`` on the last axis."""

    WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))

    def __init__(self, units: int, activation: Identifier = None, use_bias: bool = True,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, *, in_features: OptionalInt = None, **kwargs) -> None:
        _no_lora(kwargs)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not is_int(units) or units <= 0:
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
        if inputs.dim() < 2:  # Keras's InputSpec(min_ndim=2): (batch, ..., features)
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"min_ndim=2, found ndim={inputs.dim()}. Full shape received: {tuple(inputs.shape)}")
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


@keras_layer()
class Embedding(Layer):
    """``keras.layers.Embedding``: integer indices to rows of ``embeddings`` (Keras's
    ``uniform(-0.05, 0.05)`` initializer); ``mask_zero`` as Keras's ``compute_mask``."""

    WEIGHTS = (Weight("embeddings", "weight"),)

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Identifier = "uniform",
                 embeddings_regularizer: Identifier = None, embeddings_constraint: Identifier = None,
                 mask_zero: bool = False, weights: Any = None, **kwargs) -> None:
        _no_lora(kwargs)
        kwargs.pop("input_length", None)  # Keras 2's configs
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for argument, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not is_int(value) or value <= 0:
                raise ValueError(f"`{argument}` must be a positive integer. Received: {argument}={value} (of type "
                                 f"{type(value).__name__}).")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self._weight_arguments(embeddings_initializer=embeddings_initializer,
                               embeddings_regularizer=embeddings_regularizer,
                               embeddings_constraint=embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        # Keras takes the embeddings matrix alone as well as a list of it
        self._initial_weights = [weights] if weights is not None and hasattr(weights, "shape") else weights

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


@keras_layer()
class Rescaling(WeightlessLayer):
    """``keras.layers.Rescaling``: ``inputs * scale + offset`` in the compute dtype (uint8
    images come out float32, as in Keras)."""

    def __init__(self, scale: float, offset: float = 0.0, **kwargs) -> None:
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
        if scale.dim() > 0 and image_data_format() == "channels_first":
            # Keras: with Keras's image_data_format channels_first, a per-channel scale lines up
            # with (channels, height, width)
            scale = scale.reshape(*scale.shape, *(1,) * (3 - scale.dim()))
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config


@keras_layer()
class Identity(WeightlessLayer):
    """``keras.layers.Identity``: the input, unchanged."""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def analyze_einsum(equation, bias_axes, input_shape, output_shape):
    """Keras's ``_analyze_einsum_string``: ``(kernel shape, bias shape or None, full output shape)``
    of an ``EinsumDense`` equation (``ab,bc->ac``, ``...b,bc->...c``, ``ab...,bc->ac...``)."""
    replaced = re.sub(r"\.\.\.", "0", equation)
    found = [(m, left) for pattern, left in (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
                                             ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
                                             ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False))
             for m in [re.match(pattern, replaced)] if m]
    if not found:
        raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form [X],[Y]->[Z], "
                         "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
    match, left = found[0]
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(input_shape) - len(input_spec)
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])
    elif elided > 0:
        output_shape += [input_shape[i] for i in range(len(input_shape) - elided, len(input_shape))]
    if left:
        input_map = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        output_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_map = {d: i for i, d in enumerate(input_spec)}
        output_map = {d: i for i, d in enumerate(output_spec)}
    for d in input_spec:
        if d in output_map and output_shape[output_map[d]] is not None \
                and output_shape[output_map[d]] != input_shape[input_map[d]]:
            raise ValueError(f"Input shape and output shape do not match at shared dimension '{d}'. Input shape is "
                             f"{input_shape[input_map[d]]}, and output shape is {output_shape[output_map[d]]}.")
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ValueError(f"Dimension '{d}' was specified in the output '{output_spec}' but has no corresponding "
                             f"dim in the input spec '{input_spec}' or weight spec '{output_spec}'")
    kernel = []
    for d in weight_spec:
        if d in output_map:
            kernel.append(output_shape[output_map[d]])
        elif d in input_map:
            kernel.append(input_shape[input_map[d]])
        else:
            raise ValueError(f"Weight dimension '{d}' did not have a match in either the input spec '{input_spec}' "
                             f"or the output spec '{output_spec}'. For this layer, the weight must be fully specified.")
    bias = None
    if bias_axes is not None:
        offset = elided if left else 0
        sizes = {c: output_shape[i + offset] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(f"Bias dimension '{c}' was requested, but is not part of the output spec "
                                 f"'{output_spec}'")
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left:
            bias += [1] * elided
    return kernel, bias, output_shape


@keras_layer()
class EinsumDense(Layer):
    """``keras.layers.EinsumDense``: ``activation(einsum(equation, inputs, kernel) + bias)``, the
    kernel and bias in Keras's layout and shapes (Keras's analysis of the equation)."""

    WEIGHTS = (Weight("kernel", "kernel"), Weight("bias", "bias"))

    def __init__(self, equation: str, output_shape: Any, activation: Identifier = None, bias_axes: Optional[str] = None,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 kernel_constraint: Identifier = None, bias_constraint: Identifier = None, **kwargs) -> None:
        _no_lora(kwargs)
        super().__init__(**kwargs)
        if not isinstance(equation, str):
            raise ValueError(f"`equation` must be a string. Received: equation={equation!r}")
        self.equation = equation
        self.partial_output_shape = output_shape if isinstance(output_shape, int) else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self._weight_arguments(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)

    def weight_names(self):
        return ["kernel"] + (["bias"] if self.bias_axes is not None else [])

    def build(self, input_shape):
        if self.built:
            return
        kernel, bias, _ = analyze_einsum(self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape)
        self._build_weights(kernel, bias)

    def _build_weights(self, kernel, bias):
        self.add_weight("kernel", kernel, self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if bias is not None:
            self.add_weight("bias", bias, self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        if "kernel" in shapes and (self.bias_axes is None) == ("bias" not in shapes):
            self._build_weights(shapes["kernel"], shapes.get("bias"))

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        x, kernel = self._in_compute_dtype(inputs, self.kernel)
        y = torch.einsum(self.equation, x, kernel)
        if self.bias_axes is not None:
            y = y + self.bias.to(y.dtype)
        y = self.activation(y)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(y)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(analyze_einsum(self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape)[2])

    def get_config(self):
        config = super().get_config()
        config.update({"output_shape": self.partial_output_shape, "equation": self.equation,
                       "activation": activations.serialize(self.activation), "bias_axes": self.bias_axes,
                       **self._weight_config("kernel_initializer", "bias_initializer", "kernel_regularizer",
                                             "bias_regularizer", "kernel_constraint", "bias_constraint"),
                       "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                       "quantization_config": None})
        return config
