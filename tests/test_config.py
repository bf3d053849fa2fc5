"""get_config()/from_config()/compute_output_shape()/count_params() against Keras, run in the test."""

from __future__ import annotations

import json

import pytest

import kcompat
from kcompat.testing import tf_calls

CASES = {
    "defaults": dict(filters=4, kernel_size=3),
    "tuples": dict(filters=8, kernel_size=(3, 2), strides=(2, 1), padding="SAME", output_padding=(1, 0)),
    "dilated": dict(filters=2, kernel_size=[3, 3], dilation_rate=2, data_format="channels_first"),
    "activation": dict(filters=3, kernel_size=2, strides=2, activation="gelu", use_bias=False),
    "hard_swish": dict(filters=3, kernel_size=2, activation="hard_swish"),
    "init-names": dict(filters=3, kernel_size=3, kernel_initializer="he_normal", bias_initializer="ones"),
    "init-configs": dict(filters=3, kernel_size=3,
                         kernel_initializer={"class_name": "VarianceScaling",
                                             "config": {"scale": 2.0, "mode": "fan_out", "seed": 7}},
                         bias_initializer={"class_name": "Constant", "config": {"value": 0.5}}),
    "init-misc": dict(filters=3, kernel_size=3, kernel_initializer="orthogonal",
                      bias_initializer={"class_name": "RandomUniform", "config": {"minval": -1, "maxval": 2}}),
    "truncated": dict(filters=3, kernel_size=3, kernel_initializer="truncated_normal",
                      bias_initializer="random_normal"),
    "regularizers": dict(filters=3, kernel_size=3, kernel_regularizer="l2", bias_regularizer="l1",
                         activity_regularizer={"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}),
    "orthogonal-reg": dict(filters=3, kernel_size=3, kernel_regularizer="orthogonal_regularizer"),
    "constraints": dict(filters=3, kernel_size=3, kernel_constraint="max_norm", bias_constraint="non_neg"),
    "constraint-configs": dict(filters=3, kernel_size=3,
                               kernel_constraint={"class_name": "MinMaxNorm",
                                                  "config": {"min_value": 0.5, "max_value": 2.0, "rate": 0.5,
                                                             "axis": [0, 1, 2]}},
                               bias_constraint="unit_norm"),
    "float64": dict(filters=3, kernel_size=3, dtype="float64", trainable=False),
    "mixed": dict(filters=3, kernel_size=3, dtype="mixed_float16"),
    "bfloat16": dict(filters=3, kernel_size=3, dtype="bfloat16"),
}


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request):
    return dict(CASES[request.param], name=f"case_{request.param.replace('-', '_')}")


def keras3_config(oracle, config, input_shape=None):
    return oracle.run(tf_calls.layer_config, reference="keras", config=config, input_shape=input_shape)


def test_get_config_equals_keras3(oracle, case):
    ours = kcompat.Conv2DTranspose(**case).get_config()
    assert ours == keras3_config(oracle, case)
    json.dumps(ours)


def test_get_config_after_build_equals_keras3(oracle, case):
    layer = kcompat.Conv2DTranspose(**case)
    shape = (None, 3, 5, 6, ) if layer.data_format == "channels_first" else (None, 5, 6, 3)
    layer.build(shape)
    assert layer.get_config() == keras3_config(oracle, case, shape)


def test_from_keras3_config_round_trips(oracle, case):
    written = keras3_config(oracle, case)
    assert kcompat.Conv2DTranspose.from_config(json.loads(json.dumps(written))).get_config() == written


@pytest.mark.parametrize("name", ["defaults", "tuples", "activation", "init-names", "init-configs",
                                  "regularizers", "constraints", "float64"])
def test_from_keras2_config(oracle, name):
    kwargs = dict(CASES[name], name="from_keras2")
    keras2 = oracle.run(tf_calls.layer_config, reference="tf_keras", config=kwargs)
    layer = kcompat.Conv2DTranspose.from_config(json.loads(json.dumps(keras2)))
    # Keras 3 constructed from the values Keras 2 stored (Keras 2 keeps factors as float32).
    keras3_kwargs = {k: v for k, v in keras2.items() if k not in ("groups", "batch_input_shape")}
    assert layer.get_config() == keras3_config(oracle, keras3_kwargs)


def test_keras2_batch_input_shape_builds(oracle):
    kwargs = dict(filters=4, kernel_size=3, strides=2, input_shape=(6, 5, 7), name="k2")
    keras2 = oracle.run(tf_calls.layer_config, reference="tf_keras", config=kwargs)
    assert keras2["batch_input_shape"] == (None, 6, 5, 7)
    layer = kcompat.Conv2DTranspose.from_config(keras2)
    assert layer.built and layer.in_channels == 7


@pytest.mark.parametrize("kwargs,input_shape", [
    (dict(filters=4, kernel_size=3, strides=2, padding="same"), (None, 5, None, 3)),
    (dict(filters=4, kernel_size=(2, 5), strides=(3, 2), output_padding=(2, 1)), (2, 4, 7, 3)),
    (dict(filters=4, kernel_size=3, dilation_rate=(2, 3), data_format="channels_first"), (1, 3, None, 9)),
    (dict(filters=5, kernel_size=1, strides=3, padding="valid"), (None, 1, 1, 2)),
    (dict(filters=5, kernel_size=4, strides=2, padding="same", output_padding=1), (8, 10, 11, 2)),
])
def test_compute_output_shape_and_count_params(oracle, kwargs, input_shape):
    layer = kcompat.Conv2DTranspose(**kwargs)
    theirs = oracle.run(tf_calls.layer_output_shape, reference="keras", config=kwargs, input_shape=input_shape)
    assert layer.compute_output_shape(input_shape) == theirs
    layer.build(input_shape)
    weights = oracle.run(tf_calls.initial_weights, reference="keras", config=kwargs, input_shape=input_shape)[0]
    assert layer.count_params() == sum(w.size for w in weights)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in weights]


