"""``kcompat.tf_nn.conv2d_transpose`` and TF1's spelling against ``tf.nn.conv2d_transpose``, run in the test.

Per axis, every output size TensorFlow accepts for the input size, kernel, stride and padding
(``SAME``, ``VALID`` and explicit pads), in NHWC and NCHW, with dilation; outputs and the
gradients for the input and the kernel. Rejected sizes and malformed arguments must fail as
TensorFlow fails: same exception class name, same message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import kcompat
from kcompat.compat import v1 as tf1
from kcompat.errors import InvalidArgumentError, UnimplementedError
from kcompat.shapes import forward_conv_length
from kcompat.testing.tf_oracle import TFError

from kcompat.testing.tolerance import assert_close
from kcompat.testing import tf_calls

PADDINGS = ["SAME", "VALID", (1, 0), (0, 2), (2, 1)]


def accepted_lengths(i, k, s, padding, d=1):
    """Every output length whose forward convolution gives back ``i`` (TF's acceptance rule)."""
    pad = padding.lower() if isinstance(padding, str) else padding
    return [o for o in range(0, i * s + (k - 1) * d + 8) if forward_conv_length(o, k, s, pad, d)[0] == i]


def axis_cases():
    """``(i, k, s, d, padding, o)`` for every accepted ``o``, plus one rejected length per option."""
    cases, index = [], 0
    for s in (1, 2, 3):
        for k in (1, 2, 3, 4):
            for padding in PADDINGS:
                i = 1 + index % 3
                index += 1
                accepted = accepted_lengths(i, k, s, padding)
                cases += [(i, k, s, 1, padding, o, True) for o in accepted]
                rejected = max(accepted) + 1 if accepted else i * s
                cases.append((i, k, s, 1, padding, rejected, False))
    for d in (2, 3):
        for k in (2, 3):
            for padding in PADDINGS[:3]:
                cases += [(2, k, 1, d, padding, o, True) for o in accepted_lengths(2, k, 1, padding, d)]
    return cases


def _case_params():
    cases = axis_cases()
    out = []
    for n, a in enumerate(cases):
        b = cases[(5 * n + 1) % len(cases)]
        if a[3] != b[3] and max(a[2], b[2]) > 1:  # keep dilations per case uniform with strides
            b = a
        if (a[4] in ("SAME", "VALID")) != (b[4] in ("SAME", "VALID")) or (
                isinstance(a[4], str) and a[4] != b[4]):
            b = a  # one padding mode per call
        accepted = a[6] and b[6]
        # Refusals are confirmed on TF's default kernel, which only runs NHWC (oneDNN skips the check).
        data_format = "NCHW" if n % 3 == 2 and accepted else "NHWC"
        dtype = "float64" if n % 4 == 3 else "float32"
        cid = (f"{'ok' if accepted else 'rejected'}-{data_format}-{dtype}-i{a[0]}x{b[0]}-k{a[1]}x{b[1]}"
               f"-s{a[2]}x{b[2]}-d{a[3]}x{b[3]}-{a[4]}x{b[4]}-o{a[5]}x{b[5]}".replace(" ", ""))
        out.append(pytest.param(a, b, data_format, dtype, id=cid))
    return out


def _tf_padding(a, b, data_format):
    if isinstance(a[4], str):
        return a[4]
    pads = [[0, 0], list(a[4]), list(b[4]), [0, 0]]
    return pads if data_format == "NHWC" else [pads[0], pads[3], pads[1], pads[2]]


def _normalise(message):
    """TF's eager message without the function-node prefix, the op suffix and the kernel's name."""
    message = message.split("\n\t; NodeDef:")[0]
    message = re.sub(r"^\{\{function_node [^}]*\}\} ", "", message)
    message = re.sub(r" \[Op:\w+\]( name: .*)?$", "", message)
    return re.sub(r"^(_Mkl\w*|Conv2D\w*)BackpropInput(Op)?:", "Conv2DBackpropInput:", message)


def assert_same_error(theirs, call):
    with pytest.raises(ValueError) as ours:
        call()
    assert type(ours.value).__name__ == theirs.type_name
    assert str(ours.value) == _normalise(theirs.message)


@pytest.mark.parametrize("a,b,data_format,dtype", _case_params())
def test_every_output_size(oracle, a, b, data_format, dtype):
    rng = np.random.default_rng(sum(a[:4]) + 7 * sum(b[:4]))
    batch, cin, cout = 2, 3, 2
    spatial = (a[0], b[0])
    x = rng.standard_normal((batch, *spatial, cin) if data_format == "NHWC" else (batch, cin, *spatial))
    filters = rng.standard_normal((a[1], b[1], cout, cin))
    out_spatial = (a[5], b[5])
    output_shape = [batch, *out_spatial, cout] if data_format == "NHWC" else [batch, cout, *out_spatial]
    strides = [a[2], b[2]] if a[2] != b[2] else a[2]
    dilations = None if a[3] == b[3] == 1 else [a[3], b[3]]
    padding = _tf_padding(a, b, data_format)
    x, filters = x.astype(dtype), filters.astype(dtype)
    kwargs = dict(output_shape=output_shape, strides=strides, padding=padding, data_format=data_format,
                  dilations=dilations)
    upstream = rng.standard_normal(output_shape).astype(dtype)
    xt, ft = torch.tensor(x, requires_grad=True), torch.tensor(filters, requires_grad=True)
    try:
        if a[6] and b[6]:
            ref = oracle.nn_call("v2", x, filters, upstream=upstream, **kwargs)
        else:
            ref = oracle.run(tf_calls.nn_call, version="v2", x=x, filters=filters, upstream=upstream, **kwargs)
    except TFError as theirs:
        assert not (a[6] and b[6]), f"TF refused a size the acceptance rule allows: {theirs}"
        assert_same_error(theirs, lambda: kcompat.tf_nn.conv2d_transpose(xt, ft, **kwargs))
        return
    assert a[6] and b[6], "TF accepted a size the acceptance rule rejects"
    y = kcompat.tf_nn.conv2d_transpose(xt, ft, **kwargs)
    assert list(y.shape) == output_shape
    (y * torch.tensor(upstream)).sum().backward()
    assert_close(y.detach().numpy(), ref["output"], dtype, "output")
    assert_close(xt.grad.numpy(), ref["grads"][0], dtype, "d_input")
    assert_close(ft.grad.numpy(), ref["grads"][1], dtype, "d_filters")


ARGUMENT_FORMS = {
    "strides-int": dict(strides=2),
    "strides-1": dict(strides=[2]),
    "strides-2": dict(strides=(2, 2)),
    "strides-4": dict(strides=[1, 2, 2, 1]),
    "output-shape-2": dict(output_shape=[10, 10]),
    "output-shape-tensor": dict(output_shape=torch.tensor([2, 10, 10, 4])),
    "output-shape-numpy": dict(output_shape=np.array([2, 9, 10, 4])),
    "dilations-4": dict(strides=1, output_shape=[2, 9, 9, 4], dilations=[1, 2, 2, 1], padding="VALID"),
    "explicit-pads": dict(padding=[[0, 0], [1, 1], [1, 0], [0, 0]]),
    "strides-3-values": dict(strides=[1, 2, 2]),
    "batch-stride": dict(strides=[2, 2, 2, 1]),
    "zero-stride": dict(strides=0),
    "lower-case-padding": dict(padding="same"),
    "unknown-padding": dict(padding="FULL"),
    "EXPLICIT-string": dict(padding="EXPLICIT"),
    "pads-of-two-axes": dict(padding=[[1, 1], [1, 0]]),
    "pads-not-pairs": dict(padding=[[0, 0], [1, 1, 1], [1, 0], [0, 0]]),
    "batch-pads": dict(padding=[[1, 0], [1, 1], [1, 0], [0, 0]]),
    "output-shape-3": dict(output_shape=[2, 10, 10]),
    "wrong-batch": dict(output_shape=[3, 10, 10, 4]),
    "wrong-out-channels": dict(output_shape=[2, 10, 10, 5]),
    "wrong-size": dict(output_shape=[2, 12, 10, 4]),
    "zero-size": dict(output_shape=[2, 0, 10, 4]),
    "lower-case-data-format": dict(data_format="nhwc"),
    "batch-dilation": dict(strides=1, output_shape=[2, 7, 7, 4], dilations=[2, 1, 1, 1]),
}


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("name", list(ARGUMENT_FORMS))
def test_argument_forms_and_errors(oracle, name, version):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    filters = rng.standard_normal((3, 3, 4, 3)).astype("float32")
    kwargs = dict(dict(output_shape=[2, 10, 10, 4], strides=2, padding="SAME"), **ARGUMENT_FORMS[name])
    ours_op = kcompat.tf_nn.conv2d_transpose if version == "v2" else tf1.nn.conv2d_transpose
    ours_kwargs = {k: v for k, v in kwargs.items()}
    try:
        theirs_kwargs = dict(kwargs, output_shape=np.asarray(kwargs["output_shape"]).tolist())
        ref = oracle.run(tf_calls.nn_call, version=version, x=x, filters=filters, rewrite=True, **theirs_kwargs)
    except TFError as theirs:
        assert_same_error(theirs, lambda: ours_op(torch.tensor(x), torch.tensor(filters), **ours_kwargs))
        return
    y = ours_op(torch.tensor(x), torch.tensor(filters), **ours_kwargs)
    assert_close(y.numpy(), ref["output"], "float32")


def test_channel_mismatch_errors(oracle):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 5, 2)).astype("float32")
    filters = rng.standard_normal((3, 3, 4, 3)).astype("float32")
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.nn_call, version="v2", x=x, filters=filters, output_shape=[2, 10, 10, 4], strides=2)
    assert_same_error(theirs.value, lambda: kcompat.tf_nn.conv2d_transpose(
        torch.tensor(x), torch.tensor(filters), [2, 10, 10, 4], 2))


