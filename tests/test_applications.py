"""Every keras.applications family (Keras 3) and tf_keras.applications family (Keras 2), built
in TensorFlow with random weights and moving statistics at small sizes and saved as their users
save them: each loads with ``kcompat.load_model``, gives TensorFlow's output in inference
(logits: the classifier's softmax left off, which a random network saturates), and is ported
with ``kcompat-port``, the port imported and compared with TensorFlow too. One model per
generation is read from every format that generation writes (``.keras``, whole-model ``.h5``,
JSON + ``.weights.h5``; Keras 2 also SavedModel directories, legacy ``.h5`` weights and TF
checkpoints), and some are compared in training, layer by layer with gradients.

What these files hold that plain layers do not: ``Normalization`` (EfficientNet),
keras.applications' own layers (``CustomScaleLayer``, ``LayerScale``), Keras 2 names with ``/``
(DenseNet, MobileNetV3), Keras 3 op nodes with constants (MobileNetV3's ``x + 3.0``), tf.keras's
op nodes (``TFOpLambda``: MobileNetV3, ConvNeXt, RegNet, EfficientNetV2 in Keras 2), grouped
convolutions (RegNet, ResNetRS)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing import check_model_parity

import tf_fixtures
from ported import import_file

FAMILIES = ("Xception", "VGG16", "ResNet50", "ResNet50V2", "InceptionV3", "InceptionResNetV2", "MobileNet",
            "MobileNetV2", "MobileNetV3Small", "DenseNet121", "NASNetMobile", "EfficientNetB0", "EfficientNetV2B0",
            "ConvNeXtTiny")
KERAS2_ONLY = ("RegNetX002", "ResNetRS50")
LARGE = {"ConvNeXtTiny", "InceptionResNetV2", "NASNetMobile", "ResNetRS50", "Xception", "InceptionV3"}
SHAPES = {"InceptionResNetV2": (75, 75, 3), "InceptionV3": (75, 75, 3), "Xception": (71, 71, 3)}


def _close(y, want):
    """Relative to the output's range: random weights make some logits tiny (1e-11) beside others."""
    assert y.shape == want.shape
    assert np.abs(y - want).max() <= 1e-4 * np.abs(want).max() + 1e-30


def _run(module, x):
    with torch.no_grad():
        return module.eval()(torch.tensor(x)).numpy()


@pytest.mark.parametrize("reference,name", [
    pytest.param(r, n, marks=[pytest.mark.slow] if n in LARGE else [], id=f"{r}-{n}")
    for r, names in (("keras", FAMILIES), ("tf_keras", FAMILIES + KERAS2_ONLY)) for n in names])
def test_application_loads_ports_and_matches_tensorflow(oracle, tmp_path, reference, name):
    saved = oracle.run(tf_fixtures.save_application, reference=reference, name=name, directory=str(tmp_path / "m"),
                       input_shape=SHAPES.get(name, (32, 32, 3)))
    loaded = kcompat.load_model(saved["path"])
    _close(_run(loaded, saved["x"]), saved["y"])
    out = tmp_path / "ported.py"
    kcompat.models.port(saved["path"], out)
    generated = import_file(out).load()
    assert list(generated.state_dict()) == list(loaded.state_dict())
    _close(_run(generated, saved["x"]), saved["y"])


@pytest.fixture(scope="module")
def every_format(oracle, tmp_path_factory):
    """One model per generation in every format it writes: EfficientNetB0 (Keras 3: Normalization,
    op nodes), MobileNetV3Small (Keras 2: TFOpLambda nodes, names with '/')."""
    root = tmp_path_factory.mktemp("formats")
    return {reference: oracle.run(tf_fixtures.save_application, reference=reference, name=name,
                                  directory=str(root / reference), formats=tf_fixtures.APPLICATION_FORMATS[reference])
            for reference, name in (("keras", "EfficientNetB0"), ("tf_keras", "MobileNetV3Small"))}


@pytest.mark.parametrize("reference,form", [(r, f) for r, forms in tf_fixtures.APPLICATION_FORMATS.items()
                                            for f in forms])
def test_application_loads_from_every_format(every_format, reference, form):
    saved = every_format[reference]
    path, weights = saved["files"][form]
    model = kcompat.load_model(path, weights=weights)
    _close(_run(model, saved["x"]), saved["y"])


@pytest.mark.slow
@pytest.mark.parametrize("reference,name", [("keras", "MobileNetV2"), ("tf_keras", "MobileNetV2"),
                                            ("tf_keras", "DenseNet121")])
