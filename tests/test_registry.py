"""The layer registry: a Keras class name finds kcompat's class by one declaration
(``@keras_layer``) in the module that defines it, and loading, ``kcompat-port``, the converter
and the public names all read it. A layer added as a new module of ``kcompat.layers`` (written
here to a directory put on the package's path) loads, ports and converts with no other edit."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest
import torch

import kcompat
import kcompat.layers
from kcompat.layers import registry
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file

FAMILY = '''
"""A contributor's new layer: this module and its tests, nothing else."""

from .base import Layer, Weight, as_tensor
from .registry import keras_layer


@keras_layer()
class Scale(Layer):
    """``x * alpha + beta``: ``alpha`` per channel, ``beta`` one number."""

    WEIGHTS = (Weight("alpha", "alpha"), Weight("beta", "beta"))

    def build(self, input_shape):
        if not self.built:
            self.add_weight("alpha", (input_shape[-1],), "ones")
            self.add_weight("beta", (), "zeros")

    def _build_from_weights(self, shapes):
        if "alpha" in shapes:
            self.build(shapes["alpha"])

    def forward(self, inputs):
        inputs = as_tensor(inputs)
        self._build_on_call(inputs)
        x, alpha, beta = self._in_compute_dtype(inputs, self.alpha, self.beta)
        return x * alpha + beta

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
'''


@pytest.fixture
def added_family(tmp_path, monkeypatch):
    """``kcompat.layers.contributed``, a module written to ``tmp_path``, imported; removed after."""
    (tmp_path / "contributed.py").write_text(FAMILY)
    monkeypatch.setattr(kcompat.layers, "__path__", [*kcompat.layers.__path__, str(tmp_path)])
    before = dict(registry.KERAS_LAYERS)
    module = importlib.import_module("kcompat.layers.contributed")
    yield module
    registry.KERAS_LAYERS.clear()
    registry.KERAS_LAYERS.update(before)
    sys.modules.pop("kcompat.layers.contributed", None)
    vars(kcompat.layers).pop("contributed", None)


def test_a_new_module_loads_ports_and_converts(added_family, oracle, tmp_path):
    saved = oracle.run(tf_fixtures.save_custom_layers, directory=str(tmp_path / "keras"), lambdas=False)
    assert kcompat.layers.layer_class("Scale") is added_family.Scale
    assert kcompat.Scale is kcompat.layers.Scale is added_family.Scale

    model = kcompat.load_model(saved["path"]).eval()
    assert type(model.scale) is added_family.Scale
    assert model.scale.alpha.tolist() == [0.5, -1.0, 2.0] and model.scale.beta.item() == 0.25
    assert_close(model(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32", "load_model")

    out = tmp_path / "scaled.py"
    kcompat.models.port(saved["path"], out)
    source = out.read_text()
    assert "self.scale = kcompat.Scale(" in source  # a checked dotted name, built as Keras built it
    generated = import_file(str(out)).load()
    assert type(generated.scale) is added_family.Scale
    assert_close(generated(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32", "kcompat-port")

    converted = tmp_path / "converted.safetensors"
    kcompat.convert.convert(saved["path"], converted)
    layers = kcompat.convert.load(converted)
    assert type(layers["scale"]) is added_family.Scale
    assert layers["scale"].alpha.tolist() == [0.5, -1.0, 2.0]


def test_every_module_of_the_package_is_imported():
    """A family module needs no import line: ``import kcompat.layers`` imports each."""
    for info in pkgutil.iter_modules(kcompat.layers.__path__):
        assert f"kcompat.layers.{info.name}" in sys.modules, info.name


def test_every_declared_class_is_reached_by_its_public_names():
    for name, cls in registry.KERAS_LAYERS.items():
        assert kcompat.layers.layer_class(name) is cls
        if cls.__name__ == name:
            assert getattr(kcompat.layers, name) is cls and getattr(kcompat, name) is cls


@pytest.mark.parametrize("name, expected", [("Convolution2D", "Conv2D"), ("AvgPool1D", "AveragePooling1D"),
                                            ("MaxPool3D", "MaxPooling3D"), ("Custom>LayerScale", "LayerScale"),
                                            ("Convolution2DTranspose", "Conv2DTranspose")])
def test_aliases(name, expected):
    assert kcompat.layers.layer_class(name).__name__ == expected


def test_a_name_declared_twice_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "KERAS_LAYERS", dict(registry.KERAS_LAYERS))

    with pytest.raises(ValueError, match=r"Keras class name 'Dense' is kcompat's kcompat\.layers\.core\.Dense already"):
        @registry.keras_layer()
        class Dense(torch.nn.Module):
            pass

    with pytest.raises(ValueError, match=r"expected Keras names \(identifiers\); received 'a b'"):
        registry.keras_layer("a b")
    assert "Dense" in registry.KERAS_LAYERS and registry.KERAS_LAYERS["Dense"] is kcompat.Dense


def test_unknown_names():
    assert kcompat.layers.layer_class("NoSuchLayer") is None
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchLayer'"):
        kcompat.layers.NoSuchLayer  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchLayer'"):
        kcompat.NoSuchLayer  # noqa: B018
