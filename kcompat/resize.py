"""TensorFlow 2's ``tf.image.resize`` kernels beyond bilinear and nearest, as TensorFlow computes them.

Each method is separable: one weight matrix per axis, ``(output size, input size)``, computed in
float32 as TensorFlow's CPU kernels compute their weights, then ``y = W_h @ image @ W_w^T`` per
channel (float32 out, as TensorFlow returns):

- ``bicubic`` (``ResizeBicubic`` with half-pixel centres): Keys' cubic, ``a = -0.5``, its weights
  read from TensorFlow's 1024-step table; taps outside the image get no weight and the rest are
  renormalized.
- ``area`` (``ResizeArea``): each output pixel the mean of the input box it covers, fractional
  edges weighted by their overlap.
- ``lanczos3``, ``lanczos5``, ``gaussian``, ``mitchellcubic`` and every method with
  ``antialias=True`` (``ScaleAndTranslate``; bilinear becomes the triangle kernel, bicubic Keys'
  cubic): the kernel over the input pixels around each output pixel's centre, widened by the
  shrink factor when antialiasing a shrink, weights renormalized to sum to 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._padding import pad

__all__ = ["METHODS", "resize_separable", "resize_weights", "to_aspect_ratio"]

_F = np.float32


def _lanczos(radius):
    def kernel(x):
        x = abs(x)
        if x > radius:
            return _F(0.0)
        if x <= 1e-3:
            return _F(1.0)
        pi = _F(3.14159265359)
        return _F(radius) * _F(math.sin(_F(pi * x))) * _F(math.sin(_F(pi * x / _F(radius)))) / (pi * pi * x * x)
    return kernel, float(radius)


def _gaussian(x):
    """Radius 1.5, sigma 0.5 (radius / 3), as TensorFlow's."""
    x = abs(x)
    sigma = _F(0.5)
    return _F(0.0) if x >= 1.5 else _F(math.exp(float(-x * x / (_F(2.0) * sigma * sigma))))


def _triangle(x):
    x = abs(x)
    return _F(1.0) - x if x < 1.0 else _F(0.0)


def _box(x):
    x = abs(x)
    return _F(1.0) if x < 0.5 else _F(0.5) if x == 0.5 else _F(0.0)


def _keys_cubic(x):
    x = abs(x)
    if x >= 2.0:
        return _F(0.0)
    if x >= 1.0:
        return ((_F(-0.5) * x + _F(2.5)) * x - _F(4.0)) * x + _F(2.0)
    return ((_F(1.5) * x - _F(2.5)) * x) * x + _F(1.0)


def _mitchell_cubic(x):
    x = abs(x)
    if x >= 2.0:
        return _F(0.0)
    if x >= 1.0:
        return (((_F(-7.0 / 18.0)) * x + _F(2.0)) * x - _F(10.0 / 3.0)) * x + _F(16.0 / 9.0)
    return (((_F(7.0 / 6.0)) * x - _F(2.0)) * x) * x + _F(8.0 / 9.0)


# ScaleAndTranslate's kernels: (function of |x| in float32, radius)
_KERNELS = {
    "lanczos3": _lanczos(3), "lanczos5": _lanczos(5), "gaussian": (_gaussian, 1.5), "box": (_box, 1.0),
    "triangle": (_triangle, 1.0), "keyscubic": (_keys_cubic, 2.0), "mitchellcubic": (_mitchell_cubic, 2.0),
}
METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


def _scale_and_translate(kernel_name, in_size, out_size, antialias):
    """``ScaleAndTranslate``'s spans (``ComputeSpansCore``) as a dense matrix, translation 0."""
    kernel, radius = _KERNELS[kernel_name]
    scale = _F(out_size) / _F(in_size)
    inv_scale = _F(1.0) / scale
    kernel_scale = max(inv_scale, _F(1.0)) if antialias else _F(1.0)
    one_over_kernel_scale = _F(1.0) / kernel_scale
    weights = np.zeros((out_size, in_size), np.float32)
    for x in range(out_size):
        sample = _F(x + 0.5) * inv_scale
        if sample < 0 or sample > in_size:
            continue
        start = math.ceil(float(sample - _F(radius) * kernel_scale - _F(0.5)))
        end = math.floor(float(sample + _F(radius) * kernel_scale - _F(0.5)))
        start, end = min(max(start, 0), in_size - 1), min(max(end, 0), in_size - 1) + 1
        row = [kernel(abs((_F(source) + _F(0.5) - sample) * one_over_kernel_scale)) for source in range(start, end)]
        total = _F(sum(row, _F(0.0)))
        if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
            weights[x, start:end] = np.asarray(row, np.float32) * (_F(1.0) / total)
    return weights


