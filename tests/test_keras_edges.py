"""Keras's edges of the layers around the transposed convolution, each case run on Keras 3
itself in the test: the same refusals in Keras's words (at construction), a refusal at call
where Keras refuses (never a raw torch error, never a silent result), and the same numbers where
Keras accepts (Embedding's weights as one array, bilinear upsampling of integers, one value per
group, an empty batch, ``activation = None`` after build)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing.tolerance import assert_close

import tf_fixtures

F = np.random.default_rng(6).standard_normal((2, 3, 4)).astype("float32")

CONSTRUCTION = [
    *[("Embedding", {"input_dim": v, "output_dim": 4}) for v in (3.7, "3", None, True)],
    ("Embedding", {"input_dim": 3, "output_dim": 0}),
    ("SeparableConv2D", {"filters": 0, "kernel_size": 3}),
    *[("GroupNormalization", {"groups": g}) for g in (0, -2, 1.5, "32", 2.5)],
    ("RepeatVector", {"n": 0}), ("RepeatVector", {"n": -3}),
    *[("UpSampling1D", {"size": s}) for s in (2.5, "2", True)],
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 0}),
    ("Reshape", {"target_shape": (-2, 5)}),
    ("Dropout", {"rate": 0.5, "noise_shape": "x"}),
    ("Cropping1D", {"cropping": (1, 2, 3)}),
    # Found by scripts/fuzz_layers.py: negative cropping and padding, MultiHeadAttention's sizes,
    # Dropout's noise_shape entries (the conformance suite's words).
    ("Cropping1D", {"cropping": -1}), ("ZeroPadding1D", {"padding": -1}), ("Cropping2D", {"cropping": -1}),
    ("Cropping3D", {"cropping": -2}),
    *[("MultiHeadAttention", {"num_heads": v, "key_dim": 2}) for v in (0, 1.5)],
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "value_dim": -1}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "output_shape": 8.0}),
    *[("Dropout", {"rate": 0.5, "noise_shape": s}) for s in ((2, 1.5), (2, 0), (2, -1))],
]


@pytest.mark.parametrize("class_name,config", CONSTRUCTION, ids=[f"{i}-{c[0]}" for i, c in enumerate(CONSTRUCTION)])
def test_refused_at_construction_in_keras_words(oracle, class_name, config):
    want = oracle.run(tf_fixtures.keras_layer_outcome, class_name=class_name, config=config)
    assert want.get("when") == "construct", want
    with pytest.raises(Exception) as raised:  # noqa: PT011 - compared with Keras's below
        getattr(kcompat.layers, class_name)(**config)
    assert (type(raised.value).__name__, str(raised.value)) == want["error"]


CALLS = [
    ("Concatenate", {}, [F, F[:, :2, :3]]), ("Add", {}, [F[:, :, :3], F]), ("Multiply", {}, [F[:, :2], F[:, :3]]),
    ("Dense", {"units": 3}, F[0, 0]), ("LayerNormalization", {"axis": 3}, F),
    ("Dropout", {"rate": 0.5, "noise_shape": (2, 3, 5)}, F),
    ("Concatenate", {"axis": 99}, [F, F]), ("Softmax", {"axis": (1, 2, 3)}, F), ("BatchNormalization", {"axis": 5}, F),
]


@pytest.mark.parametrize("class_name,config,x", CALLS, ids=[f"{i}-{c[0]}" for i, c in enumerate(CALLS)])
def test_refused_at_call_where_keras_refuses(oracle, class_name, config, x):
    want = oracle.run(tf_fixtures.keras_layer_outcome, class_name=class_name, config=config, x=x, training=True)
    assert want.get("when") == "call", want
    layer = getattr(kcompat.layers, class_name)(**config).train()
    inputs = [torch.tensor(a) for a in x] if isinstance(x, list) else torch.tensor(x)
    with pytest.raises(ValueError):
        layer(inputs)
    if class_name in ("Concatenate", "Add", "Multiply") and not config:  # the same words, and the shape pass refuses too
        with pytest.raises(ValueError) as raised:
            layer(inputs)
        assert str(raised.value) == want["error"][1]
        with pytest.raises(ValueError):
            layer.compute_output_shape([a.shape for a in x])


ACCEPTED = [
    ("UpSampling2D", {"interpolation": "bilinear"}, np.array([[1, 4], [2, 7]], "int32").reshape(1, 2, 2, 1), None),
    ("Flatten", {"data_format": "channels_first"}, np.zeros((0, 3, 4), "float32"), None),
    ("GroupNormalization", {"groups": 4, "beta_initializer": "ones"}, F[:1, 0], None),
    ("GroupNormalization", {"groups": 2, "scale": False, "beta_initializer": "ones"}, F, None),
    ("Dense", {"units": 3, "activation": "relu", "kernel_initializer": "ones"}, F, {"activation": None}),
    ("Dropout", {"rate": 0.5, "noise_shape": (None, 1, 1)}, np.ones((2, 3, 4), "float32"), None),
    *[("AveragePooling3D", {"pool_size": p, "strides": 1, "padding": "same"},  # a window wider than an axis
       np.random.default_rng(7).standard_normal(shape).astype("float32"), None)
      for p, shape in ((3, (1, 2, 2, 2, 1)), (4, (2, 1, 3, 2, 2)), ((3, 1, 2), (1, 3, 1, 4, 2)))],
    ("MaxPooling3D", {"pool_size": 3, "strides": 1, "padding": "same"},
     np.random.default_rng(8).standard_normal((1, 2, 2, 2, 1)).astype("float32"), None),
]


@pytest.mark.parametrize("class_name,config,x,after", ACCEPTED, ids=[f"{i}-{c[0]}" for i, c in enumerate(ACCEPTED)])
def test_the_same_numbers_where_keras_accepts(oracle, class_name, config, x, after):
    want = oracle.run(tf_fixtures.keras_layer_outcome, class_name=class_name, config=config, x=x, after_build=after)
    assert "y" in want, want
    layer = getattr(kcompat.layers, class_name)(**config)
    y = layer(torch.tensor(x))
    for name, value in (after or {}).items():
        setattr(layer, name, value)
        y = layer(torch.tensor(x))
    if class_name == "Dropout":  # random: the mask is one draw per sample, as noise_shape says
        assert y.shape == want["y"].shape and all(len(set(y[i].flatten().tolist())) == 1 for i in range(2))
        return
    assert y.shape == want["y"].shape and y.detach().numpy().dtype == want["y"].dtype
    assert_close(y.detach().numpy().astype("float64"), want["y"].astype("float64"), "float32")


def test_embedding_takes_its_matrix_alone():
    matrix = np.arange(12, dtype="float32").reshape(3, 4)
    layer = kcompat.Embedding(3, 4, weights=matrix)
    assert np.array_equal(layer.get_weights()[0], matrix)


def test_group_normalization_without_scale_trains():
    """torch 2.13's group_norm backward fails on a bias without a weight ("tensor does not have a
    device"): the bias is added apart, and its gradient is the upstream's sum per channel."""
    layer = kcompat.GroupNormalization(groups=2, scale=False).train()
    x = torch.tensor(F, requires_grad=True)
    layer(x).sum().backward()
    assert torch.allclose(layer.bias.grad, torch.full((4,), 6.0)) and x.grad is not None


