"""TensorFlow's ops by their API names, one function per op, with TensorFlow's arguments and rules.

Keyed as tf.keras writes an op node's ``function`` into a model config (``tf.math.multiply`` is
``math.multiply``, ``x + 1`` is ``__operators__.add``, ``x[..., 0]`` is
``__operators__.getitem``): ``tf_op(name)`` is the function, ``None`` where kcompat has none.
Each takes the arguments the TensorFlow function takes, by position and by TensorFlow's names,
and follows TensorFlow where torch differs (a Python number takes the tensor's dtype; ``x / y``
of integers is floating point; ``maximum``'s tie gradient; ``depth_to_space``'s order; resize
coordinates). Most are :mod:`kcompat.compat.v1`'s TF1 ops, each declared under its TF2 names by
``@tf_names`` (:mod:`kcompat._op_table`) where it is defined (and under ``compat.v1.<name>``, every one of them);
the rest are defined here. One declaration per op: :data:`OPS` is the table the op nodes read.
"""

from __future__ import annotations

import math

import torch

from ._op_table import OPS, registrar
from ._op_table import tf_names as register

__all__ = ["OPS", "as_dtype", "axes_of", "register", "registrar", "returns_several", "tf_op", "to_ints", "to_tensor"]

_SEVERAL = {"split", "unstack", "compat.v1.split", "compat.v1.unstack", "math.top_k", "nn.top_k", "nn.moments",
            "compat.v1.nn.moments"}  # the ops whose result is a list or tuple of tensors
_populated = False


def tf_op(name):
    """TensorFlow's op ``name`` (``"math.multiply"``), or ``None`` where kcompat has none."""
    global _populated
    if not _populated:
        from .compat.v1 import image, nn, ops  # the TF1 ops: their TF2 names are declared on them

        for prefix, table in (("compat.v1.", ops), ("compat.v1.nn.", nn), ("compat.v1.image.", image)):
            for attr in table.__all__:
                if callable(getattr(table, attr)) and not isinstance(getattr(table, attr), type):
                    OPS.setdefault(prefix + attr, getattr(table, attr))
        _populated = True
    return OPS.get(name) if isinstance(name, str) else None


def returns_several(name):
    """Whether TensorFlow's op ``name`` returns several tensors (``split``: a list; ``top_k``: a tuple)."""
    return name in _SEVERAL


def pair_operands(x, y):
    from .compat.v1.ops import pair_operands as pair

    return pair(x, y)


@register("cast", "dtypes.cast")
def cast(x, dtype, name=None):
    """``tf.cast``; ``dtype`` as a model file writes it (``"int32"``) or a torch dtype."""
    return to_tensor(x).to(as_dtype(dtype))


@register("math.truediv", "truediv", "__operators__.truediv")
def truediv(x, y, name=None):
    """``x / y``; integers divide as float64, as TF's truediv casts them (``tf.divide`` too)."""
    from .compat.v1.ops import divide

    return divide(x, y)


@register("math.floordiv", "floordiv", "__operators__.floordiv")
def floordiv(x, y, name=None):
    x, y = pair_operands(x, y)
    return torch.div(x, y, rounding_mode="floor")


@register("math.pow", "pow", "__operators__.pow")
def pow(x, y, name=None):  # noqa: A001 - tf.pow
    x, y = pair_operands(x, y)
    return torch.pow(x, y)


@register("math.negative", "negative", "__operators__.neg")
def negative(x, name=None):
    return -x


@register("math.reciprocal")
def reciprocal(x, name=None):
    return 1 / x


@register("math.erf")
def erf(x, name=None):
    return torch.erf(x)


@register("nn.silu", "nn.swish", "math.silu")
def silu(features, beta=1.0, name=None):
    """``features * sigmoid(beta * features)``, TF's formula."""
    return features * torch.sigmoid(beta * features)


