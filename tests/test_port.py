"""``kcompat-port``: the generated PyTorch source, imported and run, is ``load_model``'s module.

On the issue's model families (Keras 3 and Keras 2) and on a model of graph corners (unknown
spatial axes, a nested backbone called with ``training=False``, a shared layer, a layer named
``double``, two inputs and two outputs): same submodules and state dict, the same numbers in
inference and training mode, and whole-model parity with TensorFlow; the command's errors
write nothing.
"""

from __future__ import annotations

import ast
import copy
import os
import subprocess
import sys

import pytest
import torch

import kcompat
from kcompat.models import cli
from kcompat.testing import assert_model_parity
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file

NAMES = ["dcgan_generator", "pix2pix_unet", "conv1d_autoencoder", "xception_unet", "cvae_nested", "unet3d"]


def _flat(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _inputs(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn((2, *[8 if n is None else n for n in shape[1:]]), generator=g)
            for shape, _ in model.graph.input_specs]


def _same_module(generated, loaded, xs):
    """The generated module is load_model's: submodule names, state dict, outputs in both modes."""
    assert [n for n, _ in generated.named_modules()] == [n for n, _ in loaded.named_modules()]
    ours, theirs = generated.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].equal(theirs[k]) for k in ours)
    for training in (False, True):  # on copies: a training pass moves the moving statistics
        a_module, b_module = copy.deepcopy(generated).train(training), copy.deepcopy(loaded).train(training)
        torch.manual_seed(1)
        a = _flat(a_module(*xs))
        torch.manual_seed(1)
        b = _flat(b_module(*xs))
        assert len(a) == len(b), f"training={training}"
        # equal to rounding: each module picks its fastest torch path once per shape, by timing it
        for p, q in zip(a, b):
            assert_close(p.detach().numpy(), q.detach().numpy(), "float32", f"output, training={training}")
        for (key, p), q in zip(a_module.state_dict().items(), b_module.state_dict().values()):
            assert_close(p.numpy(), q.numpy(), "float32", key)


def _imports(source):
    tree = ast.parse(source)
    return {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names}


@pytest.mark.parametrize("name", NAMES)
def test_generated_source_is_load_models_module_and_matches_tensorflow(families, tmp_path, name, capsys):
    reference, models = families
    model = next(m for m in models if m["name"] == name)
    path = model["files"]["keras" if reference == "keras" else "h5"]
    out = tmp_path / f"{name}.py"
    assert cli.main([path, str(out)]) == 0
    assert f"wrote {out} (class " in capsys.readouterr().out
    source = out.read_text()
    assert _imports(source) == {"os", "torch", "kcompat"}
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,B", "--line-length",
                           "100", str(out)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout  # plain source a reviewer would pass
    loaded = kcompat.load_model(path)
    calls = sum(len(spec.calls) for spec in loaded.graph.layers if spec.class_name != "InputLayer")
    forward = source.split("    def forward(")[-1]  # the model's own class comes last
    assert forward.count(" = self.") == calls  # one line per layer call, in graph order
    generated = import_file(out).load()
    assert not generated.training  # load() is for inference, as the docstring says
    _same_module(generated, loaded, _inputs(loaded))
    assert_model_parity(generated, path)
    if model["training"] is not None:
        assert_model_parity(generated, path, training=True)


@pytest.fixture(scope="module", params=["keras", "tf_keras"])
def corners(request, oracle, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"corners-{request.param}")
    return oracle.run(tf_fixtures.save_graph_corners, reference=request.param, directory=str(directory))


