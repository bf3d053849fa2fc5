"""The array and math ops TF1 generator code calls (``tf.reshape``, ``tf.concat``, ``tf.maximum``, ...).

TensorFlow's names, arguments and TF1 aliases (``keep_dims``, ``reduction_indices``), on torch
tensors. Where torch's op differs from TF's in a way a port would see, TF's rule is kept:
``maximum``/``minimum`` send a tie's gradient to the first argument (torch splits it), so
``tf.maximum(x, 0.2 * x)`` (a hand-written leaky ReLU) has TF's gradient at 0;
``transpose`` with no ``perm`` reverses the axes; ``shape`` is an int32 tensor.
Random ops draw TF's distributions, not TF's numbers.
"""

from __future__ import annotations

import builtins
import contextlib

import numpy as np
import torch

from ..._op_table import tf_names

__all__ = [
    "abs", "add", "add_n", "bfloat16", "bool", "cast", "clip_by_value", "concat", "constant", "control_dependencies",
    "divide", "exp", "expand_dims", "fill", "float16", "float32", "float64", "get_collection", "GraphKeys",
    "identity", "int32", "int64", "log", "matmul", "maximum", "minimum", "multiply", "name_scope", "ones",
    "ones_like", "pad", "random_normal", "random_uniform", "reduce_max", "reduce_mean", "reduce_min", "reduce_sum",
    "reshape", "rsqrt", "shape", "sigmoid", "split", "sqrt", "square", "squeeze", "stack", "subtract", "tanh",
    "tile", "transpose", "truncated_normal", "uint8", "unstack", "zeros", "zeros_like",
]

float16, bfloat16, float32, float64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
int32, int64, uint8, bool = torch.int32, torch.int64, torch.uint8, torch.bool  # noqa: A001 - tf.bool


def to_tensor(value, dtype=None):
    """``value`` as a tensor with TF's dtype rules (a Python float is float32, an int int32)."""
    if isinstance(value, torch.Tensor):
        return value if dtype is None else value.to(dtype)
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return torch.stack([to_tensor(v, dtype) for v in value])
    array = np.asarray(value)
    if dtype is None and array.dtype == np.float64 and not isinstance(value, np.ndarray):
        dtype = torch.float32  # a Python float is float32 in TF
    if dtype is None and array.dtype == np.int64 and not isinstance(value, np.ndarray):
        dtype = torch.int32  # a Python int is int32 in TF
    return torch.as_tensor(array, dtype=dtype)


def to_ints(value):
    """A shape or axis list from ints, numpy values or tensors."""
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, (list, tuple, torch.Size)):
        return [int(v) for v in value]
    return [int(value)]


def pair_operands(x, y):
    """TF's binary ops: a Python number takes the tensor's dtype."""
    if isinstance(x, torch.Tensor) and not isinstance(y, torch.Tensor):
        return x, torch.as_tensor(y, dtype=x.dtype, device=x.device)
    if isinstance(y, torch.Tensor) and not isinstance(x, torch.Tensor):
        return torch.as_tensor(x, dtype=y.dtype, device=y.device), y
    return to_tensor(x), to_tensor(y)


# ------------------------------------------------------------------ creation
def constant(value, dtype=None, shape=None, name=None, verify_shape=False):
    """``tf.constant``, TensorFlow's arguments."""
    tensor = to_tensor(value, dtype)
    if shape is not None:
        shape = to_ints(shape)
        tensor = tensor.expand(shape).clone() if tensor.numel() == 1 else tensor.reshape(shape)
    return tensor


def zeros(shape, dtype=float32, name=None):
    """``tf.zeros``, TensorFlow's arguments."""
    return torch.zeros(to_ints(shape), dtype=dtype)


def ones(shape, dtype=float32, name=None):
    """``tf.ones``, TensorFlow's arguments."""
    return torch.ones(to_ints(shape), dtype=dtype)


def fill(dims, value, name=None):
    """``tf.fill``, TensorFlow's arguments."""
    return torch.full(to_ints(dims), value, dtype=to_tensor(value).dtype)