@register("nn.gelu", "math.gelu")
def gelu(features, approximate=False, name=None):
    """TF's ``gelu``: exact (``erf``) or its tanh approximation."""
    if approximate:
        return 0.5 * features * (1.0 + torch.tanh(0.7978845608028654 * (features + 0.044715 * features ** 3)))
    return 0.5 * features * (1.0 + torch.erf(features / math.sqrt(2.0)))


@register("einsum", "linalg.einsum")
def einsum(equation, *inputs, name=None, **kwargs):
    return torch.einsum(equation, *inputs)


@register("image.resize")
def resize(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False, name=None):
    """TF2's ``tf.image.resize`` (half-pixel centres), channels_last: every method (``bilinear``,
    ``nearest``, ``bicubic``, ``area``, ``lanczos3``, ``lanczos5``, ``gaussian``, ``mitchellcubic``)
    and ``antialias`` (:mod:`kcompat.resize`); float32 out but for ``nearest``, as TensorFlow."""
    from .compat.v1 import image
    from .resize import METHODS, resize_separable

    size = [int(n) for n in (size.tolist() if isinstance(size, torch.Tensor) else size)]
    squeeze = images.dim() == 3
    if squeeze:
        images = images.unsqueeze(0)
    method = getattr(method, "value", method)
    if preserve_aspect_ratio:
        raise ValueError("tf.image.resize: kcompat has no preserve_aspect_ratio (received "
                         f"preserve_aspect_ratio={preserve_aspect_ratio})")
    if method not in METHODS:
        raise ValueError(f"tf.image.resize: method={method!r} is not one of {list(METHODS)}")
    if method == "nearest":
        out = image.resize_nearest_neighbor(images, size, half_pixel_centers=True)
    elif method == "bilinear" and not antialias:
        out = image.resize_bilinear(images, size, half_pixel_centers=True)
    else:
        out = resize_separable(images, size, method, antialias)
    return out.squeeze(0) if squeeze else out


def _index(value):
    if isinstance(value, torch.Tensor):
        return int(value)
    return value


def _slice(entry):
    """One entry of a slice spec as Python indexing: tf.keras writes ``slice`` as
    ``{"start", "stop", "step"}``, ``...`` as ``{"class_name": "__ellipsis__"}``, ``tf.newaxis`` as None."""
    if isinstance(entry, dict) and entry.get("class_name") == "__ellipsis__":
        return Ellipsis
    if isinstance(entry, dict) and set(entry) >= {"start", "stop", "step"}:
        return slice(_index(entry["start"]), _index(entry["stop"]), _index(entry["step"]))
    if isinstance(entry, (slice, type(Ellipsis))) or entry is None:
        return entry
    if isinstance(entry, bool) or not isinstance(_index(entry), int):
        raise ValueError(f"tf.__operators__.getitem: kcompat slices by ints, slices, ... and tf.newaxis; "
                         f"received {entry!r}")
    return _index(entry)


@register("__operators__.getitem")
def getitem(tensor, slice_spec, var=None):
    """``tensor[slice_spec]`` with TF's (numpy's) basic indexing, negative steps included."""
    spec = [_slice(e) for e in (slice_spec if isinstance(slice_spec, (list, tuple)) else [slice_spec])]
    if spec.count(Ellipsis) > 1:
        raise ValueError("tf.__operators__.getitem: more than one ellipsis")
    taken = sum(1 for e in spec if e is not None and e is not Ellipsis)
    if taken > tensor.dim():
        raise ValueError(f"tf.__operators__.getitem: {taken} indices for a tensor of rank {tensor.dim()}")
    if Ellipsis in spec:
        at = spec.index(Ellipsis)
        spec[at:at + 1] = [slice(None)] * (tensor.dim() - taken)
    axis = 0
    for entry in spec:
        if entry is None:
            tensor = tensor.unsqueeze(axis)
            axis += 1
        elif isinstance(entry, int):
            size = tensor.shape[axis]
            if not -size <= entry < size:
                raise ValueError(f"tf.__operators__.getitem: index {entry} is out of bounds for an axis of size {size}")
            tensor = tensor.select(axis, entry)
        else:
            start, stop, step = entry.indices(tensor.shape[axis])
            if step > 0:
                tensor = tensor[(slice(None),) * axis + (slice(start, stop, step),)]
            else:
                tensor = tensor.index_select(axis, torch.arange(start, stop, step, device=tensor.device))
            axis += 1
    return tensor


