"""Keras 3's op nodes: a ``keras.ops`` call on a Keras tensor in a Functional model is saved as
an operation (``{"module": "keras.src.ops.numpy", "class_name": "Reshape", "config": {"newshape":
...}}``) whose node holds the call's arguments. ``keras_op(class_name)`` is the function that
computes it from ``(*arguments, **config)``, with Keras's semantics on the TensorFlow backend:
Keras's dtype rules (numpy's, as JAX has them: ``int32 / int32`` is float32, a Python float
beside an int tensor makes float32, sums of small ints are int32), numpy's argument meanings
(``axis=None`` flattens, ``split`` takes split points), and TensorFlow's kernels underneath (the
ops of :mod:`kcompat.tf_ops`)."""

from __future__ import annotations

import torch

from . import activations
from .tf_ops import as_dtype, axes_of, registrar, tf_op, to_tensor

__all__ = ["KERAS_OPS", "keras_op", "returns_several"]

KERAS_OPS = {}
_SEVERAL = {"Split", "ArraySplit", "Unstack", "TopK", "Moments"}  # operations whose result is several tensors
_declare = registrar(KERAS_OPS)  # declares the decorated function as Keras's operation under each class name


def _promote(*values):
    """Keras's ``result_type`` of tensors and Python numbers (a number is weak: it takes the
    tensor's kind where it fits), each converted to it."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return [to_tensor(v) for v in values]
    kind = tensors[0].dtype
    for v in values[1:] if values[0] is tensors[0] else values:
        kind = torch.promote_types(kind, v.dtype) if isinstance(v, torch.Tensor) else \
            torch.result_type(torch.empty((), dtype=kind), v)
    device = tensors[0].device
    return [v.to(kind) if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=kind, device=device)
            for v in values]


def _floating(x):
    """``x`` as Keras computes float results of it: ints and bools become float32."""
    x = to_tensor(x)
    return x if x.is_floating_point() or x.is_complex() else x.to(torch.float32)


# ------------------------------------------------------------------ elementwise
def _binary(tf_name, *names, floating=False):
    def op(x1, x2):
        x1, x2 = _promote(x1, x2)
        if floating:
            x1, x2 = _floating(x1), _floating(x2)
        return tf_op(tf_name)(x1, x2)
    op.__name__ = names[0]
    op.__doc__ = f"Keras's {names[0]}: Keras's dtype promotion, then ``tf.{tf_name}``."
    _declare(*names)(op)


for _tf, _names, _floating_result in [
        ("math.add", ("Add",), False), ("math.subtract", ("Subtract",), False),
        ("math.multiply", ("Multiply",), False), ("math.truediv", ("TrueDivide", "Divide"), True),
        ("math.floordiv", ("FloorDivide",), False), ("math.floormod", ("Mod",), False),
        ("math.maximum", ("Maximum",), False), ("math.minimum", ("Minimum",), False),
        ("math.greater", ("Greater",), False), ("math.greater_equal", ("GreaterEqual",), False),
        ("math.less", ("Less",), False), ("math.less_equal", ("LessEqual",), False),
        ("math.equal", ("Equal",), False), ("math.not_equal", ("NotEqual",), False),
        ("math.logical_and", ("LogicalAnd",), False), ("math.logical_or", ("LogicalOr",), False),
        ("math.logical_xor", ("LogicalXor",), False), ("math.atan2", ("Arctan2",), True),
        ("math.divide_no_nan", ("DivideNoNan",), True)]:
    _binary(_tf, *_names, floating=_floating_result)


@_declare("Power")
def power(x1, x2):
    x1, x2 = _promote(x1, x2)
    return torch.pow(x1, x2)


def _unary(function, *names, floating=True):
    def op(x):
        return function(_floating(x) if floating else to_tensor(x))
    op.__name__ = names[0]
    _declare(*names)(op)


for _names, _function, _floating_result in [
        (("Abs", "Absolute"), torch.abs, False), (("Negative",), torch.neg, False), (("Sign",), torch.sign, False),
        (("Floor",), torch.floor, True), (("Ceil",), torch.ceil, True),
        (("Trunc",), torch.trunc, False), (("Sqrt",), torch.sqrt, True), (("Rsqrt",), torch.rsqrt, True),
        (("Exp",), torch.exp, True), (("Exp2",), torch.exp2, True), (("Expm1",), torch.expm1, True),
        (("Log",), torch.log, True), (("Log1p",), torch.log1p, True), (("Log2",), torch.log2, True),
        (("Log10",), torch.log10, True), (("Sin",), torch.sin, True), (("Cos",), torch.cos, True),
        (("Tan",), torch.tan, True), (("Arcsin",), torch.asin, True), (("Arccos",), torch.acos, True),
        (("Arctan",), torch.atan, True), (("Sinh",), torch.sinh, True), (("Cosh",), torch.cosh, True),
        (("Tanh",), torch.tanh, True), (("Arcsinh",), torch.asinh, True), (("Arccosh",), torch.acosh, True),
        (("Arctanh",), torch.atanh, True), (("Erf",), torch.erf, True), (("Erfc",), torch.erfc, True),
        (("Reciprocal",), torch.reciprocal, True), (("LogicalNot",), torch.logical_not, False),
        (("Isnan",), torch.isnan, False), (("Isinf",), torch.isinf, False), (("Isfinite",), torch.isfinite, False),
        (("StopGradient",), torch.Tensor.detach, False), (("Copy",), torch.clone, False)]:
    _unary(_function, *_names, floating=_floating_result)


@_declare("Square")
def square(x):
    x = to_tensor(x)
    return torch.square(x.to(torch.int32) if x.dtype == torch.bool else x)


@_declare("Round")
def round_(x, decimals=0):
    """Half to even, at ``decimals`` places (TF's ``round`` on ``x * 10**decimals``)."""
    x = to_tensor(x)
    if decimals == 0:
        return torch.round(x)
    if not x.is_floating_point():
        if decimals > 0:
            return x
        return (torch.round(x.to(torch.float32) * 10.0 ** decimals) / 10.0 ** decimals).to(x.dtype)
    factor = torch.tensor(10.0 ** decimals, dtype=x.dtype)
    return torch.round(x * factor) / factor


@_declare("Clip")
def clip(x, x_min, x_max):
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return tf_op("clip_by_value")(x, x_min, x_max)


@_declare("Where")
def where(condition, x1=None, x2=None):
    if x1 is None or x2 is None:
        raise ValueError("keras.ops.where: kcompat has where(condition, x1, x2); the indices of a condition alone "
                         "have a size only its values give")
    x1, x2 = _promote(x1, x2)
    return torch.where(to_tensor(condition).bool(), x1, x2)


# ------------------------------------------------------------------ reductions
def _sum_dtype(x):
    """Keras's (JAX's) accumulator for sums and products: bool and small ints become int32."""
    if x.dtype in (torch.bool, torch.int8, torch.int16, torch.uint8):
        return x.to(torch.int32)
    return x


def _keeping_dtype(function):
    """``function`` with its result in its input's dtype (torch sums ints as int64)."""
    return lambda x, a, k: function(x, a, k).to(x.dtype)


def _reduction(name, function, prepare=lambda x: x):
    def reduce(x, axis=None, keepdims=False, **kwargs):
        x = prepare(to_tensor(x))
        if kwargs.get("initial") is not None:
            raise ValueError(f"keras.ops.{name.lower()}: kcompat has no `initial`; received {kwargs['initial']!r}")
        if kwargs.get("dtype") is not None:
            x = x.to(as_dtype(kwargs["dtype"]))
        axes = axes_of(x, axis)
        return function(x, axes, bool(keepdims)) if axes else x
    _declare(name)(reduce)


_reduction("Sum", _keeping_dtype(lambda x, a, k: x.sum(a, keepdim=k)), _sum_dtype)
_reduction("Prod", _keeping_dtype(lambda x, a, k: tf_op("math.reduce_prod")(x, a, k)), _sum_dtype)
_reduction("Mean", lambda x, a, k: x.mean(a, keepdim=k), _floating)
_reduction("Var", lambda x, a, k: tf_op("math.reduce_variance")(x, a, k), _floating)
_reduction("Std", lambda x, a, k: tf_op("math.reduce_std")(x, a, k), _floating)
for _name in ("Max", "Amax"):
    _reduction(_name, lambda x, a, k: x.amax(a, keepdim=k))
for _name in ("Min", "Amin"):
    _reduction(_name, lambda x, a, k: x.amin(a, keepdim=k))
_reduction("Any", lambda x, a, k: x.bool().amax(a, keepdim=k))
_reduction("All", lambda x, a, k: x.bool().amin(a, keepdim=k))
_reduction("Logsumexp", lambda x, a, k: torch.logsumexp(x, a, keepdim=k), _floating)


@_declare("CountNonzero")
def count_nonzero(x, axis=None):
    return tf_op("math.count_nonzero")(x, axis, dtype=torch.int32)


def _arg(function):
    def arg(x, axis=None, keepdims=False):
        x = to_tensor(x)
        if x.is_floating_point():  # TF's kernel has -0.0 below 0.0 (Keras's flush-to-zero fix)
            tiny = torch.finfo(x.dtype).tiny
            x = torch.where((x == 0) & torch.signbit(x), torch.full_like(x, -tiny if function is torch.argmax
                                                                       else tiny), x)
        if axis is None:
            out = function(x.reshape(-1), dim=0)
            return out.reshape([1] * x.dim()).to(torch.int32) if keepdims else out.to(torch.int32)
        return function(x, dim=int(axis), keepdim=bool(keepdims)).to(torch.int32)
    return arg


_declare("Argmax")(_arg(torch.argmax))
_declare("Argmin")(_arg(torch.argmin))


def _cumulative(tf_name):
    def cumulative(x, axis=None, dtype=None):
        x = to_tensor(x, as_dtype(dtype))
        if x.dtype == torch.bool:
            x = x.to(torch.int32)
        if axis is None:
            x, axis = x.reshape(-1), 0
        return tf_op(tf_name)(x, axis)
    return cumulative


_declare("Cumsum")(_cumulative("math.cumsum"))
_declare("Cumprod")(_cumulative("math.cumprod"))


@_declare("Sort")
def sort(x, axis=-1):
    return tf_op("sort")(x, axis)


@_declare("Argsort")
def argsort(x, axis=-1):
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return tf_op("argsort")(x, axis)


@_declare("TopK")
def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument
    return tf_op("math.top_k")(to_tensor(x), k)


# ------------------------------------------------------------------ shapes and indexing
@_declare("Reshape")
def reshape(x, newshape):
    return tf_op("reshape")(x, [-1] if newshape == -1 else newshape)


@_declare("Transpose")
def transpose(x, axes=None):
    return tf_op("transpose")(x, perm=axes)


@_declare("ExpandDims")
def expand_dims(x, axis):
    x = to_tensor(x)
    for a in sorted(int(a) % (x.dim() + len(axis)) for a in axis) if isinstance(axis, (list, tuple)) else [axis]:
        x = x.unsqueeze(int(a))
    return x


@_declare("Squeeze")
def squeeze(x, axis=None):
    x = to_tensor(x)
    axes = [a for a in range(x.dim()) if x.shape[a] == 1] if axis is None else axes_of(x, axis)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"keras.ops.squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {tuple(x.shape)})")
    for a in sorted(axes, reverse=True):
        x = x.squeeze(a)
    return x


