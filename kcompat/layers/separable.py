"""Keras 3's ``DepthwiseConv1D/2D`` and ``SeparableConv1D/2D`` with TensorFlow's padding.

The padding, checks and layouts are :class:`~kcompat.layers.conv.BaseConv`'s. The depthwise
kernel is Keras's ``(*kernel_size, in_channels, depth_multiplier)``; its torch-layout parameter
``depthwise_weight`` is ``(in_channels, depth_multiplier, *kernel_size)``, which
``reshape(-1, 1, *kernel_size)`` makes ``nn.Conv{rank}d(groups=in_channels)``'s weight (output
channel ``c * depth_multiplier + m``, as TensorFlow orders them). The separable layers follow
with a 1x1 convolution, ``pointwise_weight`` ``(filters, in_channels * depth_multiplier, 1, ..)``.
"""

from __future__ import annotations

from typing import Optional

import torch.nn.functional as F

from .. import layouts, shapes
from .._padding import pad
from .._types import Identifier, IntOrSequence
from ..validation import standardize_int
from .base import Weight
from .conv import BaseConv, plain_strides
from .registry import keras_layer

__all__ = ["DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"]

_CONV = {1: F.conv1d, 2: F.conv2d}


def _depthwise_to_torch(kernel):
    rank = kernel.ndim - 2
    return kernel.permute(rank, rank + 1, *range(rank)) if hasattr(kernel, "permute") else \
        kernel.transpose((rank, rank + 1, *range(rank)))


def _depthwise_to_keras(weight):
    rank = weight.ndim - 2
    order = (*range(2, rank + 2), 0, 1)
    return weight.permute(*order) if hasattr(weight, "permute") else weight.transpose(order)


DEPTHWISE = layouts.Layout("depthwise", _depthwise_to_torch, _depthwise_to_keras)


