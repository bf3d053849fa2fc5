"""TF1's ``tf.layers`` (``tf.compat.v1.layers``): the classes and their functional spellings.

Each class is a kcompat Keras layer with TF1's surface (:class:`kcompat.compat.v1.base.Layer`):
TF1's arguments and defaults (``kernel_initializer=None`` meaning the scope's initializer or
glorot uniform, ``bias_initializer=zeros_initializer()``, dtype inferred from the first input,
``training=False`` unless given), variable names and sharing (see
:mod:`kcompat.compat.v1.variable_scope`). Variables are stored as TensorFlow has them:
``kernel`` ``(kh, kw, in, filters)`` (the transposed convolutions' ``(kh, kw, filters, in)``;
its memory in torch order, so ``weight``, the torch-layout view, costs nothing), ``bias``,
``gamma``/``beta``/``moving_mean``/``moving_variance``.
The functional spellings (``dense``, ``conv2d``, ``batch_normalization``, ...) are called inside
a module's ``forward``: they create ``<scope>/<name>/kernel`` ... on the first pass, as
variables of that module, and reuse them on later passes.
"""

from __future__ import annotations

import torch

from ...layers import conv, core, normalization, pooling, regularization, reshaping, separable
from ...layers.conv_transpose import BaseConvTranspose
from ...serialization import serialize
from .base import Layer, functional
from .initializers import ones_initializer, zeros_initializer

__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "BatchNormalization", "Conv1D", "Conv2D",
    "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "Dense", "Dropout", "Flatten", "MaxPooling1D", "MaxPooling2D",
    "MaxPooling3D", "SeparableConv1D", "SeparableConv2D", "average_pooling1d", "average_pooling2d",
    "average_pooling3d", "batch_normalization", "conv1d", "conv2d", "conv2d_transpose", "conv3d", "conv3d_transpose",
    "dense", "dropout", "flatten", "max_pooling1d", "max_pooling2d", "max_pooling3d", "separable_conv1d",
    "separable_conv2d",
]

_ZEROS = zeros_initializer()
_ONES = ones_initializer()

# TF1 graph code finds its module on the call stack: the functional spellings run eagerly in compiled code.
_eager = torch.compiler.disable


class Conv2DTranspose(Layer, BaseConvTranspose):
    """``tf.compat.v1.layers.Conv2DTranspose`` on PyTorch (TF1 output shapes and names).

    Output length per axis: ``valid``: ``I * s + max(k - s, 0)``; ``same``: ``I * s``.
    The tf_keras implementation also accepts Keras's ``output_padding`` and ``dilation_rate``
    keywords, and so does this class. The TF1 surface (scopes, sharing, ``input``/``output``,
    node shapes) is :class:`kcompat.compat.v1.base.Layer`'s.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                 activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                 name=None, **kwargs):
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            data_format=data_format, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, trainable=trainable, name=name, **kwargs,
        )

    def _check_inputs(self, inputs):
        if self.rank == 2 and self.dilation_rate[0] != self.dilation_rate[1]:
            # tf_keras's backend (atrous_conv2d_transpose), which TF1 layers call, takes one rate.
            raise ValueError(
                "Expected the 2 dimensions of the `dilation_rate` argument to be equal to each other. "
                f"Received: dilation_rate={self.dilation_rate}"
            )

    def get_config(self):
        """What tf_keras's TF1 ``Conv2DTranspose.get_config()`` returns (Keras 2 format)."""
        config = super().get_config()
        config["groups"] = 1
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("groups", 1) == 1:
            config.pop("groups", None)
        return super().from_config(config)


class Conv3DTranspose(Conv2DTranspose):
    """``tf.compat.v1.layers.Conv3DTranspose`` on PyTorch: the 2-D class's TF1 semantics (names,
    scopes, sharing, dtype from the first input, output length per axis ``valid``:
    ``I * s + max(k - s, 0)``, ``same``: ``I * s``), in three spatial dimensions.

    TensorFlow's class is Keras 2's ``Conv3DTranspose``, which takes ``dilation_rate`` and
    ignores it; kcompat refuses a ``dilation_rate`` other than 1 rather than compute something
    other than what was asked. Its ``get_config()`` has no ``dilation_rate``, as Keras 2's.
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format="channels_last",
                 activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                 name=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, trainable=trainable,
                         name=name, **kwargs)
        if max(self.dilation_rate) > 1:
            raise ValueError(
                "tf.compat.v1.layers.Conv3DTranspose (Keras 2's Conv3DTranspose) ignores `dilation_rate`; kcompat "
                f"refuses it rather than compute without it. Received: dilation_rate={self.dilation_rate}")

    def get_config(self):
        """What tf_keras's TF1 ``Conv3DTranspose.get_config()`` returns (no ``dilation_rate``)."""
        config = super().get_config()
        config.pop("dilation_rate")
        return config


