"""Whole-model parity (``kcompat.testing.assert_model_parity``) on the model families the issue
names, built, trained a step and saved by Keras 3 and Keras 2 in the test: the whole model and
every layer call on the activations TensorFlow's model produces, forward and gradients, in
inference and training mode; a planted bug is found at the layer that carries it."""

from __future__ import annotations

import pytest

import kcompat
from kcompat.testing import assert_model_parity, check_model_parity

import tf_fixtures

NAMES = ["dcgan_generator", "pix2pix_unet", "conv1d_autoencoder", "xception_unet", "cvae_nested", "unet3d"]


@pytest.fixture
def named(families):
    reference, models = families
    return reference, {m["name"]: m for m in models}


def _file(reference, model):
    return model["files"]["keras" if reference == "keras" else "h5"]


def _calls(graph, prefix=""):
    """Layer calls of a model config's graph, a nested model's own layers included."""
    out = []
    for spec in graph.layers:
        if spec.class_name == "InputLayer":
            continue
        if spec.graph is not None:
            out += _calls(spec.graph, f"{prefix}{spec.name}.")
        out += [f"{prefix}{spec.name}"] * len(spec.calls)
    return out


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("name", NAMES)
def test_model_families_match_tensorflow_whole_and_layer_by_layer(named, name, training):
    reference, models = named
    model = models[name]
    if training and model["training"] is None:  # Dropout draws: compared in inference only
        pytest.skip("a Dropout layer: training mode draws random numbers")
    path = _file(reference, model)
    port = kcompat.load_model(path)
    before = {k: v.clone() for k, v in port.state_dict().items()}
    result = assert_model_parity(port, path, training=training)
    assert result.ok and result.reference == reference and not result.first_divergence
    assert [p.split(" (call")[0] for p, _ in result.rows] == _calls(port.graph)
    assert all(r.differences for _, r in result.rows)  # every call was compared, not skipped
    assert result.whole.differences and any(d.name.startswith("d_") for d in result.whole.differences)
    after = port.state_dict()
    assert all(before[k].equal(after[k]) for k in before)  # the check leaves the port as it was


def test_a_planted_bug_is_found_at_the_layer_that_carries_it(named, crop_off_by_one):
    reference, models = named
    path = _file(reference, models["dcgan_generator"])
    result = check_model_parity(kcompat.load_model(path), path)
    assert not result.ok
    # up1 (kernel 5, stride 2, 'same') is the first layer whose TF padding is odd
    assert result.first_divergence.startswith("layer 'up1' (Conv2DTranspose), forward: output")
    failing = [p for p, r in result.rows if not r.ok]
    # up2 carries the bug too (kernel 5, stride 2); the layers between them, judged on TF's inputs, agree
    assert failing == ["up1", "up2"]
    with pytest.raises(AssertionError, match=r"(?s)DIFFERS.*first divergence: layer 'up1'"):
        assert_model_parity(kcompat.load_model(path), path)


def test_training_with_random_layers_is_refused_by_name(named):
    reference, models = named
    path = _file(reference, models["pix2pix_unet"])
    with pytest.raises(ValueError, match=r"training=True: layers 'dropout\w*' \(Dropout\) draw random numbers"):
        check_model_parity(kcompat.load_model(path), path, training=True)


def test_given_inputs_and_wrong_counts(named):
    reference, models = named
    model = models["dcgan_generator"]
    path = _file(reference, model)
    assert check_model_parity(kcompat.load_model(path), path, inputs=model["x"]).ok
    with pytest.raises(ValueError, match=r"inputs: the model takes 1 input\(s\) \(.*\); received 2"):
        check_model_parity(kcompat.load_model(path), path, inputs=[model["x"], model["x"]])
    with pytest.raises(FileNotFoundError, match="keras_file_or_model: no such file"):
        check_model_parity(kcompat.load_model(path), path + ".missing")


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
def test_the_segmentation_tutorials_mobilenet_unet(oracle, tmp_path, reference):
    """A real public model: a frozen MobileNetV2 encoder (a nested model with five outputs,
    DepthwiseConv2D, ReLU6, ZeroPadding2D) under a pix2pix decoder, 171 layer calls, forward in
    both modes. Its gradients are not compared here: among its millions of ReLU6 inputs one
    lands within rounding of a kink now and then, and its gradient entry then flips between
    TF's run and the port's (tf_keras's whole-model decoder gradients were also seen 5e-4..4e-3
    off the port's float64 run for some weights: see the referee test below)."""
    ref = oracle.run(tf_fixtures.save_segmentation_unet, reference=reference, directory=str(tmp_path))
    port = kcompat.load_model(ref["path"])
    result = assert_model_parity(port, ref["path"], inputs=ref["x"], grads=False)
    assert len(result.rows) == 171
    assert_model_parity(port, ref["path"], inputs=ref["x"], grads=False, training=True)


class _Skewed:
    """The oracle, with TensorFlow's whole-model gradient of one weight made 1% off (what tf_keras
    gave on the segmentation U-Net); its per-layer records are left as TensorFlow gave them."""

    def __init__(self, oracle, weight):
        self.oracle, self.weight = oracle, weight

    def call(self, flavour, function, **kwargs):
        trace = self.oracle.call(flavour, function, **kwargs)
        trace["weight_grads"][self.weight][0] = trace["weight_grads"][self.weight][0] * 1.01
        return trace


def test_whole_model_gradients_tensorflow_gets_wrong_are_judged_by_the_ports_float64_run(named, oracle):
    """Every layer agrees with TF on TF's own activations and upstream, yet TF's whole-model
    gradient does not: the port's float64 run decides, and a note says TF was off."""
    reference, models = named
    path = _file(reference, models["dcgan_generator"])
    result = check_model_parity(kcompat.load_model(path), path, oracle=_Skewed(oracle, "up1"))
    assert result.ok, str(result)
    assert len(result.whole.notes) == 1 and result.whole.notes[0].startswith("d_up1.kernel: TensorFlow's is off")
    assert "note: d_up1.kernel" in str(result)


def test_the_referee_excuses_nothing_while_a_layer_differs(named, oracle, crop_off_by_one):
    reference, models = named
    path = _file(reference, models["dcgan_generator"])
    result = check_model_parity(kcompat.load_model(path), path, oracle=_Skewed(oracle, "up1"))
    assert not result.ok and not result.whole.notes