@_declare("Concatenate")
def concatenate(xs, axis=0):
    xs = _promote(*xs)
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    return torch.cat(xs, dim=int(axis))


@_declare("Stack")
def stack(x, axis=0):
    return torch.stack(_promote(*x), dim=int(axis))


@_declare("Hstack")
def hstack(xs):
    xs = _promote(*xs)
    return torch.cat(xs, dim=0 if xs[0].dim() == 1 else 1)


@_declare("Vstack")
def vstack(xs):
    return torch.cat([x.reshape(1, -1) if x.dim() == 1 else x for x in _promote(*xs)], dim=0)


@_declare("Tile")
def tile(x, repeats):
    x = to_tensor(x)
    repeats = [int(r) for r in (repeats if isinstance(repeats, (list, tuple)) else [repeats])]
    if len(repeats) < x.dim():
        repeats = [1] * (x.dim() - len(repeats)) + repeats
    return x.repeat(repeats)


@_declare("Repeat")
def repeat(x, repeats, axis=None):
    return tf_op("repeat")(to_tensor(x), repeats, axis)


@_declare("ArraySplit")
def array_split(x, indices_or_sections, axis=0):
    """numpy's ``array_split``: ``n`` sections, the first ``size % n`` one longer (Keras's
    TensorFlow backend takes a number of sections only)."""
    x = to_tensor(x)
    if not isinstance(indices_or_sections, int) or isinstance(indices_or_sections, bool):
        raise ValueError(f"keras.ops.array_split: `indices_or_sections` must be an int on TensorFlow. Received: "
                         f"indices_or_sections={indices_or_sections!r}")
    size, n = x.shape[int(axis)], indices_or_sections
    return list(torch.split(x, [size // n + (i < size % n) for i in range(n)], dim=int(axis)))


@_declare("Split")
def split(x, indices_or_sections, axis=0):
    """numpy's ``split``: ``n`` equal sections, or the points to split at."""
    x = to_tensor(x)
    axis = int(axis)
    if isinstance(indices_or_sections, int):
        if x.shape[axis] % indices_or_sections:
            raise ValueError(f"keras.ops.split: axis {axis} of size {x.shape[axis]} does not split into "
                             f"{indices_or_sections} equal sections")
        return list(torch.chunk(x, indices_or_sections, dim=axis))
    points = [0, *[int(i) for i in indices_or_sections], x.shape[axis]]
    return list(torch.split(x, [b - a for a, b in zip(points, points[1:])], dim=axis))


@_declare("Unstack")
def unstack(x, num=None, axis=0):
    return list(torch.unbind(to_tensor(x), dim=int(axis)))


@_declare("Flip")
def flip(x, axis=None):
    x = to_tensor(x)
    return x.flip(axes_of(x, axis))


@_declare("Roll")
def roll(x, shift, axis=None):
    x = to_tensor(x)
    if axis is None:
        return torch.roll(x.reshape(-1), shift).reshape(x.shape)
    return torch.roll(x, shift, axis)


@_declare("Swapaxes")
def swapaxes(x, axis1, axis2):
    return to_tensor(x).transpose(int(axis1), int(axis2))


@_declare("Moveaxis")
def moveaxis(x, source, destination):
    return to_tensor(x).movedim(source, destination)


@_declare("BroadcastTo")
def broadcast_to(x, shape):
    return tf_op("broadcast_to")(x, shape)


@_declare("Ravel")
def ravel(x):
    return to_tensor(x).reshape(-1)


@_declare("Pad")
def pad(x, pad_width, mode="constant", constant_values=None):
    if mode != "constant":
        raise ValueError(f"keras.ops.pad: kcompat has mode='constant' only; received mode={mode!r}")
    x = to_tensor(x)
    widths = [list(p) if isinstance(p, (list, tuple)) else [p, p] for p in
              (pad_width if isinstance(pad_width, (list, tuple)) else [pad_width])]
    if len(widths) == 1 and x.dim() > 1:
        widths = widths * x.dim()
    return tf_op("pad")(x, widths, constant_values=constant_values or 0)


def _indexed(x, indices, axis):
    """numpy's indexing arguments: ``axis=None`` flattens ``x``; a negative index counts from the end."""
    x, indices = to_tensor(x), to_tensor(indices).long()
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = int(axis) % x.dim()
    return x, torch.where(indices < 0, indices + x.shape[axis], indices), axis


@_declare("Take")
def take(x, indices, axis=None):
    x, indices, axis = _indexed(x, indices, axis)
    return tf_op("gather")(x, indices, axis=axis)


@_declare("TakeAlongAxis")
def take_along_axis(x, indices, axis=None):
    x, indices, axis = _indexed(x, indices, axis)
    shape = list(torch.broadcast_shapes(tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis + 1:]),
                                        tuple(indices.shape[:axis]) + (1,) + tuple(indices.shape[axis + 1:])))
    x_shape, i_shape = list(shape), list(shape)
    x_shape[axis], i_shape[axis] = x.shape[axis], indices.shape[axis]
    return torch.gather(x.expand(x_shape), axis, indices.expand(i_shape))


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


_declare("GetItem")(_getitem)


@_declare("Slice")
def slice_(inputs, start_indices, shape):
    return tf_op("slice")(inputs, start_indices, shape)


@_declare("Cast", "ConvertToTensor")
def cast(x, dtype=None, sparse=None, ragged=None):
    x = to_tensor(x)
    return x if dtype is None else x.to(as_dtype(dtype))


def _filled(value):
    def like(x, dtype=None):
        x = to_tensor(x)
        return torch.full_like(x, value, dtype=as_dtype(dtype) or x.dtype)
    return like


KERAS_OPS["ZerosLike"], KERAS_OPS["OnesLike"] = _filled(0), _filled(1)


@_declare("FullLike")
def full_like(x, fill_value, dtype=None):
    x = to_tensor(x)
    return torch.full_like(x, float(fill_value) if x.is_floating_point() else fill_value,
                           dtype=as_dtype(dtype) or x.dtype)


KERAS_OPS["Tril"] = lambda x, k=0: torch.tril(to_tensor(x), int(k))
KERAS_OPS["Triu"] = lambda x, k=0: torch.triu(to_tensor(x), int(k))


# ------------------------------------------------------------------ linear algebra
@_declare("Matmul")
def matmul(x1, x2):
    x1, x2 = _promote(x1, x2)
    if x1.dim() == 1 or x2.dim() == 1:
        return torch.matmul(x1, x2)
    return tf_op("linalg.matmul")(x1, x2)


@_declare("Dot")
def dot(x1, x2):
    x1, x2 = _promote(x1, x2)
    if x1.dim() == 0 or x2.dim() == 0:
        return x1 * x2
    if x2.dim() == 1:
        return torch.tensordot(x1, x2, dims=([x1.dim() - 1], [0]))
    return torch.tensordot(x1, x2, dims=([x1.dim() - 1], [x2.dim() - 2]))


@_declare("Outer")
def outer(x1, x2):
    x1, x2 = _promote(x1, x2)
    return x1.reshape(-1, 1) * x2.reshape(1, -1)


@_declare("Tensordot")
def tensordot(x1, x2, axes=2):
    x1, x2 = _promote(x1, x2)
    return torch.tensordot(x1, x2, dims=axes if isinstance(axes, int) else [list(a) for a in axes])


@_declare("Einsum")
def einsum(*operands, subscripts):
    return tf_op("einsum")(subscripts, *_promote(*operands))


@_declare("Norm")
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument
    """``keras.ops.norm`` (``linalg``): numpy's default is the 2-norm of the flattened input,
    Frobenius over two axes."""
    x = _floating(x)
    if axis is None and x.dim() > 2:
        raise ValueError(f"Invalid axis values. Received: axis={tuple(range(x.dim()))}")
    if ord is None or ord == "fro":
        return torch.sqrt((x * x).sum(axes_of(x, axis), keepdim=bool(keepdims)))
    if axis is None or isinstance(axis, int) or len(axis) == 1:
        return tf_op("norm")(x, ord=ord, axis=axis, keepdims=keepdims)
    raise ValueError(f"keras.ops.norm: kcompat has ord=None, 'fro', 1, 2 and inf; received ord={ord!r}")


# ------------------------------------------------------------------ nn and image
def _activation(name):
    def act(x, **kwargs):
        return activations.get(name)(to_tensor(x), **kwargs)
    return act


for _class, _activation_name in [
        ("Relu", "relu"), ("Relu6", "relu6"), ("Sigmoid", "sigmoid"), ("Silu", "silu"), ("Swish", "silu"),
        ("HardSigmoid", "hard_sigmoid"), ("HardSilu", "hard_silu"), ("HardSwish", "hard_silu"), ("Gelu", "gelu"),
        ("Softplus", "softplus"), ("Softsign", "softsign"), ("Elu", "elu"), ("Selu", "selu"), ("Celu", "celu"),
        ("Glu", "glu"), ("LogSigmoid", "log_sigmoid"), ("HardTanh", "hard_tanh"), ("TanhShrink", "tanh_shrink"),
        ("SoftShrink", "soft_shrink"), ("HardShrink", "hard_shrink"), ("Squareplus", "squareplus"),
        ("SparsePlus", "sparse_plus"), ("SparseSigmoid", "sparse_sigmoid"), ("Threshold", "threshold"),
        ("Sparsemax", "sparsemax"), ("LeakyRelu", "leaky_relu"), ("Softmax", "softmax"),
        ("LogSoftmax", "log_softmax")]:
    KERAS_OPS[_class] = _activation(_activation_name)


@_declare("OneHot")
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("keras.ops.one_hot: kcompat has no sparse=True")
    return tf_op("one_hot")(to_tensor(x).long(), num_classes, axis=axis, dtype=as_dtype(dtype) or torch.float32)


@_declare("Normalize")
def normalize(x, axis=-1, order=2, epsilon=None):
    """``x / max(norm(x), epsilon)`` along ``axis`` (Keras's default ``epsilon``: 1e-7)."""
    x = _floating(x)
    eps = 1e-7 if epsilon is None else float(epsilon)
    if order == 2:
        return tf_op("math.l2_normalize")(x, axis=axis, epsilon=eps * eps)
    norm_ = x.abs().pow(order).sum(axis, keepdim=True).pow(1.0 / order)
    return x / torch.clamp(norm_, min=eps)


@_declare("Moments")
def moments(x, axes, keepdims=False, synchronized=False):
    x = _floating(x)
    axes = axes_of(x, axes)
    mean = x.mean(axes, keepdim=True)
    variance = tf_op("math.reduce_variance")(x, axes, True)
    if not keepdims:
        mean, variance = mean.squeeze(tuple(axes)), variance.squeeze(tuple(axes))
    return mean, variance


def _space(tf_name):
    def rearrange(x, block_size, data_format="channels_last"):
        return tf_op(tf_name)(to_tensor(x), block_size, data_format="NCHW" if data_format == "channels_first"
                              else "NHWC")
    return rearrange


KERAS_OPS["DepthToSpace"] = _space("nn.depth_to_space")
KERAS_OPS["SpaceToDepth"] = _space("nn.space_to_depth")


@_declare("Resize")
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """``keras.ops.image.resize`` on TensorFlow (``tf.image.resize``: half-pixel centres; the crop or
    pad to the target's aspect ratio first, as Keras's TensorFlow backend places it)."""
    from .resize import to_aspect_ratio

    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    x = to_tensor(images)
    first = data_format == "channels_first"
    if first:
        x = x.movedim(-3, -1)
    if crop_to_aspect_ratio or pad_to_aspect_ratio:
        x = to_aspect_ratio(x, tuple(size), crop_to_aspect_ratio, fill_value)
    out = tf_op("image.resize")(x, size, method=interpolation, antialias=antialias)
    return out.movedim(-1, -3) if first else out


@_declare("ExtractPatches")
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    x = to_tensor(images)
    size = [size, size] if isinstance(size, int) else list(size)
    strides = size if strides is None else [strides, strides] if isinstance(strides, int) else list(strides)
    rates = [dilation_rate] * 2 if isinstance(dilation_rate, int) else list(dilation_rate)
    first = data_format == "channels_first"
    out = tf_op("image.extract_patches")(x.movedim(1, -1) if first else x, [1, *size, 1], [1, *strides, 1],
                                         [1, *rates, 1], str(padding).upper())
    return out.movedim(-1, 1) if first else out


def returns_several(class_name):
    """Whether Keras's operation ``class_name`` returns several tensors (``Split``: a list)."""
    return class_name in _SEVERAL


def keras_op(class_name):
    """The function of Keras 3's operation ``class_name`` (``Reshape``), or ``None``."""
    return KERAS_OPS.get(class_name) if isinstance(class_name, str) else None

