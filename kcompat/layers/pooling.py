"""Keras 3's pooling layers: ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D`` and the global ones.

``padding="same"`` is TensorFlow's: ``total // 2`` before and the rest after
(:func:`kcompat.shapes.conv_padding`); max pooling ignores the padded cells and average pooling
divides by the cells that are really there. Where that padding is symmetric it is torch's own
(``count_include_pad=False``); where not, one ``F.pad`` and, for averages, the real cell counts.
"""

from __future__ import annotations

import itertools
import math
from typing import Optional

import torch
import torch.nn.functional as F

from .. import shapes
from .._types import IntOrSequence
from ..validation import standardize_data_format, standardize_padding, standardize_tuple
from .base import WeightlessLayer
from .registry import keras_layer

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D"]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _MaxPool3D(torch.autograd.Function):
    """``max_pool3d`` with TensorFlow's gradient: every input within 1e-5 of its window's maximum
    (``|x - max| < 1e-5``, TF's ``MaxPool3DGrad`` CPU kernel) gets the window's upstream gradient,
    so tied and nearly tied maxima all do. torch's goes to one of them; TF's 1-D and 2-D max
    pools, like torch's, send it to the first maximum."""

    @staticmethod
    def forward(ctx, x, kernel, strides):
        y = F.max_pool3d(x, kernel, strides)
        ctx.save_for_backward(x, y)
        ctx.geometry = kernel, strides
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        kernel, strides = ctx.geometry
        dx = torch.zeros_like(x, dtype=grad.dtype)
        for offset in itertools.product(*(range(k) for k in kernel)):
            cells = (..., *(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, y.shape[2:])))
            dx[cells] += torch.where((x[cells] - y).abs() < 1e-5, grad, 0)
        return dx, None, None


class _Pooling(WeightlessLayer):
    rank = None
    average = False

    def __init__(self, pool_size: IntOrSequence, strides: Optional[IntOrSequence] = None, padding: str = "valid",
                 data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self._geometry = None  # (input shape, plan): one tuple for threads

    def _spatial(self, shape):
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _plan(self, shape, device, dtype):
        pairs = [shapes.conv_padding(n, k, s, self.padding) for n, k, s in
                 zip(self._spatial(shape), self.pool_size, self.strides)]
        for n, k in zip(self._spatial(shape), self.pool_size):
            if self.padding == "valid" and n < k:
                raise ValueError(f"Computed output size would be negative. Received: inputs.shape={tuple(shape)} "
                                 f"and pool_size={self.pool_size}.")
        # torch's 3-D average pooling refuses a window wider than the unpadded input ("input image
        # smaller than kernel size") where its own padding would cover it: padded here instead.
        short = self.rank == 3 and any(n < k for n, k in zip(self._spatial(shape), self.pool_size))
        if all(before == after for before, after in pairs) and not short:
            return None, tuple(before for before, _ in pairs), None
        pads = []
        for before, after in reversed(pairs):
            pads += [before, after]
        scale = None
        if self.average:  # real cells per window, as TF divides
            ones = torch.ones((1, 1, *self._spatial(shape)), dtype=dtype, device=device)
            # average of ones over each window = real cells / window cells: its inverse rescales
            scale = 1 / _AVG[self.rank](F.pad(ones, pads), self.pool_size, self.strides, 0)
        return pads, 0, scale

    def call(self, inputs):
        self._check_rank(inputs, self.rank + 2)
        geometry = self._geometry
        key = (inputs.shape, inputs.dtype, inputs.device)
        if geometry is None or geometry[0] != key:
            geometry = self._geometry = (key, self._plan(inputs.shape, inputs.device, inputs.dtype))
        pads, padding, scale = geometry[1]
        channels_last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if channels_last else inputs
        if self.average:
            if pads is None:
                y = _AVG[self.rank](x, self.pool_size, self.strides, padding, count_include_pad=False)
            else:
                y = _AVG[self.rank](F.pad(x, pads), self.pool_size, self.strides, 0) * scale
        elif self.rank == 3 and x.requires_grad and torch.is_grad_enabled():
            if pads is None:
                pads = [p for p in reversed(padding) for _ in (0, 1)] if any(padding) else None
            y = _MaxPool3D.apply(x if pads is None else F.pad(x, pads, value=-math.inf), self.pool_size, self.strides)
        elif pads is None:
            y = _MAX[self.rank](x, self.pool_size, self.strides, padding)
        else:
            y = _MAX[self.rank](F.pad(x, pads, value=-math.inf), self.pool_size, self.strides, 0)
        return y.movedim(1, -1) if channels_last else y

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = 1 if self.data_format == "channels_last" else 2
        for i, (k, s) in enumerate(zip(self.pool_size, self.strides)):
            shape[first + i] = shapes.conv_output_length(shape[first + i], k, s, self.padding)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides,
                       "data_format": self.data_format})
        return config


