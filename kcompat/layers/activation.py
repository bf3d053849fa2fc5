"""Keras 3's activation layers: ``Activation``, ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``.

The numbers are Keras's definitions on its TensorFlow backend, op for op
(:mod:`kcompat.activations`), so the gradients at kinks are TensorFlow's too. The defaults
are Keras's, not torch's: ``LeakyReLU`` slopes by 0.3 (torch: 0.01), and Keras 2's ``alpha``
is accepted. These layers have no weights; they compute in the input's dtype as
:class:`~kcompat.layers.base.WeightlessLayer` says.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .. import activations, constraints, initializers, regularizers
from .._types import Identifier, IntOrSequence
from .base import Layer, Weight, WeightlessLayer, as_tensor, building_keras2
from .registry import keras_layer

__all__ = ["ELU", "Activation", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


def _float(value, name, layer):
    """A real number (bools and strings refused), or ``None``. Keras 2's configs hold 0-d
    float32 arrays (``cast_to_floatx``): their value is taken."""
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The `{name}` argument of a {layer} layer must be a float. Received: {name}={value!r}")
    return value


class _Elementwise(WeightlessLayer):
    """A weightless layer whose output shape is its input's."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras_layer()
class Activation(_Elementwise):
    """``keras.layers.Activation``: any Keras activation by name, config or callable."""

    def __init__(self, activation: Identifier, **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"activation": activations.serialize(self.activation)})
        return config

    def extra_repr(self):
        return repr(activations.serialize(self.activation))


@keras_layer()
class ReLU(_Elementwise):
    """``keras.layers.ReLU``: ``max(x, 0)`` capped at ``max_value``, ``negative_slope * (x - threshold)``
    below ``threshold``, as Keras 3 computes it."""

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        max_value = _float(max_value, "max_value", "ReLU")
        negative_slope = _float(negative_slope, "negative_slope", "ReLU")
        threshold = _float(threshold, "threshold", "ReLU")
        if max_value is not None and max_value < 0.0:
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config

    def extra_repr(self):
        return f"max_value={self.max_value}, negative_slope={self.negative_slope}, threshold={self.threshold}"


@keras_layer()
class LeakyReLU(_Elementwise):
    """``keras.layers.LeakyReLU``: slope ``negative_slope`` (Keras's default 0.3) below 0.

    Keras 2's ``alpha`` is taken for ``negative_slope``, with Keras 3's deprecation warning.
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs) -> None:
        name = "negative_slope"
        if "alpha" in kwargs:
            negative_slope, name = kwargs.pop("alpha"), "alpha"
            if not building_keras2():
                warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        negative_slope = _float(negative_slope, name, "LeakyReLU")
        # Keras 3 refuses a negative slope; Keras 2 (a layer of a Keras 2 model) takes it.
        if negative_slope is None or negative_slope < 0 and not building_keras2():
            raise ValueError(f"The {name} value of a Leaky ReLU layer cannot be None or negative value. "
                             f"Expected a float. Received: {name}={negative_slope}")
        self.negative_slope = negative_slope

    @property
    def negative_slope(self):
        return self._negative_slope

    @negative_slope.setter
    def negative_slope(self, value):
        self._negative_slope = value
        self._slope = float(np.float32(value))  # TF keeps the slope as a float32 attribute

    def call(self, inputs):
        return F.leaky_relu(inputs, self._slope)

    def get_config(self):
        config = super().get_config()
        config.update({"negative_slope": self.negative_slope})
        return config

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


@keras_layer()
class ELU(_Elementwise):
    """``keras.layers.ELU``: ``x`` above 0, ``alpha * (exp(x) - 1)`` below."""

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = _float(alpha, "alpha", "ELU")

    def call(self, inputs):
        y = activations.elu(inputs)
        # Keras's TF backend: tf.where(x > 0, elu(x), alpha * elu(x)), not torch's elu(x, alpha).
        return y if self.alpha == 1 else torch.where(inputs > 0, y, self.alpha * y)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha})
        return config

    def extra_repr(self):
        return f"alpha={self.alpha}"


def _large_negative_number(dtype):
    """Keras's stand-in for -inf under a mask (float16 cannot hold -1e9)."""
    return -3e4 if dtype == torch.float16 else -1e9


