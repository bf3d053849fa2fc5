"""``tf.nn.conv{1,2,3}d_transpose`` on PyTorch: the low-level ops, TensorFlow's arguments and errors.

The kernel is in TensorFlow's layout ``(*kernel_size, out_channels, in_channels)`` and the
output size is given explicitly (``output_shape``), as TensorFlow requires. The computation is
:func:`kcompat.functional.conv_transpose`, the core every layer uses.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from . import shapes
from .errors import InvalidArgumentError, UnimplementedError
from .functional import check_allocatable, conv_transpose
from .layouts import to_torch_layout

__all__ = ["bias_add", "conv1d_transpose", "conv2d_transpose", "conv3d_transpose"]

_OP = "Conv2DBackpropInput"


def _make_int(value, attr):
    """TF's ``make_int`` for an int attribute (``2.0`` and ``True`` are taken, strings are not),
    within the int32 range TF's graph checks (TF itself aborts the process past it)."""
    if isinstance(value, str):
        raise TypeError(f"Expected int for argument '{attr}' not {value!r}.")
    try:
        result = int(value)
    except (ValueError, TypeError):
        raise TypeError(f"Expected int for argument '{attr}' not {value!r}.") from None
    if not -2**31 <= result < 2**31:
        raise InvalidArgumentError(f"Attr {attr} has value {result} out of range for an int32")
    return result


def _sequence(value, n, channel_index, name, attr=None):
    """TF's ``_get_sequence``: an int, or 1, ``n`` or ``n + 2`` values -> ``n + 2`` ints, each
    through TF's ``make_int`` for the op's attribute ``attr`` (default ``name``)."""
    if value is None:
        return [1] * (n + 2)
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, (numbers.Number, str)) or not hasattr(value, "__len__"):
        value = [value]
    value = list(value)
    if len(value) == 1:
        value = value * n
    elif len(value) not in (n, n + 2):
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2}. Received: {name}={value} of length {len(value)}")
    value = [_make_int(v, attr or name) for v in value]
    if len(value) == n + 2:
        return value
    return [1, 1] + value if channel_index == 1 else [1] + value + [1]


def _padding(padding, data_format):
    """``"SAME"``/``"VALID"`` or per-spatial-axis ``(before, after)`` pairs, as TF validates them."""
    if isinstance(padding, str):
        if padding == "EXPLICIT":
            raise ValueError("'EXPLICIT' is not a valid value for `padding`. To use explicit padding, "
                             "`padding` must be a list.")
        if padding not in ("SAME", "VALID"):
            raise InvalidArgumentError(
                f"Value for attr 'padding' of \"{padding}\" is not in the list of allowed values: "
                '"SAME", "VALID", "EXPLICIT"'
            )
        return padding.lower()
    if not isinstance(padding, (list, tuple)):
        raise InvalidArgumentError(
            f"Value for attr 'padding' of {padding!r} is not in the list of allowed values: "
            '"SAME", "VALID", "EXPLICIT"'
        )
    for i, pair in enumerate(padding):
        if not isinstance(pair, (list, tuple)):
            raise ValueError("When `padding` is a list, each element of `padding` must be a list/tuple of size 2. "
                             f"Received: padding={padding} with element at index {i} of type {type(pair)}")
        if len(pair) != 2:
            raise ValueError("When `padding` is a list, each element of `padding` must be a list/tuple of size 2. "
                             f"Received: padding={padding} with element at index {i} of size {len(pair)}")
    if len(padding) != 4:
        raise ValueError(f"When padding is a list, it must be of size 4. Received: padding={padding} of size {len(padding)}")
    pairs = [tuple(int(v) for v in pair) for pair in padding]
    spatial = (2, 3) if data_format == "NCHW" else (1, 2)
    if any(pairs[a] != (0, 0) for a in range(4) if a not in spatial):
        raise InvalidArgumentError("Nonzero explicit padding in the batch or depth dimensions is not supported")
    if any(v < 0 for pair in pairs for v in pair):
        raise InvalidArgumentError(f"All elements of explicit_paddings must be nonnegative. Received: {padding}")
    return tuple(pairs[a] for a in spatial)