# ------------------------------------------------------------------ dtypes
_DTYPES = {"float16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
           "float": torch.float32, "float64": torch.float64, "double": torch.float64, "int8": torch.int8,
           "int16": torch.int16, "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8,
           "bool": torch.bool, "complex64": torch.complex64, "complex128": torch.complex128}


def as_dtype(value, argument="dtype"):
    """A TensorFlow dtype as a model file writes it (``"int32"``, a ``{"class_name": "DType"}``
    record) or a torch dtype, as the torch dtype; ``None`` stays ``None``."""
    if value is None or isinstance(value, torch.dtype):
        return value
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") if isinstance(value.get("config"), dict) else value.get("name")
    if isinstance(value, str) and value in _DTYPES:
        return _DTYPES[value]
    raise ValueError(f"`{argument}` must be one of {sorted(_DTYPES)}. Received: {argument}={value!r}")


def axes_of(x, axis):
    """``axis`` (an int, a list, a tensor; ``None``: every axis) as a list of non-negative axes of ``x``."""
    if axis is None:
        return list(range(x.dim()))
    if isinstance(axis, torch.Tensor):
        axis = axis.reshape(-1).tolist()
    return [int(a) % max(x.dim(), 1) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]


# compat.v1's conversions, imported on first use (as the table is filled): importing kcompat stays light
def to_tensor(x, dtype=None):
    """``x`` as a tensor with TF's dtype rules (:func:`kcompat.compat.v1.ops.to_tensor`)."""
    from .compat.v1 import ops

    return ops.to_tensor(x, dtype)


def to_ints(value):
    """A shape or axis list from ints, numpy values or tensors (:func:`kcompat.compat.v1.ops.to_ints`)."""
    from .compat.v1 import ops

    return ops.to_ints(value)



# ------------------------------------------------------------------ elementwise
def _unary(function, *names):
    def op(x, name=None):
        return function(to_tensor(x))
    op.__name__ = names[0].rsplit(".", 1)[-1]
    op.__doc__ = f"``tf.{names[0]}``."
    register(*names)(op)


for _names, _function in [
        (("math.sin", "sin"), torch.sin), (("math.cos", "cos"), torch.cos), (("math.tan", "tan"), torch.tan),
        (("math.asin", "asin"), torch.asin), (("math.acos", "acos"), torch.acos), (("math.atan", "atan"), torch.atan),
        (("math.sinh", "sinh"), torch.sinh), (("math.cosh", "cosh"), torch.cosh), (("math.asinh", "asinh"), torch.asinh),
        (("math.acosh", "acosh"), torch.acosh), (("math.atanh", "atanh"), torch.atanh),
        (("math.floor", "floor"), torch.floor), (("math.ceil", "ceil"), torch.ceil),
        (("math.round", "round"), torch.round), (("math.rint", "rint"), torch.round),  # both: half to even
        (("math.sign", "sign"), torch.sign), (("math.log1p", "log1p"), torch.log1p),
        (("math.expm1", "expm1"), torch.expm1), (("math.erfc", "erfc"), torch.erfc),
        (("nn.softsign", "math.softsign"), lambda x: x / (1 + x.abs())),
        (("math.log_sigmoid",), torch.nn.functional.logsigmoid),
        (("math.is_nan", "is_nan"), torch.isnan), (("math.is_inf", "is_inf"), torch.isinf),
        (("math.is_finite", "is_finite"), torch.isfinite), (("math.logical_not", "logical_not"), torch.logical_not),
        (("stop_gradient",), torch.Tensor.detach)]:
    _unary(_function, *_names)


