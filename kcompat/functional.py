"""The stateless op: TensorFlow's transposed convolution on ``F.conv_transpose{1,2,3}d``.

What ``torch.nn.functional`` is to ``torch.nn``: every layer class and every API generation
calls :func:`conv_transpose`; the per-axis arithmetic lives in :mod:`kcompat.shapes`.

Weights are in torch layout ``(in_channels, filters, *kernel_size)``. A Keras kernel
``(*kernel_size, filters, in_channels)`` becomes torch layout by permuting the last two axes
to the front (``(3, 2, 0, 1)`` in 2-D); no spatial flip is involved, both libraries
correlate the same way.

This module is the op: its arguments, TensorFlow's acceptance checks and arithmetic, and the
torch call and crop worked out once per geometry (:func:`prepare_call`, cached). How a call is
computed is chosen elsewhere: :mod:`kcompat._routes` (the paths and the choice between them,
measured per geometry by :mod:`kcompat._paths`) on :mod:`kcompat._deconv` (torch's
deconvolution with TF's crop and kcompat's backward) and :mod:`kcompat._gemm` (one matmul and
col2im). torch's call uses the largest symmetric padding TF's crop allows and the bias is added
after the crop (``scripts/bench.py``).

Safety (``python -m kcompat.testing.deconv_sweep``): torch 2.13's CPU (oneDNN) deconvolution
backward aborts the process, hangs or returns garbage on some shapes with a size-1 axis; such
calls (``Call.canonical``) hand torch canonical NCHW tensors, and with one channel or one
filter their gradients come from torch's slow convolution instead
(:func:`kcompat._deconv.slow_gradients`), unless measuring finds the matmul and col2im faster.
"""

from __future__ import annotations

import functools
import math
import typing

import torch

from . import _gemm, _paths, _routes, shapes
from ._deconv import TORCH_OPS as _TORCH_OPS  # noqa: F401 - the tests' spy on torch's call
from ._memory import PHYSICAL_MEMORY
from ._routes import PATHS, run_call

__all__ = ["PATHS", "Call", "check_allocatable", "conv_transpose", "keras_conv_transpose", "keras_output_size",
           "path_taken", "plan", "prepare_call", "run_call"]


def check_allocatable(shape, dtype, device, what):
    """Refuse, naming ``what`` (the arguments behind the size), a CPU tensor larger than this
    machine's memory: torch would fail anyway, with an allocator error that names nothing."""
    if PHYSICAL_MEMORY is None or torch.compiler.is_compiling() or torch.device(device).type != "cpu":
        return  # (sizes are symbolic while torch.compile traces; the eager call checked them)
    size = math.prod(int(n) for n in shape) * dtype.itemsize
    if size > PHYSICAL_MEMORY:
        raise ValueError(f"{what} needs a tensor of shape {tuple(int(n) for n in shape)} ({size:.3g} bytes of "
                         f"{dtype}), more than this machine's memory ({PHYSICAL_MEMORY:.3g} bytes).")


def _geometry_cache(function):
    """``functools.lru_cache`` for the pure per-shape arithmetic, bypassed while torch.compile
    traces (dynamo would trace through the cache anyway, with a warning; the values are the same)."""
    cached = functools.lru_cache(maxsize=4096)(function)

    @functools.wraps(function)
    def call(*args):
        return function(*args) if torch.compiler.is_compiling() else cached(*args)

    call.cache_clear, call.cache_info = cached.cache_clear, cached.cache_info
    return call


@_geometry_cache
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


@_geometry_cache
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
    x, call = _geometry_of(inputs, weight, bias, output_size, strides, padding, dilation, channels_last)
    return run_call(inputs, x, weight, bias, call, channels_last)


def _geometry_of(inputs, weight, bias, output_size, strides, padding, dilation, channels_last):
    """``(x, call)``: ``inputs`` in NCHW order and the :class:`Call` of the arguments, normalised
    and checked (plain ints) before the geometry cache sees them."""
    strides, dilation, output_size = tuple(strides), tuple(dilation), tuple(output_size)
    if not isinstance(padding, str):
        padding = tuple(tuple(p) for p in padding)
    _check_sizes(output_size, strides, padding, dilation)
    if bias is not None and bias.shape != weight.shape[1:2]:
        raise ValueError(f"`bias` must have shape ({weight.shape[1]},), one value per filter. "
                         f"Received: bias.shape={tuple(bias.shape)}")
    x = inputs.movedim(-1, 1) if channels_last else inputs
    return x, prepare_call(x.shape, output_size, weight.shape, strides, padding, dilation, channels_last)


