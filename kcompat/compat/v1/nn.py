"""``tf.compat.v1.nn``: the ops TF1 generator and discriminator code calls, with TF's numbers.

TF's defaults where torch's differ: ``leaky_relu``'s ``alpha=0.2``; ``conv2d``/``max_pool``/
``avg_pool``'s ``"SAME"`` pads ``total // 2`` before and the rest after (averages count only the
real cells); ``depth_to_space`` in TF's DCR order (``pixel_shuffle`` is CRD);
``batch_normalization`` in TF's order of operations; ``moments`` with the mean's gradient
stopped in the variance, as TF builds it; ``dropout`` always drops (``keep_prob`` or ``rate``).
"""

from __future__ import annotations

import numbers

import numpy as np

import torch
import torch.nn.functional as F

from ... import tf_nn as _nn
from ... import shapes
from ..._op_table import tf_names
from ...layers import pooling
from .ops import to_ints, to_tensor, sigmoid, tanh

__all__ = [
    "avg_pool", "avg_pool2d", "batch_normalization", "bias_add", "conv1d", "conv2d", "conv2d_transpose", "conv3d",
    "depth_to_space", "dropout", "elu", "l2_loss", "l2_normalize", "leaky_relu", "log_softmax", "max_pool", "max_pool2d",
    "moments", "relu", "relu6", "selu", "sigmoid", "sigmoid_cross_entropy_with_logits", "softmax",
    "softmax_cross_entropy_with_logits", "softplus", "space_to_depth", "tanh",
]

bias_add = tf_names("nn.bias_add")(_nn.bias_add)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002
    """TF1's ``conv2d_transpose(value, filter, output_shape, strides, ...)``.

    ``input``/``filters`` are TF2's names for ``value``/``filter``; giving both spellings of one
    argument is an error, as in TensorFlow.
    """
    value = _lookup("input", input, "value", value)
    filter = _lookup("filters", filters, "filter", filter)  # noqa: A001
    return _nn.conv2d_transpose(value, filter, output_shape, strides, padding=padding, data_format=data_format,
                                dilations=dilations, name=name)


def _lookup(new_name, new_value, old_name, old_value):
    if new_value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'.")
    return new_value if new_value is not None else old_value


# ------------------------------------------------------------------ activations
@tf_names("nn.relu")
def relu(features, name=None):
    """``tf.nn.relu``, TensorFlow's arguments."""
    return F.relu(to_tensor(features))


@tf_names("nn.relu6")
def relu6(features, name=None):
    """``tf.nn.relu6``, TensorFlow's arguments."""
    return F.relu6(to_tensor(features))


@tf_names("nn.elu")
def elu(features, name=None):
    """``tf.nn.elu``, TensorFlow's arguments."""
    return F.elu(to_tensor(features))


@tf_names("nn.selu")
def selu(features, name=None):
    """TF's gradient at 0 is ``scale`` (TF's ``SeluGrad`` takes the positive branch; torch's the negative)."""
    x = to_tensor(features)
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * torch.where(x >= 0, x, alpha * torch.expm1(x))


@tf_names("nn.softplus", "math.softplus")
def softplus(features, name=None):
    """``tf.nn.softplus``, TensorFlow's arguments."""
    return F.softplus(to_tensor(features))


@tf_names("nn.leaky_relu")
def leaky_relu(features, alpha=0.2, name=None):
    """``tf.nn.leaky_relu``: TF's default slope 0.2 (torch's is 0.01, Keras 3's layer 0.3)."""
    return F.leaky_relu(to_tensor(features), float(np.float32(alpha)))  # TF holds alpha as a float32 attr


@tf_names("nn.softmax", "math.softmax")
def softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.softmax``, TensorFlow's arguments."""
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return F.softmax(to_tensor(logits), dim=int(axis))


@tf_names("nn.log_softmax")
def log_softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.log_softmax``, TensorFlow's arguments."""
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return F.log_softmax(to_tensor(logits), dim=int(axis))


def l2_loss(t, name=None):
    """``sum(t ** 2) / 2``, as TF's ``L2Loss``."""
    t = to_tensor(t)
    return (t * t).sum() / 2


