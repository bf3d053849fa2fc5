"""A small float64 transposed convolution in numpy, written from TensorFlow's definition.

Independent of torch and of :mod:`kcompat.shapes`: each input row ``i`` and kernel tap ``t``
lands on output row ``i * s + t * d - pad_before``, where ``pad_before`` is the front padding
TF's forward convolution would apply to an input of the output's length. Used where
TensorFlow itself cannot be trusted or cannot run (kernel smaller than stride under oneDNN,
float64 dilation), and as a second opinion everywhere. :func:`conv_transpose_vjp` gives the
gradients the same way, each tap's contribution sent back along the rows it was added to.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["conv_transpose", "conv_transpose_vjp", "geometry", "spatial_size"]


def _pad_before(out_len, k, s, d, padding):
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0
    if padding == "same":
        windows = -(-out_len // s)
        return max(0, (windows - 1) * s + k_eff - out_len) // 2
    return padding[0]


def _taps(spatial, kernel_shape, strides, padding, output_size, dilation):
    """Per kernel tap: ``(tap, source rows, destination rows)`` per spatial axis."""
    rank = len(spatial)
    dilation = dilation or (1,) * rank
    pads = [
        _pad_before(o, k, s, d, padding if isinstance(padding, str) else padding[a])
        for a, (o, k, s, d) in enumerate(zip(output_size, kernel_shape, strides, dilation))
    ]
    for tap in itertools.product(*(range(k) for k in kernel_shape)):
        src, dst = [], []
        for a in range(rank):
            rows = np.arange(spatial[a]) * strides[a] + tap[a] * dilation[a] - pads[a]
            keep = (rows >= 0) & (rows < output_size[a])
            src.append(np.nonzero(keep)[0])
            dst.append(rows[keep])
        yield tap, src, dst


def _index(n, rows, channels):
    return np.ix_(np.arange(n), *rows, np.arange(channels))


def conv_transpose(x, kernel, bias, strides, padding, output_size, dilation=None, channels_last=True):
    """``x`` ``(N, *I, C)`` (or ``(N, C, *I)``), Keras-layout ``kernel`` ``(*k, F, C)``, float64."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    rank = kernel.ndim - 2
    if not channels_last:
        x = np.moveaxis(x, 1, -1)
    n, filters = x.shape[0], kernel.shape[-2]
    out = np.zeros((n, *output_size, filters))
    for tap, src, dst in _taps(x.shape[1:-1], kernel.shape[:rank], strides, padding, output_size, dilation):
        contribution = x @ kernel[tap].T  # (N, *I, F)
        out[_index(n, dst, filters)] += contribution[_index(n, src, filters)]
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out if channels_last else np.moveaxis(out, -1, 1)


def conv_transpose_vjp(x, kernel, upstream, strides, padding, dilation=None, channels_last=True):
    """Gradients of ``sum(conv_transpose(x, kernel, bias) * upstream)``: ``(d_x, d_kernel, d_bias)``,
    in the layouts of ``x`` and ``kernel``; the output size is ``upstream``'s."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    g = np.asarray(upstream, dtype=np.float64)
    rank = kernel.ndim - 2
    if not channels_last:
        x, g = np.moveaxis(x, 1, -1), np.moveaxis(g, 1, -1)
    n, channels, filters = x.shape[0], x.shape[-1], kernel.shape[-2]
    d_x, d_kernel = np.zeros_like(x), np.zeros_like(kernel)
    for tap, src, dst in _taps(x.shape[1:-1], kernel.shape[:rank], strides, padding, g.shape[1:-1], dilation):
        g_tap = g[_index(n, dst, filters)]  # (N, *rows, F)
        x_tap = x[_index(n, src, channels)]  # (N, *rows, C)
        d_x[_index(n, src, channels)] += g_tap @ kernel[tap]
        d_kernel[tap] = g_tap.reshape(-1, filters).T @ x_tap.reshape(-1, channels)
    d_bias = g.reshape(-1, filters).sum(axis=0)
    return (d_x if channels_last else np.moveaxis(d_x, -1, 1)), d_kernel, d_bias


def geometry(config):
    """This module's geometry arguments for a layer's TF config (per-axis tuples)."""
    return dict(strides=config["strides"], padding=config["padding"].lower(), dilation=config["dilation_rate"],
                channels_last=config["data_format"] == "channels_last")


def spatial_size(config, output_shape):
    """The spatial lengths of a full output shape in the config's data format."""
    return output_shape[1:-1] if config["data_format"] == "channels_last" else output_shape[2:]
