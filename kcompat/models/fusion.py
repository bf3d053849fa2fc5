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

import copy
import logging

import numpy as np
import torch
import torch.nn.functional as F

from .. import activations
from .._padding import pad
from ..layers import layer_class
from ..layers.activation import Activation, LeakyReLU, ReLU
from ..layers.conv import BaseConv
from ..layers.merging import Add
from ..layers.normalization import BatchNormalization
from ..layers.regularization import NoiseLayer
from .graph import TensorRef, call_training, refs

__all__ = ["Chain", "activation_post_op", "chains", "enabled", "fold_batch_norm", "function_post_op", "in_place", "readers",
           "relu6_"]

_CONV_CLASSES = {"Conv2D", "Convolution2D", "DepthwiseConv2D"}
_PACKED_SHAPES = 4  # input shapes kept packed per chain


def enabled():
    """Whether oneDNN's fused convolution can run here: built in, and not turned off
    (``torch.backends.mkldnn.flags(enabled=False)`` turns the fusion off with it)."""
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled and hasattr(
        torch.ops.mkldnn, "_convolution_pointwise")


def function_post_op(function):
    """``(name, scalars)`` of oneDNN's eltwise post-op that computes the activation ``function``
    exactly as kcompat does (a comparison, a clamp, one product), else ``None``."""
    if function is activations.linear:
        return "none", []
    if function in (activations.relu, torch.relu_, torch.relu):
        return "relu", []
    if function in (activations.relu6, relu6_):
        return "hardtanh", [0.0, 6.0]
    return None


def relu6_(x):
    """ReLU6 in place on a fresh output (hardtanh's, whose numbers are relu6's)."""
    return F.hardtanh_(x, 0.0, 6.0)


def activation_post_op(module):
    """The post-op of an activation layer (plain ReLU, ReLU6, LeakyReLU, Activation of those)."""
    if type(module) is ReLU:
        if module.negative_slope == 0 and module.threshold == 0 and module.max_value in (None, 6):
            return ("relu", []) if module.max_value is None else ("hardtanh", [0.0, 6.0])
        return None
    if type(module) is LeakyReLU:
        return "leaky_relu", [float(np.float32(module.negative_slope))]  # TF's float32 slope, as the layer
    if type(module) is Activation:
        op = function_post_op(module.activation)
        return None if op is None or op[0] == "none" else op
    return None


def in_place(post_op):
    """The activation of ``post_op`` as an in-place torch function of the fresh output, or ``None``."""
    name, scalars = post_op
    if name == "relu":
        return torch.relu_
    if name == "hardtanh":
        return relu6_ if scalars == [0.0, 6.0] else lambda y: F.hardtanh_(y, *scalars)
    if name == "leaky_relu":
        return lambda y: F.leaky_relu_(y, scalars[0])
    return None


