"""Keras 3's op nodes: a ``keras.ops`` call on a Keras tensor in a Functional model is saved as
an operation (``{"module": "keras.src.ops.numpy", "class_name": "Reshape", "config": {"newshape":
...}}``) whose node holds the call's arguments. ``keras_op(class_name)`` is the function that
computes it from ``(*arguments, **config)``, with Keras's semantics on the TensorFlow backend;
most are TensorFlow's ops from :mod:`kcompat.tf_ops` under Keras's argument names."""

from __future__ import annotations

import torch

from . import activations
from .tf_ops import tf_op

__all__ = ["KERAS_OPS", "keras_op"]


def _op(name):
    return lambda *args, **kwargs: tf_op(name)(*args, **kwargs)


def _axes(axis):
    return None if axis is None else list(axis) if isinstance(axis, (list, tuple)) else axis


def _reduce(name):
    def reduce(x, axis=None, keepdims=False, initial=None):
        if initial is not None:
            raise ValueError(f"keras.ops.{name}: kcompat has no `initial`")
        return tf_op(f"math.reduce_{name}")(x, axis=_axes(axis), keepdims=keepdims)
    return reduce


def _activation(name):
    return lambda x, **kwargs: activations.get(name)(x, **kwargs)


def _pad(x, pad_width, mode="constant", constant_values=None):
    if mode != "constant":
        raise ValueError(f"keras.ops.pad: kcompat has mode='constant' only; received mode={mode!r}")
    return tf_op("pad")(x, [list(p) for p in pad_width], constant_values=constant_values or 0)


def _getitem(x, key):
    spec = key if isinstance(key, (list, tuple)) else [key]
    converted = []
    for entry in spec:
        if isinstance(entry, dict) and entry.get("class_name") == "__slice__":
            entry = dict(entry.get("config") or {})
        if isinstance(entry, dict) and entry.get("class_name") == "__ellipsis__":
            entry = {"class_name": "__ellipsis__"}
        converted.append(entry)
    return tf_op("__operators__.getitem")(x, converted)


def _cast(x, dtype):
    from .compat.v1 import ops

    if not isinstance(dtype, str) or not isinstance(getattr(ops, dtype, None), torch.dtype):
        raise ValueError(f"keras.ops.cast: dtype {dtype!r} is not one kcompat knows")
    return x.to(getattr(ops, dtype))


KERAS_OPS = {
    # numpy: elementwise
    "Add": _op("math.add"), "Subtract": _op("math.subtract"), "Multiply": _op("math.multiply"),
    "TrueDivide": _op("math.truediv"), "Divide": _op("math.truediv"), "FloorDivide": _op("math.floordiv"),
    "Power": _op("math.pow"), "Negative": _op("math.negative"), "Abs": _op("math.abs"), "Absolute": _op("math.abs"),
    "Sqrt": _op("math.sqrt"), "Square": _op("math.square"), "Exp": _op("math.exp"), "Log": _op("math.log"),
    "Maximum": _op("math.maximum"), "Minimum": _op("math.minimum"), "Matmul": _op("linalg.matmul"),
    "Clip": lambda x, x_min, x_max: tf_op("clip_by_value")(x, x_min, x_max),
    "Tanh": _op("math.tanh"), "Erf": _op("math.erf"),
    # numpy: shapes
    "Reshape": lambda x, newshape: tf_op("reshape")(x, newshape),
    "Transpose": lambda x, axes=None: tf_op("transpose")(x, perm=axes),
    "ExpandDims": lambda x, axis: tf_op("expand_dims")(x, axis),
    "Squeeze": lambda x, axis=None: tf_op("squeeze")(x, axis=_axes(axis)),
    "Concatenate": lambda xs, axis=0: tf_op("concat")(list(xs), axis),
    "Stack": lambda xs, axis=0: tf_op("stack")(list(xs), axis),
    "Tile": lambda x, repeats: tf_op("tile")(x, repeats),
    "Pad": _pad, "GetItem": _getitem, "Cast": _cast,
    "Einsum": lambda *operands, subscripts: tf_op("einsum")(subscripts, *operands),
    # numpy: reductions
    "Mean": _reduce("mean"), "Sum": _reduce("sum"), "Max": _reduce("max"), "Min": _reduce("min"),
    # nn: activations, with Keras's definitions
    "Relu": _activation("relu"), "Relu6": _activation("relu6"), "Sigmoid": _activation("sigmoid"),
    "Silu": _activation("silu"), "Swish": _activation("silu"), "HardSigmoid": _activation("hard_sigmoid"),
    "HardSilu": _activation("hard_silu"), "HardSwish": _activation("hard_silu"), "Gelu": _activation("gelu"),
    "Softplus": _activation("softplus"), "Elu": _activation("elu"), "Selu": _activation("selu"),
    "LeakyRelu": lambda x, negative_slope=0.2: activations.leaky_relu(x, negative_slope=negative_slope),
    "Softmax": lambda x, axis=-1: activations.softmax(x, axis=axis),
    "LogSoftmax": lambda x, axis=-1: activations.log_softmax(x, axis=axis),
}


def keras_op(class_name):
    """The function of Keras 3's operation ``class_name`` (``Reshape``), or ``None``."""
    return KERAS_OPS.get(class_name) if isinstance(class_name, str) else None
