"""Exhaustive sweeps of the pure shape arithmetic, and of the op it drives, against numpy.

No TensorFlow here: the float64 numpy reference (written from TF's definition) is the judge,
run per axis through the 1-D op so that every case of the crop arithmetic is hit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from kcompat import functional, shapes
from kcompat.testing import numpy_reference

SIZES = range(0, 7)


def _accepted(i, o, k, s, pad, d):
    try:
        shapes.check_tf_accepts(i, o, k, s, pad, d)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel,stride,dilation", [
    (k, s, d) for k in range(1, 7) for s in range(1, 5) for d in range(1, 4) if s == 1 or d == 1
])
def test_keras_lengths_through_1d_op(padding, kernel, stride, dilation):
    """Every input length and output_padding: the op equals the numpy reference, or both refuse."""
    failures = []
    rng = np.random.default_rng(kernel * 100 + stride * 10 + dilation)
    for i, op in itertools.product(SIZES, (None, *range(stride))):
        o = shapes.keras_output_length(i, kernel, stride, padding, op, dilation)
        if not _accepted(i, o, kernel, stride, padding, dilation):
            continue
        x = rng.standard_normal((2, i, 3))
        w = rng.standard_normal((kernel, 4, 3))
        ours = functional.conv_transpose(
            torch.tensor(x), torch.tensor(w).permute(2, 1, 0), None, output_size=(o,), strides=(stride,),
            padding=padding, dilation=(dilation,), channels_last=True).numpy()
        expected = numpy_reference.conv_transpose(x, w, None, (stride,), padding, (o,), (dilation,))
        if ours.shape != expected.shape or not np.allclose(ours, expected, rtol=0, atol=1e-12):
            failures.append((i, op, ours.shape, expected.shape))
    assert not failures, f"(input, output_padding, ours, expected): {failures}"


@pytest.mark.parametrize("padding", ["valid", "same", (0, 0), (2, 1), (1, 3)])
@pytest.mark.parametrize("kernel,stride,dilation", [
    (k, s, d) for k in range(1, 6) for s in range(1, 5) for d in range(1, 3)
])
def test_every_accepted_output_length(padding, kernel, stride, dilation):
    """tf.nn-style explicit output lengths, including explicit paddings and stride+dilation."""
    failures = []
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        for o in range(0, (i + 2) * stride + kernel * dilation):
            if not _accepted(i, o, kernel, stride, padding, dilation):
                continue
            plan = shapes.plan_axis(i, o, kernel, stride, padding, dilation)
            assert 0 <= plan.output_padding < max(stride, dilation) and plan.padding >= 0
            if o == 0:
                continue
            x, w = rng.standard_normal((1, i, 2)), rng.standard_normal((kernel, 3, 2))
            pad = padding if isinstance(padding, str) else (padding,)
            ours = functional.conv_transpose(
                torch.tensor(x), torch.tensor(w).permute(2, 1, 0), None, output_size=(o,), strides=(stride,),
                padding=pad, dilation=(dilation,), channels_last=True).numpy()
            expected = numpy_reference.conv_transpose(x, w, None, (stride,), pad, (o,), (dilation,))
            if not np.allclose(ours, expected, rtol=0, atol=1e-12):
                failures.append((i, o))
    assert not failures, f"(input, output) lengths off: {failures}"


@pytest.mark.parametrize("kernel,stride", [(k, s) for k in range(1, 7) for s in range(1, 5)])
def test_plan_wastes_least(kernel, stride):
    """Torch computes at most |crop_before - crop_after| discarded rows, never more."""
    for i in range(1, 6):
        for padding, op in itertools.product(("valid", "same"), (None, *range(stride))):
            o = shapes.keras_output_length(i, kernel, stride, padding, op)
            if not _accepted(i, o, kernel, stride, padding, 1):
                continue
            plan = shapes.plan_axis(i, o, kernel, stride, padding)
            waste = plan.torch_length + plan.extend - o
            if plan.crop_after >= 0:
                assert plan.padding == min(plan.crop_before, plan.crop_after)
                assert waste == abs(plan.crop_before - plan.crop_after)
            else:
                assert plan.extend == 0, "Keras's lengths never need an extension beyond output_padding"


def test_same_explicit_output_padding_zero_even_kernel_is_refused():
    o = shapes.keras_output_length(4, 2, 2, "same", 0)
    with pytest.raises(ValueError, match="output_padding"):
        shapes.check_tf_accepts(4, o, 2, 2, "same")


def test_negative_output_length_is_refused():
    o = shapes.keras_output_length(0, 2, 3, "valid", 0)
    assert o < 0
    with pytest.raises(ValueError, match="negative"):
        shapes.check_tf_accepts(0, o, 2, 3, "valid")


def test_unknown_length_stays_unknown():
    assert shapes.keras_output_length(None, 3, 2, "same") is None
    assert shapes.tf1_output_length(None, 3, 2, "valid") is None


@pytest.mark.parametrize("a,b", [(7, 2), (-7, 2), (-1, 2), (0, 3), (6, -4)])
def test_c_division_truncates_toward_zero(a, b):
    assert shapes._c_div(a, b) == int(a / b)


@pytest.mark.parametrize("stride", [1, 2, 3, 5])
@pytest.mark.parametrize("dilation", [1, 2])
def test_tap_ranges_are_every_landing_row_once(stride, dilation):
    """The GEMM path's col2im: each (input row, tap) whose row ``i * s + t * d - crop_before``
    lies in ``[0, O)`` appears exactly once, at that output row; no other pair appears."""
    for i, k, o, crop in itertools.product(range(0, 6), range(1, 6), range(0, 14), range(0, 8)):
        want = {(row, t): row * stride + t * dilation - crop for row in range(i) for t in range(k)
                if 0 <= row * stride + t * dilation - crop < o}
        got = {}
        for t, start, stop, o_start in shapes.tap_ranges(i, o, k, stride, crop, dilation):
            assert stop > start
            for n, row in enumerate(range(start, stop)):
                assert (row, t) not in got
                got[(row, t)] = o_start + n * stride
        assert got == want, (i, k, o, crop)
