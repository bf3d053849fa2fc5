"""keras.applications (Keras 3) and tf_keras.applications (Keras 2) families, built in TensorFlow
with random weights at small sizes and saved as their users save them (``.keras``; Keras 2's
``.h5``): each loads with ``kcompat.load_model`` and gives TensorFlow's output in inference
(logits: the classifier's softmax left off, which a random network saturates); some are
ported with ``kcompat-port`` and the port compared with ``load_model``'s module. What these
files hold that plain layers do not: ``Normalization`` (EfficientNet), keras.applications' own
layers (``CustomScaleLayer``, ``LayerScale``), Keras 2 names with ``/`` (DenseNet), Keras 3 op
nodes with constants (MobileNetV3's ``x + 3.0``), and tf.keras's op nodes (``TFOpLambda``:
MobileNetV3, ConvNeXt, RegNet in Keras 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file

LARGE = {"ConvNeXtTiny", "InceptionResNetV2", "NASNetMobile", "ResNetRS50", "RegNetX002"}  # 25M+ weights, or slow
FAMILIES = [("keras", name) for name in ("EfficientNetB0", "EfficientNetV2B0", "MobileNetV3Small", "DenseNet121",
                                          "MobileNetV2", "ConvNeXtTiny", "InceptionResNetV2", "NASNetMobile")] + \
           [("tf_keras", name) for name in ("EfficientNetB0", "DenseNet121", "InceptionResNetV2", "ResNetRS50",
                                             "MobileNetV3Small", "ConvNeXtTiny", "RegNetX002")]
SHAPES = {"InceptionResNetV2": (75, 75, 3)}


@pytest.mark.parametrize("reference,name", [
    pytest.param(r, n, marks=[pytest.mark.slow] if n in LARGE else [], id=f"{r}-{n}") for r, n in FAMILIES])
def test_application_loads_and_matches_tensorflow(oracle, tmp_path, reference, name):
    saved = oracle.run(tf_fixtures.save_application, reference=reference, name=name, directory=str(tmp_path),
                       input_shape=SHAPES.get(name, (32, 32, 3)))
    model = kcompat.load_model(saved["path"]).eval()
    with torch.no_grad():
        y = model(torch.tensor(saved["x"])).numpy()
    # relative to the output's range: random weights make some logits tiny (1e-11) beside others
    assert np.abs(y - saved["y"]).max() <= 1e-4 * np.abs(saved["y"]).max() + 1e-30, name


@pytest.mark.parametrize("reference,name", [("keras", "EfficientNetB0"), ("tf_keras", "DenseNet121"),
                                            ("tf_keras", "MobileNetV3Small")])
def test_application_ports(oracle, tmp_path, reference, name):
    saved = oracle.run(tf_fixtures.save_application, reference=reference, name=name, directory=str(tmp_path / "m"))
    out = tmp_path / "ported.py"
    kcompat.models.port(saved["path"], out)
    generated, loaded = import_file(out).load(), kcompat.load_model(saved["path"]).eval()
    assert list(generated.state_dict()) == list(loaded.state_dict())
    x = torch.tensor(saved["x"])
    with torch.no_grad():
        assert_close(generated(x).numpy(), loaded(x).numpy(), "float32")


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
    assert_close((y[0] if isinstance(y, (list, tuple)) else y).numpy(), saved["y"], "float32")
