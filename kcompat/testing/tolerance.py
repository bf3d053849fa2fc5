"""The one tolerance rule every parity check uses (the tests, the harness, ``assert_parity``).

Agreement, per tensor (output, d_input, d_kernel, d_bias)::

    |ours - theirs| <= atol + rtol * |theirs|   everywhere,   atol = rtol * max(1, max|theirs|, terms)

by default: a transposed convolution's values are sums, so their rounding error scales with
the size of what is summed, not with each (possibly cancelled) entry. ``terms`` is the largest
root-sum-square of the terms summed into one entry of the tensor (``sqrt(conv(x**2, w**2))``
for the output, likewise for each gradient, with the upstream gradient for the activation's):
it matters where entries cancel (one filter's bias gradient over a large output) or an
activation squashes large sums (tanh of half-precision sums).
"""

from __future__ import annotations

import numpy as np

from . import numpy_reference
from .result import Difference

__all__ = ["GRAD_TOLERANCES", "TOLERANCES", "assert_close", "compare", "gradient_terms", "output_terms", "peak_root",
           "summed_entries"]

# Default rtol per compute dtype (stated once; the test suite uses the same figures).
TOLERANCES = {"float32": 1e-5, "float64": 1e-12, "float16": 1e-2, "bfloat16": 6e-2}
# Half-precision gradients are long reductions whose rounding depends on accumulation order.
GRAD_TOLERANCES = {"float16": 2e-2, "bfloat16": 1.5e-1}


def compare(name, ours, theirs, rtol, atol, terms=0.0):
    """The :class:`~.result.Difference` of one tensor under the rule (``atol=None``: the default
    ``rtol * max(1, max|theirs|, terms)``); non-finite entries must sit where TensorFlow's are."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = max(1.0, float(np.max(np.abs(theirs))) if theirs.size else 1.0, terms)
    atol = rtol * scale if atol is None else atol
    if ours.size == 0:
        return Difference(name, theirs.shape, 0.0, 0.0, (), 0.0, 0.0, rtol, atol, True)
    diff = np.abs(ours - theirs)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    ok = bool(np.all(diff <= atol + rtol * np.abs(theirs))) and bool(np.all(np.isfinite(ours) == np.isfinite(theirs)))
    return Difference(name, theirs.shape, float(diff[where]), float(diff[where]) / scale,
                      tuple(int(i) for i in where), float(ours[where]), float(theirs[where]), rtol, atol, ok)


def peak_root(a):
    """The root of the largest entry of ``a`` (sums of squares): a gradient's largest term size."""
    return float(np.sqrt(np.max(a))) if a.size else 0.0


def output_terms(config, x, weights, output_shape):
    """The output's largest root-sum-square of the terms summed into one entry (see the module
    doc): the float64 numpy reference on squared inputs."""

    squares = [np.square(a, dtype=np.float64) for a in weights]
    return peak_root(numpy_reference.conv_transpose(
        np.square(x, dtype=np.float64), squares[0], squares[1] if len(squares) > 1 else None,
        output_size=numpy_reference.spatial_size(config, output_shape), **numpy_reference.geometry(config)))


def summed_entries(config, x, weights, output_shape):
    """Output entries into which at least one nonzero product of input and kernel is summed
    (elsewhere the pre-activation is the bias, exactly)."""

    return numpy_reference.conv_transpose(
        np.square(x, dtype=np.float64), np.square(weights[0], dtype=np.float64), None,
        output_size=numpy_reference.spatial_size(config, output_shape), **numpy_reference.geometry(config)) > 0


def gradient_terms(config, x, weights, upstream):
    """:func:`output_terms` for d_input, d_kernel and d_bias (the upstream gradient's squares)."""

    grads = numpy_reference.conv_transpose_vjp(np.square(x, dtype=np.float64), np.square(weights[0], dtype=np.float64),
                                               np.square(upstream, dtype=np.float64), **numpy_reference.geometry(config))
    return dict(zip(("d_input", "d_kernel", "d_bias"), map(peak_root, grads)))



def rtol_for(dtype, gradient=False):
    """The default rtol for a compute dtype (its gradients: :data:`GRAD_TOLERANCES` where looser)."""
    if gradient:
        return GRAD_TOLERANCES.get(dtype, TOLERANCES[dtype])
    return TOLERANCES[dtype]


def assert_close(ours, theirs, dtype, what="output", rtol=None, terms=0.0):
    """Fail with the :class:`~kcompat.testing.result.Difference` when ``ours`` is off ``theirs``
    by more than the rule allows (``rtol``: default for ``dtype``, a numpy or Keras dtype name)."""
    dtype = str(np.dtype(dtype)) if dtype not in TOLERANCES else dtype
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != reference {theirs.shape}"
    difference = compare(what, ours, theirs, rtol_for(dtype) if rtol is None else rtol, None, terms)
    assert difference.ok, str(difference)
    return difference
