"""tf.keras's op nodes: a TensorFlow function called on a Keras tensor is a ``TFOpLambda`` (or
``SlicingOpLambda``) layer in the saved model, naming the function and holding the call's
arguments. A model of two dozen such calls (operators, math, nn activations, reshape/concat/
transpose/pad/tile/squeeze, slices with ellipsis, negative steps and newaxis, image.resize, a
tensor as the second argument) loads from .h5 and from JSON + weights, equals TensorFlow, ports,
and passes whole-model parity layer by layer; an op kcompat's table lacks is named."""

from __future__ import annotations

import copy
import json

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
    assert "self.tf_math_multiply_2(dense, y=tf___operators___getitem_2)" in source
    generated = import_file(out).load()
    _check_outputs(generated, op_model)
    fresh = type(generated)()
    assert sum(p.numel() for p in fresh.parameters()) == sum(p.numel() for p in generated.parameters())


def test_op_nodes_whole_model_parity(op_model):
    model = kcompat.load_model(op_model["files"]["h5"])
    result = assert_model_parity(model, op_model["files"]["h5"], inputs=[op_model["x"]])
    assert len(result.rows) > 25


def test_an_op_the_table_lacks_is_named(op_model, tmp_path):
    with open(op_model["files"]["json"]) as f:
        config = json.load(f)
    broken = copy.deepcopy(config)
    for layer in broken["config"]["layers"]:
        if layer["config"].get("function") == "nn.relu6":
            layer["config"]["function"] = "signal.fft2d"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"kcompat does not reproduce 1 layer of this model: TFOpLambda x1 "
                                         r"\('tf.nn.relu6' \(signal.fft2d\)\)"):
        kcompat.load_model(path, weights=op_model["files"]["weights"])
