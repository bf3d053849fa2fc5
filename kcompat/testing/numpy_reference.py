"""A small float64 transposed convolution in numpy, written from TensorFlow's definition.

Independent of torch and of :mod:`kcompat.shapes`: each input row ``i`` and kernel tap ``t``
lands on output row ``i * s + t * d - pad_before``, where ``pad_before`` is the front padding
TF's forward convolution would apply to an input of the output's length. Used where
TensorFlow itself cannot be trusted or cannot run (kernel smaller than stride under oneDNN,
float64 dilation), and as a second opinion everywhere.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["conv_transpose"]


def _pad_before(out_len, k, s, d, padding):
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0
    if padding == "same":
        windows = -(-out_len // s)
        return max(0, (windows - 1) * s + k_eff - out_len) // 2
    return padding[0]


def conv_transpose(x, kernel, bias, strides, padding, output_size, dilation=None, channels_last=True):
    """``x`` ``(N, *I, C)`` (or ``(N, C, *I)``), Keras-layout ``kernel`` ``(*k, F, C)``, float64."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    rank = kernel.ndim - 2
    dilation = dilation or (1,) * rank
    if not channels_last:
        x = np.moveaxis(x, 1, -1)
    n, spatial, filters = x.shape[0], x.shape[1:-1], kernel.shape[-2]
    out = np.zeros((n, *output_size, filters))
    pads = [
        _pad_before(o, k, s, d, padding if isinstance(padding, str) else padding[a])
        for a, (o, k, s, d) in enumerate(zip(output_size, kernel.shape[:rank], strides, dilation))
    ]
    for tap in itertools.product(*(range(k) for k in kernel.shape[:rank])):
        contribution = x @ kernel[tap].T  # (N, *I, F)
        src, dst = [np.arange(n)], [np.arange(n)]
        for a in range(rank):
            rows = np.arange(spatial[a]) * strides[a] + tap[a] * dilation[a] - pads[a]
            keep = (rows >= 0) & (rows < output_size[a])
            src.append(np.nonzero(keep)[0])
            dst.append(rows[keep])
        src.append(np.arange(filters))
        dst.append(np.arange(filters))
        out[np.ix_(*dst)] += contribution[np.ix_(*src)]
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out if channels_last else np.moveaxis(out, -1, 1)
