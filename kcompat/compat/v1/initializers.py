"""TF1's initializer functions (``tf.compat.v1.*_initializer``) as kcompat initializers.

Same defaults as TensorFlow 1 (which differ from Keras's: ``random_normal_initializer`` has
``stddev=1.0``), same distributions, and TF1's ``get_config`` (with ``dtype``).
"""

from __future__ import annotations

import torch

from ... import initializers as k

__all__ = [
    "constant_initializer", "glorot_normal_initializer", "glorot_uniform_initializer", "ones_initializer",
    "orthogonal_initializer", "random_normal_initializer", "random_uniform_initializer",
    "truncated_normal_initializer", "variance_scaling_initializer", "zeros_initializer",
]


def _v1(base, module="keras.initializers", registered=None):
    """A subclass of a kcompat initializer that serializes as tf_keras serializes TF1's."""

    class V1(base):
        def __init__(self, *args, dtype=torch.float32, **kwargs):
            super().__init__(*args, **kwargs)
            self.dtype = dtype

        def get_config(self):
            return {**super().get_config(), "dtype": str(self.dtype).replace("torch.", "")}

        def __call__(self, shape, dtype=None):
            return super().__call__(shape, dtype=dtype if dtype is not None else self.dtype)

    V1.__name__ = base.__name__
    V1.__qualname__ = f"_{base.__name__}"  # the module attribute below: pickle finds the class by it
    V1.keras_module = module
    V1.registered_name = registered
    return V1


_Zeros = _v1(k.Zeros)
_Ones = _v1(k.Ones)
_Constant = _v1(k.Constant)
_RandomNormal = _v1(k.RandomNormal, "tensorflow.python.ops.init_ops", "RandomNormal")
_TruncatedNormal = _v1(k.TruncatedNormal, "tensorflow.python.ops.init_ops", "TruncatedNormal")
_RandomUniform = _v1(k.RandomUniform, "tensorflow.python.ops.init_ops", "RandomUniform")
_VarianceScaling = _v1(k.VarianceScaling, "tensorflow.python.ops.init_ops", "VarianceScaling")
_GlorotUniform = _v1(k.GlorotUniform, "tensorflow.python.ops.init_ops", "GlorotUniform")
_GlorotNormal = _v1(k.GlorotNormal, "tensorflow.python.ops.init_ops", "GlorotNormal")
_Orthogonal = _v1(k.Orthogonal, "tensorflow.python.ops.init_ops", "Orthogonal")


_BY_NAME = {cls.__name__: cls for cls in (_Zeros, _Ones, _Constant, _RandomNormal, _TruncatedNormal,
                                          _RandomUniform, _VarianceScaling, _GlorotUniform, _GlorotNormal,
                                          _Orthogonal)}


def get(identifier):
    """An initializer from a config ``get_config()`` wrote (TF1's, with ``dtype``), else Keras's rules."""
    if isinstance(identifier, dict) and "dtype" in (identifier.get("config") or {}):
        cls = _BY_NAME.get(identifier.get("class_name"))
        if cls is not None:
            config = dict(identifier["config"])
            config["dtype"] = getattr(torch, config["dtype"])
            return cls(**config)
    return k.get(identifier)


def zeros_initializer(dtype=torch.float32):
    """``tf.compat.v1.zeros_initializer``."""
    return _Zeros(dtype=dtype)


def ones_initializer(dtype=torch.float32):
    """``tf.compat.v1.ones_initializer``."""
    return _Ones(dtype=dtype)


def constant_initializer(value=0, dtype=torch.float32, verify_shape=False):
    """``tf.compat.v1.constant_initializer`` (``verify_shape`` is accepted but not checked)."""
    return _Constant(value, dtype=dtype)


def random_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=torch.float32):
    """``tf.compat.v1.random_normal_initializer``."""
    return _RandomNormal(mean=mean, stddev=stddev, seed=seed, dtype=dtype)


def truncated_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=torch.float32):
    """``tf.compat.v1.truncated_normal_initializer``."""
    return _TruncatedNormal(mean=mean, stddev=stddev, seed=seed, dtype=dtype)


def random_uniform_initializer(minval=0.0, maxval=None, seed=None, dtype=torch.float32):
    """``tf.compat.v1.random_uniform_initializer`` (``maxval=None`` meaning 1)."""
    return _RandomUniform(minval=minval, maxval=1.0 if maxval is None else maxval, seed=seed, dtype=dtype)


def variance_scaling_initializer(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                                 dtype=torch.float32):
    """TF1's variance scaling; ``distribution="normal"`` is TF1's alias of ``"truncated_normal"``."""
    if distribution == "normal":
        distribution = "truncated_normal"
    return _VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=seed, dtype=dtype)


def glorot_uniform_initializer(seed=None, dtype=torch.float32):
    """TF1's default for ``kernel_initializer=None``."""
    return _GlorotUniform(seed=seed, dtype=dtype)


def glorot_normal_initializer(seed=None, dtype=torch.float32):
    """``tf.compat.v1.glorot_normal_initializer``."""
    return _GlorotNormal(seed=seed, dtype=dtype)


def orthogonal_initializer(gain=1.0, seed=None, dtype=torch.float32):
    """``tf.compat.v1.orthogonal_initializer``."""
    return _Orthogonal(gain=gain, seed=seed, dtype=dtype)
