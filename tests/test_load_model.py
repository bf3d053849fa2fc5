"""``kcompat.load_model`` against the Keras models it reads, built, trained a step and saved in the test.

The families the issue names (a DCGAN generator, a pix2pix U-Net, a Conv1D autoencoder, an
Xception-style U-Net, a CVAE of nested Sequentials, a 3-D U-Net), in Keras 3 and Keras 2, in
every whole-model format and as JSON config + weights file; compared with the Keras model's
own output in inference and in training mode.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import torch

import kcompat
from kcompat.testing.tolerance import assert_close

import tf_fixtures


def _cases(families):
    reference, models = families
    for model in models:
        for fmt in model["files"]:
            if fmt != "weights":
                yield reference, model, fmt


NAMES = ["dcgan_generator", "pix2pix_unet", "conv1d_autoencoder", "xception_unet", "cvae_nested", "unet3d"]


@pytest.mark.parametrize("name", NAMES)
def test_model_families_load_and_compute_kerass_output(families, name):
    reference, models = families
    model = next(m for m in models if m["name"] == name)
    for fmt, path in model["files"].items():
        if fmt == "weights":
            continue
        # Keras 2's .weights.h5 names layers by class counter only (dense_1): the config names them
        weights = model["files"]["weights"] if fmt == "json" else None
        ours = kcompat.load_model(path, weights=weights)
        assert isinstance(ours, torch.nn.Module)
        assert [n for n, _ in ours.named_children()] == [n for n in model["layers"] if not n.startswith("input")], fmt
        ours.eval()
        with torch.no_grad():
            y = ours(torch.tensor(model["x"]))
        assert_close(y.numpy(), model["inference"], "float32", f"{name} {fmt} inference")
        if model["training"] is not None:
            ours.train()
            with torch.no_grad():
                y = ours(torch.tensor(model["x"]))
            assert_close(y.numpy(), model["training"], "float32", f"{name} {fmt} training")


def test_state_dict_reads_as_the_keras_layer_names(families):
    _, models = families
    model = next(m for m in models if m["name"] == "dcgan_generator")
    ours = kcompat.load_model(model["files"]["h5"])
    keys = list(ours.state_dict())
    assert keys[:3] == ["project.weight", "bn0.weight", "bn0.bias"]
    assert "bn0.running_mean" in keys and "up1.weight" in keys and "up2.bias" in keys


@pytest.fixture(scope="module")
def misfits(oracle, tmp_path_factory):
    directory = tmp_path_factory.mktemp("misfits")
    return directory, oracle.run(tf_fixtures.save_models_that_do_not_fit, directory=str(directory))


def test_a_layer_kcompat_cannot_reproduce_is_named_and_custom_objects_supply_it(misfits):
    directory, ref = misfits
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 1 layer of this model: Lambda x1 \('double': "
                                         r"its Python code is not in the file\).*custom_objects=\{'Lambda': factory\}"):
        kcompat.load_model(directory / "lambda.keras")

    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2.0

    model = kcompat.load_model(directory / "lambda.keras", custom_objects={"Lambda": lambda config: Double()})
    model.eval()
    assert_close(model(torch.tensor(ref["lambda_input"])).detach().numpy(), ref["lambda_output"], "float32")


def test_every_layer_kcompat_cannot_build_is_listed_and_a_factorys_weights_come_from_the_file(oracle, tmp_path):
    """One error lists every class (with counts); a factory's plain torch module gets the file's
    weights in Keras's order (its parameters, then its buffers), shapes checked."""
    saved = oracle.run(tf_fixtures.save_custom_layers, directory=str(tmp_path))
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 3 layers of this model: Lambda x2 \('twice', "
                                         r"'plus_one': its Python code is not in the file\); Scale x1 \('scale'\)\. "
                                         r"Pass custom_objects=\{'Lambda': factory, 'Scale': factory\}"):
        kcompat.load_model(saved["path"])

    class Scale(torch.nn.Module):
        def __init__(self, units):
            super().__init__()
            self.alpha = torch.nn.Parameter(torch.ones(units))
            self.beta = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return x * self.alpha + self.beta

    class Apply(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    lambdas = {"twice": lambda t: t * 2.0, "plus_one": lambda t: t + 1.0}
    custom = {"Lambda": lambda config: Apply(lambdas[config["name"]]), "Scale": lambda config: Scale(3)}
    model = kcompat.load_model(saved["path"], custom_objects=custom).eval()
    assert model.scale.alpha.tolist() == [0.5, -1.0, 2.0] and model.scale.beta.item() == 0.25
    assert_close(model(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32")
    with pytest.raises(ValueError, match=r"layer 'scale'.*weight 0.*expected \(4,\).*received \(3,\)"):
        kcompat.load_model(saved["path"], custom_objects=dict(custom, Scale=lambda config: Scale(4)))


def test_weights_that_do_not_fit_are_listed_in_one_error(misfits):
    directory, _ = misfits
    with pytest.raises(ValueError, match=r"(?s)does not fit the model \(2 problems\).*`kernel`.*expected \(4, 3\).*"
                                         r"received \(4, 5\)") as raised:
        kcompat.load_model(directory / "narrow.json", weights=directory / "wide.weights.h5")
    assert "layer 'fc'" in str(raised.value) and "layer 'out'" in str(raised.value)
    loose = kcompat.load_model(directory / "narrow.json", weights=directory / "wide.weights.h5", strict=False)
    assert isinstance(loose, torch.nn.Module)
    fits = kcompat.load_model(directory / "narrow.json", weights=directory / "narrow.weights.h5")
    assert tuple(fits.fc.weight.shape) == (3, 4)


def test_a_weights_only_file_or_a_config_alone_says_what_to_pass(misfits):
    directory, _ = misfits
    with pytest.raises(ValueError, match=r"holds weights but no model config: load_model\('model.json', weights="):
        kcompat.load_model(directory / "narrow.weights.h5")
    with pytest.raises(ValueError, match="a model config without weights: pass weights="):
        kcompat.load_model(directory / "narrow.json")
    with pytest.raises(ValueError, match="no such file"):
        kcompat.load_model(directory / "missing.keras")


@pytest.mark.parametrize("api,layout", [("keras", "cvae"), ("keras", "dcgan"), ("tf_keras", "cvae"),
                                        ("tf_keras", "dcgan"), ("tf_keras", "legacy")])
def test_tf2_object_checkpoints_of_the_tutorials_load_by_their_object_graph(oracle, tmp_path, api, layout):
    """``tf.train.Checkpoint(generator=..., generator_optimizer=...)`` after a training step: the
    variables (Keras 3 keys them under the optimizer) are found through the object graph, under
    the root whose layers fit the model (the generator's, not the discriminator's)."""
    ref = oracle.run(tf_fixtures.save_object_checkpoint, reference=api, layout=layout, directory=str(tmp_path))
    for name, config in ref["configs"].items():
        model = kcompat.load_model(config, weights=ref["prefix"])
        model.eval()
        x, expected = ref["outputs"][name]
        with torch.no_grad():
            assert_close(model(torch.tensor(x)).numpy(), expected, "float32", f"{name} from {layout}")


def test_a_shared_layer_called_again_on_a_later_layers_output_runs_in_graph_order():
    """Keras writes a layer where it is first called; its second call here needs ``act``, written
    after it (a weight-tied refinement step), so the calls run in an order the graph allows."""
    from kcompat.models import KerasModel, graph

    config = {"class_name": "Functional", "keras_version": "2.21.0", "config": {
        "name": "tied", "input_layers": [["x", 0, 0]], "output_layers": [["d", 1, 0]], "layers": [
            {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_input_shape": [None, 3]},
             "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 3},
             "inbound_nodes": [[["x", 0, 0, {}]], [["act", 0, 0, {}]]]},
            {"class_name": "ReLU", "name": "act", "config": {"name": "act"}, "inbound_nodes": [[["d", 0, 0, {}]]]}]}}
    parsed = graph.parse(config)
    assert [(spec.name, node) for spec, node in parsed.order] == [("d", 0), ("act", 0), ("d", 1)]
    dense, relu = kcompat.Dense(3), kcompat.ReLU()
    model = KerasModel(parsed, {"d": dense, "act": relu})
    x = torch.randn(2, 3)
    assert torch.equal(model(x), dense(relu(dense(x))))
    broken = dict(config, config=dict(config["config"], layers=config["config"]["layers"][:2]))
    with pytest.raises(ValueError, match="call 1 of layer 'd' uses output 0 of call 0 of layer 'act', which no call"):
        graph.parse(broken)


def test_a_keras_model_trained_in_a_tf1_session_loads_from_its_saver_checkpoint(oracle, tmp_path):
    """tf.keras layers in a TF1 session, saved with Saver (``head/up/kernel``, Adam slots beside):
    each layer's variables found by the scope that ends with its path; the slots left out."""
    ref = oracle.run(tf_fixtures.save_keras_model_in_a_tf1_session, directory=str(tmp_path))
    model = kcompat.load_model(ref["config"], weights=ref["prefix"]).eval()
    assert list(model.state_dict())[:3] == ["project.weight", "project.bias", "bn.weight"]
    with torch.no_grad():
        assert_close(model(torch.tensor(ref["x"])).numpy(), ref["output"], "float32", "TF1 session model")
    out = str(tmp_path / "g.safetensors")
    summary = kcompat.convert.convert(ref["prefix"], out, config=ref["config"])
    assert summary["written"] == 8 and summary["skipped"] == {"optimizer state": 14}
    state = kcompat.convert.load_file(out)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("damage,message", [
    ("truncate", "corrupt or truncated"),
    ("json", "not a JSON model config"),
    ("not a model", "the config of 'Dense' has no list of `layers`: not a Keras model"),
])
def test_corrupt_files_are_one_clear_error(families, tmp_path, damage, message):
    """A truncated file, a config that is not JSON, a JSON that is not a model: ValueError naming
    the file and what is wrong (the command line prints it on one line and writes nothing)."""
    reference, models = families
    model = next(m for m in models if m["name"] == "dcgan_generator")
    if damage == "truncate":
        source = model["files"]["keras" if reference == "keras" else "h5"]
        path = tmp_path / os.path.basename(source)
        data = open(source, "rb").read()
        path.write_bytes(data[: len(data) // 2])
        args = {}
    else:
        path = tmp_path / "model.json"
        path.write_text("{" if damage == "json" else json.dumps({"class_name": "Dense", "config": {"units": 3}}))
        args = {"weights": model["files"]["weights"]}
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        kcompat.load_model(path, **args)
    assert str(path) in str(raised.value)
