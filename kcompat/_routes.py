"""Which way a transposed convolution is computed: the paths, and the choice between them.

A call (:class:`kcompat.functional.Call`, one per geometry) runs on one of :data:`PATHS`:
torch's deconvolution on the input's layout or on an NCHW copy, differentiated by autograd or by
:class:`kcompat._deconv.ConvTranspose` (each gradient in its fastest memory layout), or one
matmul and col2im (:mod:`kcompat._gemm`). The candidates of a geometry and the rule's default
come from :func:`candidates`; which is fastest differs between CPUs, so large calls measure the
candidates once per geometry (:mod:`kcompat._paths`); the numbers are the same, to rounding.
A geometry with a size-1 axis (``Call.canonical``) runs torch's deconvolution on canonical
NCHW tensors, or the matmul where measuring finds it faster.
"""

from __future__ import annotations

import torch

from . import _gemm, _paths
from ._deconv import ConvTranspose, autocast_dtype, canonical, forward

__all__ = ["PATHS", "candidates", "choose_path", "path_key", "run_call"]


def run_call(inputs, x, weight, bias, call, channels_last):
    """One call on its geometry's :class:`kcompat.functional.Call` (``x``: ``inputs`` in NCHW order)."""
    if call.empty:
        # An empty input or output: TF returns zeros (plus bias) of the requested size.
        y = weight.new_zeros((x.shape[0], weight.shape[1], *call.output_size))
        # Sums of empty slices: exact zeros that keep the result on the autograd graph, so that
        # the gradients are zeros, as TensorFlow's are, not missing.
        y = y + (x.flatten()[:0].sum() + weight.flatten()[:0].sum()).to(y.dtype)
        if bias is not None:
            y = y + bias.to(y.dtype).view(1, -1, *[1] * (weight.dim() - 2))
        return y.movedim(1, -1) if channels_last else y
    autocasting = torch.is_autocast_enabled(x.device.type)
    wants_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or bias is not None and bias.requires_grad)
    if call.canonical:
        if _canonical_gemm(inputs, x, weight, bias, call, channels_last, autocasting, wants_grad):
            return _gemm_path(inputs, x, weight, bias, call, channels_last, wants_grad)
        return _run_canonical(x, weight, bias, call, channels_last, wants_grad, autocasting)
    training = wants_grad and not autocasting
    path = choose_path(inputs, x, weight, bias, call, channels_last, training, autocasting)
    return PATHS[path](inputs, x, weight, bias, call, channels_last, training)


def _canonical_gemm(inputs, x, weight, bias, call, channels_last, autocasting, training):
    """Whether a call of a size-1-axis geometry runs on the GEMM path (no deconvolution, so none
    of the defects the canonical route avoids) rather than torch's deconvolution on canonical
    NCHW tensors: where measuring finds it faster (2.6x forward on the DCGAN tutorial's 14x14x64
    -> 1-filter output layer)."""
    if call.col2im is None or autocasting or torch.compiler.is_compiling():
        return False

    def on_canonical(inputs, x, weight, bias, call, channels_last, training):
        return _run_canonical(x, weight, bias, call, channels_last, training, False)

    routes = {"canonical": on_canonical, "gemm": _gemm_path}
    key = path_key(call, x, weight, training)
    return _paths.choose(key, tuple(routes), "canonical", call.work, x.device.type == "cpu",
                         lambda name: _timed_run(routes[name], inputs, x, weight, bias, call, channels_last,
                                                 training)) == "gemm"


def _run_canonical(x, weight, bias, call, channels_last, wants_grad, autocasting):
    """A size-1 axis (``Call.canonical``): NCHW tensors with canonical strides, always."""
    x = canonical(x)
    if wants_grad and autocasting:
        # Autocast's casts, made here so that the backward is ConvTranspose's, not autograd's.
        dtype = autocast_dtype(x.device.type)
        x, weight = canonical(x.to(dtype)), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            y = ConvTranspose.apply(x, weight, bias, call)
    elif wants_grad:
        y = ConvTranspose.apply(x, weight, bias, call)
    else:
        y = forward(x, weight, bias, call)
    return y.movedim(1, -1).contiguous() if channels_last else y


