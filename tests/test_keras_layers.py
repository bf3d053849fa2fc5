"""The layers around the transposed convolution against real Keras 3 and Keras 2, run in the test.

Each case builds the Keras layer from its arguments, hands both it and kcompat's (built from
Keras's own ``get_config()``) the same random weights and inputs, and compares the output, the
gradients for the input and for every trainable weight, the weights after the call (a training
BatchNormalization's moving statistics), ``compute_output_shape`` and, for Keras 3, the config.
Spaces cover what TF's arithmetic distinguishes: odd and even sizes, kernels below, at and above
the stride, 'same' padding symmetric and not, both data formats.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import kcompat
from kcompat.harness.layer_grid import keras2_config, layer_grid
from kcompat.testing import tf_calls
from kcompat.testing.layer_parity import check_case, check_layer, random_weights
from kcompat.testing.tf_oracle import TFError
from kcompat.testing.tolerance import assert_close


CASES = [pytest.param(case, reference, id=f"{case.id}-{reference}") for case in layer_grid()
         for reference in ("keras", "tf_keras")
         if reference == "keras" or keras2_config(case.class_name, case.config) is not None]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,reference", CASES)
def test_matches_keras(oracle, case, reference, dtype):
    """kcompat's layer built from Keras's own config (Keras 2's semantics for a Keras 2 config),
    through the engine assert_parity uses (kcompat.testing.layer_parity)."""
    name, config = case.class_name, case.config
    theirs = oracle.run(tf_calls.keras_layer, reference=reference, class_name=name, config=dict(config, dtype=dtype))
    if reference == "keras":  # an unbuilt layer's (a build fills in GroupNormalization's groups=-1, as Keras's)
        layer = getattr(kcompat.layers, name).from_config(theirs["config"])
        assert layer.get_config() == theirs["config"]
        json.dumps(layer.get_config())
    result = check_case(case, reference, dtype, oracle)
    assert result.ok, str(result)
    assert [d.name for d in result.differences][:1] == ["output"]


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
@pytest.mark.parametrize("config", [{"input_dim": 10, "output_dim": 4}, {"input_dim": 7, "output_dim": 3,
                                                                         "mask_zero": True}])
def test_embedding_matches_keras(oracle, reference, config):
    rng = np.random.default_rng(3)
    x = rng.integers(0, config["input_dim"], (2, 5)).astype("int32")
    weights = [rng.standard_normal((config["input_dim"], config["output_dim"])).astype("float32")]
    upstream = rng.standard_normal((2, 5, config["output_dim"])).astype("float32")
    theirs = oracle.run(tf_calls.keras_layer, reference=reference, class_name="Embedding", config=config, x=x,
                        upstream=upstream, weights=weights)
    layer = kcompat.Embedding.from_config(theirs["config"])
    layer.set_weights(weights)
    y = layer(torch.tensor(x))
    (y * torch.tensor(upstream)).sum().backward()
    assert_close(y.detach().numpy(), theirs["output"], "float32", "output")
    assert_close(layer.keras_grads()[0].numpy(), theirs["weight_grads"][0], "float32", "d_embeddings")
    assert layer.weight.shape == (config["input_dim"], config["output_dim"])  # nn.Embedding's layout
    mask = layer.compute_mask(torch.tensor(x))
    assert (mask is None) == (not config.get("mask_zero")) and (mask is None or bool((mask == (torch.tensor(x) != 0)).all()))
    if reference == "keras":
        assert kcompat.Embedding.from_config(theirs["config"]).get_config() == theirs["config"]


@pytest.mark.parametrize("name,config", [
    ("Conv2D", {"filters": 3, "kernel_size": 2, "groups": 2}),
    ("Conv2D", {"filters": 4, "kernel_size": 2, "strides": 2, "dilation_rate": 2}),
    ("Conv1D", {"filters": 4, "kernel_size": 2, "padding": "full"}),
    ("Dense", {"units": 0}),
    ("Dropout", {"rate": 1.5}),
    ("Permute", {"dims": (1, 3)}),
    ("Reshape", {"target_shape": (-1, -1)}),
])
def test_bad_arguments_are_refused_as_keras_words_it(oracle, name, config):
    with pytest.raises(TFError) as theirs:
        oracle.run(tf_calls.keras_layer, reference="keras", class_name=name, config=config,
                   **({"x": np.zeros((1, 6), "float32")} if name == "Reshape" else {}))
    with pytest.raises(ValueError) as ours:
        layer = getattr(kcompat.layers, name)(**config)
        layer(torch.zeros(1, 6))
    # Keras prints the allowed paddings as a Python set, in hash order: compared as sets.
    def canonical(message):
        return re.sub(r"\{[^}]*\}", lambda m: str(sorted(m.group(0)[1:-1].split(", "))), message)
    assert canonical(str(ours.value)) == canonical(theirs.value.message)


@pytest.mark.parametrize("name,config,shape", [
    ("Dropout", {"rate": 0.3}, (400, 500)), ("Dropout", {"rate": 0.5, "noise_shape": (None, 1)}, (2000, 30)),
    ("SpatialDropout2D", {"rate": 0.4}, (200, 3, 3, 40)), ("SpatialDropout1D", {"rate": 0.2}, (300, 4, 50)),
    ("GaussianNoise", {"stddev": 0.7}, (400, 500)), ("GaussianDropout", {"rate": 0.3}, (400, 500)),
])
def test_noise_layers_draw_keras_distribution_in_training_only(name, config, shape):
    layer = getattr(kcompat.layers, name)(**config, seed=7)
    x = torch.ones(shape, dtype=torch.float64)
    assert torch.equal(layer(x, training=False), x)
    layer.eval()
    assert torch.equal(layer(x), x)  # model.eval() is Keras's training=False
    layer.train()
    y = layer(x)
    assert torch.equal(y, layer.__class__(**config, seed=7)(x))  # a seed repeats the draws
    if name == "GaussianNoise":
        noise = y - 1
        assert abs(noise.mean()) < 0.01 and abs(noise.std() - config["stddev"]) < 0.01
    elif name == "GaussianDropout":
        assert abs(y.mean() - 1) < 0.01 and abs(y.std() - (0.3 / 0.7) ** 0.5) < 0.01
    else:
        rate = config["rate"]
        kept = y != 0
        assert torch.allclose(y[kept], torch.tensor(1 / (1 - rate), dtype=y.dtype))  # Keras's inverted scaling
        assert abs(1 - kept.double().mean() - rate) < 0.02
        if name.startswith("Spatial"):  # whole channels dropped together
            per_channel = kept.movedim(-1, 1).flatten(2)
            assert bool((per_channel.all(-1) | ~per_channel.any(-1)).all())
        if config.get("noise_shape"):
            assert bool((kept.all(1) | ~kept.any(1)).all())


def test_batch_normalization_is_torch_shaped_and_keras_behaved(oracle):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, 4, 3)).astype("float32")
    layer = kcompat.BatchNormalization()
    layer(torch.tensor(x))  # a fresh module trains, as torch modules do
    assert sorted(layer.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]  # moving statistics are buffers
    assert layer.momentum == 0.99 and layer.epsilon == 1e-3  # Keras's, not torch's 0.1 / 1e-5
    # trainable=False: Keras normalizes with the moving statistics even when training.
    weights = [rng.standard_normal(3).astype("float32"), rng.standard_normal(3).astype("float32"),
               rng.standard_normal(3).astype("float32"), (rng.random(3) + 0.5).astype("float32")]
    theirs = oracle.run(tf_calls.keras_layer, reference="keras", class_name="BatchNormalization",
                        config={"trainable": False}, x=x, weights=weights, training=True)
    frozen = kcompat.BatchNormalization(trainable=False)
    frozen.set_weights(weights)
    y = frozen(torch.tensor(x), training=True)
    assert_close(y.numpy(), theirs["output"], "float32", "output")
    for ours, after in zip(frozen.get_weights(), theirs["weights_after"]):
        assert_close(ours, after, "float32", "weights after")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name,config,shape", [
    ("Dense", {"units": 4}, (3, 5)), ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
                                      (2, 6, 7, 3)),
    ("BatchNormalization", {}, (2, 6, 7, 3)), ("LayerNormalization", {}, (2, 6, 3)),
])
def test_mixed_policies(oracle, policy, name, config, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype("float32")
    layer = getattr(kcompat.layers, name)(**config, dtype=policy)
    layer.build(shape)
    weights = random_weights(zip(layer.weight_names(), [w.shape for w in layer.get_weights()]), "float32", rng)
    theirs = oracle.run(tf_calls.keras_layer, reference="keras", class_name=name, config=dict(config, dtype=policy),
                        x=x, weights=weights)
    layer.set_weights(weights)
    layer.eval()
    y = layer(torch.tensor(x))
    assert y.dtype == layer.compute_dtype and layer.get_config()["dtype"] == theirs["config"]["dtype"]
    assert_close(y.detach().float().numpy(), theirs["output"], policy.replace("mixed_", ""), "output")


def test_flatten_keeps_keras_order_for_a_ported_dense():
    """A channels_last feature map flattened as Keras does fits a Dense kernel ported unchanged."""
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    assert torch.equal(kcompat.Flatten()(x), x.reshape(2, -1))
    assert torch.equal(kcompat.Flatten(data_format="channels_first")(x.movedim(-1, 1)), x.reshape(2, -1))


def test_strided_same_conv_pads_as_tensorflow_not_torch():
    """TF pads a stride-2 'same' Conv1D of kernel 4 on 15 steps by 1 before and 2 after (torch's
    symmetric padding cannot); kcompat's numbers are F.pad's then a padding-0 convolution."""
    layer = kcompat.Conv1D(2, 4, strides=2, padding="same", in_channels=3)
    x = torch.rand(1, 15, 3)
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(x.movedim(-1, 1), [1, 2]), layer.weight,
                                          layer.bias, 2).movedim(1, -1)
    assert torch.equal(layer(x), expected)
    assert kcompat.shapes.conv_padding(15, 4, 2, "same") == (1, 2)
    assert kcompat.shapes.conv_padding(16, 7, 2, "same") == (2, 3)  # the Conv1D: 2 before, 3 after


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_tfs_asymmetric_padding_keeps_the_channels_last_layout(rank):
    """The padded copy before a strided 'same' convolution is in F.pad's memory format: channels_last
    for the channels_last view of an NHWC batch (a contiguous NCHW copy transposed on the way and
    gave the convolution its slow layout: 1.55x a plain-torch port on a 64x64x64 stride-2 Conv2D),
    and so is the output."""
    from kcompat._padding import pad

    x = torch.randn(2, *(9,) * rank, 5)
    view = x.movedim(-1, 1)
    padded, want = pad(view, [0, 1] * rank), torch.nn.functional.pad(view, [0, 1] * rank)
    assert torch.equal(padded, want) and padded.stride() == want.stride()
    assert rank == 1 or padded.movedim(1, -1).is_contiguous()
    if rank > 1:  # (torch has no channels_last order for 3-D tensors: a Conv1D's output is NCL)
        layer = getattr(kcompat, f"Conv{rank}D")(4, 3, strides=2, padding="same")
        assert layer(x).is_contiguous()


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
@pytest.mark.parametrize("name,config,shape", [
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 9, 2)),
    ("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "valid"}, (2, 5, 4, 2)),
    ("MaxPooling3D", {"pool_size": 2}, (2, 4, 4, 4, 2)),
    ("MaxPooling3D", {"pool_size": 3, "strides": 2, "padding": "same"}, (1, 5, 6, 5, 2)),
    ("MaxPooling3D", {"pool_size": (1, 2, 2), "strides": 1, "padding": "same", "data_format": "channels_first"},
     (1, 2, 3, 4, 4)),
    ("GlobalMaxPooling3D", {}, (2, 3, 3, 3, 2)),
])
def test_max_pooling_sends_a_tied_maximum_its_gradient_where_tensorflow_does(oracle, reference, name, config, shape):
    """Windows of equal values (a ReLU's zeros, in a 3-D U-Net): TF's 1-D and 2-D max pools send the
    gradient to the first maximum, its 3-D one to every input within 1e-5 of the maximum
    (``MaxPool3DGrad``), its global max splits it evenly. Inputs of a few values, some nudged by
    less and by more than 1e-5, so that most windows tie or nearly tie."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, shape).astype("float32") + rng.choice([0, 0, 6e-6, -6e-6, 3e-5], shape).astype("float32")
    first = {"channels_first": True}.get(config.get("data_format"), False)
    layer = getattr(kcompat, name).from_config(config)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt)
    upstream = rng.standard_normal(tuple(y.shape)).astype("float32")
    (y * torch.tensor(upstream)).sum().backward()
    tf_config, tf_x, tf_up = config, x, upstream
    if first:  # TF's CPU pools take channels_last only: the same windows, channels moved
        tf_config = dict(config, data_format="channels_last")
        tf_x, tf_up = np.moveaxis(x, 1, -1), np.moveaxis(upstream, 1, -1)
    theirs = oracle.run(tf_calls.keras_layer, reference=reference, class_name=name, config=tf_config, x=tf_x,
                        upstream=tf_up)
    grad = np.moveaxis(theirs["grad"], -1, 1) if first else theirs["grad"]
    assert_close(y.detach().numpy(), np.moveaxis(theirs["output"], -1, 1) if first else theirs["output"], "float32")
    assert_close(xt.grad.numpy(), grad, "float32", "d_input")


def test_assert_parity_takes_the_new_layers_and_catches_a_planted_bug(oracle):
    from kcompat.testing import assert_parity

    result = assert_parity(kcompat.Conv2D(4, 3, strides=2, padding="same"), (2, 7, 8, 3), oracle=oracle)
    assert result.status == "match" and {d.name for d in result.differences} == {
        "output", "d_input", "d_kernel", "d_bias", "kernel after", "bias after"}
    assert_parity(kcompat.BatchNormalization(), (4, 5, 6, 3), training=True, oracle=oracle)
    assert_parity(kcompat.Concatenate(), [(2, 3, 4), (2, 3, 5)], reference="tf_keras", oracle=oracle)
    bad = kcompat.BatchNormalization(epsilon=1e-3)
    bad.build((4, 5, 6, 3))
    bad.epsilon = 1e-5  # torch's default: the 0.11% error hand-written ports make
    result = check_layer(bad, (4, 5, 6, 3), config={"epsilon": 1e-3}, oracle=oracle)  # Keras's layer, as ported
    assert result.status == "mismatch" and "output" in str(result)


def test_the_parity_command_takes_the_layer_grid(tmp_path, capsys):
    from kcompat.harness.cli import main

    assert main(["--layers", "--sample", "12", "--output", str(tmp_path), "--quiet"]) == 0
    assert "12 cases, all agree with TensorFlow" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["cases"] == 12 and report["ok"] and len(report["results"]) == 12