_TABLE = 1024


def _cubic_table(a=-0.5):
    """TensorFlow's ``InitCoeffsTable``: the cubic's weights at 1025 offsets, float32."""
    x = np.arange(_TABLE + 1) * (1.0 / _TABLE)
    near = (((a + 2) * x - (a + 3)) * x * x + 1).astype(np.float32)
    x1 = x + 1.0
    far = ((((a * x1 - 5 * a) * x1 + 8 * a) * x1) - 4 * a).astype(np.float32)
    return near, far


def _bicubic(in_size, out_size):
    """``ResizeBicubic`` with half-pixel centres (Keys' cubic), as a dense matrix."""
    near, far = _cubic_table()
    scale = _F(in_size) / _F(out_size)
    weights = np.zeros((out_size, in_size), np.float32)
    for y in range(out_size):
        location = (_F(y) + _F(0.5)) * scale - _F(0.5)
        base = math.floor(location)
        offset = int(np.rint(_F(location - _F(base)) * _F(_TABLE)))
        taps = ((base - 1, far[offset]), (base, near[offset]), (base + 1, near[_TABLE - offset]),
                (base + 2, far[_TABLE - offset]))
        kept = [(i, w) for i, w in taps if 0 <= i < in_size]
        total = _F(sum((w for _, w in kept), _F(0.0)))
        factor = _F(1.0) / total if abs(total) >= 1000.0 * np.finfo(np.float32).tiny else _F(1.0)
        for i, w in kept:
            weights[y, i] += w * factor
    return weights


def _area(in_size, out_size):
    """``ResizeArea``: the box ``[y, y + 1) * scale`` of the input, weighted by overlap, over the scale."""
    scale = _F(in_size) / _F(out_size)
    weights = np.zeros((out_size, in_size), np.float32)
    for y in range(out_size):
        low, high = _F(y) * scale, _F(y + 1) * scale
        for i in range(math.floor(low), math.ceil(high)):
            overlap = _F(min(_F(i + 1), high) - max(_F(i), low))
            weights[y, min(max(i, 0), in_size - 1)] += overlap / scale
    return weights


def resize_weights(method, in_size, out_size, antialias=False):
    """The ``(out_size, in_size)`` float32 matrix of ``tf.image.resize(method, antialias)`` on one axis."""
    if antialias and method in ("bilinear", "bicubic"):
        return _scale_and_translate("triangle" if method == "bilinear" else "keyscubic", in_size, out_size, True)
    if method == "bicubic":
        return _bicubic(in_size, out_size)
    if method == "area":
        return _area(in_size, out_size)
    if method in ("lanczos3", "lanczos5", "gaussian", "mitchellcubic"):
        return _scale_and_translate(method, in_size, out_size, antialias)
    raise ValueError(f"resize_weights: no separable weights for method={method!r}")


@functools.lru_cache(maxsize=256)
def _weights_tensor(method, in_size, out_size, antialias):
    """:func:`resize_weights` as a CPU tensor, worked out once per axis geometry (the Python loops
    stay off the call's path); only read from."""
    return torch.from_numpy(resize_weights(method, in_size, out_size, antialias))


def resize_separable(images, size, method, antialias=False):
    """``images`` ``(batch, height, width, channels)`` resized to ``size`` by ``method``, in float32."""
    height, width = size
    rows = _weights_tensor(method, int(images.shape[1]), int(height), bool(antialias)).to(images.device)
    cols = _weights_tensor(method, int(images.shape[2]), int(width), bool(antialias)).to(images.device)
    x = images.to(torch.float32)
    return torch.einsum("hi,bijc,wj->bhwc", rows, x, cols)


def to_aspect_ratio(x, size, crop, fill_value=0.0):
    """Keras's TensorFlow backend's crop (``crop=True``) or pad of channels_last ``x`` to the aspect
    ratio of ``size``: sizes in float32 then truncated, the box centred (the odd pixel after it),
    padding ``fill_value`` on both sides of the short axis."""
    height, width = x.shape[-3], x.shape[-2]
    target_height, target_width = size
    across = int(np.float32(width * target_height) / np.float32(target_width))
    along = int(np.float32(height * target_width) / np.float32(target_height))
    if crop:
        crop_h, crop_w = max(min(height, across), 1), max(min(width, along), 1)
        top, left = int(np.float32(height - crop_h) / 2), int(np.float32(width - crop_w) / 2)
        return x[..., top:top + crop_h, left:left + crop_w, :]
    top, left = int(np.float32(max(height, across) - height) / 2), int(np.float32(max(width, along) - width) / 2)
    if top == 0 and left == 0:
        return x
    return pad(x, [0, 0, left, left, top, top], value=float(fill_value))