# The dtypes TF's transposed-convolution ops take (T); the 3-D op has no int32 kernel.
_ALLOWED = {torch.float16: "half", torch.bfloat16: "bfloat16", torch.float32: "float", torch.float64: "double",
            torch.int32: "int32"}
_ALLOWED_3D = {k: v for k, v in _ALLOWED.items() if k != torch.int32}


_NUMPY = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
          "int32": torch.int32}


def _unsupported(value):
    return ValueError(f"Attempt to convert a value ({value!r}) with an unsupported type ({type(value)}) to a Tensor.")


def _value_dtype(value):
    """``(array, dtype)`` of a non-tensor as TF's tensor conversion types it: a numpy array keeps
    its own dtype (its name where torch's op cannot take it), Python ints are int32 and Python
    floats float32."""
    if value is None or isinstance(value, (str, bytes, dict)):
        raise _unsupported(value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise _unsupported(value) from None
    if array.dtype == object or array.dtype.kind in "USVcM":
        raise _unsupported(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return array, _NUMPY.get(array.dtype.name, array.dtype.name)
    return array, {"f": torch.float32, "b": "bool"}.get(array.dtype.kind, torch.int32)


def _to_tensor(value, dtype, device=None):
    if isinstance(value, torch.Tensor):
        return value
    array, _ = _value_dtype(value)
    if array.dtype.name == "bfloat16":  # ml_dtypes' (Keras's) bfloat16: float32 holds it exactly
        array = array.astype(np.float32)
    if array.dtype.kind == "b" or array.dtype.name not in _NUMPY and array.dtype.kind not in "iuf":
        raise _unsupported(value)
    return torch.as_tensor(array, device=device).to(dtype)


def _tensors(input, filters, allowed=_ALLOWED):  # noqa: A002
    """``input`` and ``filters`` as tensors of one dtype, chosen as TF's op helper chooses it: a
    tensor's dtype, else the filter's (listed first by the op), the other converted to it."""
    if isinstance(input, torch.Tensor):
        dtype, device = input.dtype, input.device
    elif isinstance(filters, torch.Tensor):
        dtype, device = filters.dtype, filters.device
    else:
        dtype, device = _value_dtype(filters)[1], None
    for d in {dtype} | {t.dtype for t in (input, filters) if isinstance(t, torch.Tensor)}:
        if d not in allowed:
            name = d if isinstance(d, str) else str(d).replace("torch.", "")
            raise InvalidArgumentError(f"Value for attr 'T' of {name} is not in the list of allowed values: "
                                       f"{', '.join(allowed.values())}")
    return _to_tensor(input, dtype, device), _to_tensor(filters, dtype, device)


def _tensor(value):
    """One value as TF converts it alone (a tensor as it is)."""
    return _tensors(value, value)[0]


def _check_dtypes(op, input, filters):  # noqa: A002
    """TF types the op by its filter (input #1) and refuses an input (#2) of another dtype."""
    if input.dtype != filters.dtype:
        name = lambda d: _ALLOWED.get(d, str(d).replace("torch.", ""))  # noqa: E731
        raise InvalidArgumentError(f"cannot compute {op} as input #2(zero-based) was expected to be a "
                                   f"{name(filters.dtype)} tensor but is a {name(input.dtype)} tensor")


def _computed(function, input, weight, **kwargs):  # noqa: A002
    """``function`` on float tensors; int32 as TF's CPU kernel computes it (exact sums, in
    float64 here, while they stay below 2**53; wrapped to int32 as TF's arithmetic wraps)."""
    check_allocatable((input.shape[0], weight.shape[1], *kwargs["output_size"]), input.dtype, input.device,
                      f"The output for output_shape={list(kwargs['output_size'])} (spatial)")
    if input.dtype != torch.int32:
        return function(input, weight, **kwargs)
    y = function(input.double(), weight.double(), **kwargs)
    return y.round().to(torch.int64).to(torch.int32)


def _check_batch(op, expected, batch):
    if expected != batch:
        raise InvalidArgumentError(f"{op}: input and out_backprop must have the same batch size. Input batch: "
                                   f"{expected}, outbackprop batch: {batch}, batch_dim: 0")


def _check_sizes(op, in_size, out_size, kernel_size, stride, dilation, padding, spatial):
    """TF's check that each requested output length convolves back to the input length.

    ``padding``: ``"same"``/``"valid"`` or per-axis ``(before, after)`` pairs; ``spatial``:
    the axes' positions in ``data_format``, for the message.
    """
    for axis in range(len(in_size)):
        pad = padding if isinstance(padding, str) else padding[axis]
        computed = shapes.forward_conv_length(max(out_size[axis], 0), kernel_size[axis], stride[axis], pad,
                                              dilation[axis])[0]
        if out_size[axis] < 0 or computed != in_size[axis]:
            raise InvalidArgumentError(
                f"{op}: Size of out_backprop doesn't match computed: actual = {in_size[axis]}, computed = "
                f"{computed} spatial_dim: {spatial[axis]} input: {out_size[axis]} filter: {kernel_size[axis]} "
                f"output: {in_size[axis]} stride: {stride[axis]} dilation: {dilation[axis]}"
            )


def _output_shape(output_shape):
    """The sizes of a 1-D sequence of integers (list, tuple, integer array or tensor). Checked
    without numpy so that torch.compile traces it (shapes of tensors are ints or SymInts)."""
    values = output_shape.tolist() if isinstance(output_shape, (torch.Tensor, np.ndarray)) else output_shape
    if isinstance(values, (list, tuple)):  # TF packs a list holding scalar tensors (``tf.shape(x)[0]``)
        values = [v.item() if isinstance(v, torch.Tensor) and v.dim() == 0 and not v.is_floating_point()
                  and v.dtype != torch.bool else v for v in values]
    integer = (int, np.integer, torch.SymInt)
    if not isinstance(values, (list, tuple)) or not all(
            isinstance(v, integer) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise InvalidArgumentError(
            f"{_OP}: output_shape must be a 1-D sequence of integers. Received: output_shape={output_shape!r}"
        )
    return [int(v) for v in values]


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NHWC",  # noqa: A002
                     dilations=None, name=None):
    """``tf.nn.conv2d_transpose``: the gradient of ``conv2d`` with respect to its input.

    Args:
        input: ``(N, H, W, C)`` for ``"NHWC"``, ``(N, C, H, W)`` for ``"NCHW"``.
        filters: TF layout ``(kh, kw, out_channels, C)``.
        output_shape: 4 values in ``data_format`` order, or the 2 spatial sizes. Every size
            whose forward convolution gives back the input size is accepted, as in TF.
        strides, dilations: an int, 2 spatial values or 4 values in ``data_format`` order.
        padding: ``"SAME"``, ``"VALID"`` or ``[[0, 0], [top, bottom], [left, right], [0, 0]]``
            (in ``data_format`` order).
        name: accepted for signature compatibility; unused.

    Raises:
        InvalidArgumentError (a ``ValueError``): where TensorFlow's op raises it, with its message.
    """
    if data_format not in ("NHWC", "NCHW"):
        raise InvalidArgumentError(
            f"Value for attr 'data_format' of \"{data_format}\" is not in the list of allowed values: "
            '"NHWC", "NCHW"'
        )
    channel_index = 1 if data_format == "NCHW" else 3
    strides = _sequence(strides, 2, channel_index, "strides")
    dilations = _sequence(dilations, 2, channel_index, "dilations")
    pads = _padding(padding, data_format)
    input, filters = _tensors(input, filters)  # noqa: A001
    sizes = _output_shape(output_shape)
    spatial = (2, 3) if data_format == "NCHW" else (1, 2)
    if len(sizes) not in (2, 4):
        raise InvalidArgumentError(f"{_OP} requires input_sizes to contain 4 values or 2 values, but got: {len(sizes)}")
    if filters.dim() != 4:
        raise InvalidArgumentError(f"{_OP}: filter must be 4-dimensional")
    if input.dim() != 4:
        raise InvalidArgumentError(f"{_OP}: out_backprop must be 4-dimensional")
    _check_dtypes(_OP, input, filters)
    if strides[0] != 1 or strides[channel_index] != 1:
        raise UnimplementedError("Current implementation does not yet support strides in the batch and depth dimensions.")
    if any(strides[a] <= 0 for a in spatial):
        raise InvalidArgumentError("Row and column strides should be larger than 0.")
    if dilations[0] != 1 or dilations[channel_index] != 1:
        raise UnimplementedError(
            "Current implementation does not yet support dilations in the batch and depth dimensions."
        )
    if any(dilations[a] <= 0 for a in spatial):
        raise InvalidArgumentError("Dilated rates should be larger than 0.")
    batch, in_channels = input.shape[0], input.shape[channel_index]
    out_channels = filters.shape[2]
    if len(sizes) == 2:
        full = [batch, out_channels, *sizes] if data_format == "NCHW" else [batch, *sizes, out_channels]
    else:
        full = sizes
    _check_batch(_OP, full[0], batch)
    if full[channel_index] != out_channels:
        raise InvalidArgumentError(f"{_OP}: input depth must be evenly divisible by filter depth")
    if filters.shape[3] != in_channels:
        raise InvalidArgumentError(f"{_OP}: filter and out_backprop must have the same out_depth")
    kernel_size = tuple(filters.shape[:2])
    stride = tuple(strides[a] for a in spatial)
    dilation = tuple(dilations[a] for a in spatial)
    out_size = tuple(full[a] for a in spatial)
    in_size = tuple(input.shape[a] for a in spatial)
    _check_sizes(_OP, in_size, out_size, kernel_size, stride, dilation, pads, spatial)
    return _computed(conv_transpose, input, to_torch_layout(filters), bias=None, output_size=out_size,
                     strides=stride, padding=pads, dilation=dilation, channels_last=data_format == "NHWC")


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC",  # noqa: A002
                     dilations=None, name=None):
    """``tf.nn.conv1d_transpose``: as TensorFlow computes it, :func:`conv2d_transpose` on a
    height-1 view (so its errors are the 2-D op's, as in TensorFlow).

    Args:
        input: ``(N, W, C)`` for ``"NWC"``, ``(N, C, W)`` for ``"NCW"``.
        filters: TF layout ``(k, out_channels, C)``.
        output_shape: 3 values in ``data_format`` order.
        strides, dilations: an int, or 1 or 3 values.
        padding: ``"SAME"`` or ``"VALID"``.
    """
    if data_format is None or data_format == "NWC":
        data_format, spatial_start, channel_index = "NHWC", 1, 2
    elif data_format == "NCW":
        data_format, spatial_start, channel_index = "NCHW", 2, 1
    else:
        raise ValueError(f"`data_format` must be 'NWC' or 'NCW'. Received: data_format={data_format}")
    strides = [1] + _sequence(strides, 1, channel_index, "stride", "strides")
    dilations = [1] + _sequence(dilations, 1, channel_index, "dilations")
    if not isinstance(padding, str):
        raise TypeError(f"Expected string for argument 'padding' not {padding!r}.")
    # TF expands each value to 2-D on its own: each keeps the dtype its conversion gives it.
    input, filters = _tensor(input), _tensor(filters)  # noqa: A001
    sizes = _output_shape(output_shape)
    sizes = sizes[:spatial_start] + [1] + sizes[spatial_start:]
    result = conv2d_transpose(input.unsqueeze(spatial_start), filters.unsqueeze(0), sizes, strides, padding,
                              data_format, dilations)
    return result.squeeze(spatial_start)


_OP3 = "Conv3DBackpropInputOp"


def conv3d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NDHWC",  # noqa: A002
                     dilations=None, name=None):
    """``tf.nn.conv3d_transpose``: the gradient of ``conv3d`` with respect to its input.

    Args:
        input: ``(N, D, H, W, C)`` for ``"NDHWC"``, ``(N, C, D, H, W)`` for ``"NCDHW"``.
        filters: TF layout ``(kd, kh, kw, out_channels, C)``.
        output_shape: 5 values in ``data_format`` order.
        strides, dilations: an int, or 1, 3 or 5 values.
        padding: ``"SAME"`` or ``"VALID"``.

    Dilation rates above 1 are computed (TensorFlow computes them on GPU; its CPU kernel
    refuses them).
    """
    if data_format is None:
        data_format = "NDHWC"
    if data_format not in ("NDHWC", "NCDHW"):
        raise InvalidArgumentError(f"Value for attr 'data_format' of \"{data_format}\" is not in the list of allowed "
                                   'values: "NDHWC", "NCDHW"')
    channel_index = 1 if data_format == "NCDHW" else 4
    strides = _sequence(strides, 3, channel_index, "strides")
    dilations = _sequence(dilations, 3, channel_index, "dilations")
    if not isinstance(padding, str):
        raise TypeError(f"Expected string for argument 'padding' not {padding!r}.")
    if padding not in ("SAME", "VALID"):
        raise InvalidArgumentError(f"Value for attr 'padding' of \"{padding}\" is not in the list of allowed values: "
                                   '"SAME", "VALID"')
    input, filters = _tensors(input, filters, _ALLOWED_3D)  # noqa: A001
    _check_dtypes("Conv3DBackpropInputV2", input, filters)
    sizes = _output_shape(output_shape)
    if len(sizes) != 5:
        raise InvalidArgumentError("input tensor must have 5 dimensions")
    if filters.dim() != 5:
        raise InvalidArgumentError("filter_sizes tensor must have 5 dimensions")
    if input.dim() != 5:
        raise InvalidArgumentError("out_backprop tensor must have 5 dimensions")
    spatial = (2, 3, 4) if channel_index == 1 else (1, 2, 3)
    if strides[0] != 1 or strides[channel_index] != 1:
        raise InvalidArgumentError("Current implementation does not yet support strides in the batch and depth "
                                   "dimensions.")
    for a in spatial:
        if strides[a] <= 0:
            raise InvalidArgumentError(f"Stride must be > 0, but got {strides[a]}")
    if dilations[0] != 1 or dilations[channel_index] != 1:
        raise InvalidArgumentError("Current implementation does not yet support dilations in the batch and depth "
                                   "dimensions.")
    if any(dilations[a] <= 0 for a in spatial):
        raise InvalidArgumentError("Dilated rates should be larger than 0.")
    batch, in_channels = input.shape[0], input.shape[channel_index]
    if sizes[channel_index] != filters.shape[3]:
        raise InvalidArgumentError(f"input and filter_sizes must have the same number of channels. Got "
                                   f"{sizes[channel_index]} for input and {filters.shape[3]} for filter_sizes")
    if in_channels != filters.shape[4]:
        raise InvalidArgumentError(f"out_backprop and filter_sizes must have the same number of channels. Got "
                                   f"{in_channels} for out_backprop and {filters.shape[4]} for filter_sizes")
    _check_batch(_OP3, sizes[0], batch)
    kernel_size = tuple(filters.shape[:3])
    stride, dilation = tuple(strides[a] for a in spatial), tuple(dilations[a] for a in spatial)
    out_size, in_size = tuple(sizes[a] for a in spatial), tuple(input.shape[a] for a in spatial)
    pad = padding.lower()
    _check_sizes(_OP3, in_size, out_size, kernel_size, stride, dilation, pad, spatial)
    return _computed(conv_transpose, input, to_torch_layout(filters), bias=None, output_size=out_size,
                     strides=stride, padding=pad, dilation=dilation, channels_last=data_format == "NDHWC")


def bias_add(value, bias, data_format=None, name=None):
    """``tf.nn.bias_add``: ``bias`` added along the channel axis (last, or 1 for ``"NC..."`` formats)."""
    channels_first = data_format is not None and data_format.startswith("NC")
    if bias.dim() != 1:
        raise InvalidArgumentError(f"Biases must be 1D: {list(bias.shape)}")
    axis = 1 if channels_first else value.dim() - 1
    if value.dim() < 2 or value.shape[axis] != bias.shape[0]:
        where = "channel dimension" if channels_first else "last dimension"
        raise InvalidArgumentError(
            f"Must provide as many biases as the {where} of the input tensor: {list(bias.shape)} vs. "
            f"{list(value.shape)}"
        )
    return value + bias.view([-1 if a == axis else 1 for a in range(value.dim())])