def _binary(function, *names):
    def op(x, y, name=None):
        return function(*pair_operands(x, y))
    op.__name__ = names[0].rsplit(".", 1)[-1]
    op.__doc__ = f"``tf.{names[0]}``: a Python number takes the tensor's dtype."
    register(*names)(op)


for _names, _function in [
        (("math.greater", "greater", "__operators__.gt"), torch.gt), (("math.less", "less", "__operators__.lt"), torch.lt),
        (("math.equal", "equal", "__operators__.eq"), torch.eq), (("math.greater_equal", "greater_equal"), torch.ge),
        (("math.less_equal", "less_equal"), torch.le),
        (("math.not_equal", "not_equal", "__operators__.ne"), torch.ne),
        (("math.logical_and", "logical_and"), torch.logical_and), (("math.logical_or", "logical_or"), torch.logical_or),
        (("math.logical_xor", "logical_xor"), torch.logical_xor), (("math.atan2", "atan2"), torch.atan2),
        (("math.squared_difference", "squared_difference"), lambda x, y: (x - y) * (x - y)),
        (("math.floormod", "floormod", "math.mod", "mod"), torch.remainder),  # the divisor's sign, as TF
        (("math.xlogy",), torch.xlogy),
        (("math.divide_no_nan", "div_no_nan"), lambda x, y: torch.where(y == 0, torch.zeros_like(x), x / y)),
        (("math.multiply_no_nan",), lambda x, y: torch.where(y == 0, torch.zeros_like(x), x * y))]:
    _binary(_function, *_names)


@register("math.scalar_mul", "scalar_mul")
def scalar_mul(scalar, x, name=None):
    from .compat.v1.ops import multiply

    return multiply(x, scalar)


# ------------------------------------------------------------------ reductions
def _reduce(function, name):
    def reduce(input_tensor, axis=None, keepdims=False, name=None):
        x = to_tensor(input_tensor)
        axes = axes_of(x, axis)
        if not axes:
            return x
        return function(x, axes, bool(keepdims))
    reduce.__name__ = name.rsplit(".", 1)[-1]
    reduce.__doc__ = f"``tf.{name}``, TensorFlow's arguments (``axis=None``: every axis)."
    register(name, name.split(".", 1)[1])(reduce)


def _variance(x, axes, keep):
    mean = x.mean(axes, keepdim=True)
    return ((x - mean) * (x - mean)).mean(axes, keepdim=keep)  # population variance, as TF: (x - mean)^2


def _product(x, axes, keep):
    for a in sorted(axes, reverse=True):  # torch's prod takes one axis
        x = x.prod(a, keepdim=keep)
    return x


_reduce(_product, "math.reduce_prod")
_reduce(_variance, "math.reduce_variance")
_reduce(lambda x, a, k: torch.sqrt(_variance(x, a, k)), "math.reduce_std")
_reduce(lambda x, a, k: torch.logsumexp(x, a, keepdim=k), "math.reduce_logsumexp")
_reduce(lambda x, a, k: torch.amax(x.bool(), a, keepdim=k), "math.reduce_any")
_reduce(lambda x, a, k: torch.amin(x.bool(), a, keepdim=k), "math.reduce_all")
_reduce(lambda x, a, k: torch.sqrt((x * x).sum(a, keepdim=k)), "math.reduce_euclidean_norm")


@register("math.count_nonzero", "count_nonzero")
def count_nonzero(input, axis=None, keepdims=None, dtype=torch.int64, name=None):  # noqa: A002
    x = to_tensor(input)
    axes, nonzero = axes_of(x, axis), x != 0
    return (nonzero.sum(axes, keepdim=bool(keepdims)) if axes else nonzero).to(as_dtype(dtype))