def test_v1_spelling():
    """TF1's ``value``/``filter`` names and TF2's ``input``/``filters`` aliases, not both."""
    x, f = torch.randn(1, 3, 3, 2), torch.randn(3, 3, 4, 2)
    expected = kcompat.tf_nn.conv2d_transpose(x, f, [1, 6, 6, 4], [1, 2, 2, 1])
    assert torch.equal(tf1.nn.conv2d_transpose(x, f, [1, 6, 6, 4], [1, 2, 2, 1], "SAME"), expected)
    assert torch.equal(tf1.nn.conv2d_transpose(value=x, filter=f, output_shape=[1, 6, 6, 4], strides=2), expected)
    assert torch.equal(tf1.nn.conv2d_transpose(input=x, filters=f, output_shape=[1, 6, 6, 4], strides=2), expected)
    with pytest.raises(ValueError, match="Cannot specify both 'input' and 'value'"):
        tf1.nn.conv2d_transpose(x, f, [1, 6, 6, 4], 2, input=x)


def test_error_classes_are_value_errors():
    assert issubclass(InvalidArgumentError, ValueError) and issubclass(UnimplementedError, ValueError)
    assert kcompat.compat.v1.errors.InvalidArgumentError is InvalidArgumentError


ND_CASES = {  # rank -> [(input spatial, kernel, strides, padding, output spatial)]
    1: [((5,), (3,), 2, "SAME", (10,)), ((5,), (3,), 2, "VALID", (12,)), ((4,), (1,), 3, "SAME", (12,)),
        ((6,), (4,), 1, "VALID", (9,)), ((5,), (2,), 2, "SAME", (9,))],
    3: [((2, 3, 4), (3, 2, 3), 2, "SAME", (4, 6, 8)), ((2, 3, 2), (2, 3, 3), (2, 1, 3), "VALID", (4, 5, 7)),
        ((3, 2, 2), (3, 3, 1), (1, 2, 2), "SAME", (3, 3, 4)), ((2, 2, 2), (2, 2, 2), 2, "VALID", (4, 4, 4))],
}
ND_OPS = {1: (kcompat.tf_nn.conv1d_transpose, ("NWC",)), 3: (kcompat.tf_nn.conv3d_transpose, ("NDHWC",))}