@tf_names("zeros_like")
def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """``tf.zeros_like``, TensorFlow's arguments."""
    return torch.zeros_like(to_tensor(tensor), dtype=dtype)


@tf_names("ones_like")
def ones_like(tensor, dtype=None, name=None, optimize=True):
    """``tf.ones_like``, TensorFlow's arguments."""
    return torch.ones_like(to_tensor(tensor), dtype=dtype)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    """``tf.random_normal`` (TF1's name of ``tf.random.normal``): TF's distribution, not its draws."""
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    return torch.randn(to_ints(shape), dtype=dtype, generator=generator) * stddev + mean


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    """Normal draws beyond two standard deviations drawn again, as TF's ``truncated_normal``."""
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    value = torch.empty(to_ints(shape), dtype=dtype)
    torch.nn.init.trunc_normal_(value, 0.0, 1.0, -2.0, 2.0, generator=generator)
    return value * stddev + mean


def random_uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    """``tf.random_uniform``: ``[minval, maxval)``, ``maxval`` 1 for floats."""
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    if not dtype.is_floating_point:
        if maxval is None:
            raise ValueError(f"Must specify maxval for integer dtype {dtype}")
        return torch.randint(int(minval), int(maxval), to_ints(shape), dtype=dtype, generator=generator)
    maxval = 1.0 if maxval is None else maxval
    return torch.rand(to_ints(shape), dtype=dtype, generator=generator) * (maxval - minval) + minval


# ------------------------------------------------------------------ shapes
@tf_names("shape")
def shape(input, name=None, out_type=int32):  # noqa: A002
    """``tf.shape``: the shape as an ``out_type`` tensor (``tf.shape(x)[0]`` is the batch size)."""
    return torch.tensor(tuple(to_tensor(input).shape), dtype=out_type)


@tf_names("reshape")
def reshape(tensor, shape, name=None):
    """``tf.reshape``, TensorFlow's arguments."""
    return to_tensor(tensor).reshape(to_ints(shape))


@tf_names("transpose", "compat.v1.transpose")
def transpose(a, perm=None, name="transpose", conjugate=False):
    """``tf.transpose``, TensorFlow's arguments."""
    a = to_tensor(a)
    return a.permute(to_ints(perm) if perm is not None else list(range(a.dim()))[::-1])


@tf_names("expand_dims")
def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """``tf.expand_dims``, TensorFlow's arguments."""
    return to_tensor(input).unsqueeze(int(axis if axis is not None else dim))


@tf_names("squeeze")
def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """``tf.squeeze``, TensorFlow's arguments."""
    input = to_tensor(input)  # noqa: A001
    axis = axis if axis is not None else squeeze_dims
    if axis is None:
        return input.squeeze()
    for a in sorted((v % input.dim() for v in to_ints(axis)), reverse=True):
        if input.shape[a] != 1:
            raise ValueError(f"Can not squeeze dim[{a}], expected a dimension of 1, got {input.shape[a]}")
        input = input.squeeze(a)  # noqa: A001
    return input


@tf_names("concat")
def concat(values, axis, name="concat"):
    """``tf.concat(values, axis)`` (TF1's argument order)."""
    return torch.cat([to_tensor(v) for v in values], dim=int(axis))


@tf_names("stack")
def stack(values, axis=0, name="stack"):
    """``tf.stack``, TensorFlow's arguments."""
    return torch.stack([to_tensor(v) for v in values], dim=int(axis))


@tf_names("unstack")
def unstack(value, num=None, axis=0, name="unstack"):
    """``tf.unstack``, TensorFlow's arguments."""
    return list(torch.unbind(to_tensor(value), dim=int(axis)))


@tf_names("split")
def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """``tf.split``, TensorFlow's arguments."""
    value = to_tensor(value)
    if isinstance(num_or_size_splits, int):
        return list(torch.chunk(value, num_or_size_splits, dim=int(axis)))
    return list(torch.split(value, to_ints(num_or_size_splits), dim=int(axis)))


