"""Shared fixtures: the TensorFlow oracle and the one comparison every parity test uses."""

from __future__ import annotations

import numpy as np
import pytest

from kcompat.testing.tf_oracle import default_oracle

# Tolerances, stated once per dtype: max |ours - reference| / max(1, max |reference|).
TOLERANCE = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12, "float16": 1e-2, "bfloat16": 6e-2}
# Half-precision gradients are long reductions whose rounding depends on accumulation order
# (TF reduces bfloat16 bias gradients in bfloat16): looser, stated once here.
GRAD_TOLERANCE = {"float16": 2e-2, "bfloat16": 1.5e-1}


@pytest.fixture(scope="session")
def oracle():
    return default_oracle()


def max_error(ours, reference):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, f"shape {ours.shape} != reference {reference.shape}"
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - reference)) / max(1.0, float(np.max(np.abs(reference)))))


def assert_matches_reference(ours, reference, dtype, what="output", tolerance=None):
    """Fail with the error and the tolerance when ``ours`` is off the reference."""
    err = max_error(ours, reference)
    tol = tolerance or TOLERANCE[dtype if dtype in ("float16", "bfloat16") else np.dtype(dtype)]
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"
    return err