class _Factorized(BaseConv):
    """A depthwise convolution (then, for the separable layers, a pointwise one)."""

    pointwise = False

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence, padding: str,
                 data_format: Optional[str], dilation_rate: IntOrSequence, depth_multiplier: int,
                 activation: Identifier, use_bias: bool, depthwise_initializer: Identifier,
                 pointwise_initializer: Identifier, bias_initializer: Identifier, depthwise_regularizer: Identifier,
                 pointwise_regularizer: Identifier, bias_regularizer: Identifier, activity_regularizer: Identifier,
                 depthwise_constraint: Identifier, pointwise_constraint: Identifier, bias_constraint: Identifier,
                 **kwargs) -> None:
        depth = standardize_int(depth_multiplier, "depth_multiplier")
        # The separable layers' pointwise convolution needs its filters (Keras refuses 0 at once and
        # None at build); the depthwise ones have none.
        filters = standardize_int(filters, "filters") if self.pointwise else depth
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias, bias_initializer=bias_initializer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = depth
        self._weight_arguments(depthwise_initializer=depthwise_initializer, depthwise_regularizer=depthwise_regularizer,
                               depthwise_constraint=depthwise_constraint)
        if self.pointwise:
            self._weight_arguments(pointwise_initializer=pointwise_initializer,
                                   pointwise_regularizer=pointwise_regularizer, pointwise_constraint=pointwise_constraint)

    @property
    def in_channels(self):
        weight = self.depthwise_weight
        return None if weight is None else weight.shape[0]

    def _out_channels(self, in_channels):
        return self.filters if self.pointwise else in_channels * self.depth_multiplier

    def _build_weights(self, in_channels):
        if self.built:
            return
        self.add_weight("depthwise_kernel", (*self.kernel_size, in_channels, self.depth_multiplier),
                        self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                        constraint=self.depthwise_constraint)
        if self.pointwise:
            self.add_weight("pointwise_kernel", (*(1,) * self.rank, in_channels * self.depth_multiplier, self.filters),
                            self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                            constraint=self.pointwise_constraint)
        if self.use_bias:
            self.add_weight("bias", (self._out_channels(in_channels),), self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        kernel = shapes.get("depthwise_kernel")
        if kernel is not None and len(kernel) == self.rank + 2:
            self._build_weights(int(kernel[-2]))

    def weight_names(self):
        names = ["depthwise_kernel"] + (["pointwise_kernel"] if self.pointwise else [])
        return names + (["bias"] if self.use_bias else [])

    def torch_conv_weight(self):
        if self.pointwise:
            return None
        weight = self.depthwise_weight
        return weight.reshape(-1, 1, *weight.shape[2:]), weight.shape[0]

    def _convolve(self, x, pads, padding):
        depthwise = self.depthwise_weight
        x, depthwise, pointwise, bias = self._in_compute_dtype(
            x, depthwise, self.pointwise_weight if self.pointwise else None, self.bias)
        if pads is not None:
            x = pad(x, pads)
        x = plain_strides(x)
        depthwise = depthwise.reshape(-1, 1, *depthwise.shape[2:])
        conv = _CONV[self.rank]
        if not self.pointwise:
            return conv(x, depthwise, bias, self.strides, padding, self.dilation_rate, x.shape[1])
        y = conv(x, depthwise, None, self.strides, padding, self.dilation_rate, x.shape[1])
        return conv(y, pointwise, bias)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        size = tuple(shapes.conv_output_length(n, k, s, self.padding, d)
                     for n, k, s, d in zip(self._spatial(input_shape), self.kernel_size, self.strides,
                                           self.dilation_rate))
        channels = input_shape[self._channel_axis()]
        out = None if channels is None else self._out_channels(channels)
        if self.data_format == "channels_last":
            return (input_shape[0], *size, out)
        return (input_shape[0], out, *size)

    def get_config(self):
        config = super().get_config()
        for key in ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        if not self.pointwise:
            config.pop("filters")
        base = {k: config.pop(k) for k in ("name", "trainable", "dtype")}
        out = dict(base, depth_multiplier=self.depth_multiplier)
        out.update({k: config[k] for k in ("filters", "kernel_size", "strides", "padding", "data_format",
                                           "dilation_rate", "activation", "use_bias") if k in config})
        weights = ["depthwise", "pointwise", "bias"] if self.pointwise else ["depthwise", "bias"]
        out.update(self._weight_config(*(f"{w}_initializer" for w in weights),
                                       *(f"{w}_regularizer" for w in weights), "activity_regularizer",
                                       *(f"{w}_constraint" for w in weights)))
        return out


class _Depthwise(_Factorized):
    WEIGHTS = (Weight("depthwise_kernel", "depthwise_weight", DEPTHWISE), Weight("bias", "bias"))

    def __init__(self, kernel_size: IntOrSequence, strides: IntOrSequence = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: Optional[str] = None, dilation_rate: IntOrSequence = 1,
                 activation: Identifier = None, use_bias: bool = True,
                 depthwise_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 depthwise_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, depthwise_constraint: Identifier = None,
                 bias_constraint: Identifier = None, **kwargs) -> None:
        super().__init__(None, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, None, bias_initializer, depthwise_regularizer,
                         None, bias_regularizer, activity_regularizer, depthwise_constraint, None, bias_constraint,
                         **kwargs)

    @property
    def kernel(self):
        """Keras 3's name for the depthwise kernel (``layer.kernel``; Keras 2's and the separable
        layers': ``depthwise_kernel``), the same Keras-layout view."""
        return self.depthwise_kernel


class _Separable(_Factorized):
    pointwise = True
    WEIGHTS = (Weight("depthwise_kernel", "depthwise_weight", DEPTHWISE),
               Weight("pointwise_kernel", "pointwise_weight", layouts.KERNEL), Weight("bias", "bias"))

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: IntOrSequence = 1, depth_multiplier: int = 1,
                 activation: Identifier = None, use_bias: bool = True,
                 depthwise_initializer: Identifier = "glorot_uniform",
                 pointwise_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 depthwise_regularizer: Identifier = None, pointwise_regularizer: Identifier = None,
                 bias_regularizer: Identifier = None, activity_regularizer: Identifier = None,
                 depthwise_constraint: Identifier = None, pointwise_constraint: Identifier = None,
                 bias_constraint: Identifier = None, **kwargs) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


@keras_layer()
class DepthwiseConv1D(_Depthwise):
    """``keras.layers.DepthwiseConv1D``: each input channel convolved with its own
    ``depth_multiplier`` filters."""

    rank = 1


@keras_layer()
class DepthwiseConv2D(_Depthwise):
    """``keras.layers.DepthwiseConv2D``: each input channel convolved with its own
    ``depth_multiplier`` filters (TF's padding, channel order ``c * depth_multiplier + m``)."""

    rank = 2


@keras_layer()
class SeparableConv1D(_Separable):
    """``keras.layers.SeparableConv1D``: a depthwise convolution, then a 1x1 one to ``filters``."""

    rank = 1


@keras_layer()
class SeparableConv2D(_Separable):
    """``keras.layers.SeparableConv2D``: a depthwise convolution, then a 1x1 one to ``filters``."""

    rank = 2

