"""torch's transposed convolution with TensorFlow's crop, and the backward kcompat gives it.

The computation every path of :mod:`kcompat._routes` runs on: :func:`forward` (torch's
``conv_transpose{1,2,3}d``, then TF's crop, zero rows past torch's end, the bias), and
:class:`ConvTranspose`, the same with a backward that takes each gradient in its fastest memory
layout, or off oneDNN (:func:`slow_gradients`) where torch 2.13's oneDNN kernels are broken
(one channel or one filter). What a call's crop and torch arguments are is worked out by
:func:`kcompat.functional.prepare_call`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["TORCH_OPS", "ConvTranspose", "autocast_dtype", "canonical", "channels_last_format", "forward", "slow_gradients"]


TORCH_OPS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def canonical(t):
    """``t`` contiguous, with torch's own strides on its size-1 axes too (see ``Call.canonical``)."""
    t = t.contiguous()
    return t.view(-1).view(t.shape)


def autocast_dtype(device_type):
    if hasattr(torch, "get_autocast_dtype"):
        return torch.get_autocast_dtype(device_type)
    return torch.get_autocast_gpu_dtype() if device_type == "cuda" else torch.get_autocast_cpu_dtype()


def forward(x, weight, bias, call):
    """torch's transposed convolution, then TF's crop (and zero rows past the end), then the bias."""
    fuse_bias = bias is not None and call.fuse_bias
    y = TORCH_OPS[weight.dim() - 2](x, weight, bias if fuse_bias else None, **call.kwargs)
    if call.extend is not None:
        y = F.pad(y, call.extend)
    for dim, start, length in call.narrows:
        y = y.narrow(dim, start, length)
    if bias is not None and not fuse_bias:
        y = y + bias.to(y.dtype).view(1, -1, *[1] * (y.dim() - 2))
    return y


class ConvTranspose(torch.autograd.Function):
    """:func:`_forward` with a backward that picks the fastest memory layout per gradient.

    Same kernels, same numbers as autograd through :func:`_forward`, but on CPU oneDNN
    computes the input gradient fastest on channels_last tensors and the weight gradient
    fastest on contiguous ones (measured 1.3-2x apart each way; ``scripts/bench.py``), and the
    crop's gradient is one pad instead of a zero-filled copy per cropped axis. The backward is
    written with differentiable ops, so double backward still works.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, call):
        ctx.save_for_backward(x, weight)
        ctx.call, ctx.has_bias = call, bias is not None
        return forward(x, weight, bias, call)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        call = ctx.call
        want_x, want_w, want_b = ctx.needs_input_grad[:3]
        grad_bias = grad.sum([0, *range(2, grad.dim())]) if want_b and ctx.has_bias else None
        if not (want_x or want_w):
            return None, None, grad_bias, None
        if call.grad_pads is not None:
            # Zeros where the crop dropped rows (F.pad keeps channels_last); rows appended past
            # torch's end have no torch output to flow into (negative pads drop them).
            grad = F.pad(grad, call.grad_pads)
        k = call.kwargs
        if call.canonical:
            grad = canonical(grad)
        if call.slow_backward:
            return (*slow_gradients(grad, x, weight, k, want_x, want_w), grad_bias, None)
        grad_x = grad_w = None
        args = (k["stride"], k["padding"], k["dilation"], True, k["output_padding"], 1)
        last = channels_last_format(x)
        if want_x and last is not None:
            g = grad.contiguous(memory_format=last)
            grad_x = torch.ops.aten.convolution_backward(g, x, weight, None, *args, [True, False, False])[0]
        grad, x = grad.contiguous(), x.contiguous()
        if want_x and last is None:
            grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, *args, [True, False, False])[0]
        if want_w:
            grad_w = torch.ops.aten.convolution_backward(grad, x, weight, None, *args, [False, True, False])[1]
        return grad_x, grad_w, grad_bias, None


def slow_gradients(grad, x, weight, kwargs, want_x, want_w):
    """Both gradients of a transposed convolution on torch's slow (im2col + GEMM) convolution,
    never oneDNN, whose deconvolution and convolution weight gradients abort the process,
    hang or return garbage with one channel or one filter (see ``Call.slow_backward``).

    ``d_input`` is the forward convolution of the output's gradient with the weight;
    ``d_weight[c, f, t] = sum_{n, i} x[n, c, i] * grad[n, f, s * i + d * t - p]``, the forward
    convolution of ``grad`` (batch and channel axes swapped) by ``x`` (likewise) with stride
    and dilation swapped, cut to the kernel size. 1-D runs as 2-D on a length-1 axis.
    """
    stride, padding, dilation = kwargs["stride"], kwargs["padding"], kwargs["dilation"]
    one_d = weight.dim() == 3
    if one_d:
        grad, x, weight = grad.unsqueeze(2), x.unsqueeze(2), weight.unsqueeze(2)
        stride, padding, dilation = (1, *stride), (0, *padding), (1, *dilation)
    conv = torch.ops.aten.slow_conv_dilated2d if weight.dim() == 4 else torch.ops.aten.slow_conv_dilated3d
    grad_x = grad_w = None
    if want_x:
        grad_x = conv(grad, weight, list(weight.shape[2:]), None, stride, padding, dilation)
    if want_w:
        swapped = conv(grad.transpose(0, 1).contiguous(), x.transpose(0, 1).contiguous(), list(x.shape[2:]), None,
                       dilation, padding, stride)  # (filters, in_channels, >= kernel)
        grad_w = swapped[(slice(None), slice(None), *(slice(0, k) for k in weight.shape[2:]))].transpose(0, 1)
    if one_d:
        grad_x = None if grad_x is None else grad_x.squeeze(2)
        grad_w = None if grad_w is None else grad_w.squeeze(2)
    return grad_x, grad_w


def channels_last_format(t):
    """torch's channels_last memory format ``t`` is in, or ``None``."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    if t.dim() == 5 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return None