def test_unique_default_names():
    a, b = kcompat.Conv2DTranspose(1, 1), kcompat.Conv2DTranspose(1, 1)
    assert a.name.startswith("conv2d_transpose") and a.name != b.name


def test_count_params_before_build_fails():
    with pytest.raises(ValueError, match="isn't built"):
        kcompat.Conv2DTranspose(2, 3).count_params()


ND = {
    1: [dict(filters=4, kernel_size=3, strides=2, padding="same", output_padding=1, activation="relu"),
        dict(filters=2, kernel_size=[5], dilation_rate=2, data_format="channels_first", use_bias=False)],
    3: [dict(filters=4, kernel_size=(3, 2, 1), strides=(2, 1, 3), padding="same", kernel_initializer="he_normal"),
        dict(filters=2, kernel_size=2, dilation_rate=(1, 2, 2), data_format="channels_first", dtype="float64")],
}


@pytest.mark.parametrize("rank,index", [(r, i) for r in ND for i in range(len(ND[r]))])
def test_1d_3d_config_shapes_and_weights_equal_keras3(oracle, rank, index):
    config = dict(ND[rank][index], name=f"nd_{rank}_{index}")
    layer = kcompat.layers.BY_RANK[rank](**config)
    written = oracle.run(tf_calls.layer_config, reference="keras", config=config, rank=rank)
    assert layer.get_config() == written
    assert kcompat.layers.BY_RANK[rank].from_config(json.loads(json.dumps(written))).get_config() == written
    spatial = (5, 4, 3)[:rank]
    shape = (2, 3, *spatial) if layer.data_format == "channels_first" else (2, *spatial, 3)
    theirs = oracle.run(tf_calls.layer_output_shape, reference="keras", config=config, input_shape=shape)
    assert layer.compute_output_shape(shape) == theirs
    layer.build(shape)
    weights = oracle.run(tf_calls.initial_weights, reference="keras", config=config, input_shape=shape)[0]
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in weights]
    assert layer.get_config() == oracle.run(tf_calls.layer_config, reference="keras", config=config, input_shape=shape,
                                             rank=rank)


def test_conv3d_transpose_positional_order_is_keras3s():
    """Keras 3's Conv3DTranspose takes data_format before output_padding (its 1-D/2-D layers, after)."""
    layer = kcompat.Conv3DTranspose(2, 3, 2, "same", "channels_first", 1)
    assert layer.data_format == "channels_first" and layer.output_padding == (1, 1, 1)
    layer = kcompat.Conv1DTranspose(2, 3, 2, "same", 1, "channels_first")
    assert layer.data_format == "channels_first" and layer.output_padding == (1,)


def test_keras2_conv3d_transpose_config_loads(oracle):
    """Keras 2 writes no dilation_rate for Conv3DTranspose (it ignores it); kcompat reads it as 1."""
    config = dict(filters=3, kernel_size=(2, 3, 2), strides=2, padding="valid", output_padding=1, name="k2_3d")
    written = oracle.run(tf_calls.layer_config, reference="tf_keras", config=config, rank=3)
    assert "dilation_rate" not in written
    layer = kcompat.Conv3DTranspose.from_config(written)
    assert layer.dilation_rate == (1, 1, 1) and layer.output_padding == (1, 1, 1)