@pytest.mark.parametrize("rank,index,data_format", [(r, i, f) for r, cases in ND_CASES.items()
                                                     for i in range(len(cases)) for f in ND_OPS[r][1]])
def test_conv1d_conv3d_transpose_match_tensorflow(oracle, rank, index, data_format):
    """Outputs and gradients (input, filters) against tf.nn's ops. (TF's default CPU kernels run
    channels-last only; NCW/NCDHW are checked below against the channels-last result.)"""
    spatial, kernel, strides, padding, out_spatial = ND_CASES[rank][index]
    rng = np.random.default_rng(index)
    first = data_format.startswith("NC")
    x = rng.standard_normal((2, 3, *spatial) if first else (2, *spatial, 3))
    filters = rng.standard_normal((*kernel, 4, 3))
    output_shape = [2, 4, *out_spatial] if first else [2, *out_spatial, 4]
    upstream = rng.standard_normal(output_shape)
    kwargs = dict(output_shape=output_shape, strides=strides, padding=padding, data_format=data_format)
    ref = oracle.run(tf_calls.nn_nd_call, rank=rank, x=x, filters=filters, upstream=upstream, **kwargs)
    xt, ft = torch.tensor(x, requires_grad=True), torch.tensor(filters, requires_grad=True)
    y = ND_OPS[rank][0](xt, ft, **kwargs)
    (y * torch.tensor(upstream)).sum().backward()
    assert_close(y.detach().numpy(), ref["output"], "float64")
    assert_close(xt.grad.numpy(), ref["grads"][0], "float64", "d_input")
    assert_close(ft.grad.numpy(), ref["grads"][1], "float64", "d_filters")


