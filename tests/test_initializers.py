"""Initializer statistics against Keras 3's own draws, run in the test, on a transposed kernel.

A transposed kernel (kh, kw, filters, in) has Keras's fan_in = kh*kw*filters and
fan_out = kh*kw*in; filters != in here so that a swapped convention would show.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing import tf_calls

SHAPE = (None, 6, 6, 24)  # in_channels 24
BASE = dict(filters=96, kernel_size=(5, 3))
STD_TOLERANCE = 0.05  # relative, with 5*3*96*24 = 34560 draws


BOUNDED = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
           "random_uniform", "truncated_normal", "uniform",
           {"class_name": "VarianceScaling", "config": {"scale": 3.0, "mode": "fan_out", "distribution": "uniform"}},
           {"class_name": "VarianceScaling", "config": {"mode": "fan_in", "distribution": "normal"}},
           {"class_name": "TruncatedNormal", "config": {"mean": -0.5, "stddev": 2.0}},
           # Keras draws these (TF scales a unit draw): no error, the mirrored distribution
           {"class_name": "RandomUniform", "config": {"minval": 1.0, "maxval": 0.0}},
           {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": -0.5}}]
UNBOUNDED = ["random_normal", "normal", "orthogonal",
             {"class_name": "VarianceScaling", "config": {"scale": 0.5, "mode": "fan_avg",
                                                          "distribution": "untruncated_normal"}},
             {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.3}},
             {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": -1.0}},
             {"class_name": "Orthogonal", "config": {"gain": 2.0}}]


def _id(v):
    return v if isinstance(v, str) else f"{v['class_name']}-{'-'.join(map(str, v['config'].values()))}"


@pytest.mark.parametrize("initializer,bounded", [(i, True) for i in BOUNDED] + [(i, False) for i in UNBOUNDED],
                         ids=lambda v: _id(v) if not isinstance(v, bool) else ("bounded" if v else "unbounded"))
def test_kernel_statistics_match_keras(oracle, initializer, bounded):
    config = dict(BASE, kernel_initializer=initializer)
    theirs = oracle.run(tf_calls.initial_weights, reference="keras", config=config, input_shape=SHAPE)[0][0]
    torch.manual_seed(0)  # our side fixed; TF's draw is unseeded, so tolerances are statistical
    layer = kcompat.Conv2DTranspose(**config)
    layer.build(SHAPE)
    ours = layer.get_weights()[0]
    assert ours.shape == theirs.shape
    assert abs(ours.mean() - theirs.mean()) <= 0.05 * theirs.std() + 1e-6
    assert abs(ours.std() / theirs.std() - 1) < STD_TOLERANCE
    # Two samples of 34560: a 1%/99% quantile differs by ~0.03 sigma (sd), a central one by ~0.015.
    for q, tolerance in ((0.01, 0.2), (0.25, 0.1), (0.5, 0.1), (0.75, 0.1), (0.99, 0.2)):
        assert abs(np.quantile(ours, q) - np.quantile(theirs, q)) < tolerance * theirs.std(), f"quantile {q}"
    if bounded:  # uniform limits and the two-sigma truncation alike
        assert abs(ours.min() - theirs.min()) < 0.05 * theirs.std()
        assert abs(ours.max() - theirs.max()) < 0.05 * theirs.std()


@pytest.mark.parametrize("initializer", ["zeros", "ones", {"class_name": "Constant", "config": {"value": 0.25}}],
                         ids=str)
def test_constant_initializers_equal_keras(oracle, initializer):
    config = dict(BASE, kernel_initializer=initializer, bias_initializer=initializer)
    theirs = oracle.run(tf_calls.initial_weights, reference="keras", config=config, input_shape=SHAPE)[0]
    layer = kcompat.Conv2DTranspose(**config)
    layer.build(SHAPE)
    for a, b in zip(layer.get_weights(), theirs):
        np.testing.assert_array_equal(a, b)


def test_orthogonal_flattens_in_keras_layout():
    layer = kcompat.Conv2DTranspose(8, 3, kernel_initializer="orthogonal", in_channels=4)
    flat = layer.get_weights()[0].reshape(-1, 4)  # (kh*kw*filters, in): orthonormal columns
    np.testing.assert_allclose(flat.T @ flat, np.eye(4), atol=1e-5)


def test_identity_refuses_a_kernel_as_keras_does(oracle):
    config = dict(filters=2, kernel_size=3, kernel_initializer="identity")
    from kcompat.testing.tf_oracle import TFError
    with pytest.raises(TFError, match="2D matrices"):
        oracle.run(tf_calls.initial_weights, reference="keras", config=config, input_shape=(None, 4, 4, 2))
    with pytest.raises(ValueError, match="2D matrices"):
        kcompat.Conv2DTranspose(**config, in_channels=2)


def test_integer_seed_repeats_and_none_follows_torch_seed():
    seeded = {"class_name": "GlorotUniform", "config": {"seed": 3}}
    a = kcompat.Conv2DTranspose(4, 3, kernel_initializer=seeded, in_channels=2).get_weights()[0]
    b = kcompat.Conv2DTranspose(4, 3, kernel_initializer=seeded, in_channels=2).get_weights()[0]
    c = kcompat.Conv2DTranspose(4, 3, kernel_initializer=dict(seeded, config={"seed": 4}),
                                in_channels=2).get_weights()[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    torch.manual_seed(0)
    d = kcompat.Conv2DTranspose(4, 3, in_channels=2).get_weights()[0]
    torch.manual_seed(0)
    e = kcompat.Conv2DTranspose(4, 3, in_channels=2).get_weights()[0]
    np.testing.assert_array_equal(d, e)


def test_array_and_callable_initializers():
    kernel = np.arange(3 * 3 * 4 * 2, dtype="float32").reshape(3, 3, 4, 2)
    layer = kcompat.Conv2DTranspose(4, 3, kernel_initializer=kernel,
                                    bias_initializer=lambda shape, dtype=None: torch.full(shape, 2.0),
                                    in_channels=2)
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    np.testing.assert_array_equal(layer.get_weights()[1], np.full(4, 2.0, "float32"))
    with pytest.raises(ValueError, match="shape"):
        kcompat.Conv2DTranspose(4, 2, kernel_initializer=kernel, in_channels=2)
