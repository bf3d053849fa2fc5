"""``layer.losses`` and constraints against Keras 3, run in the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing.tf_oracle import TFError

from kcompat.testing.tolerance import assert_close
from kcompat.testing import tf_calls


def _setup(config, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4, 5, 2)).astype("float32")
    kernel = rng.standard_normal((*config["kernel_size"], config["filters"], 2)).astype("float32")
    return x, [kernel, rng.standard_normal(config["filters"]).astype("float32")]


@pytest.mark.parametrize("regs", [
    dict(kernel_regularizer="l2"),
    dict(kernel_regularizer="l1", bias_regularizer="l2"),
    dict(kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.3, "l2": 0.05}}),
    dict(activity_regularizer="l2"),
    dict(activity_regularizer={"class_name": "L1", "config": {"l1": 0.2}}, kernel_regularizer="l1",
         bias_regularizer={"class_name": "L2", "config": {"l2": 1.5}}),
    dict(kernel_regularizer="l2", trainable=False),
], ids=lambda r: "-".join(f"{k[:4]}={v if isinstance(v, (str, bool)) else v['class_name']}" for k, v in r.items()))
def test_losses_match_keras(oracle, regs):
    config = dict(filters=3, kernel_size=(3, 2), strides=2, padding="same", activation="tanh", **regs)
    x, weights = _setup(config)
    theirs = oracle.run(tf_calls.layer_losses, reference="keras", config=config, x=x, weights=weights)
    layer = kcompat.Conv2DTranspose(**config)
    layer.set_weights(weights)
    layer(torch.tensor(x))
    ours = [float(v.detach()) for v in layer.losses]
    assert len(ours) == len(theirs)
    for a, b in zip(sorted(ours), sorted(theirs)):
        assert_close(a, b, "float32", "penalty")


def test_activity_loss_is_the_last_calls():
    layer = kcompat.Conv2DTranspose(2, 2, activity_regularizer="l1", use_bias=False, in_channels=1)
    layer(torch.ones(2, 3, 3, 1))
    assert len(layer.losses) == 1 and float(layer.losses[0].detach()) > 0
    layer(torch.zeros(4, 3, 3, 1))
    assert len(layer.losses) == 1 and float(layer.losses[0].detach()) == 0.0



def test_losses_are_differentiable():
    layer = kcompat.Conv2DTranspose(2, 2, kernel_regularizer="l2", in_channels=1)
    sum(layer.losses).backward()
    torch.testing.assert_close(layer.weight.grad, 2 * 0.01 * layer.weight.detach())


def test_orthogonal_regularizer_refuses_a_kernel_as_keras_does(oracle):
    config = dict(filters=3, kernel_size=(3, 2), kernel_regularizer="orthogonal_regularizer")
    x, weights = _setup(config)
    with pytest.raises(TFError, match="rank 2"):
        oracle.run(tf_calls.layer_losses, reference="keras", config=config, x=x, weights=weights)
    layer = kcompat.Conv2DTranspose(**config, in_channels=2)
    with pytest.raises(ValueError, match="rank 2"):
        _ = layer.losses


@pytest.mark.parametrize("constraint", [
    "max_norm", "non_neg", "unit_norm", "min_max_norm",
    {"class_name": "MaxNorm", "config": {"max_value": 0.5, "axis": [0, 1, 2]}},
    {"class_name": "MinMaxNorm", "config": {"min_value": 0.2, "max_value": 0.4, "rate": 0.7, "axis": [0, 1, 3]}},
    {"class_name": "UnitNorm", "config": {"axis": -1}},
], ids=lambda c: c if isinstance(c, str) else f"{c['class_name']}-{c['config']}")
def test_constraints_match_keras_in_keras_layout(oracle, constraint):
    multi_axis = isinstance(constraint, dict) and isinstance(constraint["config"].get("axis"), list)
    config = dict(filters=3, kernel_size=(3, 2), kernel_constraint=constraint,
                  bias_constraint=None if multi_axis else constraint)
    x, weights = _setup(config)
    layer = kcompat.Conv2DTranspose(**config)
    layer.set_weights(weights)
    layer.apply_constraints()
    for ours, w in zip(layer.get_weights(), weights[:1] if multi_axis else weights):
        theirs = oracle.run(tf_calls.constraint, reference="keras", identifier=constraint, w=w)
        assert_close(ours, theirs, "float32", "constrained weight")


def test_apply_constraints_after_an_optimizer_step():
    model = torch.nn.Sequential(kcompat.Conv2DTranspose(4, 3, kernel_constraint="non_neg", in_channels=2))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    model(torch.randn(2, 5, 5, 2)).square().sum().backward()
    opt.step()
    kcompat.apply_constraints(model)
    assert (model[0].weight >= 0).all()