def test_graph_corners(corners, tmp_path):
    """Unknown spatial axes (the weights build the layers), a nested model's own training=False, a
    shared layer's second call, ``double`` (a Module method), two inputs and two outputs."""
    out = tmp_path / "corners.py"
    kcompat.models.port(corners["path"], out)
    source = out.read_text()
    assert "self.double_ = kcompat.ReLU(name='double')" in source
    # Keras 2 keeps the call's own training=False; Keras 3 gives every layer the model's mode
    keras2 = corners["path"].endswith(".h5")
    assert ("self.backbone(stem, training=False)" in source) == keras2
    assert "backbone = self.backbone(stem" in source and "shared_1 = self.shared(double)" in source
    generated, loaded = import_file(out).load(), kcompat.load_model(corners["path"]).eval()
    xs = [torch.tensor(x) for x in corners["x"]]
    ys = generated(*xs)
    assert isinstance(ys, list) and len(ys) == 2
    for y, want in zip(ys, corners["outputs"]):
        assert_close(y.detach().numpy(), want, "float32")
    _same_module(generated, loaded, xs)
    assert_model_parity(generated, corners["path"], inputs=corners["x"])
    assert_model_parity(generated, corners["path"], inputs=corners["x"], training=True)


def test_a_config_and_its_weights_file(families, tmp_path):
    reference, models = families
    model = next(m for m in models if m["name"] == "dcgan_generator")
    out = tmp_path / "gen.py"
    assert cli.main([model["files"]["json"], str(out), "--weights", model["files"]["weights"], "--quiet"]) == 0
    loaded = kcompat.load_model(model["files"]["json"], weights=model["files"]["weights"])
    _same_module(import_file(out).load(), loaded, _inputs(loaded))


@pytest.fixture(scope="module")
def misfits(oracle, tmp_path_factory):
    directory = tmp_path_factory.mktemp("port-misfits")
    oracle.run(tf_fixtures.save_models_that_do_not_fit, directory=str(directory))
    return directory


@pytest.mark.parametrize("case,message", [
    (["narrow.json", "out.py", "--weights", "wide.weights.h5"], "does not fit the model"),
    (["narrow.json", "out.py"], "a model config without weights: pass weights="),
    (["narrow.weights.h5", "out.py"], "holds weights but no model config"),
    (["missing.keras", "out.py"], "missing.keras"),
    (["narrow.json", "out.txt", "--weights", "narrow.weights.h5"], "output: expected a .py file name; received"),
    (["narrow.json", "my-model.py", "--weights", "narrow.weights.h5"], "cannot be imported as a Python module"),
])
def test_errors_exit_1_with_one_message_and_write_nothing(misfits, tmp_path, capsys, case, message):
    argv = [str(misfits / a) if a.endswith((".keras", ".json", ".h5")) else str(tmp_path / a) if a.endswith(
        (".py", ".txt")) else a for a in case]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("kcompat-port: error: ") and message in err, err
    assert os.listdir(tmp_path) == []