@tf_names("nn.l2_normalize", "math.l2_normalize")
def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``x / sqrt(max(sum(x ** 2), epsilon))`` over ``axis``, as TF computes it."""
    x = to_tensor(x)
    axis = to_ints(axis if axis is not None else dim)
    return x * torch.rsqrt(torch.clamp((x * x).sum(axis, keepdim=True), min=epsilon))


# ------------------------------------------------------------------ losses GAN code computes
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """TF's stable form ``max(x, 0) - x * z + log(1 + exp(-|x|))``, written with TF's selects."""
    if _sentinel is not None:
        raise ValueError("Only call `sigmoid_cross_entropy_with_logits` with named arguments (labels=..., logits=..., ...)")
    logits = to_tensor(logits)
    labels = to_tensor(labels, logits.dtype)
    if labels.shape != logits.shape:
        raise ValueError(f"logits and labels must have the same shape ({tuple(logits.shape)} vs {tuple(labels.shape)})")
    positive = logits >= 0  # TF's selects (not relu/abs): at 0 the gradient is TF's, 0.5 - labels
    relu_logits = torch.where(positive, logits, torch.zeros_like(logits))
    neg_abs_logits = torch.where(positive, -logits, logits)
    return relu_logits - logits * labels + torch.log1p(torch.exp(neg_abs_logits))


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """``tf.nn.softmax_cross_entropy_with_logits``, TensorFlow's arguments."""
    if _sentinel is not None:
        raise ValueError("Only call `softmax_cross_entropy_with_logits` with named arguments (labels=..., logits=..., ...)")
    logits = to_tensor(logits)
    axis = dim if axis is None else axis
    return -(to_tensor(labels, logits.dtype) * F.log_softmax(logits, dim=axis)).sum(axis)


# ------------------------------------------------------------------ normalization
@tf_names("nn.moments")
def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """``(mean, variance)`` over ``axes``; the variance is ``mean((x - stop_gradient(mean)) ** 2)``,
    in float32 for half inputs, as TF computes it."""
    x = to_tensor(x)
    keep = bool(keepdims if keepdims is not None else keep_dims)
    axes = to_ints(axes)
    y = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    mean = y.mean(axes, keepdim=True)
    variance = ((y - mean.detach()) ** 2).mean(axes, keepdim=True)
    if not keep:
        mean, variance = mean.squeeze(axes), variance.squeeze(axes)
    return mean.to(x.dtype), variance.to(x.dtype)


@tf_names("nn.batch_normalization")
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """``x * inv + (offset - mean * inv)``, ``inv = rsqrt(variance + epsilon) * scale``: TF's order,
    ``inv`` in the statistics' dtype (float32 for Python numbers), then cast to ``x``'s."""
    x = to_tensor(x)
    inv = torch.rsqrt(to_tensor(variance) + variance_epsilon)
    if scale is not None:
        inv = inv * to_tensor(scale)
    mean = to_tensor(mean)
    shift = to_tensor(offset) - mean * inv if offset is not None else -mean * inv
    return x * inv.to(x.dtype) + shift.to(x.dtype)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """TF1's ``tf.nn.dropout``: drops always (there is no ``training``); ``rate = 1 - keep_prob``."""
    if keep_prob is not None and rate is not None:
        raise ValueError("Cannot specify both 'keep_prob' and 'rate'.")
    rate = 1 - float(keep_prob) if keep_prob is not None else rate
    if rate is None or not 0 <= float(rate) < 1:
        raise ValueError(f"`rate` must be a scalar tensor or a float in the range [0, 1). Received: rate={rate}")
    x = to_tensor(x)
    generator = None if seed is None else torch.Generator(x.device).manual_seed(int(seed))
    shape = x.shape if noise_shape is None else to_ints(noise_shape)
    keep = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype) >= float(rate)
    return x * keep.to(x.dtype) / (1 - float(rate))


# ------------------------------------------------------------------ convolution and pooling
def _window(value, n, name, data_format):
    """``ksize``/``strides``/``dilations``: an int, ``n`` values or ``n + 2`` (batch and channel 1)."""
    values = to_ints(value) if not isinstance(value, numbers.Integral) else [int(value)]
    if len(values) == 1:
        return values * n
    if len(values) == n:
        return values
    if len(values) == n + 2:
        channels_first = data_format.startswith("NC")
        return values[2:] if channels_first else values[1:-1]
    raise ValueError(f"{name} should be of length 1, {n} or {n + 2}. Received: {name}={value} of length {len(values)}")


