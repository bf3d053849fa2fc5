"""tf.keras's op nodes: a TensorFlow function called on a Keras tensor is a ``TFOpLambda`` (or
``SlicingOpLambda``) layer in the saved model, naming the function and holding the call's
arguments. A model of two dozen such calls (operators, math, nn activations, reshape/concat/
transpose/pad/tile/squeeze, slices with ellipsis, negative steps and newaxis, image.resize, a
tensor as the second argument) loads from .h5 and from JSON + weights, equals TensorFlow, ports,
and passes whole-model parity layer by layer; an op kcompat's table lacks is named."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch

import kcompat
from kcompat.testing import assert_model_parity
from kcompat.testing.tolerance import assert_close
from kcompat.tf_ops import tf_op

import tf_fixtures
from ported import import_file


@pytest.fixture(scope="module")
def op_model(oracle, tmp_path_factory):
    return oracle.run(tf_fixtures.save_op_nodes_model, directory=str(tmp_path_factory.mktemp("op-nodes")))


def _check_outputs(module, saved):
    ys = module(torch.tensor(saved["x"]))
    assert len(ys) == len(saved["y"])
    for y, want in zip(ys, saved["y"]):
        assert_close(y.detach().numpy(), want, "float32")


@pytest.mark.parametrize("form", ["h5", "json"])
def test_op_nodes_load_and_match_tensorflow(op_model, form):
    files = op_model["files"]
    model = kcompat.load_model(files[form], weights=files["weights"] if form == "json" else None).eval()
    assert all(tf_op(f) is not None for f in op_model["functions"])
    _check_outputs(model, op_model)


def test_op_nodes_port(op_model, tmp_path):
    out = tmp_path / "ops.py"
    kcompat.models.port(op_model["files"]["h5"], out)
    source = out.read_text()
    # Keras numbers names per process: tf.math.multiply_2 or _5, as the worker made models before
    assert re.search(r"self\.tf_math_multiply_\d+\(dense, y=tf___operators___getitem_\d+\)", source), source
    generated = import_file(out).load()
    _check_outputs(generated, op_model)
    fresh = type(generated)()
    assert sum(p.numel() for p in fresh.parameters()) == sum(p.numel() for p in generated.parameters())


def test_op_nodes_whole_model_parity(op_model):
    model = kcompat.load_model(op_model["files"]["h5"])
    result = assert_model_parity(model, op_model["files"]["h5"], inputs=[op_model["x"]])
    assert len(result.rows) > 25


def _relu6_renamed(op_model, path, function):
    """The op model's JSON config with its ``nn.relu6`` node calling ``function`` instead, at ``path``."""
    with open(op_model["files"]["json"]) as f:
        config = json.load(f)
    for layer in config["config"]["layers"]:
        if layer["config"].get("function") == "nn.relu6":
            layer["config"]["function"] = function
    path.write_text(json.dumps(config))
    return path


def test_an_op_the_table_lacks_is_named(op_model, tmp_path):
    path = _relu6_renamed(op_model, tmp_path / "broken.json", "signal.fft2d")
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 1 layer of this model: tf.signal.fft2d x1 "
                                         r"\('tf.nn.relu6'\). Pass custom_objects=\{'tf.signal.fft2d': factory\}"):
        kcompat.load_model(path, weights=op_model["files"]["weights"])
    # The user's module for that one op, called as the op is (its input, the call's arguments);
    # every other op node still runs from kcompat's table.
    custom = {"tf.signal.fft2d": lambda config: torch.nn.ReLU6()}
    model = kcompat.load_model(path, weights=op_model["files"]["weights"], custom_objects=custom).eval()
    assert sum(isinstance(m, torch.nn.ReLU6) for m in model.modules()) == 1
    _check_outputs(model, op_model)
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_ops.py").write_text("import torch\n\n"
                                    "CUSTOM_OBJECTS = {'tf.signal.fft2d': lambda config: torch.nn.ReLU6()}\n")
    out = work / "ops.py"
    kcompat.models.port(path, out, weights=op_model["files"]["weights"], custom_objects=work / "my_ops.py")
    assert "my_ops.CUSTOM_OBJECTS['tf.signal.fft2d']" in out.read_text()
    sys.path.insert(0, str(work))
    try:
        _check_outputs(import_file(out).load(), op_model)
    finally:
        sys.path.remove(str(work))
        sys.modules.pop("my_ops", None)


def test_an_op_name_from_a_hostile_file_stays_on_one_line(op_model, tmp_path):
    """The op's name is the file's: with a newline and code in it, the error is one line and
    nothing runs or is written."""
    path = _relu6_renamed(op_model, tmp_path / "hostile.json", "x\n'); import os; os.system('touch pwned') #")
    with pytest.raises(ValueError) as raised:
        kcompat.load_model(path, weights=op_model["files"]["weights"])
    assert "\n" not in str(raised.value) and '"tf.x\\n\')' in str(raised.value)  # shown escaped
    out = tmp_path / "out.py"
    with pytest.raises(ValueError) as raised:
        kcompat.models.port(path, out, weights=op_model["files"]["weights"])
    assert "\n" not in str(raised.value) and not out.exists() and not (tmp_path / "pwned").exists()


@pytest.fixture(scope="module")
def keras_ops_model(oracle, tmp_path_factory):
    return oracle.run(tf_fixtures.save_keras_ops_model, directory=str(tmp_path_factory.mktemp("keras-ops")))


def test_keras3_operation_nodes_load_port_and_match_tensorflow(keras_ops_model, tmp_path):
    """Keras 3's ``keras.ops`` nodes (``Relu``, ``Add`` with a constant, ``Reshape``, ``GetItem``,
    ``Stack``, ``Clip``...): loaded as KerasOp layers, equal to TensorFlow, ported, layer parity."""
    model = kcompat.load_model(keras_ops_model["path"]).eval()
    assert {type(m).__name__ for m in model.children()} >= {"KerasOp", "Conv2D"}
    _check_outputs(model, keras_ops_model)
    out = tmp_path / "kops.py"
    kcompat.models.port(keras_ops_model["path"], out)
    assert re.search(r"self\.add(_\d+)?\(relu(_\d+)?, 3\.0\)", out.read_text())  # per-process name counters
    _check_outputs(import_file(out).load(), keras_ops_model)
    assert_model_parity(kcompat.load_model(keras_ops_model["path"]), keras_ops_model["path"],
                        inputs=[keras_ops_model["x"]])


def test_an_operation_the_table_lacks_is_named(keras_ops_model, tmp_path):
    import zipfile

    with zipfile.ZipFile(keras_ops_model["path"]) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Relu":
            layer["class_name"] = "Fft2"
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 1 layer of this model: keras.ops.Fft2 x1 "
                                         r"\('relu(_\d+)?'\)"):  # per-process name counters
        kcompat.load_model(path)


@pytest.mark.parametrize("reference", ["tf_keras", "keras"])
def test_ops_beyond_arithmetic_load_port_and_match_tensorflow(oracle, tmp_path, reference):
    """argmax, gather/take, where, split and unstack (several outputs of one node), std, one_hot,
    top_k's values, extract_patches, cumsum, norm, roll, casts to a dtype written as a string."""
    saved = oracle.run(tf_fixtures.save_more_op_nodes, reference=reference, directory=str(tmp_path / "m"))
    _check_outputs(kcompat.load_model(saved["path"]).eval(), saved)
    out = tmp_path / "more.py"
    kcompat.models.port(saved["path"], out)
    _check_outputs(import_file(out).load(), saved)
