"""kcompat's op table (:mod:`kcompat.tf_ops`) against TensorFlow itself, op by op: broadcasting,
Python numbers beside tensors (they take the tensor's dtype), integer and float dtypes, axis
arguments, slices; the values and the dtypes TensorFlow gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcompat.tf_ops import OPS, tf_op
from kcompat.testing.tolerance import assert_close

import tf_fixtures

R = np.random.default_rng(3)
A = R.standard_normal((2, 3, 4)).astype("float32")
B = R.standard_normal((3, 4)).astype("float32")
P = np.abs(A) + 0.5
N = R.integers(-5, 6, (2, 3)).astype("int32")
J = R.integers(1, 4, (3,)).astype("int32")
IMG = R.standard_normal((1, 4, 5, 8)).astype("float32")
U = np.tanh(A)  # inside (-1, 1)

CASES = [
    ("__operators__.add", [A, B], {}), ("__operators__.add", [A, 3.0], {}), ("math.add", [N, J], {}),
    ("math.subtract", [A, B], {}), ("math.multiply", [A, 0.5], {}), ("math.multiply", [N, J], {}),
    ("math.truediv", [A, P], {}), ("math.truediv", [N, J], {}), ("math.truediv", [A, 2], {}),
    ("math.floordiv", [A, B], {}), ("math.floordiv", [N, J], {}), ("math.pow", [P, 2.0], {}),
    ("math.pow", [P, B], {}), ("math.negative", [A], {}), ("math.maximum", [A, 0.2], {}),
    ("math.minimum", [A, B], {}), ("math.abs", [A], {}), ("math.exp", [A], {}), ("math.log", [P], {}),
    ("math.sqrt", [P], {}), ("math.rsqrt", [P], {}), ("math.square", [A], {}), ("math.sigmoid", [A], {}),
    ("math.tanh", [A], {}), ("math.erf", [A], {}), ("math.reciprocal", [P], {}),
    ("nn.relu", [A], {}), ("nn.relu6", [A * 4], {}), ("nn.elu", [A], {}), ("nn.selu", [A], {}),
    ("nn.softplus", [A], {}), ("nn.leaky_relu", [A], {"alpha": 0.1}), ("nn.silu", [A], {}),
    ("nn.silu", [A], {"beta": 2.0}), ("nn.gelu", [A], {}), ("nn.gelu", [A], {"approximate": True}),
    ("nn.softmax", [A], {}), ("nn.softmax", [A], {"axis": 1}), ("nn.log_softmax", [A], {}),
    ("nn.l2_normalize", [A], {"axis": -1}), ("nn.depth_to_space", [IMG], {"block_size": 2}),
    ("nn.space_to_depth", [R.standard_normal((1, 4, 6, 2)).astype("float32")], {"block_size": 2}),
    ("math.reduce_mean", [A], {"axis": [1, 2], "keepdims": True}), ("math.reduce_sum", [A], {"axis": 1}),
    ("math.reduce_max", [A], {}), ("math.reduce_min", [A], {"axis": -1}), ("math.reduce_prod", [A], {"axis": 0}),
    ("reshape", [A], {"shape": [-1, 12]}), ("expand_dims", [A], {"axis": -1}),
    ("squeeze", [A[:, :1]], {"axis": 1}), ("transpose", [A], {"perm": [2, 0, 1]}), ("transpose", [A], {}),
    ("concat", [[A, A]], {"axis": -1}), ("stack", [[B, B]], {"axis": 1}), ("tile", [B], {"multiples": [2, 1]}),
    ("pad", [B], {"paddings": [[1, 0], [0, 2]]}), ("cast", [A], {"dtype": "int32"}),
    ("clip_by_value", [A], {"clip_value_min": -0.5, "clip_value_max": 0.5}),
    ("linalg.matmul", [B, B.T], {}), ("linalg.matmul", [A, B], {"transpose_b": True}),
    ("einsum", ["abc,bc->ab", A, B], {}), ("image.resize", [IMG], {"size": [7, 9]}),
    ("image.resize", [IMG], {"size": [2, 3], "method": "nearest"}),
    *[("image.resize", [IMG], {"size": [3, 8], "method": m, "antialias": aa})
      for m in ("bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic", "bilinear") for aa in (False, True)],
    ("__operators__.getitem", [A, ["...", 0]], {}),
    ("__operators__.getitem", [A, [("slice", None, None, None), ("slice", 2, 0, -1)]], {}),
    ("__operators__.getitem", [A, [("slice", 1, None, None), None, ("slice", None, None, 2)]], {}),
    ("math.greater", [A, B], {}), ("math.equal", [N, J], {}),
    # elementwise
    *[(f"math.{name}", [A], {}) for name in ("sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "floor", "ceil",
                                             "round", "rint", "sign", "expm1", "erfc", "log_sigmoid", "is_finite")],
    *[(f"math.{name}", [U], {}) for name in ("asin", "acos", "atanh")],
    ("math.acosh", [P + 1], {}), ("math.log1p", [P], {}), ("nn.softsign", [A], {}), ("math.sign", [N], {}),
    ("math.round", [np.array([0.5, 1.5, 2.5, -0.5, -1.5], "float32")], {}),
    ("math.is_nan", [np.array([0.0, np.nan, np.inf], "float32")], {}),
    ("math.is_inf", [np.array([0.0, np.nan, -np.inf], "float32")], {}),
    ("math.logical_not", [A > 0], {}), ("math.logical_and", [A > 0, B > 0], {}), ("math.logical_or", [A > 0, B > 0], {}),
    ("math.logical_xor", [A > 0, B > 0], {}), ("math.greater_equal", [N, J], {}), ("math.less_equal", [A, 0.1], {}),
    ("math.not_equal", [N, J], {}), ("__operators__.ne", [N, 2], {}), ("__operators__.eq", [A, B], {}),
    ("math.atan2", [A, B], {}), ("math.squared_difference", [A, B], {}), ("math.floormod", [A, B], {}),
    ("math.floormod", [N, J], {}), ("math.floormod", [-N, 3], {}), ("math.xlogy", [A * (A > 0), P], {}),
    ("math.divide_no_nan", [A, B * (B > 0)], {}), ("math.multiply_no_nan", [A, B * (B > 0)], {}),
    ("math.scalar_mul", [2.0, A], {}), ("stop_gradient", [A], {}), ("nn.crelu", [A], {}),
    ("nn.crelu", [A], {"axis": 1}),
    # reductions
    ("math.reduce_variance", [A], {"axis": 1}), ("math.reduce_std", [A], {"axis": [0, 2], "keepdims": True}),
    ("math.reduce_std", [A], {}), ("math.reduce_logsumexp", [A], {"axis": -1}),
    ("math.reduce_any", [A > 1], {"axis": 0}), ("math.reduce_all", [A > -2], {}),
    ("math.reduce_euclidean_norm", [A], {"axis": 2}), ("math.count_nonzero", [N], {}),
    ("math.count_nonzero", [N], {"axis": 1, "keepdims": True, "dtype": "int32"}),
    ("math.argmax", [A], {}), ("math.argmax", [A], {"axis": -1, "output_type": "int32"}),
    ("math.argmin", [N], {"axis": 1}), ("math.argmax", [np.array([1, 3, 3, 0], "int32")], {}),
    ("math.cumsum", [A], {"axis": 1}), ("math.cumsum", [N], {"axis": 1, "exclusive": True, "reverse": True}),
    ("math.cumprod", [A], {"axis": -1, "exclusive": True}), ("math.cumprod", [A], {"reverse": True}),
    ("math.top_k", [A], {"k": 2}), ("math.top_k", [np.array([[1, 3, 3, 0, 3]], "float32")], {"k": 3}),
    ("sort", [A], {"axis": 1, "direction": "DESCENDING"}), ("argsort", [A], {}),
    ("norm", [A], {}), ("norm", [A], {"axis": 1, "keepdims": True}), ("norm", [A], {"ord": 1, "axis": -1}),
    ("norm", [A], {"ord": np.inf, "axis": 0}), ("norm", [A], {"ord": "fro", "axis": [1, 2]}),
    # indexing and shapes
    ("gather", [A, np.array([2, 0, 2], "int32")], {"axis": 1}), ("gather", [B, np.array([[1, 0], [2, 2]])], {}),
    ("gather", [A, np.array([[0, 3], [1, 1]], "int32")], {"axis": 2, "batch_dims": 1}),
    ("gather", [A, np.array([[[2], [0], [1]], [[1], [1], [0]]], "int32")], {"axis": 2, "batch_dims": 2}),
    ("gather_nd", [A, np.array([[0, 1], [1, 2]], "int32")], {}), ("where", [A > 0, A, B], {}),
    ("where", [A > 0, A, 0.0], {}), ("where", [N > 0], {}), ("one_hot", [np.array([0, 2, -1, 5], "int32"), 4], {}),
    ("one_hot", [N, 6], {"on_value": 2.0, "off_value": -1.0, "axis": 1}),
    ("one_hot", [J, 4], {"dtype": "int32", "axis": 0}), ("broadcast_to", [B], {"shape": [2, 3, 4]}),
    ("reverse", [A], {"axis": [0, -1]}), ("roll", [A], {"shift": [1, -2], "axis": [1, 2]}),
    ("repeat", [B], {"repeats": 2, "axis": 1}), ("repeat", [B], {"repeats": [1, 0, 2], "axis": 0}),
    ("repeat", [N], {"repeats": 2}), ("slice", [A], {"begin": [0, 1, 1], "size": [-1, 2, 2]}),
    ("strided_slice", [A], {"begin": [0, 2, 0], "end": [2, 0, 4], "strides": [1, -1, 2]}),
    ("strided_slice", [A], {"begin": [1, 0, 0], "end": [2, 0, 0], "begin_mask": 0, "end_mask": 6,
                            "shrink_axis_mask": 1}),
    ("strided_slice", [A], {"begin": [0, 0, 1], "end": [0, 0, 3], "ellipsis_mask": 1, "new_axis_mask": 2}),
    ("size", [A], {}), ("rank", [A], {}), ("boolean_mask", [B, B[:, 0] > 0], {}),
    ("boolean_mask", [A, B > 0], {"axis": 1}), ("split", [A], {"num_or_size_splits": [1, 3], "axis": 2}),
    ("unstack", [A], {"axis": 1}), ("cast", [A], {"dtype": "float16"}),
    ("image.extract_patches", [IMG], {"sizes": [1, 2, 3, 1], "strides": [1, 1, 2, 1], "rates": [1, 1, 1, 1],
                                      "padding": "VALID"}),
    ("image.extract_patches", [IMG], {"sizes": [1, 3, 2, 1], "strides": [1, 2, 2, 1], "rates": [1, 1, 2, 1],
                                      "padding": "SAME"}),
    ("nn.max_pool2d", [IMG], {"ksize": 2, "strides": 2, "padding": "SAME"}),
    ("nn.avg_pool2d", [IMG], {"ksize": [3, 2], "strides": 1, "padding": "VALID"}),
    ("math.less", [A, B], {}), ("math.divide", [N, J], {}), ("math.add_n", [[A, A, B[None] + A]], {}),
    ("identity", [A], {}), ("ones_like", [N], {}), ("zeros_like", [A], {}), ("shape", [A], {}),
    ("nn.bias_add", [IMG, R.standard_normal(8).astype("float32")], {}),
    ("nn.moments", [IMG], {"axes": [0, 1, 2]}),
    ("nn.batch_normalization", [IMG, 0.1, 1.5, 0.2, 2.0, 1e-3], {}),
]


def _torch(value):
    if isinstance(value, np.ndarray):
        return torch.tensor(value)
    if isinstance(value, tuple) and value and value[0] == "slice":
        return {"start": value[1], "stop": value[2], "step": value[3]}
    if isinstance(value, str) and value == "...":
        return {"class_name": "__ellipsis__"}
    if isinstance(value, list):
        return [_torch(v) for v in value]
    return value


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_op_matches_tensorflow(oracle, name, args, kwargs):
    want = oracle.run(tf_fixtures.run_tf_op, name=name, args=args, kwargs=kwargs)
    got = tf_op(name)(*[_torch(a) for a in args], **{k: _torch(v) for k, v in kwargs.items()})
    assert_same_results(got, want)


def assert_same_results(got, want):
    """An op's result (a tensor, or a list of them) against TensorFlow's or Keras's: the shapes,
    the dtypes, float values within the dtype's tolerance and the others exactly."""
    if isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same_results(g, w)
        return
    got = got.numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind == "f":
        assert_close(got.astype("float32"), want.astype("float32"), "float16" if want.dtype == np.float16 else "float32")
    else:
        assert np.array_equal(got, want)


def test_every_registered_op_has_a_case():
    """Each function of the table (its TF2 names; compat.v1's are tests/test_tf1_ops.py's) is
    compared with TensorFlow above, under one of its names at least."""
    tf_op("math.add")  # the table is filled on first use
    tested = {id(tf_op(case[0])) for case in CASES}
    untested = sorted(name for name, fn in OPS.items() if id(fn) not in tested and not name.startswith("compat.v1."))
    assert not untested