def _conv(x, filters, strides, padding, data_format, dilations, n):
    x, filters = to_tensor(x), to_tensor(filters)
    channels_first = data_format.startswith("NC")
    strides = _window(strides, n, "strides", data_format)
    dilations = _window(1 if dilations is None else dilations, n, "dilations", data_format)
    h = x if channels_first else x.movedim(-1, 1)
    weight = filters.permute(n + 1, n, *range(n))  # (*k, in, out) -> (out, in, *k)
    if isinstance(padding, str):
        pairs = [shapes.conv_padding(length, k, s, padding.lower(), d) for length, k, s, d in
                 zip(h.shape[2:], filters.shape[:n], strides, dilations)]
    else:
        rows = [to_ints(row) for row in padding]
        pairs = [tuple(r) for r in (rows[2:] if channels_first else rows[1:-1])]
    if all(before == after for before, after in pairs):
        torch_padding = [before for before, _ in pairs]
    else:
        h = F.pad(h, [p for pair in reversed(pairs) for p in pair])
        torch_padding = 0
    groups = h.shape[1] // weight.shape[1]  # depthwise-style filters: in / filter's in
    y = (F.conv1d, F.conv2d, F.conv3d)[n - 1](h, weight, None, strides, torch_padding, dilations, groups)
    return y if channels_first else y.movedim(1, -1)


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None, data_format=None, name=None,
           input=None, dilations=None):  # noqa: A002
    """``tf.nn.conv1d``: ``filters`` ``(k, in, out)``; ``data_format`` ``"NWC"`` (default) or ``"NCW"``."""
    value = _lookup("input", input, "value", value)
    return _conv(value, filters, stride, padding, data_format or "NWC", dilations, 1)


def conv2d(input=None, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True, data_format="NHWC",  # noqa: A002
           dilations=(1, 1, 1, 1), name=None, filters=None):
    """``tf.nn.conv2d``: ``filter`` ``(kh, kw, in, out)``; ``padding`` ``"SAME"``, ``"VALID"`` or
    per-axis ``[before, after]`` rows; TF's ``"SAME"`` pads the odd row after."""
    filter = _lookup("filters", filters, "filter", filter)  # noqa: A001
    return _conv(input, filter, strides, padding, data_format, dilations, 2)


def conv3d(input, filter=None, strides=None, padding=None, data_format="NDHWC", dilations=(1, 1, 1, 1, 1),  # noqa: A002
           name=None, filters=None):
    """``tf.nn.conv3d``, TensorFlow's arguments."""
    filter = _lookup("filters", filters, "filter", filter)  # noqa: A001
    return _conv(input, filter, strides, padding, data_format, dilations, 3)


def _pool(layer_class, value, ksize, strides, padding, data_format):
    value = to_tensor(value)
    n = value.dim() - 2
    data_format = data_format or ("NWC", "NHWC", "NDHWC")[n - 1]
    layer = layer_class[n](_window(ksize, n, "ksize", data_format), _window(strides, n, "strides", data_format),
                           padding.lower(), "channels_first" if data_format.startswith("NC") else "channels_last")
    return layer(value)


_MAX = {1: pooling.MaxPooling1D, 2: pooling.MaxPooling2D, 3: pooling.MaxPooling3D}
_AVG = {1: pooling.AveragePooling1D, 2: pooling.AveragePooling2D, 3: pooling.AveragePooling3D}


@tf_names("nn.max_pool", "nn.max_pool2d")
def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """``tf.nn.max_pool`` (1-D to 3-D by the input's rank): padded cells never win."""
    return _pool(_MAX, _lookup("input", input, "value", value), ksize, strides, padding, data_format)


@tf_names("nn.avg_pool", "nn.avg_pool2d")
def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """``tf.nn.avg_pool``: TF's ``"SAME"`` averages over the real cells of each window only."""
    return _pool(_AVG, _lookup("input", input, "value", value), ksize, strides, padding, data_format)


max_pool2d = max_pool
avg_pool2d = avg_pool


# ------------------------------------------------------------------ rearrangement
@tf_names("nn.depth_to_space")
def depth_to_space(input, block_size, name=None, data_format="NHWC"):  # noqa: A002
    """TF's DCR order: output ``[h * b + i, w * b + j, c]`` is input ``[h, w, (i * b + j) * C + c]``."""
    x = to_tensor(input)
    b = int(block_size)
    if data_format == "NCHW":
        x = x.movedim(1, -1)
    n, h, w, c = x.shape
    if c % (b * b):
        raise ValueError(f"Dimension size must be evenly divisible by {b * b} but is {c}")
    y = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, c // (b * b))
    return y.movedim(-1, 1) if data_format == "NCHW" else y


@tf_names("nn.space_to_depth")
def space_to_depth(input, block_size, name=None, data_format="NHWC"):  # noqa: A002
    """The inverse of :func:`depth_to_space`."""
    x = to_tensor(input)
    b = int(block_size)
    if data_format == "NCHW":
        x = x.movedim(1, -1)
    n, h, w, c = x.shape
    if h % b or w % b:
        raise ValueError(f"Image width {w} and height {h} should be divisible by block_size: {b}")
    y = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b, b * b * c)
    return y.movedim(-1, 1) if data_format == "NCHW" else y