@tf_names("tile")
def tile(input, multiples, name=None):  # noqa: A002
    """``tf.tile``, TensorFlow's arguments."""
    return to_tensor(input).repeat(to_ints(multiples))


@tf_names("pad")
def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """``tf.pad``: ``paddings`` one ``[before, after]`` row per axis; CONSTANT, REFLECT, SYMMETRIC."""
    tensor = to_tensor(tensor)
    rows = [to_ints(row) for row in (paddings.tolist() if isinstance(paddings, torch.Tensor) else paddings)]
    mode = mode.upper()
    if mode == "CONSTANT":
        flat = [n for row in reversed(rows) for n in row]
        return torch.nn.functional.pad(tensor, flat, value=constant_values)
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f"Unknown padding mode: {mode}")
    for axis, (before, after) in enumerate(rows):  # one axis at a time, by index (any rank)
        n = tensor.shape[axis]
        shift = 1 if mode == "REFLECT" else 0
        index = list(range(before - 1 + shift, shift - 1, -1)) + list(range(n)) + list(
            range(n - 1 - shift, n - 1 - shift - after, -1))
        tensor = tensor.index_select(axis, torch.tensor(index, dtype=torch.long))
    return tensor


@tf_names("identity")
def identity(input, name=None):  # noqa: A002
    """``tf.identity``, TensorFlow's arguments."""
    return to_tensor(input)


def cast(x, dtype, name=None):
    """``tf.cast``, TensorFlow's arguments."""
    return to_tensor(x).to(dtype)


# ------------------------------------------------------------------ math
@tf_names("__operators__.add", "math.add", "add")
def add(x, y, name=None):
    """``tf.add``, TensorFlow's arguments."""
    x, y = pair_operands(x, y)
    return x + y


@tf_names("math.subtract", "subtract")
def subtract(x, y, name=None):
    """``tf.subtract``, TensorFlow's arguments."""
    x, y = pair_operands(x, y)
    return x - y


@tf_names("math.multiply", "multiply")
def multiply(x, y, name=None):
    """``tf.multiply``, TensorFlow's arguments."""
    x, y = pair_operands(x, y)
    return x * y


@tf_names("math.divide", "divide")
def divide(x, y, name=None):
    """``tf.divide`` (``x / y``): integers divide as float64, as TF's ``truediv`` casts them."""
    x, y = pair_operands(x, y)
    if not x.is_floating_point() and not x.is_complex():
        x, y = x.to(torch.float64), y.to(torch.float64)
    return x / y


@tf_names("math.add_n", "add_n")
def add_n(inputs, name=None):
    """``tf.add_n``, TensorFlow's arguments."""
    inputs = [to_tensor(v) for v in inputs]
    total = inputs[0]
    for v in inputs[1:]:
        total = total + v
    return total


@tf_names("math.maximum", "maximum")
def maximum(x, y, name=None):
    """``tf.maximum``: a tie's gradient goes to ``x``, as TF's ``MaximumGrad`` sends it (torch splits it)."""
    x, y = pair_operands(x, y)
    return torch.where(x >= y, x, y)


@tf_names("math.minimum", "minimum")
def minimum(x, y, name=None):
    """``tf.minimum``: a tie's gradient goes to ``x``, as TF's ``MinimumGrad`` sends it."""
    x, y = pair_operands(x, y)
    return torch.where(x <= y, x, y)


@tf_names("linalg.matmul", "matmul")
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, output_type=None, name=None):
    """``tf.matmul``, TensorFlow's arguments."""
    a, b = to_tensor(a), to_tensor(b)
    if transpose_a or adjoint_a:
        a = a.transpose(-1, -2)
    if transpose_b or adjoint_b:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


@tf_names("clip_by_value")
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``tf.clip_by_value``, TensorFlow's arguments."""
    t = to_tensor(t)
    return torch.clamp(t, clip_value_min, clip_value_max)


