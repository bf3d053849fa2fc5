"""Every activation name Keras 3 accepts, against Keras's own function run in TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

import kcompat
from kcompat import activations

from kcompat.testing.tolerance import assert_close
from kcompat.testing import tf_calls

NAMES = sorted(set(activations.ACTIVATIONS) - {"threshold"})

# TensorFlow's float64 erfc (Eigen) is off the C library's by up to ~5e-9; kcompat's gelu is
# checked against the exact value instead (test_gelu_float64_is_exact), and against TF to this.
TF_FLOAT64_INACCURACY = {"gelu": 1e-8}


def test_names_are_keras3s(oracle):
    keras_names = oracle.run(tf_calls.activation_names, reference="keras")
    assert set(activations.ACTIVATIONS) == set(keras_names)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_keras(oracle, name, dtype):
    x = (np.random.default_rng(1).standard_normal((2, 3, 4, 6)) * 3).astype(dtype)
    x[0, 0, 0, :4] = [-1.0, 1.0, 0.5, -0.5]  # the kinks of the piecewise ones
    theirs = oracle.run(tf_calls.activation, reference="keras", name=name, x=x)
    import torch

    ours = activations.get(name)(torch.tensor(x)).numpy()
    if dtype == "float64" and name in TF_FLOAT64_INACCURACY:
        assert np.max(np.abs(ours - theirs)) <= TF_FLOAT64_INACCURACY[name]
        return
    assert_close(ours, theirs, dtype, name)


# Every kink or branch point of the piecewise activations, 0, and values either side.
KINK_POINTS = [-7.0, -6.0, -3.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 3.0, 6.0, 7.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_tensorflow_at_kinks(oracle, name, dtype):
    """TF's gradient at the exact kink (relu6 at 0 and 6, selu at 0, hard_sigmoid/hard_silu at
    +-3): pre-activations sit exactly there where a zero bias meets output rows no kernel tap writes."""
    import torch

    x = np.array(KINK_POINTS * 2, dtype=dtype).reshape(1, -1)  # even length: glu splits the last axis
    xt = torch.tensor(x, requires_grad=True)
    y = activations.get(name)(xt)
    upstream = np.arange(1, y.numel() + 1, dtype=dtype).reshape(tuple(y.shape))
    (y * torch.tensor(upstream)).sum().backward()
    theirs = oracle.run(tf_calls.activation_vjp, reference="keras", name=name, x=x, upstream=upstream)
    tolerance = TF_FLOAT64_INACCURACY.get(name) if dtype == "float64" else None
    assert_close(y.detach().numpy(), theirs["output"], dtype, f"{name} output", tolerance)
    assert_close(xt.grad.numpy(), theirs["grad"], dtype, f"{name} gradient", tolerance)


def test_gelu_float64_is_exact():
    import math

    import torch

    x = np.linspace(-8, 8, 1001)
    exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(activations.gelu(torch.tensor(x)).numpy(), exact, rtol=1e-15, atol=1e-15)


def test_threshold_by_name_fails_at_call_as_in_keras():
    layer = kcompat.Conv2DTranspose(2, 1, activation="threshold", in_channels=1)
    import torch

    with pytest.raises(TypeError):
        layer(torch.zeros(1, 2, 2, 1))


def test_unknown_activation_names_the_value():
    with pytest.raises(ValueError, match="activation='nope'"):
        kcompat.Conv2DTranspose(2, 1, activation="nope")