@keras_layer()
class Softmax(_Elementwise):
    """``keras.layers.Softmax`` over ``axis`` (an int or a tuple of ints), with Keras's ``mask``."""

    def __init__(self, axis: IntOrSequence = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
            raise TypeError(f"The `axis` argument of a Softmax layer must be an int or a tuple of ints. "
                            f"Received: axis={axis!r}")
        self.axis = axis  # as given: get_config writes it back as Keras does
        self._axes = tuple(int(a) for a in axes)

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = torch.as_tensor(mask, device=inputs.device)
            if mask.dim() > inputs.dim():
                raise ValueError("The `mask` must be broadcastable to `inputs` and must not have more dimensions. "
                                 f"Received: inputs.shape={tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}")
            for m, i in zip(reversed(mask.shape), reversed(inputs.shape)):
                if m != 1 and m != i:
                    raise ValueError("The `mask` must be broadcastable to `inputs`. Each mask dimension must be 1 "
                                     "or match the corresponding input dimension. Received: "
                                     f"inputs.shape={tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}")
            if mask.dtype != torch.bool:
                mask = mask > 0.5
            inputs = torch.where(mask, inputs, torch.tensor(_large_negative_number(inputs.dtype), dtype=inputs.dtype,
                                                            device=inputs.device))
        outputs = self._softmax(inputs)
        if mask is not None:
            outputs = torch.where(mask, outputs, torch.zeros((), dtype=outputs.dtype, device=outputs.device))
        return outputs

    def _softmax(self, inputs):
        rank = inputs.dim()
        if any(not -rank <= a < rank for a in self._axes) or len({a % rank for a in self._axes}) != len(self._axes):
            raise ValueError(f"Invalid reduction axis for inputs of rank {rank}: the `axis` argument of a Softmax "
                             f"layer must name distinct axes in [-{rank}, {rank}). Received: axis={self.axis}")
        if len(self._axes) > 1:
            return torch.exp(inputs - torch.logsumexp(inputs, dim=self._axes, keepdim=True))
        return activations.softmax(inputs, axis=self._axes[0])

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config

    def extra_repr(self):
        return f"axis={self.axis}"


@keras_layer()
class PReLU(Layer):
    """``keras.layers.PReLU``: ``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` per
    input cell (``shared_axes``, 1-based as in Keras, share it), Keras's formula (gradient 0 at 0)."""

    WEIGHTS = (Weight("alpha", "weight"),)

    def __init__(self, alpha_initializer: Identifier = "Zeros", alpha_regularizer: Identifier = None,
                 alpha_constraint: Identifier = None, shared_axes: Optional[IntOrSequence] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._weight_arguments(alpha_initializer=alpha_initializer, alpha_regularizer=alpha_regularizer,
                               alpha_constraint=alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        shape = list(tuple(input_shape)[1:])
        for axis in self.shared_axes or ():
            shape[axis - 1] = 1
        if not self.built:
            self.add_weight("alpha", tuple(shape), self.alpha_initializer, regularizer=self.alpha_regularizer,
                            constraint=self.alpha_constraint)

    def _build_from_weights(self, shapes):
        if "alpha" in shapes:
            self.add_weight("alpha", shapes["alpha"], self.alpha_initializer, regularizer=self.alpha_regularizer,
                            constraint=self.alpha_constraint)

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        x, alpha = self._in_compute_dtype(inputs, self.weight)
        outputs = torch.relu(x) - alpha * torch.relu(-x)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha_initializer": initializers.serialize(self.alpha_initializer),
                       "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                       "alpha_constraint": constraints.serialize(self.alpha_constraint),
                       "shared_axes": self.shared_axes})
        return config
