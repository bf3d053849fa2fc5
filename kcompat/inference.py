"""``optimize_for_inference``: a loaded model made for inference, its numbers kept.

What a deployment engine does before it runs a model, done on the module ``kcompat.load_model``
returns (its graph says which layer feeds which):

- BatchNormalization folded into the convolution or Dense before it (when that layer has no
  activation and feeds nothing else): ``W * gamma / sqrt(var + eps)`` and
  ``(b - mean) * gamma / sqrt(var + eps) + beta``, in float64 then rounded once;
- a ReLU (or ReLU6) that follows such a layer (after its folded BatchNormalization, if any) and
  is its only reader, computed in place on that layer's fresh output, as its activation (the
  same numbers; no second feature map allocated and written);
- a ZeroPadding layer read only by a 'valid' convolution folded into it: symmetric padding
  becomes torch's own ``padding`` (no padded copy of the feature map); a one-sided one (MobileNet's
  ``correct_pad`` before each stride-2 depthwise convolution) too, by zero taps added to the
  depthwise kernel, where the padded tensor is a ReLU6's (finite: a zero tap adds an exact zero;
  a NaN that reaches it spreads one row or column further than in TensorFlow);
- no autograd bookkeeping (``requires_grad`` off, the module in ``eval()``);
- optionally the whole model compiled by inductor with its freezing (constant folding, weight
  pre-packing, fused activations) and its C++ wrapper, where the platform compiles.

The result computes what the model computes in inference, to float32 rounding (tested against
the eager module and TensorFlow within the whole-model tolerance). A model in training mode is
refused: batch statistics cannot be folded.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from . import activations
from .layers import layer_class
from .layers.conv import BaseConv
from .layers.separable import DepthwiseConv2D
from .models.fusion import activation_post_op, fold_batch_norm, function_post_op, in_place, readers
from .models.graph import TensorRef
from .models.module import KerasModel

__all__ = ["optimize_for_inference"]

_FOLDABLE = {"Conv1D": 0, "Conv2D": 0, "Conv3D": 0, "Convolution1D": 0, "Convolution2D": 0, "Convolution3D": 0,
             "DepthwiseConv1D": 0, "DepthwiseConv2D": 0, "Dense": 0,
             "Conv1DTranspose": 1, "Conv2DTranspose": 1, "Conv3DTranspose": 1, "Convolution2DTranspose": 1}
_WEIGHT = {"DepthwiseConv1D": "depthwise_weight", "DepthwiseConv2D": "depthwise_weight"}


class _Folded(torch.nn.Module):
    """Where a BatchNormalization was: its input, unchanged (the layer before carries it now)."""

    def forward(self, inputs, training=None):
        return inputs


def _consumers(readers_of):
    """How many places read each tensor (``readers_of``, :func:`~.models.fusion.readers`'s table):
    call inputs, call arguments and the model's outputs."""
    return {ref: len(found) for ref, found in readers_of.items()}


def _sole_input(spec, consumers):
    """The tensor ``spec``'s one call reads where that call is all that reads it (and passes no
    arguments of its own: a mask, ``training=``), else ``None``."""
    if len(spec.calls) != 1:
        return None
    source = spec.calls[0].inputs
    if not isinstance(source, TensorRef) or any(v is not None for v in spec.calls[0].kwargs.values()):
        return None
    return source if consumers.get(source, 0) == 1 else None


def _linear_writer(model, by_name, ref):
    """``(spec, layer)`` of the Conv/DepthwiseConv/ConvTranspose/Dense without activation whose one
    call wrote ``ref``, else ``None``. A grouped transposed convolution is not one (its output
    channels are not one axis of its weight)."""
    before = by_name.get(ref.layer)
    if before is None or before.class_name not in _FOLDABLE or len(before.calls) != 1:
        return None
    layer = model._modules.get(before.attr)
    if layer is None or getattr(layer, "activation", None) is not activations.linear:
        return None
    if _FOLDABLE[before.class_name] == 1 and getattr(layer, "groups", 1) != 1:
        return None
    return before, layer


def _fold(model):
    """Fold each foldable BatchNormalization of ``model`` (and of its nested models) in place, then
    the ReLUs after them; returns how many BatchNormalizations were folded."""
    graph = model.graph
    by_name = {spec.name: spec for spec in graph.layers}
    readers_of = readers(graph)
    consumers = _consumers(readers_of)
    folded = 0
    aliases = {}  # a folded BatchNormalization's output -> the output of the layer it was folded into
    for spec in graph.layers:
        module = model._modules.get(spec.attr)
        if isinstance(module, KerasModel):
            folded += _fold(module)
            continue
        if spec.class_name != "BatchNormalization" or module is None:
            continue
        source = _sole_input(spec, consumers)
        writer = None if source is None else _linear_writer(model, by_name, source)
        if writer is None or not _axis_matches(module, writer[1], writer[0].class_name, spec.input_shape):
            continue
        before, layer = writer
        _fold_pair(layer, module, _FOLDABLE[before.class_name], _WEIGHT.get(before.class_name, "weight"))
        model._modules[spec.attr] = _Folded()
        aliases[TensorRef(spec.name, 0, 0)] = source
        folded += 1
    _fuse_relus(model, by_name, consumers, aliases)
    _absorb_padding(model, by_name, readers_of, consumers)
    model._chains = None  # the fused chains found again, on the layers as they are now
    return folded


def _relu_kind(module):
    """The in-place ReLU (``torch.relu_``) or ReLU6 where ``module`` is a plain ReLU or ReLU6, else ``None``."""
    op = activation_post_op(module)
    return in_place(op) if op is not None and op[0] in ("relu", "hardtanh") else None


def _fuse_relus(model, by_name, consumers, aliases):
    """Each plain ReLU/ReLU6 whose only input is the fresh output of a linear Conv/Dense (its
    BatchNormalization folded away, if it had one), read by nothing else: that layer's activation,
    in place."""
    for spec in model.graph.layers:
        module = model._modules.get(spec.attr)
        inplace = None if module is None else _relu_kind(module)
        source = None if inplace is None else _sole_input(spec, consumers)
        if source is None:
            continue
        origin = aliases.get(source, source)  # through a folded BatchNormalization, read by it alone
        writer = _linear_writer(model, by_name, origin)
        if writer is None:
            continue
        writer[1].activation = inplace
        model._modules[spec.attr] = _Folded()


_ZERO_PADDING = {"ZeroPadding1D": 1, "ZeroPadding2D": 2, "ZeroPadding3D": 3}


def _absorb_padding(model, by_name, readers_of, consumers):
    """Each ZeroPadding layer whose output only a 'valid' convolution of the same rank and data
    format reads (called once, plainly) folded into that convolution where that saves the padded
    copy: symmetric padding as torch's own, one-sided padding of a ReLU6's output before a
    depthwise convolution by zero kernel taps (:attr:`~.layers.conv.BaseConv.widened`)."""
    for spec in model.graph.layers:
        rank = _ZERO_PADDING.get(spec.class_name)
        module = model._modules.get(spec.attr)
        if rank is None or module is None or type(module).__name__ != spec.class_name:
            continue
        source = spec.calls[0].inputs if len(spec.calls) == 1 else None
        output = TensorRef(spec.name, 0, 0)
        found = readers_of.get(output, [])  # the one layer reading the padded tensor, as its one plain input
        reader = found[0] if len(found) == 1 and found[0] is not None and \
            _sole_input(found[0], consumers) == output else None
        if not isinstance(source, TensorRef) or reader is None or any(
                v is not None for v in spec.calls[0].kwargs.values()):
            continue
        conv = model._modules.get(reader.attr)
        if type(conv) is not layer_class(reader.class_name) or not isinstance(conv, BaseConv) or not conv.built:
            continue
        if conv.rank != rank or conv.padding != "valid" or conv.data_format != module.data_format or \
                conv.input_padding is not None:
            continue
        padding = tuple(tuple(pair) for pair in module.padding)
        if all(before == after for before, after in padding):
            conv.input_padding = padding
        elif type(conv) is DepthwiseConv2D and conv.dilation_rate == (1, 1) and _finite(model, by_name, source):
            taps = tuple((max(after - before, 0), max(before - after, 0)) for before, after in padding)
            weight = conv.depthwise_weight
            grown = F.pad(weight.detach(), [n for pair in reversed(taps) for n in pair])
            conv.depthwise_weight = torch.nn.Parameter(grown, requires_grad=False)
            conv.input_padding, conv.widened = padding, taps
        else:
            continue
        conv._geometry = None
        model._modules[spec.attr] = _Folded()


def _finite(model, by_name, ref):
    """Whether ``ref`` is a ReLU6's output (a layer's ReLU6 activation, or a ReLU6 layer; through
    the layers folded away): finite wherever it is not NaN."""
    while True:
        spec = by_name.get(ref.layer)
        module = None if spec is None else model._modules.get(spec.attr)
        if not isinstance(module, _Folded):
            break
        ref = spec.calls[0].inputs
    if module is None:
        return False
    op = activation_post_op(module)
    if op is None and isinstance(module, BaseConv):
        op = function_post_op(module.activation)
    return op is not None and op[0] == "hardtanh" and all(abs(v) < float("inf") for v in op[1])


def _axis_matches(norm, layer, class_name, input_shape):
    """Whether the BatchNormalization normalizes the channels ``layer`` writes (Keras 2 writes its
    axis counted from the front: the rank of its input, known from the model's build, decides)."""
    rank = None if input_shape is None or not isinstance(input_shape, tuple) else len(input_shape)
    if class_name != "Dense":
        rank = layer.rank + 2
    axis = norm.axis if norm.axis < 0 or rank is None else norm.axis - rank
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return rank is not None and axis == 1 - rank
    return axis == -1


def _fold_pair(layer, norm, out_dim, weight_name):
    """``norm`` folded into ``layer``'s own parameters (:func:`~.models.fusion.fold_batch_norm`);
    a layer without a bias gets one."""
    with torch.no_grad():
        weight, bias = getattr(layer, weight_name), getattr(layer, "bias", None)
        new_weight, new_bias = fold_batch_norm(weight, bias, norm, out_dim)
        weight.copy_(new_weight)
        if bias is None:
            layer.register_parameter("bias", torch.nn.Parameter(new_bias, requires_grad=False))
            if hasattr(layer, "use_bias"):
                layer.use_bias = True
        else:
            bias.copy_(new_bias.to(bias.dtype))


def optimize_for_inference(model: torch.nn.Module, *, compile: bool = False) -> torch.nn.Module:  # noqa: A002
    """A copy of ``model`` (a module from :func:`kcompat.load_model`, or any torch module) made for
    inference: BatchNormalization folded into the layer before it, no autograd, and with
    ``compile=True`` compiled whole by inductor with its freezing (:class:`_Compiled`). ``model`` is
    left as it is.

    Refuses a model in training mode (``model.train()``): its BatchNormalization uses batch
    statistics, which no folding keeps. Call ``model.eval()`` first.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"optimize_for_inference takes a torch.nn.Module (kcompat.load_model's); received "
                        f"{type(model).__name__}")
    if model.training:
        raise ValueError("optimize_for_inference: the model is in training mode (Keras's training=True: batch "
                         "statistics, dropout), which an inference form cannot keep. Call model.eval() first.")
    optimized = copy.deepcopy(model).eval()
    for parameter in optimized.parameters():
        parameter.requires_grad_(False)
    if isinstance(optimized, KerasModel):
        optimized.folded_batch_norms = _fold(optimized)
    return _Compiled(optimized) if compile else optimized


class _Compiled(torch.nn.Module):
    """``module`` compiled for each input signature (shapes, strides, dtypes, devices) on its first
    call: captured whole by ``torch.export`` (non-strict: kcompat's Python runs as it does eagerly,
    so its shape arithmetic and path choices are not graph breaks that leave layers uncompiled),
    then compiled by inductor with its freezing (weights as constants: folded, pre-packed,
    activations fused) and its C++ wrapper (the graph's calls made from C++, not Python: 2-8%
    faster on ResNet50, MobileNetV2 and EfficientNetB0). Inductor compiles the captured graph
    itself, without dynamo: this class keys the compiled graphs by signature, which dynamo's
    guards did again on every call (MobileNetV2 batch 4: 11.0 -> 10.4 ms). Where the capture
    fails (an op that reads its values), ``torch.compile`` of the module itself; where an input is
    not a tensor (a keyword argument, a Python number), ``torch.compile`` of the captured graph."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self._compiled = {}  # input signature -> compiled callable

    def forward(self, *args, **kwargs):
        leaves, structure = torch.utils._pytree.tree_flatten((args, kwargs))
        signature = (structure, *((tuple(t.shape), t.stride(), t.dtype, t.device)
                                       if isinstance(t, torch.Tensor) else repr(t) for t in leaves))
        with torch.no_grad():
            compiled = self._compiled.get(signature)
            if compiled is None:
                compiled = self._compiled[signature] = _compile(self.module, args, kwargs)
            return compiled(*args, **kwargs)


_INDUCTOR = {"freezing": True, "cpp_wrapper": True}


def _compile(module, args, kwargs):
    """``module`` compiled for these arguments' shapes (see :class:`_Compiled`)."""
    import torch._inductor
    import torch._inductor.config as inductor

    module(*args, **kwargs)  # an eager call first: kcompat's per-shape path choices are measured on real tensors
    with inductor.patch(_INDUCTOR):
        try:
            graph = torch.export.export(module, args, kwargs, strict=False).module()
        except Exception:  # noqa: BLE001 - what export cannot capture, dynamo compiles with its graph breaks
            return _configured(torch.compile(module, dynamic=False))
        leaves = torch.utils._pytree.tree_leaves(args)
        if kwargs or not all(isinstance(t, torch.Tensor) for t in leaves):
            return _configured(torch.compile(graph, dynamic=False))
        return torch._inductor.compile(graph, leaves)  # called as the module is: it flattens what it is given


def _configured(compiled):
    """``compiled`` (``torch.compile``'s, which compiles on its first call and on a guard's miss)
    called under the inductor settings it is compiled with."""
    def call(*args, **kwargs):
        import torch._inductor.config as inductor

        with inductor.patch(_INDUCTOR):
            return compiled(*args, **kwargs)

    return call
