"""Shared fixtures: the TensorFlow oracle and the one comparison every parity test uses."""

from __future__ import annotations

import numpy as np
import pytest

from kcompat.testing.tf_oracle import default_oracle

# Tolerances, stated once per dtype: max |ours - reference| / max(1, max |reference|).
TOLERANCE = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12}


@pytest.fixture(scope="session")
def oracle():
    return default_oracle()


def max_error(ours, reference):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, f"shape {ours.shape} != reference {reference.shape}"
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - reference)) / max(1.0, float(np.max(np.abs(reference)))))


def assert_matches_reference(ours, reference, dtype, what="output"):
    """Fail with the error and the tolerance when ``ours`` is off the reference."""
    err = max_error(ours, reference)
    tol = TOLERANCE[np.dtype(dtype)]
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"
    return err
