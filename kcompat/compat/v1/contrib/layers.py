"""``tf.contrib.layers``' ``batch_norm``, ``xavier_initializer``, ``variance_scaling_initializer``
and ``l1_regularizer``/``l2_regularizer`` (TF 1.15), as DCGAN-style TF1 code calls them.

contrib's initializers are not Keras's: ``variance_scaling_initializer``'s normal draws are
truncated at two standard deviations with stddev ``sqrt(1.3 * factor / n)`` (Keras divides by
0.8796 instead), and ``xavier_initializer`` is it with ``factor=1``, ``FAN_AVG``, uniform by
default. ``l2_regularizer`` is ``scale * sum(w ** 2) / 2`` (``tf.nn.l2_loss``; Keras's has no ``/ 2``).

Its defaults are not ``tf.layers``': ``decay=0.999``, ``scale=False``, ``is_training=True``;
its variables are ``<scope>/beta``, ``gamma``, ``moving_mean``, ``moving_variance`` (beta first;
scope ``BatchNorm``, ``BatchNorm_1``, ... when none is given). TF's fused kernel, which contrib
uses for 2-D and 4-D inputs (and the ``tf.layers`` path for 5-D), updates the moving variance with
the batch's unbiased variance; ``fused=False`` and 3-D inputs use the biased one. The update is
TF's ``assign_moving_average``, ``moving -= (moving - batch) * (1 - decay)``, applied in the
training pass itself, as ``updates_collections=None`` does and as TF1 code that runs
``UPDATE_OPS`` with its train step gets.
"""

from __future__ import annotations

import math
import numbers

import torch

from .... import initializers as keras_initializers
from ....layers.normalization import assign_moving_average

from .. import ops
from ..initializers import ones_initializer, zeros_initializer
from ..variable_scope import get_variable, variable_scope

__all__ = ["batch_norm", "l1_regularizer", "l2_regularizer", "variance_scaling_initializer", "xavier_initializer"]


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, activation_fn=None,
               param_initializers=None, param_regularizers=None, updates_collections=ops.GraphKeys.UPDATE_OPS,
               is_training=True, reuse=None, variables_collections=None, outputs_collections=None, trainable=True,
               batch_weights=None, fused=None, data_format="NHWC", zero_debias_moving_mean=False, scope=None,
               renorm=False, renorm_clipping=None, renorm_decay=0.99, adjustment=None):
    """``tf.contrib.layers.batch_norm``: call it inside a module's ``forward``."""
    for what, value in (("batch_weights", batch_weights), ("renorm", renorm or None), ("adjustment", adjustment),
                        ("zero_debias_moving_mean", zero_debias_moving_mean or None)):
        if value is not None:
            raise NotImplementedError(f"kcompat's contrib.layers.batch_norm does not reproduce `{what}`.")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format has to be either NCHW or NHWC. Received: {data_format!r}")
    x = ops.to_tensor(inputs)
    rank = x.dim()
    if rank < 2:
        raise ValueError(f"Inputs {tuple(x.shape)} must have rank at least 2 (batch and channels).")
    axis = 1 if data_format == "NCHW" and rank > 2 else rank - 1
    channels = x.shape[axis]
    initializers = dict(param_initializers or {})
    regularizers = dict(param_regularizers or {})
    dtype = x.dtype if x.is_floating_point() else torch.float32
    with variable_scope(scope, "BatchNorm", reuse=reuse):
        def variable(name, default, trainable_):
            return get_variable(name, [channels], dtype, initializers.get(name, default),
                                regularizers.get(name), trainable_)

        beta = variable("beta", zeros_initializer(), trainable) if center else None
        gamma = variable("gamma", ones_initializer(), trainable) if scale else None
        moving_mean = variable("moving_mean", zeros_initializer(), False)
        moving_variance = variable("moving_variance", ones_initializer(), False)
    h = x.movedim(axis, 1) if axis != 1 else x
    if bool(is_training):
        reduce = [d for d in range(h.dim()) if d != 1]
        fused_kernel = fused is not False and rank in (2, 4, 5)
        with torch.no_grad():
            unbiased = fused_kernel and h.numel() > channels
            batch_variance, batch_mean = torch.var_mean(h, dim=reduce, unbiased=unbiased)
            assign_moving_average(moving_mean, batch_mean, decay)
            assign_moving_average(moving_variance, batch_variance, decay)
        variance, mean = torch.var_mean(h, dim=reduce, unbiased=False, keepdim=True)
        shape = (1, -1) + (1,) * (h.dim() - 2)
        y = (h - mean) * torch.rsqrt(variance + epsilon)
    else:
        shape = (1, -1) + (1,) * (h.dim() - 2)
        y = (h - moving_mean.reshape(shape)) * torch.rsqrt(moving_variance.reshape(shape) + epsilon)
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    y = y.movedim(1, axis) if axis != 1 else y
    return activation_fn(y) if activation_fn is not None else y


class _VarianceScaling(keras_initializers.Initializer):
    """contrib's variance scaling: uniform in ``+-sqrt(3 * factor / n)``, else truncated normal
    with stddev ``sqrt(1.3 * factor / n)``; ``n`` the fan ``mode`` names (conv kernels: times the
    receptive field)."""

    def __init__(self, factor, mode, uniform, seed, dtype):
        self.factor, self.mode, self.uniform, self.seed, self.dtype = factor, mode, uniform, seed, dtype

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = keras_initializers.compute_fans(shape)
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[self.mode]
        dtype = self.dtype if dtype is None else dtype
        if self.uniform:
            limit = math.sqrt(3.0 * self.factor / n)
            return keras_initializers.RandomUniform(-limit, limit, self.seed)(shape, dtype)
        return keras_initializers.TruncatedNormal(0.0, math.sqrt(1.3 * self.factor / n), self.seed)(shape, dtype)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode, "uniform": self.uniform, "seed": self.seed}


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None, dtype=torch.float32):
    """``tf.contrib.layers.variance_scaling_initializer`` (He's initializer by default)."""
    if not dtype.is_floating_point:
        raise TypeError("Cannot create initializer for non-floating point type.")
    if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
        raise TypeError(f"Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]")
    return _VarianceScaling(float(factor), mode, bool(uniform), seed, dtype)


def xavier_initializer(uniform=True, seed=None, dtype=torch.float32):
    """``tf.contrib.layers.xavier_initializer``: Glorot's, contrib's truncation when not uniform."""
    return variance_scaling_initializer(1.0, "FAN_AVG", uniform, seed, dtype)


def _scale(scale):
    if isinstance(scale, numbers.Integral) and not isinstance(scale, bool):
        raise ValueError(f"scale cannot be an integer: {scale}")
    if not isinstance(scale, numbers.Real):
        raise ValueError(f"scale must be a float: {scale!r}")
    if scale < 0.0:
        raise ValueError(f"Setting a scale less than 0 on a regularizer: {scale:g}")
    return float(scale)


def l2_regularizer(scale, scope=None):
    """``tf.contrib.layers.l2_regularizer``: ``scale * sum(w ** 2) / 2``; ``None`` at scale 0, as TF."""
    scale = _scale(scale)
    if scale == 0.0:
        return lambda weights: None
    return lambda weights: scale * (weights * weights).sum() / 2


def l1_regularizer(scale, scope=None):
    """``tf.contrib.layers.l1_regularizer``: ``scale * sum(|w|)``; ``None`` at scale 0, as TF."""
    scale = _scale(scale)
    if scale == 0.0:
        return lambda weights: None
    return lambda weights: scale * weights.abs().sum()