def path_taken(inputs, weight, bias=None, *, output_size, strides, padding, dilation, channels_last, training):
    """``(path, {candidate: seconds})``: the :data:`PATHS` entry :func:`conv_transpose` takes for
    these arguments (``training``: with a gradient), and what measuring it timed (empty where
    the rule chose); ``"empty"`` or ``"canonical"`` for the geometries that have one route."""
    x, call = _geometry_of(inputs, weight, bias, output_size, strides, padding, dilation, channels_last)
    if call.empty:
        return "empty", {}
    if call.canonical:  # torch's deconvolution on canonical tensors or, where faster, the GEMM
        choice = _paths.choices().get(_routes.path_key(call, x, weight, training))
        return ("canonical" if choice is None else choice.path), ({} if choice is None else dict(choice.seconds))
    path = _routes.choose_path(inputs, x, weight, bias, call, channels_last, training)
    choice = _paths.choices().get(_routes.path_key(call, x, weight, training))
    return path, ({} if choice is None else dict(choice.seconds))


def _is_size(v):
    return type(v) is int or isinstance(v, torch.SymInt)


def _check_sizes(output_size, strides, padding, dilation):
    """Plain ints only, checked on every call before any cache sees them: the geometry caches
    would key ``2.0`` and ``True`` equal to ``2`` and ``1``."""
    flat_padding = () if isinstance(padding, str) else tuple(v for pair in padding for v in pair)
    if all(type(v) is int for v in output_size + strides + dilation + flat_padding):
        return  # the common case, in one pass (SymInts, while torch.compile traces, are checked below)
    for name, values, shown in (("output_size", output_size, output_size), ("strides", strides, strides),
                                ("padding", flat_padding, padding), ("dilation", dilation, dilation)):
        if not all(_is_size(v) for v in values):
            raise ValueError(f"`{name}` must hold plain integers. Received: {name}={shown!r}")


