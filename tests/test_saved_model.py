"""tf.keras's SavedModel directories (``model.save("dir")``, TF 2.0 to 2.15's default), read
without TensorFlow: the Keras config from ``keras_metadata.pb``, the weights from
``variables/``. Op nodes, Keras 2 names with ``/`` and nested models load and equal TensorFlow;
``kcompat-port``, ``kcompat-convert`` and whole-model parity take the directory; a SavedModel
without Keras metadata is refused with what is missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.convert import cli as convert_cli
from kcompat.convert import load_file
from kcompat.testing import assert_model_parity
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file


@pytest.fixture(scope="module")
def saved(oracle, tmp_path_factory):
    return oracle.run(tf_fixtures.save_saved_models, directory=str(tmp_path_factory.mktemp("savedmodels")))


def _outputs(module, case):
    ys = module(torch.tensor(case["x"]))
    wants = case["y"] if isinstance(case["y"], list) else [case["y"]]
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    assert len(ys) == len(wants)
    for y, want in zip(ys, wants):
        assert_close(y.detach().numpy(), np.asarray(want), "float32")


@pytest.mark.parametrize("name", ["op_nodes", "slashes", "generator"])
def test_a_saved_model_directory_loads_and_matches_tensorflow(saved, name):
    _outputs(kcompat.load_model(saved[name]["path"]).eval(), saved[name])


def test_a_saved_model_ports_converts_and_passes_parity(saved, tmp_path, capsys):
    case = saved["generator"]
    out = tmp_path / "gen.py"
    kcompat.models.port(case["path"], out)
    _outputs(import_file(out).load(), case)
    target = tmp_path / "converted.safetensors"
    assert convert_cli.main([case["path"], str(target), "--quiet"]) == 0
    state = load_file(str(target))
    assert sorted(state) == sorted(kcompat.load_model(case["path"]).state_dict())
    assert_model_parity(kcompat.load_model(case["path"]), case["path"], inputs=[case["x"]])


def test_a_saved_model_without_keras_metadata_is_refused(saved):
    with pytest.raises(ValueError, match=r"a SavedModel without Keras metadata \(keras_metadata.pb\)"):
        kcompat.load_model(saved["bare"]["path"])


@pytest.mark.parametrize("name", ["MobileNetV3Small", "EfficientNetB0", "DenseNet121"])
def test_applications_as_saved_models(oracle, tmp_path, name):
    """tf_keras.applications saved as SavedModel directories (op nodes, Normalization, '/' names)."""
    case = oracle.run(tf_fixtures.save_application, reference="tf_keras", name=name, directory=str(tmp_path),
                      formats=["savedmodel"])
    model = kcompat.load_model(case["path"]).eval()
    with torch.no_grad():
        y = model(torch.tensor(case["x"])).numpy()
    assert np.abs(y - case["y"]).max() <= 1e-4 * np.abs(case["y"]).max() + 1e-30