def _arg(function, name):
    def arg(input, axis=None, output_type=torch.int64, name=None):  # noqa: A002
        x = to_tensor(input)
        return function(x, dim=0 if axis is None else int(axis)).to(as_dtype(output_type, "output_type"))
    arg.__name__ = name.rsplit(".", 1)[-1]
    arg.__doc__ = f"``tf.{name}``: ``axis=None`` is axis 0; a tie gives the first index."
    register(name, name.split(".", 1)[1])(arg)


_arg(torch.argmax, "math.argmax")
_arg(torch.argmin, "math.argmin")


def _cumulative(function, name):
    def cumulative(x, axis=0, exclusive=False, reverse=False, name=None):
        x = to_tensor(x)
        axis = int(axis)
        if reverse:
            x = x.flip(axis)
        out = function(x, dim=axis).to(x.dtype)
        if exclusive:  # shift by one, the identity first
            first = torch.full_like(x.narrow(axis, 0, 1), 0 if function is torch.cumsum else 1)
            out = torch.cat([first, out.narrow(axis, 0, x.shape[axis] - 1)], dim=axis)
        return out.flip(axis) if reverse else out
    cumulative.__name__ = name.rsplit(".", 1)[-1]
    cumulative.__doc__ = f"``tf.{name}``: ``exclusive`` and ``reverse`` as TensorFlow."
    register(name, name.split(".", 1)[1])(cumulative)


_cumulative(torch.cumsum, "math.cumsum")
_cumulative(torch.cumprod, "math.cumprod")


@register("math.top_k", "nn.top_k")
def top_k(input, k=1, sorted=True, index_type=torch.int32, name=None):  # noqa: A002
    """``tf.math.top_k``: the ``k`` largest along the last axis; a tie gives the lower index first."""
    x = to_tensor(input)
    values, indices = torch.sort(x, dim=-1, descending=True, stable=True)
    return values[..., :int(k)], indices[..., :int(k)].to(as_dtype(index_type, "index_type"))


@register("sort")
def sort(values, axis=-1, direction="ASCENDING", name=None):
    return torch.sort(to_tensor(values), dim=int(axis), descending=_direction(direction), stable=True).values


@register("argsort")
def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """``tf.argsort``: int32 indices; a tie keeps the input's order (TF's is stable in practice)."""
    return torch.sort(to_tensor(values), dim=int(axis), descending=_direction(direction), stable=True).indices.to(
        torch.int32)


def _direction(direction):
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"`direction` must be one of ['ASCENDING', 'DESCENDING']. Received: direction={direction!r}")
    return direction == "DESCENDING"


# ------------------------------------------------------------------ indexing and shapes
@register("compat.v1.gather")
def gather_v1(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """``tf.compat.v1.gather`` (what tf.keras records for ``tf.gather``): ``name`` before ``axis``."""
    return gather(params, indices, axis=axis, batch_dims=batch_dims)


@register("gather")
def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """``tf.gather``: ``params``' axis ``axis`` (default ``batch_dims``) indexed by ``indices``, the
    first ``batch_dims`` axes of both shared; an index out of range is an error, as on TF's CPU."""
    params, indices = to_tensor(params), to_tensor(indices).long()
    b = int(batch_dims) % (indices.dim() + 1) if int(batch_dims) < 0 else int(batch_dims)
    axis = b if axis is None else int(axis) % params.dim()
    size = params.shape[axis]
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= size):
        raise ValueError(f"tf.gather: indices must be in [0, {size}); received {indices.tolist()}")
    batch, outer, rest = params.shape[:b], params.shape[b:axis], params.shape[axis + 1:]
    p = params.reshape(math.prod(batch), math.prod(outer), size, math.prod(rest))
    i = indices.reshape(math.prod(batch), -1)
    rows = torch.arange(p.shape[0], device=p.device)[:, None].expand_as(i)
    out = p.permute(0, 2, 1, 3)[rows, i]  # (batch, indices, outer, rest)
    out = out.permute(0, 2, 1, 3)
    return out.reshape(*batch, *outer, *indices.shape[b:], *rest)


