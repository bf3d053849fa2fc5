"""TensorFlow's ops by their API names, one function per op, with TensorFlow's arguments and rules.

Keyed as tf.keras writes an op node's ``function`` into a model config (``tf.math.multiply`` is
``math.multiply``, ``x + 1`` is ``__operators__.add``, ``x[..., 0]`` is
``__operators__.getitem``): ``tf_op(name)`` is the function, ``None`` where kcompat has none.
Each takes the arguments the TensorFlow function takes, by position and by TensorFlow's names,
and follows TensorFlow where torch differs (a Python number takes the tensor's dtype; ``x / y``
of integers is floating point; ``maximum``'s tie gradient; ``depth_to_space``'s order; resize
coordinates). Most are :mod:`kcompat.compat.v1`'s TF1 ops, registered here under their TF2
names too; the rest are defined here.
"""

from __future__ import annotations

import math

import torch

__all__ = ["OPS", "register", "tf_op"]

OPS = {}  # TF API name without "tf." -> function
_ALIASES = {  # TF2 names of kcompat.compat.v1's ops: module, function
    "ops": {"reshape": "reshape", "transpose": "transpose", "compat.v1.transpose": "transpose",
            "expand_dims": "expand_dims", "squeeze": "squeeze", "concat": "concat", "stack": "stack",
            "unstack": "unstack", "split": "split", "tile": "tile", "pad": "pad", "identity": "identity",
            "cast": "cast", "shape": "shape", "__operators__.add": "add", "math.add": "add", "add": "add",
            "math.subtract": "subtract", "subtract": "subtract", "math.multiply": "multiply",
            "multiply": "multiply", "math.divide": "divide", "divide": "divide", "math.add_n": "add_n",
            "add_n": "add_n", "math.maximum": "maximum", "maximum": "maximum", "math.minimum": "minimum",
            "minimum": "minimum", "linalg.matmul": "matmul", "matmul": "matmul",
            "clip_by_value": "clip_by_value", "math.abs": "abs", "abs": "abs", "math.exp": "exp",
            "exp": "exp", "math.log": "log", "math.sqrt": "sqrt", "sqrt": "sqrt", "math.rsqrt": "rsqrt",
            "math.square": "square", "square": "square", "math.tanh": "tanh", "tanh": "tanh",
            "nn.tanh": "tanh", "math.sigmoid": "sigmoid", "sigmoid": "sigmoid", "nn.sigmoid": "sigmoid",
            "math.reduce_mean": "reduce_mean", "reduce_mean": "reduce_mean",
            "math.reduce_sum": "reduce_sum", "reduce_sum": "reduce_sum", "math.reduce_max": "reduce_max",
            "reduce_max": "reduce_max", "math.reduce_min": "reduce_min", "reduce_min": "reduce_min",
            "zeros_like": "zeros_like", "ones_like": "ones_like"},
    "nn": {"nn.relu": "relu", "nn.relu6": "relu6", "nn.elu": "elu", "nn.selu": "selu", "nn.softplus": "softplus",
           "math.softplus": "softplus", "nn.leaky_relu": "leaky_relu", "nn.softmax": "softmax",
           "math.softmax": "softmax", "nn.log_softmax": "log_softmax", "nn.l2_normalize": "l2_normalize",
           "math.l2_normalize": "l2_normalize", "nn.depth_to_space": "depth_to_space",
           "nn.space_to_depth": "space_to_depth", "nn.bias_add": "bias_add", "nn.moments": "moments"},
}
_populated = False


def register(*names):
    """Declare the decorated function as TensorFlow's op under each of ``names``."""
    def decorate(fn):
        for name in names:
            OPS[name] = fn
        return fn
    return decorate


def tf_op(name):
    """TensorFlow's op ``name`` (``"math.multiply"``), or ``None`` where kcompat has none."""
    global _populated
    if not _populated:
        from .compat.v1 import image, nn, ops  # the TF1 ops, under their TF2 names and tf.compat.v1's

        for module, table in (("ops", ops), ("nn", nn)):
            for key, attr in _ALIASES[module].items():
                OPS.setdefault(key, getattr(table, attr))
        for prefix, table in (("compat.v1.", ops), ("compat.v1.nn.", nn), ("compat.v1.image.", image)):
            for attr in table.__all__:
                if callable(getattr(table, attr)) and not isinstance(getattr(table, attr), type):
                    OPS.setdefault(prefix + attr, getattr(table, attr))
        _populated = True
    return OPS.get(name) if isinstance(name, str) else None


def pair_operands(x, y):
    from .compat.v1.ops import pair_operands as pair

    return pair(x, y)


@register("math.truediv", "truediv", "__operators__.truediv")
def truediv(x, y, name=None):
    """``x / y``; integers divide as float64 (int32 and smaller: float64, as TF's truediv casts)."""
    x, y = pair_operands(x, y)
    if not x.is_floating_point() and not x.is_complex():
        x, y = x.to(torch.float64), y.to(torch.float64)
    return x / y


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


@register("math.reduce_prod", "reduce_prod")
def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    if axis is None:
        out = input_tensor.prod()
        return out.reshape([1] * input_tensor.dim()) if keepdims else out
    for a in sorted((a % input_tensor.dim() for a in (axis if isinstance(axis, (list, tuple)) else [axis])),
                    reverse=True):
        input_tensor = input_tensor.prod(a, keepdim=bool(keepdims))
    return input_tensor


@register("einsum", "linalg.einsum")
def einsum(equation, *inputs, name=None, **kwargs):
    return torch.einsum(equation, *inputs)


@register("image.resize")
def resize(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False, name=None):
    """TF2's ``tf.image.resize`` (half-pixel centres) for ``bilinear`` and ``nearest``, channels_last."""
    from .compat.v1 import image

    size = [int(n) for n in (size.tolist() if isinstance(size, torch.Tensor) else size)]
    squeeze = images.dim() == 3
    if squeeze:
        images = images.unsqueeze(0)
    method = getattr(method, "value", method)
    if preserve_aspect_ratio or (antialias and (size[0] < images.shape[1] or size[1] < images.shape[2])):
        raise ValueError(f"tf.image.resize: kcompat has no preserve_aspect_ratio, and no antialias when shrinking "
                         f"(received preserve_aspect_ratio={preserve_aspect_ratio}, antialias={antialias})")
    if method == "bilinear":
        out = image.resize_bilinear(images, size, half_pixel_centers=True)
    elif method == "nearest":
        out = image.resize_nearest_neighbor(images, size, half_pixel_centers=True)
    else:
        raise ValueError(f"tf.image.resize: method={method!r} is not one kcompat has ('bilinear', 'nearest')")
    return out.squeeze(0) if squeeze else out


@register("math.greater", "greater", "__operators__.gt")
def greater(x, y, name=None):
    x, y = pair_operands(x, y)
    return x > y


@register("math.less", "less", "__operators__.lt")
def less(x, y, name=None):
    x, y = pair_operands(x, y)
    return x < y


@register("math.equal", "equal", "__operators__.eq")
def equal(x, y, name=None):
    x, y = pair_operands(x, y)
    return x == y


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