@tf_names("math.abs", "abs")
def abs(x, name=None):  # noqa: A001
    """``tf.abs``, TensorFlow's arguments."""
    return torch.abs(to_tensor(x))


@tf_names("math.exp", "exp")
def exp(x, name=None):
    """``tf.exp``, TensorFlow's arguments."""
    return torch.exp(to_tensor(x))


@tf_names("math.log")
def log(x, name=None):
    """``tf.log``, TensorFlow's arguments."""
    return torch.log(to_tensor(x))


@tf_names("math.sqrt", "sqrt")
def sqrt(x, name=None):
    """``tf.sqrt``, TensorFlow's arguments."""
    return torch.sqrt(to_tensor(x))


@tf_names("math.rsqrt")
def rsqrt(x, name=None):
    """``tf.rsqrt``, TensorFlow's arguments."""
    return torch.rsqrt(to_tensor(x))


@tf_names("math.square", "square")
def square(x, name=None):
    """``tf.square``, TensorFlow's arguments."""
    x = to_tensor(x)
    return x * x


@tf_names("math.tanh", "tanh", "nn.tanh")
def tanh(x, name=None):
    """``tf.tanh``, TensorFlow's arguments."""
    return torch.tanh(to_tensor(x))


@tf_names("math.sigmoid", "sigmoid", "nn.sigmoid")
def sigmoid(x, name=None):
    """``tf.sigmoid``, TensorFlow's arguments."""
    return torch.sigmoid(to_tensor(x))


def _reduce(op, input_tensor, axis, keepdims, reduction_indices, keep_dims):
    x = to_tensor(input_tensor)
    axis = axis if axis is not None else reduction_indices
    keep = builtins.bool(keepdims if keepdims is not None else keep_dims)
    dims = list(range(x.dim())) if axis is None else to_ints(axis)
    return op(x, dims, keep)


@tf_names("math.reduce_mean", "reduce_mean")
def reduce_mean(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """``tf.reduce_mean``, TensorFlow's arguments."""
    return _reduce(lambda x, d, k: x.mean(d, keepdim=k), input_tensor, axis, keepdims, reduction_indices, keep_dims)


@tf_names("math.reduce_sum", "reduce_sum")
def reduce_sum(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """``tf.reduce_sum``, TensorFlow's arguments."""
    return _reduce(lambda x, d, k: x.sum(d, keepdim=k), input_tensor, axis, keepdims, reduction_indices, keep_dims)


@tf_names("math.reduce_max", "reduce_max")
def reduce_max(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """``tf.reduce_max``, TensorFlow's arguments."""
    return _reduce(lambda x, d, k: x.amax(d, keepdim=k), input_tensor, axis, keepdims, reduction_indices, keep_dims)


@tf_names("math.reduce_min", "reduce_min")
def reduce_min(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
    """``tf.reduce_min``, TensorFlow's arguments."""
    return _reduce(lambda x, d, k: x.amin(d, keepdim=k), input_tensor, axis, keepdims, reduction_indices, keep_dims)


# ------------------------------------------------------------------ graph bookkeeping with nothing to do
class GraphKeys:
    """``tf.GraphKeys``' names; kcompat keeps no graph collections (see :func:`get_collection`)."""

    UPDATE_OPS = "update_ops"
    TRAINABLE_VARIABLES = "trainable_variables"
    GLOBAL_VARIABLES = "variables"
    REGULARIZATION_LOSSES = "regularization_losses"


def get_collection(key, scope=None):
    """``[]``: kcompat runs what TF1 collects as ``UPDATE_OPS`` in the pass itself, and a module's
    variables are its ``parameters()`` (penalties: :mod:`kcompat.compat.v1.losses`)."""
    return []


def control_dependencies(control_inputs):
    """A context with nothing to order: in PyTorch every op runs when it is called."""
    return contextlib.nullcontext()


def name_scope(name, default_name=None, values=None):
    """A context that names nothing: op names do not exist in PyTorch (variable names do:
    :func:`kcompat.compat.v1.variable_scope`)."""
    return contextlib.nullcontext(name or default_name)
