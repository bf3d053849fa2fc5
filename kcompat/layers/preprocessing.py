"""Keras's preprocessing layers that models carry inside them: ``Normalization`` (EfficientNet,
ConvNeXt, ResNetRS put one at their input), ``Resizing``, ``CenterCrop``."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from .._types import IntOrSequence
from ..constraints import EPSILON
from ..validation import standardize_data_format
from .base import Layer, Weight, WeightlessLayer, as_tensor
from .registry import keras_layer

__all__ = ["CenterCrop", "Normalization", "Resizing"]


def _axes(axis):
    if axis is None:
        return ()
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                               for a in axis):
        return tuple(int(a) for a in axis)
    raise TypeError(f"`axis` must be an int, a tuple of ints or None. Received: axis={axis!r}")


@keras_layer()
class Normalization(Layer):
    """``keras.layers.Normalization``: ``(inputs - mean) / max(sqrt(variance), 1e-7)`` per
    position of the kept ``axis`` (``invert=True``: ``mean + inputs * max(sqrt(variance), 1e-7)``).

    ``mean``/``variance`` given: constants (not weights, as in Keras). Otherwise the layer has
    Keras's three non-trainable weights, ``mean``, ``variance`` (the kept axes' shape) and the int64
    ``count``, set from a model file or by :meth:`adapt`.
    """

    WEIGHTS = (Weight("mean", "mean", trainable=False), Weight("variance", "variance", trainable=False),
               Weight("count", "count", trainable=False, dtype=torch.int64))

    def __init__(self, axis: IntOrSequence = -1, mean: Any = None, variance: Any = None, invert: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be set. "
                             f"Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must have the same shape. "
                                 f"Received: mean shape {np.shape(mean)} and variance shape {np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(f"The rank of `mean` must be less than or equal to the number of axes "
                                 f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis {self.axis}")
        self._ndim = None
        self.register_buffer("_constant_mean", None, persistent=False)
        self.register_buffer("_constant_variance", None, persistent=False)

    def weight_names(self):
        return [] if self.input_mean is not None else [w.keras for w in self.WEIGHTS]

    @property
    def built(self) -> bool:
        return bool(self._created) or self._constant_mean is not None

    @property
    def mean(self):
        """Keras's ``mean``: the given one in the broadcast shape (1 on the reduced axes) once built,
        else the adapted weight."""
        return self._constant_mean if self.input_mean is not None else self.keras_weight("mean")

    @property
    def variance(self):
        """Keras's ``variance``, as ``mean``."""
        return self._constant_variance if self.input_mean is not None else self.keras_weight("variance")

    def _keep(self, ndim):
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). "
                             f"Received inputs with ndim={ndim}, while axis={self.axis}")
        return tuple(sorted(a % ndim for a in self.axis))

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        keep = self._keep(ndim)
        for d in keep:
            if input_shape[d] is None:
                raise ValueError(f"All `axis` values to be kept must have a known shape. Received axis={self.axis}, "
                                 f"inputs.shape={input_shape}, with unknown axis at index {d}")
        shape = tuple(int(input_shape[d]) for d in keep)
        if self.input_mean is None:
            self._build_weights(shape)
            return
        broadcast = [int(input_shape[d]) if d in keep else 1 for d in range(ndim)]
        constants = []
        for value in (self.input_mean, self.input_variance):
            value = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=self.compute_dtype)
            if value.dim():
                expanded = [1] * ndim
                for i in range(1, value.dim() + 1):
                    expanded[keep[-i]] = value.shape[-i]
                value = value.reshape(expanded)
            constants.append(value.broadcast_to(broadcast).clone())
        self._constant_mean, self._constant_variance = constants

    def _build_weights(self, shape):
        if not self._created:
            from .. import initializers

            self.add_weight("mean", shape, initializers.get("zeros"))
            self.add_weight("variance", shape, initializers.get("ones"))
            self.add_weight("count", (), initializers.get("zeros"))

    def _build_from_weights(self, shapes):
        shape = shapes.get("mean")
        if shape is not None and self.input_mean is None and len(shape) == len(self.axis):
            self._build_weights(tuple(shape))

    def _statistics(self, inputs):
        if self.input_mean is not None:
            return self._constant_mean, self._constant_variance
        keep = self._keep(inputs.dim())
        broadcast = [inputs.shape[d] if d in keep else 1 for d in range(inputs.dim())]
        return self.mean.reshape(broadcast), self.variance.reshape(broadcast)

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        if not self.built:
            self.build(tuple(inputs.shape))
        mean, variance = self._statistics(inputs)
        inputs, mean, variance = self._in_compute_dtype(inputs, mean.to(inputs.device), variance.to(inputs.device))
        scale = torch.sqrt(variance).clamp_min(EPSILON)
        return mean + inputs * scale if self.invert else (inputs - mean) / scale

    def adapt(self, data):
        """Keras's ``adapt``: the mean and (biased) variance over every axis but the kept ones, of
        one array (or tensor), or of an iterable of batches (a list, a generator, a DataLoader;
        ``(x, y)`` tuples give their ``x``), combined batch by batch as Keras combines them."""
        if self.input_mean is not None:
            raise ValueError("adapt() on a Normalization layer given `mean` and `variance`: nothing to adapt")
        if isinstance(data, (np.ndarray, torch.Tensor)):
            batches, first = None, _array(data)
        elif hasattr(data, "__iter__"):
            batches = iter(data)
            first = next(batches, None)
            if first is None:
                raise ValueError("adapt() received an empty iterable (no batches). Expected at least one batch. Pass "
                                 "a non-empty iterable of arrays or tensors, e.g. layer.adapt([x]) or "
                                 "layer.adapt(list_of_batches).")
            first = first[0] if isinstance(first, tuple) else first
            if getattr(first, "shape", None) is None:
                raise TypeError("adapt() expects an iterable that yields arrays or tensors with a `.shape` attribute "
                                f"(e.g. numpy arrays or backend tensors). Got an element of type "
                                f"{type(first).__name__}. Ensure each yielded element is array-like with a `.shape` "
                                "attribute.")
            first = _array(first)
        else:
            raise TypeError(f"Unsupported data type: {type(data)}. `adapt` supports `np.ndarray`, backend tensors, "
                            "and iterables of batches (e.g. list, generator).")
        if not self.built:
            self.build(first.shape)
        shape = tuple(self.keras_weight("mean").shape)
        keep = self._keep(first.ndim)
        if tuple(first.shape[d] for d in keep) != shape:
            raise ValueError(f"The layer was built with kept axes of shape {shape}, but adapt() is being called with "
                             f"data with an incompatible shape, data.shape={first.shape}")
        reduce = tuple(d for d in range(first.ndim) if d not in keep)
        mean, variance, count = first.mean(axis=reduce), first.var(axis=reduce), _count(first, reduce)
        for batch in batches or ():
            batch = _array(batch[0] if isinstance(batch, tuple) else batch)
            if batch.ndim != first.ndim or tuple(batch.shape[d] for d in keep) != shape:
                raise ValueError(f"adapt() yielded a batch with incompatible shape. Expected kept axes of shape "
                                 f"{shape}, got {tuple(batch.shape)}.")
            n, batch_mean = _count(batch, reduce), batch.mean(axis=reduce)
            weight = n / (count + n)
            new_mean = mean * (1 - weight) + batch_mean * weight
            variance = ((variance + (mean - new_mean) ** 2) * (1 - weight)
                        + (batch.var(axis=reduce) + (batch_mean - new_mean) ** 2) * weight)
            mean, count = new_mean, count + n
        with torch.no_grad():
            self.keras_weight("mean").copy_(torch.as_tensor(mean))
            self.keras_weight("variance").copy_(torch.as_tensor(variance))
            self.keras_weight("count").fill_(count)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "invert": self.invert,
                       "mean": None if self.input_mean is None else np.array(self.input_mean).tolist(),
                       "variance": None if self.input_variance is None else np.array(self.input_variance).tolist()})
        return config


