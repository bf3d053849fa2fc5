"""Inference fusion for the eager module: what TensorFlow's graph optimizer does in
``tf.function``, done by :class:`~.module.KerasModel` in ``eval()`` without autograd.

A chain ``Conv2D | DepthwiseConv2D -> [BatchNormalization] -> [Add] -> [ReLU | ReLU6 | LeakyReLU]``
whose tensors nothing else reads (and that is no output of the model) runs as one oneDNN
convolution (``torch.ops.mkldnn._convolution_pointwise``): the normalization folded into its
weights (``W * gamma / sqrt(var + eps)``, in float64, rounded once), the residual Add and the
activation as the kernel's post-ops, the weights reordered to oneDNN's blocked layout once per
input shape. A convolution alone gains the packed weights. The numbers are the unfused ones to
float32 rounding (the fold's); the Add and the activations are computed as they are unfused.

The fused form is kept while the weights are: it is redone when any tensor it read changes
(in place, replaced or ``.data`` reassigned). A call it cannot take (not float32 on the CPU, a
one-channel input: see :func:`~kcompat.layers.conv.plain_strides`, a layer with hooks, in
training mode) runs its layers one by one, as autograd, tracing and ``torch.compile`` always do.
"""

from __future__ import annotations

import torch

from .. import activations
from .._padding import pad
from ..layers.activation import Activation, LeakyReLU, ReLU
from ..layers.conv import BaseConv
from ..layers.merging import Add
from ..layers.normalization import BatchNormalization
from .graph import TensorRef, refs

__all__ = ["Chain", "chains", "enabled"]

_CONV_CLASSES = {"Conv2D", "Convolution2D", "DepthwiseConv2D"}
_PACKED_SHAPES = 4  # input shapes kept packed per chain


def enabled():
    """Whether oneDNN's fused convolution can run here at all."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _post_op(function):
    """``(name, scalars)`` of oneDNN's eltwise post-op that computes the activation ``function``
    exactly as kcompat does (a comparison, a clamp, one product), else ``None``."""
    if function is activations.linear:
        return "none", []
    if function in (activations.relu, torch.relu_, torch.relu):
        return "relu", []
    if function is activations.relu6 or getattr(function, "__name__", "") == "_relu6_":
        return "hardtanh", [0.0, 6.0]
    return None


def _activation_post_op(module):
    """The post-op of an activation layer (plain ReLU, ReLU6, LeakyReLU, Activation of those)."""
    if type(module) is ReLU:
        if module.negative_slope == 0 and module.threshold == 0 and module.max_value in (None, 6):
            return ("relu", []) if module.max_value is None else ("hardtanh", [0.0, 6.0])
        return None
    if type(module) is LeakyReLU:
        return "leaky_relu", [module._slope]
    if type(module) is Activation:
        op = _post_op(module.activation)
        return None if op is None or op[0] == "none" else op
    return None


class Chain:
    """One fused call: its layers' specs (the convolution first), the tensor the last one writes,
    the residual added (a :class:`TensorRef`, or ``None``) and the activation's post-op."""

    def __init__(self, model, members, other, post_op):
        self.members = members  # LayerSpec per layer, in call order
        self.layers = [model._modules[spec.attr] for spec in members]
        self.conv, self.norm = self.layers[0], next((m for m in self.layers if isinstance(m, BatchNormalization)), None)
        self.source = members[0].calls[0].inputs
        self.output = TensorRef(members[-1].name, 0, 0)
        self.other = other
        self.post_op = post_op
        self._key = None
        self._folded = None  # (weight, bias) with the normalization folded in
        self._packed = {}  # input shape -> oneDNN-packed weight

    def current(self, model):
        """Whether the model still holds these layers (a submodule replaced: not)."""
        return all(model._modules.get(spec.attr) is layer for spec, layer in zip(self.members, self.layers))

    def run(self, values):
        """The chain's output from ``values``, or ``None`` where this call must run unfused."""
        conv = self.conv
        x = values[self.source]
        if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.device.type != "cpu" or x.dim() != 4:
            return None
        if any(layer.training or layer._forward_hooks or layer._forward_pre_hooks for layer in self.layers):
            return None
        if any(getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name != "float32"
               or getattr(layer, "activity_regularizer", None) is not None for layer in self.layers):
            return None
        other = None
        if self.other is not None:
            other = values[self.other]
            if not isinstance(other, torch.Tensor) or other.dtype != torch.float32 or other.device.type != "cpu":
                return None
        channels_last = conv.data_format == "channels_last"
        if x.shape[-1 if channels_last else 1] == 1:
            return None  # one input channel: plain_strides' route, unfused
        pads, padding = conv.conv_geometry(x)
        padding = [padding] * 2 if isinstance(padding, int) else list(padding)
        xc = x.movedim(-1, 1) if channels_last else x
        if pads is not None:
            xc = pad(xc, pads)
        weight, bias, groups = self._weights(xc.shape, padding)
        if weight is None:
            return None
        name, scalars = self.post_op
        if other is None:
            y = torch.ops.mkldnn._convolution_pointwise(xc, weight, bias, padding, conv.strides, conv.dilation_rate,
                                                        groups, name, scalars, "")
        else:
            if tuple(other.shape) != tuple(conv.compute_output_shape(tuple(x.shape))):
                return None  # a broadcast add: unfused
            oc = other.movedim(-1, 1) if channels_last else other
            oc = oc.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            y = torch.ops.mkldnn._convolution_pointwise.binary(
                xc, oc, weight, bias, padding, conv.strides, conv.dilation_rate, groups, "add", None,
                None if name == "none" else name, scalars, None)
        return y.movedim(1, -1) if channels_last else y

    def _weights(self, input_shape, padding):
        """``(packed weight, bias, groups)`` for this input shape: folded and packed when the
        tensors they come from changed, else as kept."""
        conv, norm = self.conv, self.norm
        tensors = [conv.torch_conv_weight()[0], conv.bias]
        if norm is not None:
            tensors += [norm.weight, norm.bias, norm.running_mean, norm.running_var]
        key = (tuple(None if t is None else (id(t), t._version, t.data_ptr(), t.dtype) for t in tensors),
               None if norm is None else norm.epsilon)
        if key != self._key:
            self._key, self._packed = key, {}
            self._folded = _fold(*tensors[:2], norm)
        weight, bias = self._folded
        if weight.dtype != torch.float32:
            return None, None, None
        groups = conv.torch_conv_weight()[1]
        shape = tuple(input_shape)
        packed = self._packed.get(shape)
        if packed is None:
            if len(self._packed) >= _PACKED_SHAPES:
                self._packed.clear()
            with torch.inference_mode(False):
                packed = self._packed[shape] = torch._C._nn.mkldnn_reorder_conv2d_weight(
                    weight.to_mkldnn(), padding, list(conv.strides), list(conv.dilation_rate), groups, list(shape))
        return packed, bias, groups