class Chain:
    """One fused call: its layers' specs (the linear layer first), the tensor the last one writes,
    the residual added (a :class:`TensorRef`, or ``None``) and the activation's post-op.

    A 2-D convolution on the CPU runs as one oneDNN call; another linear layer (a transposed
    convolution, Dense, a 1-D or 3-D convolution) runs as itself with the normalization folded into
    its weights (a shadow of it: the same module, other tensors), the Add and the activation then
    in place on its fresh output."""

    def __init__(self, model, members, other, post_op):
        self.members = members  # LayerSpec per layer, in call order
        self.layers = [model._modules[spec.attr] for spec in members]
        self.head, self.norm = self.layers[0], next((m for m in self.layers if isinstance(m, BatchNormalization)), None)
        self.onednn = isinstance(self.head, BaseConv) and self.head.rank == 2 and self.head.torch_conv_weight() is not None
        self.source = members[0].calls[0].inputs
        self.output = TensorRef(members[-1].name, 0, 0)
        self.other = other
        self.post_op = post_op
        # (key of the tensors read, (weight, bias) with the normalization folded in, {input shape:
        # oneDNN-packed weight}, the head computing with the folded weights and no activation):
        # one tuple, replaced whole, so that a thread never sees half of it
        self._state = None

    def current(self, model):
        """Whether the model still holds these layers (a submodule replaced: not)."""
        return all(model._modules.get(spec.attr) is layer for spec, layer in zip(self.members, self.layers))

    def run(self, values):
        """The chain's output from ``values``, or ``None`` where this call must run unfused."""
        x = values[self.source]
        if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.device.type != "cpu":
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
        head = self.head
        channels_last = getattr(head, "data_format", "channels_last") == "channels_last"
        if x.dim() < 2 or x.shape[-1 if channels_last else 1] == 1:
            return None  # one input channel: plain_strides' route, unfused
        if self.norm is not None and self.norm.axis % x.dim() != (x.dim() - 1 if channels_last else 1):
            return None  # a Dense's normalization over another axis than its units
        if self.onednn:
            return self._onednn(x, other, channels_last) if x.dim() == 4 else None
        return self._layer(x, other)

    def _onednn(self, x, other, channels_last):
        conv = self.head
        pads, padding = conv.conv_geometry(x)
        padding = [padding] * 2 if isinstance(padding, int) else list(padding)
        xc = x.movedim(-1, 1) if channels_last else x
        if pads is not None:
            xc = pad(xc, pads)
        weight, bias, groups = self._packed_weights(xc.shape, padding)
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

    def _layer(self, x, other):
        _, (weight, _), _, shadow = self._current()
        if weight.dtype != torch.float32:
            return None
        if other is not None and tuple(other.shape) != tuple(self.head.compute_output_shape(tuple(x.shape))):
            return None  # a broadcast add: unfused
        y = shadow(x)
        if other is not None:
            y.add_(other)
        activation = in_place(self.post_op)
        return y if activation is None else activation(y)

    def _current(self):
        """The state for the weights as they are now: folded again where a tensor they came from
        changed (in place, replaced, ``.data`` reassigned)."""
        head, norm = self.head, self.norm
        # the stored tensors (a depthwise weight is a new view of its parameter on each read)
        tensors = [*head._parameters.values()]
        if norm is not None:
            tensors += [norm.weight, norm.bias, norm.running_mean, norm.running_var]
        key = (tuple(None if t is None else (id(t), t._version, t.data_ptr(), t.dtype) for t in tensors),
               None if norm is None else norm.epsilon)
        state = self._state
        if state is None or state[0] != key:
            weight_name, out_axis = _HEAD_WEIGHT.get(type(head).__name__, ("weight", 0))
            weight = head.torch_conv_weight()[0] if self.onednn else getattr(head, weight_name)
            folded = fold_batch_norm(weight, head.bias, norm, out_axis)
            state = self._state = (key, folded, {}, None if self.onednn else _shadow(head, *folded))
        return state

    def _packed_weights(self, input_shape, padding):
        """``(packed weight, bias, groups)`` for this input shape: folded and packed when the
        tensors they come from changed, else as kept."""
        conv = self.head
        _, (weight, bias), packed_by_shape, _ = self._current()
        if weight.dtype != torch.float32:
            return None, None, None
        groups = conv.torch_conv_weight()[1]
        shape = tuple(input_shape)
        packed = packed_by_shape.get(shape)
        if packed is None:
            if len(packed_by_shape) >= _PACKED_SHAPES:
                packed_by_shape.clear()
            with torch.inference_mode(False):
                packed = packed_by_shape[shape] = torch._C._nn.mkldnn_reorder_conv2d_weight(
                    weight.to_mkldnn(), padding, list(conv.strides), list(conv.dilation_rate), groups, list(shape))
        return packed, bias, groups


# The heads that run as themselves: their torch weight's name and its output-channel axis.
_HEAD_WEIGHT = {"Conv1DTranspose": ("weight", 1), "Conv2DTranspose": ("weight", 1), "Conv3DTranspose": ("weight", 1),
                "Dense": ("weight", 0), "Conv1D": ("weight", 0), "Conv3D": ("weight", 0)}
_LAYER_CLASSES = {"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution2DTranspose",
                  "Convolution3DTranspose", "Dense", "Conv1D", "Conv3D", "Convolution1D", "Convolution3D"}


def _shadow(layer, weight, bias):
    """``layer`` computing with ``weight`` and ``bias`` and no activation: a shallow copy with its
    own parameter table (the layer itself and its tensors untouched)."""
    shadow = copy.copy(layer)
    shadow.__dict__["_parameters"] = dict(layer._parameters, weight=weight, bias=bias)
    shadow.activation = activations.linear
    return shadow


def fold_batch_norm(weight, bias, norm, out_axis=0):
    """``(weight, bias)`` of the linear layer with ``norm`` (eval: its moving statistics) folded in
    along the weight's output axis, in float64 rounded once to the weight's dtype; detached copies."""
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
        shape = [1] * weight.dim()
        shape[out_axis] = -1
        folded = weight.double() * scale.reshape(shape)
        return folded.to(weight.dtype), shift.to(weight.dtype)


def readers(graph):
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
    if not _plain(model.graph, call) or list(refs(call.inputs)).count(ref) != 1:
        return None
    return spec, model._modules.get(spec.attr)


