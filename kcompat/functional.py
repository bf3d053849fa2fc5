"""The stateless op: TensorFlow's transposed convolution on ``F.conv_transpose{1,2,3}d``.

What ``torch.nn.functional`` is to ``torch.nn``: every layer class and every API generation
calls :func:`conv_transpose`; the per-axis arithmetic lives in :mod:`kcompat.shapes`.

Weights are in torch layout ``(in_channels, filters, *kernel_size)``. A Keras kernel
``(*kernel_size, filters, in_channels)`` becomes torch layout by permuting the last two axes
to the front (``(3, 2, 0, 1)`` in 2-D); no spatial flip is involved, both libraries
correlate the same way.
"""

from __future__ import annotations

import functools

import torch.nn.functional as F

from . import shapes

__all__ = ["conv_transpose", "conv2d_transpose", "keras_output_size", "plan"]

_TORCH_OPS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@functools.lru_cache(maxsize=4096)
def plan(input_size, output_size, kernel_size, strides, padding, dilation):
    """Per-axis :class:`~kcompat.shapes.AxisPlan` s, after TF's acceptance check.

    ``padding`` is ``"valid"``, ``"same"`` or a tuple of ``(before, after)`` pairs.
    Cached: a layer called on one input size pays for the arithmetic once.
    """
    plans = []
    for axis, (i, o, k, s, d) in enumerate(zip(input_size, output_size, kernel_size, strides, dilation)):
        pad = padding if isinstance(padding, str) else padding[axis]
        shapes.check_tf_accepts(i, o, k, s, pad, d, axis=axis)
        plans.append(shapes.plan_axis(i, o, k, s, pad, d) if i > 0 and o > 0 else None)
    return tuple(plans)


@functools.lru_cache(maxsize=4096)
def keras_output_size(input_size, kernel_size, strides, padding, output_padding, dilation):
    """Spatial output size Keras computes (``output_padding`` a tuple or ``None``)."""
    ops = output_padding or (None,) * len(input_size)
    return tuple(
        shapes.keras_output_length(i, k, s, padding, op, d)
        for i, k, s, op, d in zip(input_size, kernel_size, strides, ops, dilation)
    )


def conv_transpose(inputs, weight, bias=None, *, output_size, strides, padding, dilation, channels_last):
    """TensorFlow's ``conv_transpose`` with an explicit spatial ``output_size``.

    Args:
        inputs: ``(N, *spatial, C)`` if ``channels_last`` else ``(N, C, *spatial)``.
        weight: torch layout ``(C, filters, *kernel_size)``.
        bias: ``(filters,)`` or ``None``; added after the crop (fusing it into a conv whose
            output is then cropped is measurably slower in oneDNN).
        output_size: spatial output lengths, as TF's ``output_shape`` gives them.
        strides, dilation: per-axis tuples.
        padding: ``"valid"``, ``"same"`` or per-axis ``(before, after)`` pairs.
        channels_last: NHWC-style input and output. The NCHW view of such a tensor is torch's
            channels_last memory format, so no copy is made either way.

    Shape:
        Output spatial lengths are ``output_size``; TF's crop is ``pad_before`` rows at the
        front of the full ``(I - 1) * s + (k - 1) * d + 1`` result, zero rows past its end.
    """
    rank = weight.dim() - 2
    x = inputs.movedim(-1, 1) if channels_last else inputs
    plans = plan(tuple(x.shape[2:]), tuple(output_size), tuple(weight.shape[2:]), tuple(strides),
                 padding, tuple(dilation))
    if any(p is None for p in plans):
        # An empty input or output: TF returns zeros (plus bias) of the requested size.
        y = weight.new_zeros((x.shape[0], weight.shape[1], *output_size))
        # Sums of empty slices: exact zeros that keep the result on the autograd graph, so that
        # the gradients are zeros, as TensorFlow's are, not missing.
        y = y + (x.flatten()[:0].sum() + weight.flatten()[:0].sum()).to(y.dtype)
        if bias is not None:
            y = y + bias.to(y.dtype).view(1, -1, *[1] * rank)
        return y.movedim(1, -1) if channels_last else y
    fuse_bias = bias is not None and all(p.is_identity for p in plans)
    if channels_last and any(p.output_padding and k < st for p, k, st in zip(plans, weight.shape[2:], strides)):
        # torch's CPU (oneDNN) deconvolution returns a wrong weight gradient for channels_last
        # input when a kernel smaller than its stride meets output_padding (torch 2.13; seen
        # with k=1, output_padding=s-1, intermittently). The NCHW copy is computed correctly.
        x = x.contiguous()
    y = _TORCH_OPS[rank](
        x, weight, bias if fuse_bias else None, stride=tuple(strides),
        padding=tuple(p.padding for p in plans),
        output_padding=tuple(p.output_padding for p in plans), dilation=tuple(dilation),
    )
    if any(p.extend for p in plans):
        pads = []
        for p in reversed(plans):
            pads += [0, p.extend]
        y = F.pad(y, pads)
    for axis, p in enumerate(plans):
        if p.start or p.torch_length + p.extend != p.output_length:
            y = y.narrow(axis + 2, p.start, p.output_length)
    if bias is not None and not fuse_bias:
        y = y + bias.to(y.dtype).view(1, -1, *[1] * rank)
    return y.movedim(1, -1) if channels_last else y


def conv2d_transpose(inputs, weight, bias=None, strides=1, padding="valid", output_padding=None,
                     data_format="channels_last", dilation_rate=1):
    """Keras's ``Conv2DTranspose`` computation on a torch-layout ``weight``.

    Arguments are Keras's (already validated ints or 2-tuples); the output size is Keras's.
    """
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    channels_last = data_format == "channels_last"
    spatial = tuple(inputs.shape[1:3] if channels_last else inputs.shape[2:4])
    output_padding = None if output_padding is None else pair(output_padding)
    size = keras_output_size(spatial, tuple(weight.shape[2:]), pair(strides), padding, output_padding,
                             pair(dilation_rate))
    return conv_transpose(inputs, weight, bias, output_size=size, strides=pair(strides), padding=padding,
                          dilation=pair(dilation_rate), channels_last=channels_last)
