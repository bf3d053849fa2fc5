"""Keras 3's forward convolutions ``Conv1D``, ``Conv2D``, ``Conv3D`` with TensorFlow's padding.

TensorFlow's ``"same"`` pads ``total // 2`` before and the rest after (:func:`kcompat.shapes.conv_padding`):
with a stride or an even kernel that is one row more after than before, which torch's
symmetric ``padding`` cannot express. Where the padding is symmetric it is torch's own
``padding`` argument (nothing extra); where not, one ``F.pad`` first. ``"causal"`` (Conv1D)
pads ``(k - 1) * d`` before. Parameters are stored as ``nn.Conv{rank}d`` stores them
(``weight`` ``(filters, in_channels // groups, *kernel_size)``); ``kernel`` is Keras's
``(*kernel_size, in_channels // groups, filters)`` view.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .. import activations, layouts, shapes
from .._padding import pad
from .._types import Identifier, IntOrSequence, OptionalInt
from ..validation import is_int, standardize_data_format, standardize_int, standardize_tuple
from .base import Layer, Weight, as_tensor
from .registry import keras_layer

__all__ = ["BaseConv", "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def plain_strides(x):
    """``x`` (channels first) where it has one channel: the same memory viewed with plain strides.
    A one-channel batch whose strides say channels-last (a channels_last input moved to channels
    first, as every channels_last layer does) sends torch 2.13's CPU convolution down a oneDNN
    path that returns wrong numbers (relative error 0.4-2, sometimes 1e18) for some geometries
    of stride 1 on one axis and above 1 on the last (2-D: 165 of 5184 in a sweep, batch > 1;
    scripts/thin_conv_sweep.py, AVX-512: 134 of 4266 one-channel geometries of rank 2 and 3, every
    one with batch > 1, kernel >= 2, strides (1, ..., s > 1); none in 1-D, none on plain strides);
    plain strides take the right path. No copy: the two layouts are one memory order."""
    return x.squeeze(1).unsqueeze(1) if x.dim() > 2 and x.shape[1] == 1 else x


class BaseConv(Layer):
    """N-D convolution with Keras 3's arguments, TensorFlow's padding and numbers."""

    rank = None
    WEIGHTS = (Weight("kernel", "weight", layouts.KERNEL), Weight("bias", "bias"))
    #: Set by :func:`kcompat.optimize_for_inference` where it folds the ZeroPadding layer before
    #: this one away: its ``((before, after), ...)`` per spatial axis, which the input now arrives
    #: without (this layer pads it, or has torch's convolution pad it, instead).
    input_padding = None
    #: Set by :func:`kcompat.optimize_for_inference` with ``input_padding`` where it grows the
    #: kernel by zero taps (``(front, back)`` per spatial axis) so that a one-sided padding is
    #: torch's symmetric one: no padded copy of the input.
    widened = None

    def __init__(self, filters: int, kernel_size: IntOrSequence, strides: IntOrSequence = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: IntOrSequence = 1, groups: int = 1,
                 activation: Identifier = None, use_bias: bool = True,
                 kernel_initializer: Identifier = "glorot_uniform", bias_initializer: Identifier = "zeros",
                 kernel_regularizer: Identifier = None, bias_regularizer: Identifier = None,
                 activity_regularizer: Identifier = None, kernel_constraint: Identifier = None,
                 bias_constraint: Identifier = None, *, in_channels: OptionalInt = None, **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        rank = self.rank
        self.filters = standardize_int(filters, "filters")
        if not is_int(groups) or groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups}.")
        self.groups = int(groups)
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if not isinstance(padding, str) or padding.lower() not in allowed:
            raise ValueError("The `padding` argument must be a list/tuple or one of "
                             f"{{{', '.join(repr(a) for a in allowed)}}}. Received: {padding}")
        self.padding = padding.lower()
        self.data_format = standardize_data_format(data_format)
        if self.filters % self.groups:
            raise ValueError("The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={self.groups}, filters={self.filters}.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        if not isinstance(use_bias, bool):
            raise TypeError(f"The `use_bias` argument must be a bool. Received: use_bias={use_bias!r}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._weight_arguments(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._in_channels_arg = None if in_channels is None else standardize_int(in_channels, "in_channels")
        self._geometry = None  # (input shape, (F.pad list or None, torch padding)): one tuple for threads

    def _memory_format(self, w, shape):
        """A channels_last convolution's kernel in channels_last memory (output channels first, the
        input channels innermost): torch's oneDNN convolution takes the kernel in its input's
        memory format, so a contiguous one was copied in every forward and backward and its
        gradient copied into the parameter's layout: 4 copies of each kernel per training step
        (ResNet50 batch 2: 180 -> 171 ms, the gradients bitwise the same). Not with one input
        channel per group: the kernel's strides would say channels_last where :func:`plain_strides`
        keeps torch off its wrong one-channel path (one memory order either way: no copy saved)."""
        if w.torch == "weight" and self.data_format == "channels_last" and len(shape) in (4, 5) and \
                shape[-2] > 1 and type(self)._convolve is BaseConv._convolve:
            return torch.channels_last if len(shape) == 4 else torch.channels_last_3d
        return super()._memory_format(w, shape)

    def _build_at_init(self):
        super()._build_at_init()
        if self._in_channels_arg is not None:
            self._build_weights(self._in_channels_arg)

    # ----------------------------------------------------------------- weights
    @property
    def in_channels(self):
        weight = self.weight
        return None if weight is None else weight.shape[1] * self.groups

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"`build` expects an input shape of rank {self.rank + 2} (batch axis included). "
                             f"Received: input_shape={input_shape}")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs should be defined. Received: "
                             f"input_shape={input_shape}")
        if channels % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {channels} channels (full input "
                             f"shape is {input_shape}).")
        self._build_weights(int(channels))

    def _build_weights(self, in_channels):
        if self.built:
            return
        self.add_weight("kernel", (*self.kernel_size, in_channels // self.groups, self.filters),
                        self.kernel_initializer, regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)

    def _build_from_weights(self, shapes):
        kernel = shapes.get("kernel")
        if kernel is not None and len(kernel) == self.rank + 2:
            self._build_weights(int(kernel[-2]) * self.groups)

    def weight_names(self):
        return ["kernel", "bias"] if self.use_bias else ["kernel"]

    # --------------------------------------------------------------- forward
    def _spatial(self, shape):
        """The spatial sizes of an input of ``shape``, as padded by ``input_padding`` (if any)."""
        sizes = tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])
        if self.input_padding is None:
            return sizes
        return tuple(None if n is None else n + before + after for n, (before, after) in zip(sizes, self.input_padding))

    def _plan(self, inputs):
        """TF's padding as torch arguments: an ``F.pad`` list where it is asymmetric (else
        ``None``) and the symmetric part for the convolution's own ``padding``."""
        pairs = [shapes.conv_padding(n, k, s, self.padding, d)
                 for n, k, s, d in zip(self._spatial(inputs.shape), self.kernel_size, self.strides,
                                       self.dilation_rate)]
        for n, k, d in zip(self._spatial(inputs.shape), self.kernel_size, self.dilation_rate):
            if self.padding == "valid" and n < shapes.effective_kernel_size(k, d):
                raise ValueError("Computed output size would be zero or negative. Received `inputs shape="
                                 f"{tuple(inputs.shape)}`, `kernel_size={self.kernel_size}`, "
                                 f"`dilation_rate={self.dilation_rate}`, `strides={self.strides}`, "
                                 f"`padding={self.padding}`.")
        if self.input_padding is not None:
            pairs = [(before + b, after + a) for (before, after), (b, a) in zip(pairs, self.input_padding)]
        if self.widened is not None:  # the zero taps make up the difference
            pairs = [(max(pair),) * 2 for pair in pairs]
        if all(before == after for before, after in pairs):
            return None, tuple(before for before, _ in pairs)
        pads = []
        for before, after in reversed(pairs):
            pads += [before, after]
        return pads, 0

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        if inputs.dim() != self.rank + 2:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2}, found ndim={inputs.dim()}. Full shape received: "
                             f"{tuple(inputs.shape)}")
        if not self.built:
            self.build(tuple(inputs.shape))
            self._move_variables(inputs.device)
        pads, padding = self.conv_geometry(inputs)
        channels_last = self.data_format == "channels_last"
        y = self._convolve(inputs.movedim(-1, 1) if channels_last else inputs, pads, padding)
        outputs = y.movedim(1, -1) if channels_last else y
        if self.activation is not activations.linear:
            outputs = self.activation(outputs)
        if self._activity_losses or self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def conv_geometry(self, inputs):
        """``(pads, padding)`` for ``inputs`` (this layer's data format, built): TF's padding as an
        ``F.pad`` list where it is asymmetric (else ``None``) and torch's symmetric ``padding``;
        the channels checked, the answer kept for the next call of the same shape."""
        geometry = self._geometry
        if geometry is None or geometry[0] != inputs.shape:
            if inputs.shape[self._channel_axis()] != self.in_channels:
                raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                                 f"{self._channel_axis()} of input shape to have value {self.in_channels}, but "
                                 f"received input with shape {tuple(inputs.shape)}")
            geometry = self._geometry = (inputs.shape, self._plan(inputs))
        return geometry[1]

    def torch_conv_weight(self):
        """``(weight, groups)``: the layer as one torch convolution (``F.conv{rank}d``'s weight, output
        channels first), or ``None`` where it is not one (the separable layers are two)."""
        return self.weight, self.groups

    def _convolve(self, x, pads, padding):
        """The convolution of channels-first ``x`` with TF's padding (``pads`` for ``F.pad`` where
        it is asymmetric, else torch's symmetric ``padding``)."""
        x, weight, bias = self._in_compute_dtype(x, self.weight, self.bias)
        if pads is not None:
            x = pad(x, pads)
        return _CONV[self.rank](plain_strides(x), weight, bias, self.strides, padding, self.dilation_rate,
                                self.groups)

    # ------------------------------------------------------------- shapes/config
    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        size = tuple(shapes.conv_output_length(n, k, s, self.padding, d)
                     for n, k, s, d in zip(self._spatial(input_shape), self.kernel_size, self.strides,
                                           self.dilation_rate))
        if self.data_format == "channels_last":
            return (input_shape[0], *size, self.filters)
        return (input_shape[0], self.filters, *size)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_config("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                                  "activity_regularizer", "kernel_constraint", "bias_constraint"),
        })
        return config

    def extra_repr(self):
        parts = [f"{self.filters}", f"kernel_size={self.kernel_size}"]
        for key, default in (("strides", (1,) * self.rank), ("padding", "valid"),
                             ("dilation_rate", (1,) * self.rank), ("groups", 1)):
            if getattr(self, key) != default:
                parts.append(f"{key}={getattr(self, key)!r}")
        parts.append(f"data_format={self.data_format!r}")
        if self.activation is not activations.linear:
            parts.append(f"activation={activations.serialize(self.activation)!r}")
        if self.built:
            parts.append(f"in_channels={self.in_channels}")
        return ", ".join(parts)


@keras_layer("Convolution1D")
class Conv1D(BaseConv):
    """``keras.layers.Conv1D`` on ``(batch, steps, channels)``: padding ``"valid"``, ``"same"``
    (TF's, asymmetric where it must be) or ``"causal"``."""

    rank = 1


@keras_layer("Convolution2D")
class Conv2D(BaseConv):
    """``keras.layers.Conv2D`` on ``(batch, height, width, channels)`` (or channels first).

    Example:
        >>> Conv2D(16, 3, strides=2, padding="same")(torch.rand(1, 8, 8, 3)).shape
        torch.Size([1, 4, 4, 16])
    """

    rank = 2


@keras_layer("Convolution3D")
class Conv3D(BaseConv):
    """``keras.layers.Conv3D`` on ``(batch, depth, height, width, channels)`` (or channels first)."""

    rank = 3


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
