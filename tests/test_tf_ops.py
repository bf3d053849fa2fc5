"""kcompat's op table (:mod:`kcompat.tf_ops`) against TensorFlow itself, op by op: broadcasting,
Python numbers beside tensors (they take the tensor's dtype), integer and float dtypes, axis
arguments, slices; the values and the dtypes TensorFlow gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcompat.tf_ops import tf_op
from kcompat.testing.tolerance import assert_close

import tf_fixtures

R = np.random.default_rng(3)
A = R.standard_normal((2, 3, 4)).astype("float32")
B = R.standard_normal((3, 4)).astype("float32")
P = np.abs(A) + 0.5
N = R.integers(-5, 6, (2, 3)).astype("int32")
J = R.integers(1, 4, (3,)).astype("int32")
IMG = R.standard_normal((1, 4, 5, 8)).astype("float32")

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
    ("__operators__.getitem", [A, ["...", 0]], {}),
    ("__operators__.getitem", [A, [("slice", None, None, None), ("slice", 2, 0, -1)]], {}),
    ("__operators__.getitem", [A, [("slice", 1, None, None), None, ("slice", None, None, 2)]], {}),
    ("math.greater", [A, B], {}), ("math.equal", [N, J], {}),
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
    ours_kwargs = {k: (getattr(torch, v) if k == "dtype" else _torch(v)) for k, v in kwargs.items()}
    got = tf_op(name)(*[_torch(a) for a in args], **ours_kwargs)
    got = got.numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind == "f":
        assert_close(got, want, "float32")
    else:
        assert np.array_equal(got, want)