@register("gather_nd")
def gather_nd(params, indices, batch_dims=0, name=None):
    """``tf.gather_nd`` (``batch_dims=0``): the last axis of ``indices`` indexes ``params``' first axes."""
    if int(batch_dims):
        raise ValueError(f"tf.gather_nd: kcompat has batch_dims=0 only; received batch_dims={batch_dims}")
    params, indices = to_tensor(params), to_tensor(indices).long()
    return params[tuple(indices[..., j] for j in range(indices.shape[-1]))]


@register("where", "where_v2")
def where(condition, x=None, y=None, name=None):
    """``tf.where``: ``x`` where ``condition`` else ``y``, broadcast; with only ``condition``, the
    int64 coordinates of its true entries."""
    condition = to_tensor(condition)
    if x is None and y is None:
        return torch.nonzero(condition)
    x, y = pair_operands(x, y)
    return torch.where(condition.bool(), x, y)


@register("one_hot")
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``tf.one_hot``: an index outside ``[0, depth)`` gives a row of ``off_value``."""
    indices = to_tensor(indices)
    kind = as_dtype(dtype) or next((v.dtype if isinstance(v, torch.Tensor) else torch.float32
                                              for v in (on_value, off_value) if v is not None), torch.float32)
    on = torch.as_tensor(1 if on_value is None else on_value, dtype=kind)
    off = torch.as_tensor(0 if off_value is None else off_value, dtype=kind)
    out = torch.where(indices.unsqueeze(-1) == torch.arange(int(depth), device=indices.device), on, off)
    return out if axis is None or int(axis) == -1 else out.movedim(-1, int(axis))


@register("broadcast_to")
def broadcast_to(input, shape, name=None):  # noqa: A002
    return to_tensor(input).expand(to_ints(shape)).clone()


@register("reverse", "reverse_v2")
def reverse(tensor, axis, name=None):
    x = to_tensor(tensor)
    return x.flip(axes_of(x, axis))


@register("roll", "manip.roll")
def roll(input, shift, axis, name=None):  # noqa: A002
    return torch.roll(to_tensor(input), to_ints(shift), to_ints(axis))


@register("repeat")
def repeat(input, repeats, axis=None, name=None):  # noqa: A002
    x = to_tensor(input)
    repeats = repeats if isinstance(repeats, int) else to_tensor(repeats).long()
    return torch.repeat_interleave(x.reshape(-1) if axis is None else x, repeats, dim=0 if axis is None else int(axis))


@register("slice")
def slice_(input_, begin, size, name=None):
    """``tf.slice``: ``size`` entries from ``begin`` on each axis, ``-1``: to the end."""
    x = to_tensor(input_)
    for axis, (start, n) in enumerate(zip(to_ints(begin), to_ints(size))):
        x = x.narrow(axis, start, x.shape[axis] - start if n == -1 else n)
    return x


@register("strided_slice")
def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_axis_mask=0, var=None, name=None):
    """``tf.strided_slice``: the masks' bits as ``x[...]`` would write the slice."""
    begin, end = to_ints(begin), to_ints(end)
    strides = to_ints(strides) if strides is not None else [1] * len(begin)
    spec = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            spec.append(Ellipsis)
        elif new_axis_mask & bit:
            spec.append(None)
        elif shrink_axis_mask & bit:
            spec.append(b)
        else:
            spec.append(slice(None if begin_mask & bit else b, None if end_mask & bit else e, s))
    return getitem(to_tensor(input_), spec)


@register("size")
def size(input, out_type=torch.int32, name=None):  # noqa: A002
    return torch.tensor(to_tensor(input).numel(), dtype=as_dtype(out_type, "out_type"))