def _array(data):
    """A batch as a float64 numpy array (a tensor's values, on the CPU)."""
    return np.asarray(data.detach().cpu() if isinstance(data, torch.Tensor) else data, dtype=np.float64)


def _count(batch, reduce):
    return int(np.prod([batch.shape[d] for d in reduce], dtype=np.int64))


def _size(value, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


class _ImageSize(WeightlessLayer):
    """Shared by Resizing and CenterCrop: a target ``height`` and ``width``, channels_last or first."""

    def __init__(self, height: int, width: int, data_format: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.height, self.width = _size(height, "height"), _size(width, "width")
        self.data_format = standardize_data_format(data_format)

    def _input(self, inputs):
        inputs = super()._input(inputs)
        if inputs.dim() not in (3, 4):
            raise ValueError(f"{type(self).__name__} takes images of rank 3 or 4; received shape {tuple(inputs.shape)}")
        return inputs if inputs.is_floating_point() else inputs.to(self.compute_dtype)

    @property
    def _spatial(self):
        """The height and width axes (negative: images of rank 3 or 4)."""
        return (-2, -1) if self.data_format == "channels_first" else (-3, -2)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._spatial
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "data_format": self.data_format})
        return config


@keras_layer()
class Resizing(_ImageSize):
    """``keras.layers.Resizing``: ``tf.image.resize`` to ``(height, width)`` by ``interpolation``
    (every TensorFlow method, ``antialias`` too: :mod:`kcompat.resize`), after cropping to the
    target's aspect ratio (``crop_to_aspect_ratio``) or padding to it with ``fill_value``
    (``pad_to_aspect_ratio``), the box placed as Keras's TensorFlow backend places it."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: Optional[str] = None, **kwargs) -> None:
        from ..resize import METHODS

        super().__init__(height, width, data_format=data_format, **kwargs)
        if interpolation not in METHODS:
            raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                             f"{METHODS}. Received: interpolation={interpolation}")
        if fill_mode != "constant":
            raise ValueError("Invalid value for argument `fill_mode`. Only `'constant'` is supported. "
                             f"Received: fill_mode={fill_mode}")
        if pad_to_aspect_ratio and crop_to_aspect_ratio:
            raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value, self.antialias = fill_mode, fill_value, bool(antialias)

    def call(self, inputs):
        from ..resize import to_aspect_ratio
        from ..tf_ops import tf_op

        channels_first = self.data_format == "channels_first"
        x = inputs.movedim(-3, -1) if channels_first else inputs
        if self.crop_to_aspect_ratio or self.pad_to_aspect_ratio:
            x = to_aspect_ratio(x, (self.height, self.width), self.crop_to_aspect_ratio, self.fill_value)
        y = tf_op("image.resize")(x, (self.height, self.width), method=self.interpolation, antialias=self.antialias)
        y = y.to(inputs.dtype)  # Keras casts tf.image.resize's float32 back to the images' dtype
        return y.movedim(-1, -3) if channels_first else y

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                       "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                       "fill_value": self.fill_value, "antialias": self.antialias})
        return config


@keras_layer()
class CenterCrop(_ImageSize):
    """``keras.layers.CenterCrop``: the central ``(height, width)`` window (the extra row or column,
    where the difference is odd, off the end). An image smaller than the window on either axis
    is cropped to the window's aspect ratio and resized to it (bilinear), as Keras's
    ``smart_resize`` does."""

    def call(self, inputs):
        from ..tf_ops import tf_op

        h, w = self._spatial
        dh, dw = inputs.shape[h] - self.height, inputs.shape[w] - self.width
        if dh >= 0 and dw >= 0:
            return inputs.narrow(h, dh // 2, self.height).narrow(w, dw // 2, self.width)
        height, width = inputs.shape[h], inputs.shape[w]
        crop_h = max(min(height, int(float(width * self.height) / self.width)), 1)
        crop_w = max(min(width, int(float(height * self.width) / self.height)), 1)
        x = inputs.narrow(h, int(float(height - crop_h) / 2), crop_h).narrow(w, int(float(width - crop_w) / 2), crop_w)
        channels_first = self.data_format == "channels_first"
        x = x.movedim(-3, -1) if channels_first else x
        y = tf_op("image.resize")(x, (self.height, self.width), method="bilinear").to(inputs.dtype)
        return y.movedim(-1, -3) if channels_first else y