@_eager
def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """``tf.layers.conv2d_transpose`` (TF1): call it inside a module's ``forward``.

    Creates ``<scope>/<name>/kernel`` and ``.../bias`` on the first forward pass, as variables of
    the module whose ``forward`` is running; later passes reuse them. ``name=None`` gives
    ``conv2d_transpose``, ``conv2d_transpose_1``, ... within the current variable scope;
    ``reuse=True`` shares an existing layer's variables; a second layer with the same name in
    one pass fails ("already exists") unless ``reuse`` is set.
    """
    return functional(Conv2DTranspose, "tf.layers.conv2d_transpose", **locals())  # TF1 argument names


@_eager
def conv3d_transpose(inputs, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None,
                     bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """``tf.layers.conv3d_transpose`` (TF1): :func:`conv2d_transpose`'s rules in three dimensions
    (``name=None`` gives ``conv3d_transpose``, ``conv3d_transpose_1``, ...)."""
    return functional(Conv3DTranspose, "tf.layers.conv3d_transpose", **locals())  # TF1 argument names


class Dense(Layer, core.Dense):
    """``tf.compat.v1.layers.Dense``: ``kernel`` ``(in, units)``, ``bias``."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
                         trainable=trainable, name=name, **kwargs)

    def get_config(self):
        """Keras 2's Dense config (``activity_regularizer``, no ``quantization_config``)."""
        config = super().get_config()
        config.pop("quantization_config", None)
        config["activity_regularizer"] = serialize(self.activity_regularizer)
        return config


class _Conv(Layer):
    """TF1's convolution classes: Keras's without ``groups``, TF1's initializer defaults."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, trainable=trainable, name=name, **kwargs)


class Conv1D(_Conv, conv.Conv1D):
    """``tf.compat.v1.layers.Conv1D``: ``kernel`` ``(k, in, filters)``, TF's ``same`` padding."""


class Conv2D(_Conv, conv.Conv2D):
    """``tf.compat.v1.layers.Conv2D``: ``kernel`` ``(kh, kw, in, filters)``, TF's ``same`` padding."""


class Conv3D(_Conv, conv.Conv3D):
    """``tf.compat.v1.layers.Conv3D``: ``kernel`` ``(kd, kh, kw, in, filters)``."""


class _SeparableConv(Layer):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer=None,
                 pointwise_initializer=None, bias_initializer=_ZEROS, depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, trainable=trainable, name=name,
                         **kwargs)

    def get_config(self):
        """Keras 2's, with the convolution base's keys it carries unused (``groups``, ``kernel_*``)."""
        config = super().get_config()
        config.update({"groups": 1, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                                           "config": {"seed": None}, "registered_name": None},
                       "kernel_regularizer": None, "kernel_constraint": None})
        return config


class SeparableConv1D(_SeparableConv, separable.SeparableConv1D):
    """``tf.compat.v1.layers.SeparableConv1D``: ``depthwise_kernel``, ``pointwise_kernel``, ``bias``."""


class SeparableConv2D(_SeparableConv, separable.SeparableConv2D):
    """``tf.compat.v1.layers.SeparableConv2D``: ``depthwise_kernel``, ``pointwise_kernel``, ``bias``."""


