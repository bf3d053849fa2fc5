"""Keras 3's op nodes (:mod:`kcompat.keras_ops`) against Keras's own operations on TensorFlow,
each built from its config and called on its arguments as a saved model's node is: Keras's dtype
rules (int32 / int32 is float32, a Python float beside ints, sums of small ints), numpy's
arguments (``axis=None`` flattens, split points), activations' parameters; values and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcompat.keras_ops import KERAS_OPS, keras_op

import tf_fixtures
from test_tf_ops import assert_same_results

R = np.random.default_rng(4)
A = R.standard_normal((2, 3, 4)).astype("float32")
B = R.standard_normal((3, 4)).astype("float32")
P = np.abs(A) + 0.5
U = np.tanh(A)
N = R.integers(-5, 6, (2, 3)).astype("int32")
J = R.integers(1, 4, (3,)).astype("int32")
I8 = R.integers(-3, 4, (3, 4)).astype("int8")
H = A.astype("float16")
IMG = R.standard_normal((1, 4, 6, 3)).astype("float32")
NUMPY, NN, MATH, IMAGE, CORE, LINALG = ("keras.src.ops." + m for m in ("numpy", "nn", "math", "image", "core",
                                                                       "linalg"))

CASES = [
    # binary, with Keras's promotion
    *[(NUMPY, op, {}, args) for op in ("Add", "Subtract", "Multiply", "Maximum", "Minimum")
      for args in ([A, B], [N, 1.5], [H, 2.0], [N, J], [I8, N[:1, :1]])],
    *[(NUMPY, op, {}, args) for op in ("TrueDivide", "Divide") for args in ([A, P], [N, J], [H, 2])],
    (NUMPY, "FloorDivide", {}, [A, B]), (NUMPY, "FloorDivide", {}, [N, J]), (NUMPY, "Mod", {}, [N, 4]),
    (NUMPY, "Mod", {}, [A, 0.7]), (NUMPY, "Power", {}, [N, 2]), (NUMPY, "Power", {}, [P, 0.5]),
    (NUMPY, "Power", {}, [np.abs(N), 0.5]), (NUMPY, "Arctan2", {}, [A, B]), (NUMPY, "DivideNoNan", {}, [A, B * (B > 0)]),
    *[(NUMPY, op, {}, [A, B]) for op in ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual")],
    *[(NUMPY, op, {}, [A > 0, B > 0]) for op in ("LogicalAnd", "LogicalOr", "LogicalXor")],
    (NUMPY, "Where", {}, [A > 0, A, B]), (NUMPY, "Where", {}, [N > 0, N, 0.5]),
    # unary
    *[(NUMPY, op, {}, [x]) for op in ("Abs", "Absolute", "Negative", "Sign", "Square", "Floor", "Ceil", "Trunc",
                                      "Exp", "Exp2", "Expm1", "Sin", "Cos", "Tan", "Arctan", "Sinh", "Cosh", "Tanh",
                                      "Arcsinh", "Isfinite") for x in (A, N)],
    *[(NUMPY, op, {}, [P]) for op in ("Sqrt", "Log", "Log1p", "Log2", "Log10", "Reciprocal")],
    (NUMPY, "Arccosh", {}, [P + 1]),
    *[(NUMPY, op, {}, [U]) for op in ("Arcsin", "Arccos", "Arctanh")],
    (MATH, "Rsqrt", {}, [P]), (MATH, "Erf", {}, [A]), (MATH, "Erfc", {}, [A]), (NUMPY, "LogicalNot", {}, [A > 0]),
    (NUMPY, "Round", {}, [np.array([0.5, 1.5, 2.5, -0.5, 1.26], "float32")]),
    (NUMPY, "Round", {"decimals": 1}, [A]), (NUMPY, "Round", {"decimals": -1}, [N * 7]),
    (NUMPY, "Clip", {"x_min": -0.5, "x_max": 0.5}, [A]), (NUMPY, "Clip", {"x_min": -1, "x_max": 2}, [N]),
    (NUMPY, "Square", {}, [A > 0]), (CORE, "StopGradient", {}, [A]),
    # reductions
    *[(NUMPY, op, config, [x]) for op in ("Sum", "Mean", "Max", "Min", "Prod", "Std", "Var", "Amax", "Amin")
      for config, x in (({}, A), ({"axis": 1}, A), ({"axis": (0, 2), "keepdims": True}, A), ({}, N), ({"axis": 1}, N))],
    (NUMPY, "Sum", {}, [I8]), (NUMPY, "Sum", {"axis": 0}, [A > 0]), (NUMPY, "Prod", {"axis": 1}, [I8]),
    (NUMPY, "Any", {"axis": 1}, [A > 1]), (NUMPY, "All", {}, [A > -2]), (MATH, "Logsumexp", {"axis": -1}, [A]),
    (NUMPY, "CountNonzero", {}, [N]), (NUMPY, "CountNonzero", {"axis": 1}, [N]),
    (NUMPY, "Argmax", {}, [A]), (NUMPY, "Argmax", {"axis": 1, "keepdims": True}, [N]),
    (NUMPY, "Argmin", {"axis": -1}, [A]), (NUMPY, "Argmax", {}, [np.array([-0.0, 0.0, -1.0], "float32")]),
    (NUMPY, "Cumsum", {}, [N]), (NUMPY, "Cumsum", {"axis": 1}, [A]), (NUMPY, "Cumprod", {"axis": -1}, [A]),
    (NUMPY, "Sort", {"axis": 1}, [A]), (NUMPY, "Argsort", {}, [N]), (MATH, "TopK", {"k": 2}, [A]),
    # shapes and indexing
    (NUMPY, "Reshape", {"newshape": (-1, 6)}, [A]), (NUMPY, "Reshape", {"newshape": -1}, [A]),
    (NUMPY, "Transpose", {"axes": (1, 0, 2)}, [A]), (NUMPY, "Transpose", {}, [A]),
    (NUMPY, "ExpandDims", {"axis": 1}, [A]), (NUMPY, "ExpandDims", {"axis": (0, -1)}, [B]),
    (NUMPY, "Squeeze", {}, [A[:1, :, :1]]), (NUMPY, "Squeeze", {"axis": 2}, [A[:, :, :1]]),
    (NUMPY, "Concatenate", {"axis": -1}, [[A, A]]), (NUMPY, "Concatenate", {"axis": 0}, [[N, J[None] * 1]]),
    (NUMPY, "Stack", {"axis": 1}, [[B, B]]), (NUMPY, "Hstack", {}, [[B, B]]), (NUMPY, "Vstack", {}, [[B, B]]),
    (NUMPY, "Tile", {"repeats": (2, 1)}, [B]), (NUMPY, "Tile", {"repeats": 2}, [A]),
    (NUMPY, "Repeat", {"repeats": 2, "axis": 1}, [B]), (NUMPY, "Repeat", {"repeats": 2}, [N]),
    (NUMPY, "Split", {"indices_or_sections": 2, "axis": 2}, [A]),
    (NUMPY, "Split", {"indices_or_sections": [1, 3], "axis": -1}, [A]), (CORE, "Unstack", {"axis": 1}, [A]),
    (NUMPY, "Flip", {}, [A]), (NUMPY, "Flip", {"axis": 1}, [A]), (NUMPY, "Roll", {"shift": 2}, [A]),
    (NUMPY, "Roll", {"shift": -1, "axis": 2}, [A]), (NUMPY, "Swapaxes", {"axis1": 0, "axis2": 2}, [A]),
    (NUMPY, "Moveaxis", {"source": 0, "destination": -1}, [A]), (NUMPY, "BroadcastTo", {"shape": (2, 3, 4)}, [B]),
    (NUMPY, "Ravel", {}, [A]), (NUMPY, "Pad", {"pad_width": ((0, 0), (1, 2), (2, 1))}, [A]),
    (NUMPY, "Take", {"axis": 1}, [A, np.array([2, -1, 0], "int32")]),
    (NUMPY, "Take", {}, [A, np.array([[5, -3]], "int32")]),
    (NUMPY, "TakeAlongAxis", {"axis": -1}, [A, np.argsort(A, axis=-1)[..., :2].astype("int32")]),
    (CORE, "Slice", {"shape": (1, 2, 3)}, [A, (1, 1, 0)]), (CORE, "Cast", {"dtype": "int32"}, [A]),
    (NUMPY, "ZerosLike", {}, [A]), (NUMPY, "OnesLike", {"dtype": "int32"}, [A]),
    (NUMPY, "FullLike", {}, [A, 2.5]), (NUMPY, "Tril", {"k": 1}, [B]), (NUMPY, "Triu", {}, [A]),
    # linear algebra
    (NUMPY, "Matmul", {}, [A, B.T]), (NUMPY, "Matmul", {}, [B, B[0]]), (NUMPY, "Dot", {}, [A, B.T]),
    (NUMPY, "Outer", {}, [B[0], B[1]]), (NUMPY, "Tensordot", {"axes": 1}, [A, B.T]),
    (NUMPY, "Tensordot", {"axes": ((1, 2), (0, 1))}, [A, B]), (NUMPY, "Einsum", {"subscripts": "abc,bc->ab"}, [A, B]),
    (LINALG, "Norm", {}, [B]), (LINALG, "Norm", {"axis": -1, "keepdims": True}, [A]),
    (LINALG, "Norm", {"ord": 1, "axis": 1}, [A]), (LINALG, "Norm", {"axis": (1, 2)}, [A]),
    # nn
    *[(NN, op, {}, [A]) for op in ("Relu", "Relu6", "Sigmoid", "Silu", "HardSigmoid", "HardSilu", "Softplus",
                                   "Softsign", "Selu", "LogSigmoid", "HardTanh", "TanhShrink", "SparsePlus",
                                   "SparseSigmoid")],
    (NN, "Gelu", {"approximate": True}, [A]), (NN, "Gelu", {"approximate": False}, [A]),
    (NN, "Elu", {"alpha": 0.5}, [A]), (NN, "Celu", {"alpha": 2.0}, [A]), (NN, "Glu", {"axis": -1}, [A]),
    (NN, "SoftShrink", {"threshold": 0.3}, [A]), (NN, "HardShrink", {}, [A]), (NN, "Squareplus", {"b": 2}, [A]),
    (NN, "Threshold", {"threshold": 0.1, "default_value": -1.0}, [A]), (NN, "LeakyRelu", {"negative_slope": 0.1}, [A]),
    (NN, "Softmax", {"axis": 1}, [A]), (NN, "LogSoftmax", {}, [A]), (NN, "Sparsemax", {}, [A]), (NN, "Relu", {}, [N]),
    (NN, "OneHot", {"num_classes": 4}, [np.array([0, 3, -1, 5], "int32")]),
    (NN, "OneHot", {"num_classes": 6, "axis": 1, "dtype": "int32"}, [J]),
    (NN, "Normalize", {}, [A]), (NN, "Normalize", {"axis": 1, "order": 1}, [A]), (NN, "Moments", {"axes": [0, 1]}, [A]),
    (NN, "Moments", {"axes": [2], "keepdims": True}, [A]),
    (NN, "DepthToSpace", {"block_size": 2}, [R.standard_normal((1, 2, 3, 8)).astype("float32")]),
    (NN, "SpaceToDepth", {"block_size": 2, "data_format": "channels_first"}, [IMG.transpose(0, 3, 1, 2)]),
    # image
    (IMAGE, "Resize", {"size": (7, 9)}, [IMG]), (IMAGE, "Resize", {"size": (2, 3), "interpolation": "nearest"}, [IMG]),
    (IMAGE, "Resize", {"size": (8, 5), "data_format": "channels_first"}, [IMG.transpose(0, 3, 1, 2)]),
    *[(IMAGE, "Resize", {"size": (5, 3), "interpolation": m, "antialias": aa}, [IMG])
      for m in ("bicubic", "area", "lanczos3", "lanczos5") for aa in (False, True)],
    (IMAGE, "Resize", {"size": (4, 4), "crop_to_aspect_ratio": True}, [IMG]),
    (IMAGE, "Resize", {"size": (3, 7), "pad_to_aspect_ratio": True, "fill_value": 2.0}, [IMG]),
    (IMAGE, "ExtractPatches", {"size": 2}, [IMG]),
    (IMAGE, "ExtractPatches", {"size": (3, 2), "strides": 2, "padding": "same"}, [IMG]),
    (NUMPY, "ArraySplit", {"indices_or_sections": 2, "axis": 1}, [A]), (CORE, "ConvertToTensor", {}, [A]),
    (NUMPY, "Copy", {}, [A]), (NN, "HardSilu", {}, [A * 4]),
    (NUMPY, "Isinf", {}, [np.array([1.0, np.inf, np.nan], "float32")]),
    (NUMPY, "Isnan", {}, [np.array([1.0, np.inf, np.nan], "float32")]), (NUMPY, "GetItem", {}, [A, (0, slice(1, None))]),
]


def _torch(value):
    if isinstance(value, np.ndarray):
        return torch.tensor(value)
    if isinstance(value, list):
        return [_torch(v) for v in value]
    return value


@pytest.mark.parametrize("module,class_name,config,args", CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_keras_op_matches_keras(oracle, module, class_name, config, args):
    want = oracle.run(tf_fixtures.run_keras_op, module=module, class_name=class_name, config=config, args=args)
    assert_same_results(keras_op(class_name)(*[_torch(a) for a in args], **config), want)


def test_every_declared_operation_has_a_case():
    """Each class name of the table is compared with Keras above, but for the names older Keras
    versions wrote for a class 3.15 calls otherwise (``Swish``: ``Silu``; ``HardSwish``: ``HardSilu``)."""
    assert sorted(set(KERAS_OPS) - {c[1] for c in CASES}) == ["HardSwish", "Swish"]


def test_an_operation_kcompat_lacks_is_named():
    assert keras_op("Fft2") is None and keras_op(None) is None
