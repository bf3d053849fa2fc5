"""The transposed convolution as one matrix multiply, then col2im.

``(N * pixels, C) @ (C, filters * taps)`` gives every input pixel's contribution through
every kernel tap at once; col2im adds each tap's contributions, strided, into TF's output
(already cropped: the rows TF drops are never written, rows past the full result stay
zero). Forward and both gradients are then matrix multiplies, which some CPUs run faster
than oneDNN's deconvolution on weight-heavy layers (small inputs, many channels). Where the
kernel equals the stride the tiles do not overlap and col2im is a reshape (:func:`tiles`).

Channels_last throughout: ``x`` is ``(N, *spatial, C)``, the result ``(N, *output, filters)``.
Which layers take this path is measured (:mod:`kcompat._paths`), not assumed.
"""

from __future__ import annotations

import itertools

import torch


def col2im_plan(per_axis):
    """Every kernel tap's ``(input index, output index)`` pair of slice tuples.

    ``per_axis``: :func:`kcompat.shapes.tap_ranges` of each spatial axis, with its stride, as
    ``((ranges, stride), ...)``. The input index picks the tap out of the matmul's result
    viewed ``(N, *spatial, filters, *kernel)``; the output index is the strided window of
    ``(N, *output, filters)`` it is added to.
    """
    plan = []
    for taps in itertools.product(*[[(r, s) for r in ranges] for ranges, s in per_axis]):
        source = (slice(None),) + tuple(slice(i0, i1) for (_, i0, i1, _), _s in taps)
        source += (slice(None),) + tuple(t for (t, _, _, _), _s in taps)
        target = (slice(None),) + tuple(slice(o0, o0 + (i1 - i0 - 1) * s + 1, s) for (_, i0, i1, o0), s in taps)
        plan.append((source, target + (slice(None),)))
    return tuple(plan)


def gemm(x, weight, bias, plan, output_size):
    """TF's transposed convolution of channels_last ``x`` by torch-layout ``weight``."""
    rank = weight.dim() - 2
    batch, spatial, channels, filters = x.shape[0], x.shape[1:-1], x.shape[-1], weight.shape[1]
    cols = (x.reshape(-1, channels) @ weight.reshape(channels, -1)).view(batch, *spatial, filters,
                                                                        *weight.shape[2:])
    y = _Col2im.apply(cols, plan, (batch, *output_size, filters))
    return y if bias is None else y + bias.to(y.dtype).view(*[1] * (rank + 1), -1)


class _Col2im(torch.autograd.Function):
    """Each tap's contributions added into the output; the gradient is :class:`_Im2col`."""

    @staticmethod
    def forward(ctx, cols, plan, output_shape):
        ctx.plan, ctx.cols_shape = plan, cols.shape
        y = cols.new_zeros(output_shape)
        for source, target in plan:
            y[target] += cols[source]
        return y

    @staticmethod
    def backward(ctx, grad):
        return _Im2col.apply(grad, ctx.plan, ctx.cols_shape), None, None


class _Im2col(torch.autograd.Function):
    """Each tap's window of the output gathered back (zeros where it lands nowhere)."""

    @staticmethod
    def forward(ctx, grad, plan, cols_shape):
        ctx.plan, ctx.output_shape = plan, grad.shape
        cols = grad.new_zeros(cols_shape)
        for source, target in plan:
            cols[source] = grad[target]
        return cols

    @staticmethod
    def backward(ctx, grad):
        return _Col2im.apply(grad, ctx.plan, ctx.output_shape), None, None


def tiles(x, weight, bias, crop):
    """:func:`gemm` where the kernel equals the stride: each input pixel owns its own
    ``kernel_size`` tile of the output, so col2im is a reshape, then TF's crop (``crop``:
    ``(dim, start, length)`` of the full result)."""
    rank = weight.dim() - 2
    batch, spatial, kernel, filters = x.shape[0], x.shape[1:-1], weight.shape[2:], weight.shape[1]
    w = weight.permute(0, *range(2, rank + 2), 1).reshape(weight.shape[0], -1)  # (C, taps * filters)
    x = x.reshape(-1, x.shape[-1])
    if bias is None:
        y = x @ w
    else:  # the bias rides in the matmul, once per tap
        y = torch.addmm(bias.to(x.dtype).repeat(w.shape[1] // filters), x, w)
    # (N, S1, .., Sr, k1, .., kr, F) -> (N, S1, k1, .., Sr, kr, F) -> (N, S1*k1, .., Sr*kr, F)
    order = [0] + [d for axis in range(rank) for d in (1 + axis, 1 + rank + axis)] + [2 * rank + 1]
    y = y.view(batch, *spatial, *kernel, filters).permute(order)
    y = y.reshape(batch, *[s * k for s, k in zip(spatial, kernel)], filters)
    for dim, start, length in crop:
        y = y.narrow(dim, start, length)
    return y