class BatchNormalization(Layer, normalization.BatchNormalization):
    """``tf.compat.v1.layers.BatchNormalization``: Keras 2's semantics (the fused kernel on 4-D/5-D
    inputs updates the moving variance with the unbiased batch variance), ``training=False``
    unless given (a bool or a 0-d tensor); a training call updates ``moving_mean`` and
    ``moving_variance`` in place, as running TF's ``UPDATE_OPS`` with the step would."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer=_ZEROS,
                 gamma_initializer=_ONES, moving_mean_initializer=_ZEROS, moving_variance_initializer=_ONES,
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None, trainable=True,
                 virtual_batch_size=None, adjustment=None, name=None, **kwargs):
        super().__init__(axis, momentum, epsilon, center, scale, beta_initializer, gamma_initializer,
                         moving_mean_initializer, moving_variance_initializer, beta_regularizer, gamma_regularizer,
                         beta_constraint, gamma_constraint, renorm=renorm, renorm_clipping=renorm_clipping,
                         renorm_momentum=renorm_momentum, fused=fused, trainable=trainable,
                         virtual_batch_size=virtual_batch_size, adjustment=adjustment, name=name, **kwargs)

    def forward(self, inputs, training=False):
        return super().forward(inputs, training=training)

    def get_config(self):
        """Keras 2's: no ``synchronized``/``renorm`` keys (renorm is refused); once built, ``axis``
        the list of positive axes, as tf_keras rewrites it."""
        config = super().get_config()
        for key in ("synchronized", "renorm", "renorm_clipping", "renorm_momentum"):
            config.pop(key)
        if self._nodes:
            config["axis"] = [self.axis % len(self._nodes[0][0])]
        elif self._axis_list:
            config["axis"] = [self.axis]
        return config

    _axis_list = False  # the config's axis was a list (a built layer's config)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        as_list = isinstance(config.get("axis"), list) and len(config["axis"]) == 1
        if as_list:
            config["axis"] = config["axis"][0]
        layer = super().from_config(config)
        layer._axis_list = as_list
        return layer


class Dropout(Layer, regularization.Dropout):
    """``tf.compat.v1.layers.Dropout``: identity unless ``training`` (default ``False``)."""

    def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(rate, noise_shape, seed, name=name, **kwargs)

    def forward(self, inputs, training=False):
        return super().forward(inputs, training=training)


class Flatten(Layer, reshaping.Flatten):
    """``tf.compat.v1.layers.Flatten`` (Keras's order: ``channels_first`` is moved last first)."""

    def __init__(self, data_format="channels_last", **kwargs):
        super().__init__(data_format, **kwargs)


class _Pooling(Layer):
    """TF1's pooling classes: ``pool_size`` and ``strides`` both required."""

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last", name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling1D(_Pooling, pooling.MaxPooling1D):
    """``tf.compat.v1.layers.MaxPooling1D``."""


class MaxPooling2D(_Pooling, pooling.MaxPooling2D):
    """``tf.compat.v1.layers.MaxPooling2D``."""


class MaxPooling3D(_Pooling, pooling.MaxPooling3D):
    """``tf.compat.v1.layers.MaxPooling3D``."""


class AveragePooling1D(_Pooling, pooling.AveragePooling1D):
    """``tf.compat.v1.layers.AveragePooling1D`` (``same``: averages over the real cells only)."""


class AveragePooling2D(_Pooling, pooling.AveragePooling2D):
    """``tf.compat.v1.layers.AveragePooling2D`` (``same``: averages over the real cells only)."""


class AveragePooling3D(_Pooling, pooling.AveragePooling3D):
    """``tf.compat.v1.layers.AveragePooling3D`` (``same``: averages over the real cells only)."""


# ------------------------------------------------------------------ the functional spellings
@_eager
def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
          kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
    """``tf.layers.dense``: ``<scope>/<name>/kernel`` ``(in, units)`` and ``.../bias``
    (``name=None``: ``dense``, ``dense_1``, ...)."""
    return functional(Dense, "tf.layers.dense", **locals())


@_eager
def conv1d(inputs, filters, kernel_size, strides=1, padding="valid", data_format="channels_last", dilation_rate=1,
           activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS, kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
           trainable=True, name=None, reuse=None):
    """``tf.layers.conv1d``."""
    return functional(Conv1D, "tf.layers.conv1d", **locals())


@_eager
def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """``tf.layers.conv2d`` (TF's ``same`` padding: the odd cell after)."""
    return functional(Conv2D, "tf.layers.conv2d", **locals())


@_eager
def conv3d(inputs, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1, 1), activation=None, use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """``tf.layers.conv3d``."""
    return functional(Conv3D, "tf.layers.conv3d", **locals())


@_eager
def separable_conv1d(inputs, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                     dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer=None,
                     pointwise_initializer=None, bias_initializer=_ZEROS, depthwise_regularizer=None,
                     pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                     depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, trainable=True,
                     name=None, reuse=None):
    """``tf.layers.separable_conv1d``."""
    return functional(SeparableConv1D, "tf.layers.separable_conv1d", **locals())


@_eager
def separable_conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                     depthwise_initializer=None, pointwise_initializer=None, bias_initializer=_ZEROS,
                     depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                     activity_regularizer=None, depthwise_constraint=None, pointwise_constraint=None,
                     bias_constraint=None, trainable=True, name=None, reuse=None):
    """``tf.layers.separable_conv2d``."""
    return functional(SeparableConv2D, "tf.layers.separable_conv2d", **locals())


@_eager
def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=_ZEROS, gamma_initializer=_ONES, moving_mean_initializer=_ZEROS,
                        moving_variance_initializer=_ONES, beta_regularizer=None, gamma_regularizer=None,
                        beta_constraint=None, gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None,
                        virtual_batch_size=None, adjustment=None):
    """``tf.layers.batch_normalization``: ``training`` a bool or a 0-d tensor; a training pass
    updates the moving statistics in place (TF1 code runs ``UPDATE_OPS`` with its train op)."""
    return functional(BatchNormalization, "tf.layers.batch_normalization", **locals())


# The layers without variables are called directly: they need no owner and run anywhere, as the ops do.
def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """``tf.layers.dropout``: identity unless ``training``."""
    return Dropout(rate, noise_shape, seed, name=name)(inputs, training=training)


def flatten(inputs, name=None, data_format="channels_last"):
    """``tf.layers.flatten``."""
    return Flatten(data_format, name=name)(inputs)


def max_pooling1d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.max_pooling1d``."""
    return MaxPooling1D(pool_size, strides, padding, data_format, name)(inputs)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.max_pooling2d`` (TF's ``same``: padded cells never win)."""
    return MaxPooling2D(pool_size, strides, padding, data_format, name)(inputs)


def max_pooling3d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.max_pooling3d``."""
    return MaxPooling3D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling1d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.average_pooling1d``."""
    return AveragePooling1D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.average_pooling2d`` (TF's ``same``: averages over the real cells only)."""
    return AveragePooling2D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling3d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.layers.average_pooling3d``."""
    return AveragePooling3D(pool_size, strides, padding, data_format, name)(inputs)