@keras_layer("MaxPool1D")
class MaxPooling1D(_Pooling):
    """``keras.layers.MaxPooling1D``."""

    rank = 1

    def __init__(self, pool_size: IntOrSequence = 2, strides: Optional[IntOrSequence] = None, padding: str = "valid",
                 data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@keras_layer("MaxPool2D")
class MaxPooling2D(_Pooling):
    """``keras.layers.MaxPooling2D`` (TF's 'same': the padded cells never win)."""

    rank = 2

    def __init__(self, pool_size: IntOrSequence = (2, 2), strides: Optional[IntOrSequence] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@keras_layer("MaxPool3D")
class MaxPooling3D(_Pooling):
    """``keras.layers.MaxPooling3D``."""

    rank = 3

    def __init__(self, pool_size: IntOrSequence = (2, 2, 2), strides: Optional[IntOrSequence] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@keras_layer("AvgPool1D")
class AveragePooling1D(_Pooling):
    """``keras.layers.AveragePooling1D`` (TF's 'same': averages over the real cells only)."""

    rank = 1
    average = True


@keras_layer("AvgPool2D")
class AveragePooling2D(_Pooling):
    """``keras.layers.AveragePooling2D`` (TF's 'same': averages over the real cells only)."""

    rank = 2
    average = True


@keras_layer("AvgPool3D")
class AveragePooling3D(_Pooling):
    """``keras.layers.AveragePooling3D``."""

    rank = 3
    average = True


class _GlobalPooling(WeightlessLayer):
    rank = None
    reduce = None

    def __init__(self, data_format: Optional[str] = None, keepdims: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def _axes(self):
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def call(self, inputs):
        self._check_rank(inputs, self.rank + 2)
        if self.reduce == "mean":
            return inputs.mean(dim=self._axes(), keepdim=self.keepdims)
        return inputs.amax(dim=self._axes(), keepdim=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(input_shape))
        return tuple(n for i, n in enumerate(input_shape) if i not in axes)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


@keras_layer()
class GlobalAveragePooling1D(_GlobalPooling):
    """``keras.layers.GlobalAveragePooling1D``."""

    rank, reduce = 1, "mean"

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        self._check_rank(inputs, 3)
        mask = torch.as_tensor(mask, device=inputs.device).to(inputs.dtype)
        mask = mask.unsqueeze(2 if self.data_format == "channels_last" else 1)
        steps = 1 if self.data_format == "channels_last" else 2
        return (inputs * mask).sum(steps, keepdim=self.keepdims) / mask.sum(steps, keepdim=self.keepdims)


@keras_layer()
class GlobalAveragePooling2D(_GlobalPooling):
    """``keras.layers.GlobalAveragePooling2D``."""

    rank, reduce = 2, "mean"


@keras_layer()
class GlobalAveragePooling3D(_GlobalPooling):
    """``keras.layers.GlobalAveragePooling3D``."""

    rank, reduce = 3, "mean"


@keras_layer()
class GlobalMaxPooling1D(_GlobalPooling):
    """``keras.layers.GlobalMaxPooling1D``."""

    rank, reduce = 1, "max"


@keras_layer()
class GlobalMaxPooling2D(_GlobalPooling):
    """``keras.layers.GlobalMaxPooling2D``."""

    rank, reduce = 2, "max"


@keras_layer()
class GlobalMaxPooling3D(_GlobalPooling):
    """``keras.layers.GlobalMaxPooling3D``."""

    rank, reduce = 3, "max"


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