def _deconv(nchw, split):
    """A path on torch's transposed convolution: on an NCHW copy of channels_last input
    (``nchw``), and in training through :class:`ConvTranspose` (``split``) or autograd."""

    def run(inputs, x, weight, bias, call, channels_last, training):
        copy = nchw and channels_last
        if copy:
            x = x.contiguous()
        if training and split:
            y = ConvTranspose.apply(x, weight, bias, call)
        else:
            y = forward(x, weight, bias, call)
        if not channels_last:
            return y
        return y.movedim(1, -1).contiguous() if copy else y.movedim(1, -1)

    return run


def _gemm_path(inputs, x, weight, bias, call, channels_last, training):
    nhwc = inputs if channels_last else x.movedim(1, -1)
    if call.tiles is not None:
        y = _gemm.tiles(nhwc, weight, bias, call.tiles)
    else:
        y = _gemm.gemm(nhwc, weight, bias, call.col2im, call.output_size)
    return y if channels_last else y.movedim(-1, 1).contiguous()


PATHS = {
    "deconv": _deconv(nchw=False, split=False),
    "deconv+split": _deconv(nchw=False, split=True),
    "deconv-nchw": _deconv(nchw=True, split=False),
    "deconv-nchw+split": _deconv(nchw=True, split=True),
    "gemm": _gemm_path,
}
"""Every way kcompat computes a (non-canonical) call, by the name :func:`choose_path` gives."""


def choose_path(inputs, x, weight, bias, call, channels_last, training, autocasting=False):
    """The name of the :data:`PATHS` entry that computes this call (see :mod:`kcompat._paths`).

    The default is the rule measured on AVX2 Zen 3 CPUs; the candidates are timed once per
    geometry on the real tensors (on its first large call, or its 16th small one), because
    other CPUs differ.
    """
    names, default = call.training_paths if training else call.inference_paths
    if len(names) == 1 or torch.compiler.is_compiling():
        return default
    key = path_key(call, x, weight, training)
    path = _paths.cached(key)
    if path is not None:
        return path
    measurable = x.device.type == "cpu" and not autocasting
    return _paths.choose(key, names, default, call.work, measurable,
                         lambda name: _timed_run(PATHS[name], inputs, x, weight, bias, call, channels_last, training))


def path_key(call, x, weight, training):
    return call.geometry, x.dtype, x.device, training, x.requires_grad, weight.requires_grad


def candidates(channels_last, training, weight_heavy, nchw_gradients, gemm, tiles, strided):
    """``(names, default)``: the :data:`PATHS` that can compute a geometry, and the rule's choice."""
    layouts = ("deconv", "deconv-nchw") if channels_last else ("deconv",)
    if training and nchw_gradients:
        layouts = ("deconv-nchw",)
    names = [f"{name}+split" for name in layouts] + list(layouts) if training else list(layouts)
    if gemm:
        names.append("gemm")
    layout = "deconv-nchw" if channels_last and (weight_heavy or training and nchw_gradients) else "deconv"
    if training and tiles and channels_last:
        default = "gemm"
    elif training and strided:
        # The split backward wins on strided layers (1.2-1.9x on the benchmark's); at stride 1
        # torch's own backward is faster (measured 1.3-1.5x).
        default = layout + "+split"
    else:
        default = layout
    return tuple(names), default


def _timed_run(path, inputs, x, weight, bias, call, channels_last, training):
    """``run()`` computing this call on ``path`` once, off the caller's autograd graph."""
    if not training:
        def run():
            with torch.no_grad():
                path(inputs, x, weight, bias, call, channels_last, False)
        return run
    leaves = [t.detach().requires_grad_(t.requires_grad) if t is not None else None for t in (inputs, weight, bias)]
    wanted = [t for t in leaves if t is not None and t.requires_grad]
    x_leaf = leaves[0].movedim(-1, 1) if channels_last else leaves[0]

    def run():
        y = path(leaves[0], x_leaf, leaves[1], leaves[2], call, channels_last, True)
        torch.autograd.grad(y, wanted, torch.ones_like(y))

    return run