@pytest.mark.parametrize("rank", [1, 3])
def test_channels_first_is_channels_last_moved(rank):
    spatial, out = ((5,), (10,)) if rank == 1 else ((2, 3, 4), (4, 6, 8))
    x, f = torch.randn(2, *spatial, 3), torch.randn(*(3,) * rank, 4, 3)
    op, (last, first) = ND_OPS[rank][0], (("NWC", "NCW") if rank == 1 else ("NDHWC", "NCDHW"))
    expected = op(x, f, [2, *out, 4], 2, data_format=last)
    got = op(x.movedim(-1, 1), f, [2, 4, *out], 2, data_format=first)
    torch.testing.assert_close(got, expected.movedim(-1, 1), rtol=1e-6, atol=1e-6)


ND_ERRORS = {
    1: {"wrong-size": dict(output_shape=[2, 11, 4]), "padding-list": dict(padding=[[0, 0], [1, 1], [0, 0]]),
        "data-format": dict(data_format="NHWC"), "strides-length": dict(strides=[2, 2]),
        "wrong-batch": dict(output_shape=[3, 10, 4])},
    3: {"wrong-size": dict(output_shape=[2, 7, 8, 10, 4]), "out-channels": dict(output_shape=[2, 6, 8, 10, 5]),
        "batch": dict(output_shape=[3, 6, 8, 10, 4]), "three-values": dict(output_shape=[6, 8, 10]),
        "batch-stride": dict(strides=[2, 2, 2, 2, 2]), "zero-stride": dict(strides=[1, 0, 2, 2, 1]),
        "strides-length": dict(strides=[2, 2]), "padding-list": dict(padding=[[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]),
        "padding-name": dict(padding="FULL"), "data-format": dict(data_format="NCHW")},
}


@pytest.mark.parametrize("rank,name", [(r, n) for r in ND_ERRORS for n in ND_ERRORS[r]])
def test_conv1d_conv3d_transpose_errors(oracle, rank, name):
    rng = np.random.default_rng(0)
    spatial, output = ((5,), [2, 10, 4]) if rank == 1 else ((3, 4, 5), [2, 6, 8, 10, 4])
    x = rng.standard_normal((2, *spatial, 3)).astype("float32")
    filters = rng.standard_normal(((3,) if rank == 1 else (2, 2, 2)) + (4, 3)).astype("float32")
    kwargs = dict(dict(output_shape=output, strides=2, padding="SAME"), **ND_ERRORS[rank][name])
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.nn_nd_call, rank=rank, x=x, filters=filters, **kwargs)
    op = ND_OPS[rank][0]
    if theirs.value.type_name == "TypeError":
        with pytest.raises(TypeError, match="Expected string for argument 'padding'"):
            op(torch.tensor(x), torch.tensor(filters), **kwargs)
        return
    assert_same_error(theirs.value, lambda: op(torch.tensor(x), torch.tensor(filters), **kwargs))


