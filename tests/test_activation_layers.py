"""Activation, ReLU, LeakyReLU, ELU and Softmax against real Keras 3 and Keras 2, run in the test.

Outputs and input gradients in float32 and float64 (inputs include every kink: 0, the
threshold, max_value, 6), configs equal to Keras 3's ``get_config()``, Keras 2 configs read,
Keras's errors for bad arguments.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing import tf_calls
from kcompat.testing.tf_oracle import TFError
from kcompat.testing.tolerance import assert_close

CONFIGS = [
    ("ReLU", {}), ("ReLU", {"max_value": 6.0}), ("ReLU", {"max_value": 1.5}), ("ReLU", {"max_value": 0.0}),
    ("ReLU", {"negative_slope": 0.1}), ("ReLU", {"threshold": 0.5}),
    ("ReLU", {"negative_slope": 0.1, "max_value": 6.0}),
    ("ReLU", {"negative_slope": 0.2, "threshold": 0.3, "max_value": 2.0}),
    ("ReLU", {"negative_slope": 0.3, "threshold": 0.5}),
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.0}), ("LeakyReLU", {"negative_slope": 0.01}),
    ("LeakyReLU", {"negative_slope": 1.5}),
    ("ELU", {}), ("ELU", {"alpha": 0.5}), ("ELU", {"alpha": 2.0}),
    ("Softmax", {}), ("Softmax", {"axis": 1}), ("Softmax", {"axis": [1, 2]}), ("Softmax", {"axis": [2]}),
    *[("Activation", {"activation": name}) for name in ("relu", "relu6", "tanh", "sigmoid", "gelu", "selu", "elu",
                                                         "softplus", "silu", "hard_silu", "softmax", "linear")],
]
KINKS = np.array([0.0, 0.5, 0.3, 6.0, 1.5, 2.0, -0.5, -2.0])


def _id(entry):
    name, config = entry
    return name + "".join(f"-{k}{v}" for k, v in config.items())


def _inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(dtype)
    x.flat[:len(KINKS)] = KINKS  # values exactly on the kinks
    upstream = rng.standard_normal(x.shape).astype(dtype)
    return x, upstream


def _keras2(name, config):
    """The same layer's arguments in Keras 2's spelling."""
    if name == "LeakyReLU" and "negative_slope" in config:
        return {"alpha": config["negative_slope"]}
    return dict(config)


# Keras 2 has no silu/hard_silu names (Keras 3 has them; kcompat follows Keras 3).
CASES = [pytest.param(entry, reference, id=f"{_id(entry)}-{reference}") for entry in CONFIGS
         for reference in ("keras", "tf_keras")
         if not (reference == "tf_keras" and entry[1].get("activation") in ("silu", "hard_silu"))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("entry,reference", CASES)
def test_matches_keras(oracle, entry, reference, dtype):
    name, config = entry
    theirs_config = _keras2(name, config) if reference == "tf_keras" else config
    x, upstream = _inputs(dtype)
    theirs = oracle.run(tf_calls.keras_layer, reference=reference, class_name=name,
                        config=dict(theirs_config, dtype=dtype), x=x, upstream=upstream)
    with pytest.warns(UserWarning, match="alpha") if "alpha" in theirs["config"] and name == "LeakyReLU" else _nothing():
        layer = getattr(kcompat.layers, name).from_config(theirs["config"])
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt)
    (y * torch.tensor(upstream)).sum().backward()
    assert y.dtype == xt.dtype
    rtol = None
    if dtype == "float64" and config.get("activation") == "gelu":
        # TF's float64 erf is off by up to 5e-9 (against math.erf); kcompat's is exact (7e-17).
        rtol = 1e-8
        exact = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(x)
        assert_close(y.detach().numpy(), exact, dtype, "output vs math.erf")
    assert_close(y.detach().numpy(), theirs["output"], dtype, "output", rtol=rtol)
    assert_close(xt.grad.numpy(), theirs["grad"], dtype, "d_input", rtol=rtol)
    if reference == "keras":
        assert layer.get_config() == theirs["config"]
        json.dumps(layer.get_config())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("policy", ["float16", "bfloat16", "mixed_float16"])
@pytest.mark.parametrize("entry", [("ReLU", {"negative_slope": 0.2, "threshold": 0.3, "max_value": 2.0}),
                                   ("LeakyReLU", {}), ("ELU", {"alpha": 0.5}), ("Softmax", {"axis": [1, 2]})], ids=_id)
def test_half_precision_policies(oracle, entry, policy):
    name, config = entry
    x, _ = _inputs("float32")
    x = torch.tensor(x).to(torch.bfloat16 if policy == "bfloat16" else torch.float16).float().numpy()
    theirs = oracle.run(tf_calls.keras_layer, reference="keras", class_name=name, config=dict(config, dtype=policy),
                        x=x)
    layer = getattr(kcompat.layers, name)(**config, dtype=policy, name=theirs["config"]["name"])
    y = layer(torch.tensor(x))
    assert y.dtype == layer.compute_dtype and layer.get_config() == theirs["config"]
    assert_close(y.float().numpy(), theirs["output"], policy.replace("mixed_", ""), "output")


def test_softmax_mask_as_keras(oracle):
    x, _ = _inputs("float32")
    mask = np.random.default_rng(1).random((2, 3, 4, 5)) > 0.3
    theirs = oracle.run(tf_calls.keras_layer, reference="keras", class_name="Softmax", config={"axis": 1}, x=x,
                        mask=mask)
    y = kcompat.Softmax(axis=1)(torch.tensor(x), mask=torch.tensor(mask))
    assert_close(y.numpy(), theirs["output"], "float32", "output")
    with pytest.raises(ValueError, match="must be broadcastable"):
        kcompat.Softmax()(torch.zeros(2, 3), mask=torch.ones(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("name,config", [
    ("ReLU", {"max_value": -1.0}), ("ReLU", {"negative_slope": -0.1}), ("ReLU", {"negative_slope": None}),
    ("ReLU", {"threshold": -1.0}), ("LeakyReLU", {"negative_slope": -1.0}), ("LeakyReLU", {"negative_slope": None}),
])
def test_bad_arguments_are_refused_as_keras_words_it(oracle, name, config):
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.keras_layer, reference="keras", class_name=name, config=config)
    with pytest.raises(ValueError) as ours:
        getattr(kcompat.layers, name)(**config)
    assert str(ours.value) == theirs.value.message


@pytest.mark.parametrize("name,config", [("ReLU", {"max_value": "6"}), ("LeakyReLU", {"negative_slope": True}),
                                         ("ELU", {"alpha": "1"}), ("Softmax", {"axis": 1.5}), ("Softmax", {"axis": ()})])
def test_wrong_types_name_the_argument(name, config):
    key, value = next(iter(config.items()))
    with pytest.raises(TypeError, match=f"`{key}`.*Received: {key}={value!r}"):
        getattr(kcompat.layers, name)(**config)


def test_weightless_layers_are_built_and_keep_the_input_dtype():
    layer = kcompat.LeakyReLU()
    assert layer.built and layer.get_weights() == [] and layer.count_params() == 0 and list(layer.parameters()) == []
    assert layer.negative_slope == 0.3  # Keras's default, not torch's 0.01
    assert layer(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64  # as model.double() computes
    assert kcompat.ReLU(dtype="float64")(torch.zeros(2)).dtype == torch.float64  # an explicit policy casts
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 5)
    assert "negative_slope=0.3" in repr(layer)
    seq = torch.nn.Sequential(kcompat.Conv2DTranspose(3, 2, 2, in_channels=2), kcompat.LeakyReLU(0.2))
    assert seq(torch.rand(1, 4, 4, 2)).shape == (1, 8, 8, 3)