def test_a_layer_whose_configuration_has_no_weights_is_built_by_build():
    layer = kcompat.LayerNormalization(center=False, scale=False)
    layer.build((2, 3))
    assert layer.built and not layer.get_weights()


@pytest.mark.parametrize("cls", [kcompat.DepthwiseConv1D, kcompat.DepthwiseConv2D])
def test_depthwise_kernel_by_keras3_name(cls):
    """Keras 3 calls the depthwise layers' weight ``kernel`` (Keras 2 ``depthwise_kernel``)."""
    layer = cls(3)
    layer(torch.ones((1,) + (5,) * cls.rank + (2,)))
    assert layer.kernel.shape == layer.depthwise_kernel.shape and torch.equal(layer.kernel, layer.depthwise_kernel)


def test_a_transposed_convolution_names_mismatched_channels_in_keras_ops_words():
    """keras.ops.conv_transpose's words (Keras 3.15: "The number of input channels must match the
    kernel's input channels. Received: input channels=5, kernel input channels=3, ...")."""
    with pytest.raises(ValueError, match=r"^The number of input channels must match the kernel's input channels\. "
                                         r"Received: input channels=5, kernel input channels=3, "
                                         r"data_format='channels_last'"):
        kcompat.functional.keras_conv_transpose(torch.ones(1, 4, 4, 5), torch.ones(3, 3, 2, 3), strides=2)


@pytest.mark.parametrize("layer,shape", [(lambda: kcompat.Conv2D(4, 3), (8, 8, 3)), (lambda: kcompat.Dense(3), (5,)),
                                         (lambda: kcompat.MaxPooling2D(), (8, 8, 3)),
                                         (lambda: kcompat.Conv1D(2, 3), (7, 2)),
                                         (lambda: kcompat.GlobalAveragePooling3D(), (4, 4, 4, 2))])
def test_parity_tools_add_the_batch_axis_a_shape_lacks(oracle, layer, shape):
    """assert_parity's ``input_shape`` may leave the batch axis out, for every layer (it did for
    the transposed convolutions only: Conv2D on (8, 8, 3) was reported as kcompat refusing)."""
    from kcompat.testing import assert_parity

    result = assert_parity(layer(), shape, oracle=oracle)
    assert result.status == "match" and tuple(result.input_shape) == (2, *shape)


