"""``tf.contrib.layers.batch_norm`` (TF 1.15), as DCGAN-style TF1 code calls it.

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

import numpy as np
import torch

from .. import ops
from ..initializers import ones_initializer, zeros_initializer
from ..variable_scope import get_variable, variable_scope

__all__ = ["batch_norm"]


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
            delta = float(np.float32(1.0 - decay))
            moving_mean.sub_((moving_mean - batch_mean.to(moving_mean.dtype)) * delta)
            moving_variance.sub_((moving_variance - batch_variance.to(moving_variance.dtype)) * delta)
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