def _check_geometry(input_shape, output_size, weight_shape, strides, padding, dilation, channels_last):
    """The structural checks, made once per geometry (on a miss of :func:`prepare_call`'s cache)."""
    rank = len(weight_shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError("`weight` must have 3, 4 or 5 dimensions (in_channels, filters, *kernel_size). "
                         f"Received: weight.shape={tuple(weight_shape)}")
    shown = (input_shape[0], *input_shape[2:], input_shape[1]) if channels_last else tuple(input_shape)
    if len(input_shape) != rank + 2:
        raise ValueError(f"`inputs` must have {rank + 2} dimensions for a {rank}-D weight. "
                         f"Received: inputs.shape={shown}")
    for name, values, low in (("output_size", output_size, 0), ("strides", strides, 1), ("dilation", dilation, 1)):
        if len(values) != rank or any(v < low for v in values):
            raise ValueError(f"`{name}` must be {rank} integers >= {low}. Received: {name}={values!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid', 'same' or {rank} (before, after) pairs. "
                             f"Received: padding={padding!r}")
    elif len(padding) != rank or not all(len(p) == 2 and min(p) >= 0 for p in padding):
        raise ValueError(f"`padding` must be 'valid', 'same' or {rank} (before, after) pairs of integers >= 0. "
                         f"Received: padding={padding!r}")
    if input_shape[1] != weight_shape[0]:
        raise ValueError("The number of input channels must match the kernel's input channels. Received: input "
                         f"channels={input_shape[1]}, kernel input channels={weight_shape[0]}, data_format="
                         f"'{'channels_last' if channels_last else 'channels_first'}' (torch layout: (in_channels, "
                         f"filters, *kernel_size); inputs.shape={shown}, weight.shape={tuple(weight_shape)}).")


class Call(typing.NamedTuple):
    """Everything one geometry needs per call, worked out once (see :func:`prepare_call`)."""

    geometry: tuple  # the arguments of :func:`prepare_call`: the key of the paths chosen for it
    output_size: tuple  # spatial output lengths
    empty: bool  # an empty input or output: zeros (plus bias), no torch call
    kwargs: dict  # stride, padding, output_padding, dilation of torch's call
    extend: list  # F.pad argument appending zero rows past torch's end, or None
    narrows: tuple  # (dim, start, length) slices of TF's crop
    grad_pads: list  # F.pad argument turning the output's gradient into torch's, or None
    fuse_bias: bool  # torch's output is the answer: its call can add the bias
    weight_heavy: bool  # the weight outweighs the input (the rule then takes an NCHW copy, below)
    nchw_gradients: bool  # channels_last gradients would be wrong: train on an NCHW copy (below)
    canonical: bool  # a size-1 axis: every tensor torch sees is NCHW with canonical strides (below)
    slow_backward: bool  # one channel or one filter: gradients off oneDNN (:func:`kcompat._deconv.slow_gradients`)
    tiles: tuple  # kernel == stride on every axis: the crop of :func:`kcompat._gemm.tiles`, else None
    col2im: tuple  # :func:`kcompat._gemm.col2im_plan` where the GEMM path is a candidate, else None
    work: int  # multiply-adds of the call
    inference_paths: tuple  # (candidate names, rule's default) without a gradient
    training_paths: tuple  # the same with one


_GEMM_TAPS = 64  # kernels with more taps than this do not take the GEMM path (col2im adds per tap)


@_geometry_cache
def prepare_call(input_shape, output_size, weight_shape, strides, padding, dilation, channels_last):
    """The torch call and crop for one geometry, after TF's acceptance check.

    ``input_shape`` and ``weight_shape`` are full torch shapes (NCHW order).
    """
    geometry = (input_shape, output_size, weight_shape, strides, padding, dilation, channels_last)
    _check_geometry(*geometry)
    input_size, kernel_size = tuple(input_shape[2:]), tuple(weight_shape[2:])
    plans = plan(input_size, output_size, kernel_size, strides, padding, dilation)
    if any(p is None for p in plans):
        return Call(geometry, output_size, True, *[None] * (len(Call._fields) - 3))
    extend, grad_pads = [], []
    for p in reversed(plans):
        extend += [0, p.extend]
        grad_pads += [p.start, p.torch_length - p.start - p.output_length]
    narrows = tuple((axis + 2, p.start, p.output_length) for axis, p in enumerate(plans)
                    if p.start or p.torch_length + p.extend != p.output_length)
    kwargs = dict(stride=strides, padding=tuple(p.padding for p in plans),
                  output_padding=tuple(p.output_padding for p in plans), dilation=dilation)
    # torch's CPU (oneDNN) deconvolution returns a wrong weight gradient for channels_last
    # input with a kernel smaller than its stride and output_padding (torch 2.13; seen with
    # k=1, output_padding=s-1, intermittently): such layers train on an NCHW copy.
    nchw_gradients = channels_last and any(p.output_padding and k < s for p, k, s in zip(plans, kernel_size, strides))
    # Where the weight outweighs the input, oneDNN spends more reordering the weight to
    # channels_last, per call and per gradient, than the layout saves (1.2x forward+backward
    # on the benchmark's 4x4x512 DCGAN layer, AVX2 Zen 3): the rule then copies the small
    # tensors to NCHW. (A rule, not a safety route: measuring may choose otherwise.)
    weight_heavy = math.prod(weight_shape) > 4 * math.prod(input_shape)
    # A size-1 channel, filter or spatial axis makes a tensor's layout ambiguous (a C=1 NHWC
    # tensor is "contiguous" and channels_last at once), and torch 2.13's CPU (oneDNN)
    # deconvolution backward then aborts the process (heap corruption) or returns garbage
    # (1e33, NaN) on channels_last layouts, most of all with a kernel below its stride
    # (``python -m kcompat.testing.deconv_sweep``). Such calls hand torch NCHW tensors with
    # canonical strides (free where the memory already is NCHW, as with one channel) and
    # differentiate with _deconv.ConvTranspose, which keeps the output's gradient canonical too.
    # With one channel or one filter its (deconvolution and convolution) weight gradients also
    # abort, hang or return garbage on canonical NCHW tensors (seen: 3-D, one filter, kernel 7,
    # stride 2): those gradients come from torch's slow convolution (:func:`kcompat._deconv.slow_gradients`).
    # No other path is tried on them.
    output_shape = (input_shape[0], weight_shape[1], *output_size)
    canonical = 1 in input_shape[1:] or 1 in output_shape[1:]
    slow_backward = weight_shape[0] == 1 or weight_shape[1] == 1
    # Kernel equal to stride: output tiles do not overlap, so the GEMM path needs no col2im (see
    # kcompat._gemm.tiles); used when TF's output lies inside the full result (no zero rows past its end).
    tiles = None
    if kernel_size == strides and max(dilation) == 1 and all(p.crop_after >= 0 for p in plans):
        tiles = tuple((axis + 1, p.crop_before, p.output_length) for axis, p in enumerate(plans)
                      if p.crop_before or p.crop_after)
    col2im = None
    if tiles is None and math.prod(kernel_size) <= _GEMM_TAPS:
        col2im = _gemm.col2im_plan([(shapes.tap_ranges(i, p.output_length, k, s, p.crop_before, d), s)
                                    for i, p, k, s, d in zip(input_size, plans, kernel_size, strides, dilation)])
    work = math.prod(input_shape) * math.prod(weight_shape[1:])
    gemm = tiles is not None or col2im is not None  # (canonical calls: see _routes.canonical_gemm)
    paths = [_routes.candidates(channels_last, training, weight_heavy, nchw_gradients, gemm, tiles is not None,
                         max(strides) > 1) for training in (False, True)]
    return Call(geometry, output_size, False, kwargs, extend if any(extend) else None, narrows,
                 grad_pads if any(grad_pads) else None, all(p.is_identity for p in plans), weight_heavy,
                 nchw_gradients, canonical, slow_backward, tiles, col2im, work, *paths)


def keras_conv_transpose(inputs, weight, bias=None, strides=1, padding="valid", output_padding=None,
                         data_format="channels_last", dilation_rate=1):
    """Keras's ``Conv{1,2,3}DTranspose`` computation, as a function of a torch-layout ``weight``
    ``(in_channels, filters, *kernel_size)``; the rank is the weight's. Arguments are Keras's (ints
    or per-axis tuples); the output size is Keras's. (:func:`kcompat.tf_nn.conv2d_transpose` is
    ``tf.nn``'s op instead: TF-layout filters and an explicit ``output_shape``.)
    """
    rank = weight.dim() - 2
    per_axis = lambda v: (v,) * rank if isinstance(v, int) else tuple(v)  # noqa: E731
    channels_last = data_format == "channels_last"
    spatial = tuple(inputs.shape[1:-1] if channels_last else inputs.shape[2:])
    output_padding = None if output_padding is None else per_axis(output_padding)
    size = keras_output_size(spatial, tuple(weight.shape[2:]), per_axis(strides), padding, output_padding,
                             per_axis(dilation_rate))
    return conv_transpose(inputs, weight, bias, output_size=size, strides=per_axis(strides), padding=padding,
                          dilation=per_axis(dilation_rate), channels_last=channels_last)


def conv2d_transpose(inputs, weight, bias=None, strides=1, padding="valid", output_padding=None,
                     data_format="channels_last", dilation_rate=1):
    """Deprecated: :func:`keras_conv_transpose` (torch-layout ``weight``). The name read like
    :func:`kcompat.tf_nn.conv2d_transpose`, which takes TF-layout filters and ``tf.nn``'s arguments."""
    import warnings

    warnings.warn("kcompat.functional.conv2d_transpose is kcompat.functional.keras_conv_transpose (torch-layout "
                  "weight); kcompat.tf_nn.conv2d_transpose is tf.nn's op (TF-layout filters)", DeprecationWarning,
                  stacklevel=2)
    return keras_conv_transpose(inputs, weight, bias, strides, padding, output_padding, data_format, dilation_rate)
