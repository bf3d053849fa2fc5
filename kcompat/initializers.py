"""Keras 3's initializers, drawing with torch.

Fans follow Keras's convention, computed on the *Keras-layout* shape: for a transposed
kernel ``(kh, kw, filters, in_channels)`` that makes ``fan_in = kh * kw * filters`` and
``fan_out = kh * kw * in_channels`` (Keras treats the second-to-last axis as the input
depth). Values are generated in Keras layout, so ``orthogonal`` flattens as Keras does, and
the layer permutes them to torch layout afterwards. An integer ``seed`` gives the same
values on every call, as in Keras 3; ``seed=None`` draws from torch's global generator, so
``torch.manual_seed`` makes it reproducible.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .serialization import KerasObject, deserialize, registry_of, serialize

__all__ = ["get", "serialize", "compute_fans", "initial_value"]


def compute_fans(shape, input_axes=None, output_axes=None):
    """Keras 3's ``compute_fans`` (convolution kernels: ``(..., input_depth, depth)``)."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(math.prod(shape[a] for a in input_axes)), int(math.prod(shape[a] for a in output_axes))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = math.prod(shape[:-2])
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


def _dtype(dtype):
    return torch.get_default_dtype() if dtype is None else dtype


class Initializer(KerasObject):
    keras_module = "keras.initializers"

    def __call__(self, shape, dtype=None):
        raise NotImplementedError


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return torch.zeros(tuple(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return torch.ones(tuple(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return torch.full(tuple(shape), float(self.value), dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={tuple(shape)} of rank {len(shape)}."
            )
        return self.gain * torch.eye(*shape, dtype=_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    def __init__(self, seed=None):
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
            raise ValueError(
                "`seed` argument should be an integer or None. "
                f"Received: seed={seed!r}"
            )
        self.seed = seed

    def _generator(self):
        if self.seed is None:
            return None
        return torch.Generator().manual_seed(int(self.seed))

    def _draw(self, kind, shape, dtype, **kw):
        """Draw in float32 at least (half types lack some samplers on CPU), then cast.

        As TensorFlow does, a unit draw is scaled: ``minval + (maxval - minval) * u``,
        ``mean + stddev * z``, so that every configuration Keras accepts draws as Keras
        draws (``minval > maxval`` and a negative ``stddev`` mirror the distribution).
        """
        dtype = _dtype(dtype)
        work = torch.float64 if dtype == torch.float64 else torch.float32
        out = torch.empty(tuple(shape), dtype=work)
        g = self._generator()
        if kind == "uniform":
            out.uniform_(0.0, 1.0, generator=g)
            out.mul_(float(kw["maxval"]) - float(kw["minval"])).add_(float(kw["minval"]))
        else:
            if kind == "normal":
                out.normal_(0.0, 1.0, generator=g)
            else:  # Keras truncates at two standard deviations
                torch.nn.init.trunc_normal_(out, 0.0, 1.0, -2.0, 2.0, generator=g)
            out.mul_(float(kw["stddev"])).add_(float(kw["mean"]))
        return out.to(dtype)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        return self._draw("normal", shape, dtype, mean=self.mean, stddev=self.stddev)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=None):
        return self._draw("truncated", shape, dtype, mean=self.mean, stddev=self.stddev)


class RandomUniform(RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        return self._draw("uniform", shape, dtype, minval=self.minval, maxval=self.maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if not isinstance(scale, numbers.Real) or scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {allowed_modes}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: {distribution}.Please use one of {allowed}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            # stddev of a unit normal truncated to [-2, 2]
            stddev = math.sqrt(scale) / 0.87962566103423978
            return self._draw("truncated", shape, dtype, mean=0.0, stddev=stddev)
        if self.distribution == "untruncated_normal":
            return self._draw("normal", shape, dtype, mean=0.0, stddev=math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return self._draw("uniform", shape, dtype, minval=-limit, maxval=limit)

    def get_config(self):
        return {
            **super().get_config(), "scale": self.scale, "mode": self.mode,
            "distribution": self.distribution, "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


def _variance_scaling(name, scale, mode, distribution):
    """The named special cases of VarianceScaling, configs as Keras writes them."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"VarianceScaling({scale}, {mode!r}, {distribution!r})."})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={tuple(shape)} of rank {len(shape)}."
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._draw("normal", (max(rows, cols), min(rows, cols)), torch.float64, mean=0.0, stddev=1.0)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(tuple(shape))).to(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


_REGISTRY = registry_of(
    Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling,
    GlorotUniform, GlorotNormal, LecunUniform, LecunNormal, HeUniform, HeNormal, Orthogonal,
    aliases={"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal, "normal": RandomNormal,
             "uniform": RandomUniform, "one": Ones, "zero": Zeros},
)


class _FromArray:
    """A fixed array as initializer (Keras accepts tensors and numpy arrays)."""

    def __init__(self, value):
        self.value = value

    def __call__(self, shape, dtype=None):
        if tuple(self.value.shape) != tuple(shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(self.value.shape)} for direct tensor as initializer. "
                f"Received shape={tuple(shape)}"
            )
        return torch.as_tensor(np.asarray(self.value), dtype=_dtype(dtype)).clone()


def get(identifier, argument="kernel_initializer"):
    """An initializer from a Keras name or config, an instance, an array or a callable."""
    if isinstance(identifier, (np.ndarray, np.generic, torch.Tensor)):
        return _FromArray(identifier.detach().cpu().numpy() if isinstance(identifier, torch.Tensor) else identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    return deserialize(identifier, _REGISTRY, argument)


def initial_value(initializer, shape, dtype, argument="kernel_initializer"):
    """``initializer(shape, dtype)`` as a torch tensor of ``dtype``, its shape checked (Keras layout)."""
    value = initializer(shape, dtype=dtype)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(np.asarray(value))
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"`{argument}` returned a tensor of shape {tuple(value.shape)}; expected {tuple(shape)} "
            "(Keras layout)."
        )
    return value.to(dtype)