VALUE_FORMS = {
    # input, filters: numpy arrays, Python lists; TF types the pair by the filter (listed first by
    # its op), Python ints as int32 and floats as float32, and converts the input to that.
    "int32-arrays": (lambda x: x.astype("int32"), lambda w: w.astype("int32")),
    "float32-input-int-list-filter": (lambda x: x.astype("float32") / 7, lambda w: w.astype(int).tolist()),
    "float64-input-float32-filter": (lambda x: x.astype("float64") / 7, lambda w: w.astype("float32") / 3),
    "list-input-float32-filter": (lambda x: (x / 7).tolist(), lambda w: w.astype("float32") / 3),
    "float32-input-float-list-filter": (lambda x: x.astype("float32") / 7, lambda w: (w / 3).tolist()),
    "int64-arrays": (lambda x: x.astype("int64"), lambda w: w.astype("int64")),
}


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("form", list(VALUE_FORMS))
def test_non_tensor_values_typed_and_computed_as_tensorflow_does(oracle, form, rank):
    make_x, make_w = VALUE_FORMS[form]
    x_shape, w_shape, size = {1: ((2, 9, 2), (3, 4, 2), [2, 19, 4]), 2: ((2, 3, 3, 2), (3, 3, 4, 2), [2, 7, 7, 4]),
                              3: ((1, 2, 3, 2, 2), (2, 3, 1, 4, 2), [1, 4, 7, 3, 4])}[rank]
    x = make_x(np.arange(np.prod(x_shape)).reshape(x_shape) % 11 - 5)
    w = make_w(np.arange(np.prod(w_shape)).reshape(w_shape) % 7 - 3)
    op = {1: kcompat.tf_nn.conv1d_transpose, 2: kcompat.tf_nn.conv2d_transpose, 3: kcompat.tf_nn.conv3d_transpose}[rank]
    try:
        theirs = oracle.run(tf_calls.nn_values_call, rank=rank, x=x, filters=w, output_shape=size, strides=2,
                             padding="VALID")["output"]
    except TFError as error:
        assert_same_error(error, lambda: op(x, w, size, 2, "VALID"))
        return
    ours = op(x, w, size, 2, "VALID")
    assert str(ours.dtype).replace("torch.", "") == str(theirs.dtype)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-4)


def test_tensor_input_types_a_list_filter():
    x = torch.randn(1, 3, 3, 2, dtype=torch.float64)
    w = np.random.default_rng(0).standard_normal((3, 3, 4, 2))
    y = kcompat.tf_nn.conv2d_transpose(x, w.tolist(), [1, 7, 7, 4], 2, "VALID")
    assert y.dtype == torch.float64
    assert torch.equal(y, kcompat.tf_nn.conv2d_transpose(x, torch.tensor(w), [1, 7, 7, 4], 2, "VALID"))


def test_int32_3d_is_refused_as_tensorflow_refuses_it(oracle):
    x = np.ones((1, 2, 2, 2, 1), "int32")
    w = np.ones((2, 2, 2, 1, 1), "int32")
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.nn_nd_call, rank=3, x=x, filters=w, output_shape=[1, 4, 4, 4, 1], strides=2,
                    padding="VALID")
    assert_same_error(theirs.value, lambda: kcompat.tf_nn.conv3d_transpose(x, w, [1, 4, 4, 4, 1], 2, "VALID"))


@pytest.mark.parametrize("filters", [None, "abc", {"a": 1}])
def test_filters_that_are_no_tensor(filters):
    with pytest.raises(ValueError, match="Attempt to convert a value .* with an unsupported type .* to a Tensor"):
        kcompat.tf_nn.conv2d_transpose(torch.randn(1, 3, 3, 2), filters, [1, 7, 7, 4], 2, "VALID")


@pytest.mark.parametrize("rank", [2, 3])
def test_data_format_that_is_no_string(rank):
    op = {2: kcompat.tf_nn.conv2d_transpose, 3: kcompat.tf_nn.conv3d_transpose}[rank]
    x, w = torch.randn(1, *[3] * rank, 2), torch.randn(*[3] * rank, 4, 2)
    with pytest.raises(ValueError, match="Value for attr 'data_format' of \"1\" is not in the list"):
        op(x, w, [1, *[7] * rank, 4], 2, "VALID", data_format=1)


def test_the_old_name_still_works_with_a_deprecation():
    """``kcompat.nn`` was these ops' name; a PyTorch reader takes it for torch.nn's: it is
    ``kcompat.tf_nn`` now, and the old name gives the same functions with a warning."""
    import importlib

    old = importlib.import_module("kcompat.nn")
    for name in kcompat.tf_nn.__all__:
        with pytest.warns(DeprecationWarning, match=rf"kcompat\.nn\.{name} is kcompat\.tf_nn\.{name}"):
            assert getattr(old, name) is getattr(kcompat.tf_nn, name)
    with pytest.warns(DeprecationWarning):
        from kcompat.nn import conv2d_transpose  # noqa: F401
    with pytest.raises(AttributeError):
        old.no_such_op  # noqa: B018