def test_application_in_training_layer_by_layer(oracle, tmp_path, reference, name):
    """Training mode (batch statistics), no dropout (no top): every layer call's output and
    gradients equal TensorFlow's on TensorFlow's activations, and the whole model's outputs and
    moving statistics after the pass. 64x64 and a batch of 4: the last stage's statistics then
    average 8 values (at 32x32 and 2, two: a variance near zero, which float32 rounding makes
    anything). The whole model's gradients are left out: through 50 to 120 batch-statistics
    layers at random weights they drift by percents from the float64 run in either float32 run
    (up to 12% on some channels of DenseNet121), TensorFlow's as much as the port's."""
    saved = oracle.run(tf_fixtures.save_application, reference=reference, name=name, directory=str(tmp_path),
                       include_top=False, input_shape=(64, 64, 3))
    x = np.random.default_rng(5).uniform(-1, 1, (4, 64, 64, 3)).astype("float32")
    result = check_model_parity(kcompat.load_model(saved["path"]), saved["path"], inputs=[x], training=True)
    assert all(r.ok for _, r in result.rows), result.first_divergence
    forward = [d for d in result.whole.differences if not d.name.startswith("d_")]
    assert forward and all(d.ok for d in forward), [str(d) for d in forward if not d.ok]
    assert any(d.name.endswith("moving_variance after") for d in forward)


@pytest.mark.parametrize("name", sorted(tf_fixtures.UNET_COLLECTION))
def test_keras_unet_collection_loads_and_matches_tensorflow(oracle, tmp_path, name):
    """keras-unet-collection's U-Nets (Conv2DTranspose, bilinear and nearest decoders, attention
    gates, recurrent and nested skips, PReLU), built with tf.keras where the package installs."""
    saved = oracle.run(tf_fixtures.save_unet_collection, name=name, directory=str(tmp_path))
    if saved is None:
        pytest.skip("keras-unet-collection is not installed (pip install --no-deps keras-unet-collection)")
    model = kcompat.load_model(saved["path"]).eval()
    with torch.no_grad():
        y = model(torch.tensor(saved["x"]))
    y = (y[0] if isinstance(y, (list, tuple)) else y).numpy()
    assert np.abs(y - saved["y"]).max() <= 1e-5 * max(1.0, np.abs(saved["y"]).max())


def test_the_weights_of_another_model_are_refused_in_a_short_message(every_format):
    config, _ = every_format["tf_keras"]["files"]["legacy_weights"]
    _, other = every_format["keras"]["files"]["weights"]
    with pytest.raises(ValueError, match=r"does not fit the model \(\d+ problems\): .*\.\.\. and \d+ more \(load "
                                         r"with strict=False: model.weight_problems lists them all\)") as raised:
        kcompat.load_model(config, weights=other)
    assert len(str(raised.value)) < 3000


UNET_LAYERS = '''"""keras-unet-collection's own layers, as a user ports them: torch modules whose parameters
take the Keras layer's weights in Keras's order and layout."""
import torch

from kcompat.tf_ops import tf_op


class PatchExtract(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.size = tuple(config["patch_size"])

    def forward(self, images):
        x, y = self.size
        patches = tf_op("image.extract_patches")(images, [1, x, y, 1], [1, x, y, 1], [1, 1, 1, 1], "VALID")
        return patches.reshape(patches.shape[0], -1, patches.shape[-1])


class PatchEmbedding(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        # Dense's kernel (in, out; its size the file's), its bias, the positions
        self.kernel = torch.nn.UninitializedParameter()
        self.bias = torch.nn.Parameter(torch.empty(config["embed_dim"]))
        self.positions = torch.nn.Parameter(torch.empty(config["num_patch"], config["embed_dim"]))

    def forward(self, patches):
        return patches @ self.kernel + self.bias + self.positions


class GELU(torch.nn.Module):
    def __init__(self, config):
        super().__init__()

    def forward(self, x):
        return tf_op("nn.gelu")(x, approximate=True)


CUSTOM_OBJECTS = {"patch_extract": PatchExtract, "patch_embedding": PatchEmbedding, "GELU": GELU}
'''


def test_keras_unet_collection_transunet_with_the_users_layers(oracle, tmp_path, capsys):
    """TransUNet (MultiHeadAttention, LayerNormalization, a TFOpLambda reshape) with the package's
    own layers (patch_extract, patch_embedding, GELU) from the user's module of factories: refused
    by name without them; with them it loads (their weights from the file), matches TensorFlow,
    and ports in one command."""
    from kcompat.models import cli

    saved = oracle.run(tf_fixtures.save_unet_collection, name="transunet_2d", directory=str(tmp_path / "m"))
    if saved is None:
        pytest.skip("keras-unet-collection is not installed (pip install --no-deps keras-unet-collection)")
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 6 layers of this model: GELU x4 .*"
                                         r"patch_extract x1 .*patch_embedding x1"):
        kcompat.load_model(saved["path"])
    work = tmp_path / "work"
    work.mkdir()
    (work / "unet_layers.py").write_text(UNET_LAYERS)
    out = work / "transunet.py"
    assert cli.main([saved["path"], str(out), "--custom-objects", str(work / "unet_layers.py"), "--quiet"]) == 0
    sys.path.insert(0, str(work))
    try:
        import unet_layers

        model = kcompat.load_model(saved["path"], custom_objects=unet_layers.CUSTOM_OBJECTS)
        assert tuple(model.patch_embedding.kernel.shape) == (32, 16)
        generated = import_file(out).load()
    finally:
        sys.path.remove(str(work))
        sys.modules.pop("unet_layers", None)
    for module in (model, generated):
        y = _run(module, saved["x"])
        assert np.abs(y - saved["y"]).max() <= 1e-5 * max(1.0, np.abs(saved["y"]).max())