def _fold(weight, bias, norm):
    """``(weight, bias)`` of the convolution with ``norm`` (eval: its moving statistics) folded in,
    in float64 rounded once to the weight's dtype; detached copies."""
    with torch.no_grad(), torch.inference_mode(False):
        if norm is None:
            return weight.detach().clone(), None if bias is None else bias.detach().clone()
        scale = torch.rsqrt(norm.running_var.double() + norm.epsilon)
        if norm.weight is not None:
            scale = scale * norm.weight.double()
        shift = -norm.running_mean.double() * scale
        if norm.bias is not None:
            shift = shift + norm.bias.double()
        if bias is not None:
            shift = shift + bias.double() * scale
        folded = weight.double() * scale.reshape(-1, *[1] * (weight.dim() - 1))
        return folded.to(weight.dtype), shift.to(weight.dtype)


def _readers(graph):
    """``{TensorRef: [LayerSpec]}``: who reads each tensor (a model output counts as a reader, ``None``)."""
    readers = {}
    for spec in graph.layers:
        for call in spec.calls:
            for ref in [*refs(call.inputs), *refs(call.kwargs)]:
                readers.setdefault(ref, []).append(spec)
    for ref in refs(graph.outputs):
        readers.setdefault(ref, []).append(None)
    return readers


def _only_reader(readers, ref, model):
    """``(spec, module)`` of the one layer that reads ``ref``, once, in its one call with no
    arguments of its own; else ``None``."""
    found = readers.get(ref, [])
    if len(found) != 1 or found[0] is None or len(found[0].calls) != 1:
        return None
    spec = found[0]
    call = spec.calls[0]
    if any(v is not None for v in call.kwargs.values()) or list(refs(call.inputs)).count(ref) != 1:
        return None
    return spec, model._modules.get(spec.attr)


def chains(model):
    """The model's fusable chains: ``(by position, skipped)``, where ``by position`` maps the
    ``(layer, node)`` of each chain's last call to its :class:`Chain` and ``skipped`` holds the
    other calls of the chains (run by the chain, at its last call)."""
    graph = model.graph
    readers = _readers(graph)
    by_position, skipped, claimed = {}, set(), set()

    def reader(ref):  # the one layer that reads ref, where no other chain took it
        found = _only_reader(readers, ref, model)
        return None if found is None or found[0].name in claimed else found

    for spec in graph.layers:
        conv = model._modules.get(spec.attr)
        if (spec.class_name not in _CONV_CLASSES or len(spec.calls) != 1 or not isinstance(conv, BaseConv)
                or conv.rank != 2 or conv.torch_conv_weight() is None
                or any(v is not None for v in spec.calls[0].kwargs.values())
                or not isinstance(spec.calls[0].inputs, TensorRef)):
            continue
        post_op = _post_op(conv.activation)
        if post_op is None:
            continue
        members, other, ref = [spec], None, TensorRef(spec.name, 0, 0)
        if post_op[0] == "none":
            found = reader(ref)
            if found and isinstance(found[1], BatchNormalization) and _normalizes_channels(found[1], conv):
                members.append(found[0])
                ref = TensorRef(found[0].name, 0, 0)
                found = reader(ref)
            summed = found[0].calls[0].inputs if found and type(found[1]) is Add else None
            if isinstance(summed, list) and len(summed) == 2 and all(isinstance(r, TensorRef) for r in summed):
                members.append(found[0])
                other = next(r for r in summed if r != ref)
                ref = TensorRef(found[0].name, 0, 0)
                found = reader(ref)
            activation = None if not found else _activation_post_op(found[1])
            if activation is not None:
                members.append(found[0])
                post_op = activation
        chain = Chain(model, members, other, post_op)
        by_position[(members[-1].name, 0)] = chain
        skipped.update((member.name, 0) for member in members[:-1])
        claimed.update(member.name for member in members)
    return by_position, skipped


def _normalizes_channels(norm, conv):
    """Whether ``norm`` (of a rank-4 tensor) normalizes the convolution's output channels."""
    axis = norm.axis if norm.axis < 0 else norm.axis - 4
    return axis == (-1 if conv.data_format == "channels_last" else -3) and not norm.renorm


def run_layers(model, chain, values):
    """The chain's layers one by one (the unfused call), at the chain's last position."""
    for spec in chain.members:
        values[TensorRef(spec.name, 0, 0)] = model.call_layer(spec, 0, values)
    return values[chain.output]