def _plain(graph, call):
    """Whether ``call`` passes nothing of its own: no mask, no tensor argument, no ``training=True``
    that outlives ``eval()`` (Keras 2's, :func:`~.graph.call_training`)."""
    return all(v is None or k == "training" and call_training(graph, call) in (None, False)
               for k, v in call.kwargs.items())


def _head(graph, spec, module):
    """Whether layer ``spec`` (its module ``module``) can start a chain: a linear layer of
    kcompat's called once on one tensor, its activation one a post-op computes."""
    call = spec.calls[0] if len(spec.calls) == 1 else None
    if call is None or not _plain(graph, call) or not isinstance(call.inputs, TensorRef):
        return False
    if type(module) is not layer_class(spec.class_name):
        return False  # a subclass, the user's module for it: its forward is its own
    if spec.class_name in _CONV_CLASSES:
        fits = isinstance(module, BaseConv) and module.rank == 2 and module.torch_conv_weight() is not None
    elif spec.class_name in _LAYER_CLASSES:
        fits = type(module).__name__ in _HEAD_WEIGHT and getattr(module, "groups", 1) == 1 and (
            not isinstance(module, BaseConv) or module.torch_conv_weight() is not None)
    else:
        return False
    return fits and function_post_op(module.activation) is not None


def chains(model):
    """The model's fusable chains: ``(by position, skipped)``, where ``by position`` maps the
    ``(layer, node)`` of each chain's last call to its :class:`Chain` and ``skipped`` holds the
    other calls of the chains (run by the chain, at its last call)."""
    graph = model.graph
    readers_of = readers(graph)
    by_position, skipped, claimed = {}, set(), set()

    def reader(ref):  # the one layer that reads ref, where no other chain took it
        found = _only_reader(readers_of, ref, model)
        return None if found is None or found[0].name in claimed else found

    def passing(found, members):  # Dropout and the other noise layers: the identity in eval()
        while found and _own(found, NoiseLayer):
            members.append(found[0])
            found = reader(TensorRef(found[0].name, 0, 0))
        return found

    for spec in graph.layers:
        head = model._modules.get(spec.attr)
        if not _head(graph, spec, head):
            continue
        post_op = function_post_op(head.activation)
        members, other, ref = [spec], None, TensorRef(spec.name, 0, 0)
        if post_op[0] == "none":
            found = passing(reader(ref), members)
            if found and _own(found, BatchNormalization) and _normalizes_channels(found[1], head):
                members.append(found[0])
                found = passing(reader(TensorRef(found[0].name, 0, 0)), members)
            ref = TensorRef(members[-1].name, 0, 0)
            summed = found[0].calls[0].inputs if found and type(found[1]) is Add else None
            if isinstance(summed, list) and len(summed) == 2 and all(isinstance(r, TensorRef) for r in summed):
                members.append(found[0])
                other = next(r for r in summed if r != ref)
                found = passing(reader(TensorRef(found[0].name, 0, 0)), members)
            activation = None if not found else activation_post_op(found[1])
            if activation is not None:
                members.append(found[0])
                post_op = activation
            while _own((members[-1], model._modules.get(members[-1].attr)), NoiseLayer):
                members.pop()  # a chain ends at a layer that computes
        chain = Chain(model, members, other, post_op)
        if len(members) == 1 and not chain.onednn:
            continue  # nothing to fold or fuse: the layer as it is
        by_position[(members[-1].name, 0)] = chain
        skipped.update((member.name, 0) for member in members[:-1])
        claimed.update(member.name for member in members)
    log = logging.getLogger(__name__)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s: %d chains run fused in eval(): %s", graph.name, len(by_position),
                  ["+".join(m.name for m in c.members) for c in by_position.values()])
    return by_position, skipped


def _own(found, base):
    """Whether ``found`` (``(spec, module)``) is kcompat's own ``base`` layer for its Keras class (a
    subclass the user substituted computes what its forward says)."""
    spec, module = found
    return isinstance(module, base) and type(module) is layer_class(spec.class_name)


def _normalizes_channels(norm, layer):
    """Whether ``norm`` normalizes the output channels of ``layer`` (a Dense's axis is checked
    on the call, where the rank is known)."""
    if norm.renorm:
        return False
    if not isinstance(layer, BaseConv) and not hasattr(layer, "rank"):
        return True
    rank = layer.rank + 2
    axis = norm.axis if norm.axis < 0 else norm.axis - rank
    return axis == (-1 if getattr(layer, "data_format", "channels_last") == "channels_last" else 1 - rank)


def run_layers(model, chain, values):
    """The chain's layers one by one (the unfused call), at the chain's last position."""
    for spec in chain.members:
        values[TensorRef(spec.name, 0, 0)] = model.call_layer(spec, 0, values)
    return values[chain.output]