def test_existing_files_need_force(misfits, tmp_path, capsys):
    out = tmp_path / "narrow.py"
    argv = [str(misfits / "narrow.json"), str(out), "--weights", str(misfits / "narrow.weights.h5")]
    assert cli.main(argv) == 0
    out.unlink()
    (tmp_path / "narrow.safetensors").write_bytes(b"mine")
    assert cli.main(argv) == 1
    assert not out.exists()
    assert "narrow.safetensors: already exists (use --force to overwrite)" in capsys.readouterr().err
    assert (tmp_path / "narrow.safetensors").read_bytes() == b"mine"
    assert cli.main([*argv, "--force", "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["narrow.py", "narrow.safetensors"]  # no temporary left
    loaded = kcompat.load_model(misfits / "narrow.json", weights=misfits / "narrow.weights.h5")
    _same_module(import_file(out).load(), loaded, _inputs(loaded))


def test_the_tutorials_generators_port_and_match_tensorflow(oracle, tmp_path):
    """The files the whole-model benchmark times (the DCGAN and pix2pix tutorials' generators:
    nested Sequential blocks, RandomNormal initializers, Dropout): ported, imported, and the
    port compared with TensorFlow whole and layer by layer (pix2pix at batch 1, inference)."""
    files = oracle.run(tf_fixtures.save_tutorial_generators, directory=str(tmp_path / "models"))
    for name, path in files.items():
        out = tmp_path / f"{name}.py"
        kcompat.models.port(path, out)
        source = out.read_text()
        lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,B",
                               "--line-length", "100", str(out)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
        generated = import_file(out).load()
        if name == "pix2pix_generator":
            assert "kcompat.initializers.RandomNormal(mean=0.0, stddev=0.02)" in source
            assert_model_parity(generated, path, inputs=[torch.randn(1, 256, 256, 3).numpy()], grads=False)
        else:
            assert_model_parity(generated, path)
            assert_model_parity(generated, path, training=True)


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
def test_a_model_whose_output_is_a_wrapped_models_call(oracle, tmp_path, reference):
    """``Model(inp, unet(inp))`` with unknown spatial sizes: Keras 3 numbers that output with the
    wrapped model's built-in call counted (Keras 2 does too); loaded, ported, equal to TensorFlow."""
    saved = oracle.run(tf_fixtures.save_wrapped_model, reference=reference, directory=str(tmp_path / "m"))
    loaded = kcompat.load_model(saved["path"]).eval()
    assert_close(loaded(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32")
    out = tmp_path / "wrapped.py"
    kcompat.models.port(saved["path"], out)
    generated = import_file(out).load()
    assert_close(generated(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32")


def test_keras2_names_with_slashes(oracle, tmp_path):
    """keras.applications' Keras 2 names (``conv1/conv``; a nested model's ``block/inner/conv``):
    loaded from the whole-model .h5 and from JSON + .weights.h5, as submodules ``conv1_conv``
    (the layer's name keeps Keras's), equal to TensorFlow; the port is load_model's module."""
    saved = oracle.run(tf_fixtures.save_keras2_slash_names, directory=str(tmp_path / "m"))
    files = saved["files"]
    for path, weights in ((files["h5"], None), (files["json"], files["weights"])):
        loaded = kcompat.load_model(path, weights=weights).eval()
        assert loaded.conv1_conv.name == "conv1/conv" and loaded.block_seq.block_inner_conv.name == "block/inner/conv"
        assert_close(loaded(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32")
        out = tmp_path / f"slashes_{len(str(weights))}.py"
        kcompat.models.port(path, out, weights=weights)
        assert "self.conv1_conv = kcompat.Conv2D(4, 3, padding='same', in_channels=3, name='conv1/conv')" in \
            out.read_text()
        _same_module(import_file(out).load(), loaded, [torch.tensor(saved["x"])])


MY_LAYERS = '''"""The user's torch versions of their own Keras layers."""
import torch
import torch.nn.functional as F


class ReflectionPadding2D(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.padding = tuple(config["padding"])

    def forward(self, x):  # channels_last, as Keras
        w, h = self.padding
        return F.pad(x.permute(0, 3, 1, 2), (w, w, h, h), mode="reflect").permute(0, 2, 3, 1)


CUSTOM_OBJECTS = {"ReflectionPadding2D": ReflectionPadding2D}
'''


def test_a_users_own_layer_ports_in_one_command(oracle, tmp_path, capsys):
    """CycleGAN's ReflectionPadding2D from the user's module of factories (--custom-objects): the
    port imports it, constructs it from its config literal, and equals TensorFlow."""
    saved = oracle.run(tf_fixtures.save_cyclegan_style, directory=str(tmp_path / "m"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_layers.py").write_text(MY_LAYERS)
    out = work / "cyclegan.py"
    assert cli.main([saved["path"], str(out)]) == 1
    assert "ReflectionPadding2D x1 ('pad')" in capsys.readouterr().err
    assert cli.main([saved["path"], str(out), "--custom-objects", str(work / "my_layers.py"), "--quiet"]) == 0
    source = out.read_text()
    assert "import my_layers" in source and "my_layers.CUSTOM_OBJECTS['ReflectionPadding2D']" in source
    sys.path.insert(0, str(work))
    try:
        generated = import_file(out).load()
    finally:
        sys.path.remove(str(work))
        sys.modules.pop("my_layers", None)
    assert_close(generated(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32")
    assert cli.main([saved["path"], str(work / "my_layers.py"), "--custom-objects", str(work / "my_layers.py")]) == 1
    assert "is an input of this kcompat-port run" in capsys.readouterr().err
