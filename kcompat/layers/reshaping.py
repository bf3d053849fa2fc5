"""Keras 3's reshaping layers: ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``,
``ZeroPadding1D/2D/3D``, ``Cropping1D/2D/3D``, ``UpSampling1D/2D/3D``.

Inputs are laid out as Keras lays them (channels_last unless ``data_format`` says otherwise),
so ``Flatten`` after a convolution flattens in Keras's (height, width, channels) order and a
ported ``Dense`` kernel fits unchanged.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .._padding import pad
from .._types import IntOrSequence, Nested
from ..validation import is_int, standardize_data_format, standardize_tuple
from .base import WeightlessLayer
from .registry import keras_layer

__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
           "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"]


@keras_layer()
class Flatten(WeightlessLayer):
    """``keras.layers.Flatten``: ``(batch, ...)`` to ``(batch, features)`` in Keras's order
    (``channels_first`` inputs are moved to channels_last first, as Keras does)."""

    def __init__(self, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.dim() > 2:
            inputs = inputs.movedim(1, -1)
        if inputs.dim() == 1:
            return inputs.reshape(-1, 1)
        return inputs.reshape(inputs.shape[0], math.prod(inputs.shape[1:]))  # an empty batch too

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(n is None for n in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format})
        return config


@keras_layer()
class Reshape(WeightlessLayer):
    """``keras.layers.Reshape``: each sample to ``target_shape`` (one entry may be -1), in
    row-major order over Keras's layout."""

    def __init__(self, target_shape: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        try:
            target = tuple(target_shape)
        except TypeError:
            raise TypeError(f"The `target_shape` argument must be a tuple of integers. "
                            f"Received: target_shape={target_shape!r}") from None
        if not all(is_int(n) and n >= -1 for n in target):
            raise ValueError("Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single "
                             f"unknown dimension. Received: target_shape={target_shape!r}.")
        if target.count(-1) > 1:
            raise ValueError(f"There must be at most one unknown dimension (-1) in `target_shape`. "
                             f"Received: target_shape={target}.")
        self.target_shape = tuple(int(n) for n in target)

    def _sample_shape(self, sample_shape):
        size = math.prod(sample_shape)
        known = math.prod(n for n in self.target_shape if n != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError("The total size of the tensor must be unchanged. Received: "
                             f"input_shape={tuple(sample_shape)}, output_shape={self.target_shape}")
        return tuple(size // known if n == -1 else n for n in self.target_shape)

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], *self._sample_shape(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        if any(n is None for n in input_shape[1:]):
            return (input_shape[0], *(None if n == -1 else n for n in self.target_shape))
        return (input_shape[0], *self._sample_shape(input_shape[1:]))

    def get_config(self):
        config = super().get_config()
        config.update({"target_shape": self.target_shape})
        return config


@keras_layer()
class Permute(WeightlessLayer):
    """``keras.layers.Permute``: the non-batch axes reordered by ``dims`` (1-based, as Keras)."""

    def __init__(self, dims: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={dims}")
        self.dims = dims

    def call(self, inputs):
        self._check_rank(inputs, len(self.dims) + 1)
        return inputs.permute(0, *self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self):
        config = super().get_config()
        config.update({"dims": self.dims})
        return config


@keras_layer()
class RepeatVector(WeightlessLayer):
    """``keras.layers.RepeatVector``: ``(batch, features)`` to ``(batch, n, features)``."""

    def __init__(self, n: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if not is_int(n):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = int(n)

    def call(self, inputs):
        self._check_rank(inputs, 2)
        return inputs.unsqueeze(1).expand(-1, self.n, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"n": self.n})
        return config


def _pairs(value, rank, name):
    """Keras's ``padding``/``cropping`` forms (an int, ``rank`` ints, or ``rank`` pairs) as
    ``rank`` ``(before, after)`` pairs."""
    if is_int(value) and rank > 1:
        if value < 0:  # Keras refuses a negative cropping here, TensorFlow's pad a negative padding
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value), int(value)),) * rank
    if rank == 1:
        return (standardize_tuple(value, 2, name, allow_zero=True),)
    try:
        entries = tuple(value)
    except TypeError:
        entries = None
    if entries is None or len(entries) != rank:
        raise ValueError(f"`{name}` should have {rank} elements. Received: {name}={value}.")
    ordinal = ("1st", "2nd", "3rd")
    return tuple(standardize_tuple(e, 2, f"{ordinal[i]} entry of {name}", allow_zero=True)
                 for i, e in enumerate(entries))


class _Spatial(WeightlessLayer):
    """A layer acting on the spatial axes of ``(batch, *spatial, channels)`` inputs (or channels
    first): ``_spatial_axes`` says where they are."""

    rank = None
    _has_data_format = True

    def __init__(self, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format) if self._has_data_format else "channels_last"

    def _first_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def _check(self, inputs):
        self._check_rank(inputs, self.rank + 2)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = self._first_axis()
        for i in range(self.rank):
            n = shape[first + i]
            shape[first + i] = None if n is None else self._output_length(i, n)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        if self._has_data_format:
            config["data_format"] = self.data_format
        return config


class _ZeroPadding(_Spatial):
    def __init__(self, padding: Nested, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, "padding")

    def _output_length(self, i, n):
        return n + sum(self.padding[i])

    def call(self, inputs):
        self._check(inputs)
        pads = []
        trailing = 1 if self.data_format == "channels_last" else 0
        pads += [0, 0] * trailing
        for before, after in reversed(self.padding):
            pads += [before, after]
        return pad(inputs, pads)

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding[0] if self.rank == 1 else self.padding
        return config


@keras_layer()
class ZeroPadding1D(_ZeroPadding):
    """``keras.layers.ZeroPadding1D``: zeros before and after the steps axis."""

    rank = 1

    def __init__(self, padding: Nested = 1, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(padding, data_format, **kwargs)


@keras_layer()
class ZeroPadding2D(_ZeroPadding):
    """``keras.layers.ZeroPadding2D``: zero rows and columns around each image."""

    rank = 2

    def __init__(self, padding: Nested = (1, 1), data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(padding, data_format, **kwargs)


@keras_layer()
class ZeroPadding3D(_ZeroPadding):
    """``keras.layers.ZeroPadding3D``: zeros around each volume."""

    rank = 3

    def __init__(self, padding: Nested = ((1, 1), (1, 1), (1, 1)), data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping: Nested, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping")

    def _output_length(self, i, n):
        out = n - sum(self.cropping[i])
        if out <= 0 and self.rank == 1:
            raise ValueError("`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                             f"Received: input length={n}, cropping={self.cropping[0]}")
        if out <= 0:
            raise ValueError("Values in `cropping` argument should be smaller than the corresponding spatial "
                             f"dimension of the input. Received: cropping={self.cropping}")
        return out

    def call(self, inputs):
        self._check(inputs)
        first = self._first_axis()
        for i, (before, _) in enumerate(self.cropping):
            axis = first + i
            inputs = inputs.narrow(axis, before, self._output_length(i, inputs.shape[axis]))
        return inputs

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping[0] if self.rank == 1 else self.cropping
        return config


@keras_layer()
class Cropping1D(_Cropping):
    """``keras.layers.Cropping1D``: steps cut from the start and the end."""

    rank = 1
    _has_data_format = False

    def __init__(self, cropping: Nested = (1, 1), **kwargs) -> None:
        super().__init__(cropping, **kwargs)


@keras_layer()
class Cropping2D(_Cropping):
    """``keras.layers.Cropping2D``: rows and columns cut from each side."""

    rank = 2

    def __init__(self, cropping: Nested = ((0, 0), (0, 0)), data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(cropping, data_format, **kwargs)


@keras_layer()
class Cropping3D(_Cropping):
    """``keras.layers.Cropping3D``: each volume cut on each side."""

    rank = 3

    def __init__(self, cropping: Nested = ((1, 1), (1, 1), (1, 1)), data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(cropping, data_format, **kwargs)


class _UpSampling(_Spatial):
    interpolations = ("nearest",)

    def __init__(self, size: IntOrSequence, data_format: Optional[str] = None, interpolation: str = "nearest",
                 **kwargs) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.size = standardize_tuple(size, self.rank, "size")
        interpolation = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if interpolation not in self.interpolations:
            raise ValueError(f"kcompat reproduces {type(self).__name__} with interpolation in "
                             f"{list(self.interpolations)} (TensorFlow's resize for those). "
                             f"Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def _output_length(self, i, n):
        return n * self.size[i]

    def call(self, inputs):
        self._check(inputs)
        first = self._first_axis()
        if self.interpolation == "bilinear":
            x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
            # TF's resize with half-pixel centres, no antialiasing: torch's align_corners=False.
            if not x.is_floating_point():  # TF resizes integers in float32; Keras rounds back
                y = torch.round(F.interpolate(x.to(torch.float32), scale_factor=self.size, mode="bilinear",
                                              align_corners=False)).to(x.dtype)
            else:
                y = F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
            return y.movedim(1, -1) if self.data_format == "channels_last" else y
        if self.interpolation != "nearest":  # TensorFlow's other resize kernels (kcompat.resize)
            from ..tf_ops import tf_op

            x = inputs if self.data_format == "channels_last" else inputs.movedim(1, -1)
            y = tf_op("image.resize")(x, [n * f for n, f in zip(x.shape[1:3], self.size)], method=self.interpolation)
            y = y.to(inputs.dtype) if inputs.is_floating_point() else torch.round(y).to(inputs.dtype)
            return y if self.data_format == "channels_last" else y.movedim(-1, 1)
        if self.rank > 1 and all(n & (n - 1) == 0 for n in self.size) and inputs.is_floating_point():
            # Powers of two: torch's nearest resize is exactly the repeat (source index
            # floor(i * 2^-k), exact in floating point) and its backward is one kernel, where
            # the expanded copy's backward is a reduction 1.2-1.5x slower.
            x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
            y = F.interpolate(x, scale_factor=self.size, mode="nearest")
            return y.movedim(1, -1) if self.data_format == "channels_last" else y
        # Nearest, as Keras's repeat: each cell copied size times (expanded views, one copy).
        out = list(inputs.shape)
        y = inputs
        for i in reversed(range(self.rank)):
            axis = first + i
            out[axis] *= self.size[i]
            y = y.unsqueeze(axis + 1)
            sizes = [-1] * y.dim()
            sizes[axis + 1] = self.size[i]
            y = y.expand(sizes)
        return y.reshape(out)


@keras_layer()
class UpSampling1D(_UpSampling):
    """``keras.layers.UpSampling1D``: each step repeated ``size`` times."""

    rank = 1
    _has_data_format = False

    def __init__(self, size: IntOrSequence = 2, **kwargs) -> None:
        if not is_int(size):  # Keras's UpSampling1D takes one int (the 2-D and 3-D ones a tuple too)
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size[0]
        return config


@keras_layer()
class UpSampling2D(_UpSampling):
    """``keras.layers.UpSampling2D``: rows and columns repeated (``"nearest"``) or resized by
    ``tf.image.resize`` (``"bilinear"``, ``"bicubic"``, ``"area"``, ``"lanczos3"``, ``"lanczos5"``,
    ``"gaussian"``, ``"mitchellcubic"``: Keras 2 has the last two)."""

    rank = 2
    interpolations = ("nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")

    def __init__(self, size: IntOrSequence = (2, 2), data_format: Optional[str] = None, interpolation: str = "nearest",
                 **kwargs) -> None:
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "interpolation": self.interpolation})
        return config


@keras_layer()
class UpSampling3D(_UpSampling):
    """``keras.layers.UpSampling3D``: each cell repeated ``size`` times per axis."""

    rank = 3

    def __init__(self, size: IntOrSequence = (2, 2, 2), data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(size, data_format, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config