@register("rank")
def rank(input, name=None):  # noqa: A002
    return torch.tensor(to_tensor(input).dim(), dtype=torch.int32)


@register("boolean_mask")
def boolean_mask(tensor, mask, axis=None, name=None):
    """``tf.boolean_mask``: the entries where ``mask`` (over axes ``axis`` on) is true, those axes flattened."""
    x, mask = to_tensor(tensor), to_tensor(mask).bool()
    axis = 0 if axis is None else int(axis) % x.dim()
    flat = x.flatten(axis, axis + mask.dim() - 1) if mask.dim() > 1 else x
    return flat.index_select(axis, torch.nonzero(mask.reshape(-1)).reshape(-1))


@register("compat.v1.norm")
def norm_v1(tensor, ord="euclidean", axis=None, keepdims=None, name=None, keep_dims=None):  # noqa: A002
    """``tf.compat.v1.norm`` (what tf.keras records for ``tf.norm``): ``keep_dims`` too."""
    return norm(tensor, ord, axis, keepdims if keepdims is not None else keep_dims)


@register("norm", "linalg.norm")
def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):  # noqa: A002
    """``tf.norm``: vector norms (``euclidean``/2, 1, ``inf``) over one axis or all; Frobenius over two."""
    x = to_tensor(tensor)
    axes = axes_of(x, axis)
    matrix = axis is not None and len(axes) == 2
    if matrix and ord not in ("euclidean", "fro"):
        raise ValueError(f"tf.norm: kcompat has the Frobenius norm over two axes; received ord={ord!r}")
    if not matrix and axis is not None and len(axes) != 1:
        raise ValueError(f"tf.norm: `axis` must be None, an int or a pair; received axis={axis!r}")
    keep = bool(keepdims)
    if ord in ("euclidean", "fro", 2, 2.0):
        return torch.sqrt((x * x).sum(axes, keepdim=keep))
    if ord in (1, 1.0):
        return x.abs().sum(axes, keepdim=keep)
    if ord in (math.inf, "inf", float("inf")):
        return x.abs().amax(axes, keepdim=keep)
    raise ValueError(f"tf.norm: kcompat has ord 'euclidean', 'fro', 1, 2 and inf; received ord={ord!r}")


# ------------------------------------------------------------------ nn and image
@register("nn.crelu")
def crelu(features, axis=-1, name=None):
    x = to_tensor(features)
    return torch.cat([torch.relu(x), torch.relu(-x)], dim=int(axis))


@register("image.extract_patches")
def extract_patches(images, sizes, strides, rates, padding, name=None):
    """``tf.image.extract_patches`` (NHWC): each patch flattened in (row, column, channel) order;
    ``SAME`` pads as TF's convolution does, with zeros."""
    from .shapes import conv_output_length, conv_padding

    x = to_tensor(images)
    kh, kw = to_ints(sizes)[1:3]
    sh, sw = to_ints(strides)[1:3]
    rh, rw = to_ints(rates)[1:3]
    n, h, w, c = x.shape
    if str(padding).upper() == "SAME":
        (t, b), (left, r) = conv_padding(h, kh, sh, "same", rh), conv_padding(w, kw, sw, "same", rw)
        x = torch.nn.functional.pad(x, (0, 0, left, r, t, b))
    elif str(padding).upper() != "VALID":
        raise ValueError(f"`padding` must be one of ['SAME', 'VALID']. Received: padding={padding!r}")
    cols = torch.nn.functional.unfold(x.permute(0, 3, 1, 2), (kh, kw), dilation=(rh, rw), stride=(sh, sw))
    oh, ow = conv_output_length(x.shape[1], kh, sh, "valid", rh), conv_output_length(x.shape[2], kw, sw, "valid", rw)
    return cols.reshape(n, c, kh, kw, oh, ow).permute(0, 4, 5, 2, 3, 1).reshape(n, oh, ow, kh * kw * c)
