"""Keras 3's activations by name, with Keras's exact definitions, on torch tensors.

Definitions follow ``keras.src.activations`` and its TensorFlow backend op for op, so that
outputs match TensorFlow's: ``gelu`` is exact (erf, not tanh), ``hard_sigmoid`` is
``relu6(x + 3) / 6``, ``leaky_relu`` has slope 0.2, ``softmax``/``log_softmax``/``glu``/
``sparsemax`` act on the last axis whatever the data format, as Keras does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._building import building_keras2

__all__ = ["get", "serialize", "ACTIVATIONS"]


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's ``relu`` with its options, op for op as its ``ReLU.static_call`` (so the
    gradients at ``threshold``, 0 and ``max_value`` are TensorFlow's)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0:
        return torch.relu(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return leaky_relu(x, negative_slope)
        negative_part = torch.relu(-x + threshold) if threshold != 0 else torch.relu(-x)
    clip_max = max_value is not None
    if threshold != 0:
        y = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    elif max_value == 6:
        y, clip_max = F.relu6(x), False
    else:
        y = torch.relu(x)
    if clip_max:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = y - negative_slope * negative_part
    return y


def relu6(x):
    # hardtanh's gradient is 0 at both ends, as TF's Relu6Grad (clamp's would be 1).
    return F.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    # TF's LeakyRelu keeps alpha as a float32 attribute, so float64 sees float32(0.2).
    return F.leaky_relu(x, float(np.float32(negative_slope)))


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    # TF's SeluGrad takes the linear branch at 0 (gradient ``scale``); torch's the exponential one.
    return torch.where(x == 0, x * _SELU_SCALE, F.selu(x))


def celu(x, alpha=1.0):
    return torch.clamp(x, min=0.0) + alpha * torch.expm1(torch.clamp(x, max=0.0) / alpha)


def gelu(x, approximate=False):
    if approximate:
        return F.gelu(x, approximate="tanh")
    # TF's exact form, erfc rather than erf: equal in float32, closer to TF in float64.
    return 0.5 * x * torch.erfc(-x * 0.7071067811865476)


def glu(x, axis=-1):
    if x.shape[axis] % 2 != 0:
        raise ValueError(
            f"axis size must be divisible by 2. Received: x.shape={tuple(x.shape)} with axis={axis}"
        )
    a, b = torch.chunk(x, 2, dim=axis)
    return a * torch.sigmoid(b)


def sigmoid(x):
    return torch.sigmoid(x)


def hard_sigmoid(x):
    return relu6(x + 3.0) / 6.0


def keras2_hard_sigmoid(x):
    """Keras 2's ``hard_sigmoid`` (``tf.keras``): ``clip(0.2 x + 0.5, 0, 1)``, which Keras 3 replaced
    by ``relu6(x + 3) / 6``; a layer of a Keras 2 model keeps it."""
    return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)


def silu(x):
    return F.silu(x)


def hard_silu(x):
    return x * hard_sigmoid(x)


def mish(x):
    return x * torch.tanh(F.softplus(x))


def softplus(x):
    return F.softplus(x)


def softsign(x):
    return F.softsign(x)


def squareplus(x, b=4):
    return (x + torch.sqrt(torch.square(x) + b)) / 2


def soft_shrink(x, threshold=0.5):
    zero = torch.zeros_like(x)
    return torch.where(x > threshold, x - threshold, torch.where(x < -threshold, x + threshold, zero))


def hard_shrink(x, threshold=0.5):
    return torch.where(torch.abs(x) > threshold, x, torch.zeros_like(x))


def sparse_plus(x):
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * torch.square(x + 1), x))


def sparse_sigmoid(x):
    return torch.where(
        x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), 0.5 * (x + 1))
    )


def tanh(x):
    return torch.tanh(x)


def tanh_shrink(x):
    return x - torch.tanh(x)


def hard_tanh(x):
    return torch.clamp(x, -1.0, 1.0)


def exponential(x):
    return torch.exp(x)


def log_sigmoid(x):
    return F.logsigmoid(x)


def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return torch.log_softmax(x, dim=axis)


def sparsemax(x, axis=-1):
    ordered, _ = torch.sort(x, dim=axis, descending=True)
    cumsum = torch.cumsum(ordered, dim=axis)
    shape = [1] * x.dim()
    shape[axis] = -1
    r = torch.arange(1, x.shape[axis] + 1, dtype=x.dtype, device=x.device).reshape(shape)
    support = ordered - (cumsum - 1) / r > 0
    k = torch.sum(support.to(x.dtype), dim=axis, keepdim=True)
    tau = (torch.sum(torch.where(support, cumsum, torch.zeros_like(cumsum)), dim=axis, keepdim=True) - 1) / k
    return torch.clamp(x - tau, min=0.0)


def threshold(x, threshold, default_value):
    """Keras's ``threshold`` needs both values: by name alone it fails at call, as in Keras."""
    return torch.where(x > threshold, x, torch.as_tensor(default_value, dtype=x.dtype, device=x.device))


ACTIVATIONS = {
    fn.__name__: fn
    for fn in (
        linear, relu, relu6, leaky_relu, elu, selu, celu, gelu, glu, sigmoid, hard_sigmoid,
        silu, hard_silu, mish, softplus, softsign, squareplus, soft_shrink, hard_shrink,
        sparse_plus, sparse_sigmoid, tanh, tanh_shrink, hard_tanh, exponential, log_sigmoid,
        softmax, log_softmax, sparsemax, threshold,
    )
}
ACTIVATIONS["swish"] = silu
ACTIVATIONS["hard_swish"] = hard_silu

_NAMES = {fn: name for name, fn in ACTIVATIONS.items() if name not in ("swish", "hard_swish")}
_NAMES[keras2_hard_sigmoid] = "hard_sigmoid"
_KERAS2 = {"hard_sigmoid": keras2_hard_sigmoid}  # Keras 2's definitions where they differ from Keras 3's
KCOMPAT_NAMES = {"keras2_hard_sigmoid": keras2_hard_sigmoid}  # kcompat's own names (kcompat-port writes them)


def _builtin(name):
    """The activation ``name``: Keras 2's definition for a layer of a Keras 2 model where it differs."""
    return _KERAS2[name] if name in _KERAS2 and building_keras2() else ACTIVATIONS[name]


def get(identifier):
    """An activation callable from a Keras name, a Keras config, a callable or ``None``."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        # Keras 3 writes builtins as plain names; custom ones as {"class_name": "function", ...}.
        name = identifier.get("config") if identifier.get("class_name") == "function" else None
        if name in ACTIVATIONS:
            return _builtin(name)
        raise ValueError(
            f"Could not interpret activation function identifier: {identifier!r}. "
            "kcompat rebuilds Keras's built-in activations; pass custom ones as callables."
        )
    if isinstance(identifier, str):
        if identifier in ACTIVATIONS:
            return _builtin(identifier)
        if identifier in KCOMPAT_NAMES:
            return KCOMPAT_NAMES[identifier]
        raise ValueError(
            f"Could not interpret activation function identifier: {identifier!r}. "
            f"Allowed names: {sorted(ACTIVATIONS)}. Received: activation={identifier!r}"
        )
    if callable(identifier):
        return identifier
    raise ValueError(
        "The `activation` argument must be a name, a Keras config or a callable. "
        f"Received: activation={identifier!r}"
    )


def serialize(activation):
    """What Keras 3's ``get_config()`` writes for an activation."""
    if activation in _NAMES:
        return _NAMES[activation]
    name = getattr(activation, "__name__", type(activation).__name__)
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}