def test_rescaling_by_channel_follows_keras_image_data_format(monkeypatch):
    """Keras's Rescaling lines a per-channel scale up with (channels, height, width) when Keras's
    image_data_format is channels_first (it broadcast on the last axis: a torch error)."""
    import kcompat.layers.core as core

    x = np.random.default_rng(9).standard_normal((2, 3, 4, 4)).astype("float32")
    monkeypatch.setattr(core, "image_data_format", lambda: "channels_first")
    y = kcompat.Rescaling(scale=[1.0, 2.0, 3.0], offset=0.5)(torch.tensor(x))
    assert np.allclose(y.numpy(), x * np.array([1.0, 2.0, 3.0], "float32").reshape(3, 1, 1) + 0.5)
    monkeypatch.setattr(core, "image_data_format", lambda: "channels_last")
    y = kcompat.Rescaling(scale=[1.0, 2.0, 3.0, 4.0])(torch.tensor(x))
    assert np.allclose(y.numpy(), x * np.array([1.0, 2.0, 3.0, 4.0], "float32"))


def test_negative_padding_is_refused_where_tensorflow_refuses_it(oracle):
    """Keras takes ZeroPadding2D(-1) and TensorFlow's pad refuses it at call; torch's pad would
    crop instead: kcompat refuses it when it is made (found by scripts/fuzz_layers.py)."""
    want = oracle.run(tf_fixtures.keras_layer_outcome, class_name="ZeroPadding2D", config={"padding": -1},
                      x=np.ones((1, 4, 4, 1), "float32"))
    assert want["when"] == "call" and "must be non-negative" in want["error"][1]
    with pytest.raises(ValueError, match=r"`padding` cannot be negative\. Received: padding=-1\."):
        kcompat.ZeroPadding2D(-1)


@pytest.mark.parametrize("axis", [[], ()])
def test_unit_normalization_over_no_axis_normalizes_each_value_alone(axis):
    """An empty axis list reduces nothing (torch's sum over ``dim=()`` reduces every axis): each
    value over its own norm, as TensorFlow's l2_normalize gives (found by the fuzz, Keras 2)."""
    x = torch.tensor(F)
    for keras2 in (False, True):
        with kcompat.layers.keras2_names() if keras2 else contextlib.nullcontext():
            layer = kcompat.layers.UnitNormalization(axis=axis)
        assert torch.allclose(layer(x), torch.sign(x))


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
def test_hard_sigmoid_is_each_generations_own(oracle, tmp_path, reference):
    """Keras 2's hard_sigmoid is ``clip(0.2 x + 0.5, 0, 1)``, Keras 3's ``relu6(x + 3) / 6``, both
    written "hard_sigmoid" in the file: a Keras 2 model keeps Keras 2's, loaded and ported (the
    port writes ``keras2_hard_sigmoid``); found by scripts/fuzz_layers.py."""
    from ported import import_file

    saved = oracle.run(tf_fixtures.save_hard_sigmoid_model, reference=reference, directory=str(tmp_path / "m"))
    out = tmp_path / "hard.py"
    kcompat.models.port(saved["path"], out)
    assert ("keras2_hard_sigmoid" in out.read_text()) == (reference == "tf_keras")
    for module in (kcompat.load_model(saved["path"]).eval(), import_file(out).load()):
        y = module(torch.tensor(saved["x"][0]))
        y = y[0] if isinstance(y, (list, tuple)) else y
        assert_close(y.detach().numpy(), saved["y"][0], "float32")


IMAGE = np.random.default_rng(9).uniform(0, 255, (2, 7, 10, 3)).astype("float32")
RESIZES = [
    *[("Resizing", {"height": h, "width": w, "interpolation": m, "antialias": aa})
      for m in ("bicubic", "area", "lanczos3", "lanczos5", "bilinear") for aa in (False, True)
      for h, w in ((4, 5), (11, 13)) if not (m == "bilinear" and not aa)],
    *[("Resizing", {"height": h, "width": w, option: True, "fill_value": 7.0})
      for option in ("crop_to_aspect_ratio", "pad_to_aspect_ratio") for h, w in ((5, 5), (3, 8), (9, 4))],
    ("Resizing", {"height": 5, "width": 6, "interpolation": "bicubic", "data_format": "channels_first"}),
    *[("UpSampling2D", {"size": (2, 3), "interpolation": m}) for m in ("bicubic", "area", "lanczos3", "lanczos5")],
    *[("CenterCrop", {"height": h, "width": w}) for h, w in ((9, 4), (3, 12), (8, 11), (5, 5))],
    ("CenterCrop", {"height": 9, "width": 4, "data_format": "channels_first"}),
]


@pytest.mark.parametrize("class_name,config", RESIZES, ids=[f"{i}-{c[0]}" for i, c in enumerate(RESIZES)])
def test_every_resize_method_as_keras(oracle, class_name, config):
    """Resizing and UpSampling2D by every tf.image.resize method Keras offers, with antialias and
    Resizing's crop/pad to the target's aspect ratio, against Keras 3 on TensorFlow."""
    x = IMAGE.transpose(0, 3, 1, 2).copy() if config.get("data_format") == "channels_first" else IMAGE
    want = oracle.run(tf_fixtures.keras_layer_outcome, class_name=class_name, config=config, x=x)
    assert "y" in want, want
    y = getattr(kcompat.layers, class_name)(**config)(torch.tensor(x))
    assert y.shape == want["y"].shape
    assert_close(y.numpy().astype("float64"), want["y"].astype("float64"), "float32")
