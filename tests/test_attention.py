"""``MultiHeadAttention`` in saved models (a transformer block: causal self-attention, cross-
attention with its own value and output sizes), Keras 3 and Keras 2: loaded equal to TensorFlow,
ported, and whole-model parity layer by layer (gradients included)."""

from __future__ import annotations

import pytest
import torch

import kcompat
from kcompat.testing import assert_model_parity
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file


@pytest.fixture(scope="module", params=["keras", "tf_keras"])
def block(request, oracle, tmp_path_factory):
    return oracle.run(tf_fixtures.save_attention_model, reference=request.param,
                      directory=str(tmp_path_factory.mktemp(f"attention-{request.param}")))


def test_attention_loads_ports_and_matches_tensorflow(block, tmp_path):
    xs = [torch.tensor(a) for a in block["x"]]
    loaded = kcompat.load_model(block["path"]).eval()
    assert_close(loaded(*xs).detach().numpy(), block["y"], "float32")
    out = tmp_path / "block.py"
    kcompat.models.port(block["path"], out)
    assert_close(import_file(out).load()(*xs).detach().numpy(), block["y"], "float32")


def test_attention_whole_model_parity(block):
    assert_model_parity(kcompat.load_model(block["path"]), block["path"], inputs=block["x"])


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
def test_attention_over_several_axes(oracle, tmp_path, reference):
    """attention_axes: both position axes of an image (Keras's default), the width alone (rows as
    batch), axes 1 and 3 of a 5-D input; loaded, ported, and layer by layer with gradients."""
    _loads_ports_and_matches(oracle.run(tf_fixtures.save_axes_attention_model, reference=reference,
                                        directory=str(tmp_path / "m")), tmp_path)


def test_gated_and_windowed_attention(oracle, tmp_path):
    """Keras 3.15's use_gate, sliding_window (alone and with the causal mask) and a two-axis
    output_shape: loaded, ported, and layer by layer with gradients against Keras."""
    _loads_ports_and_matches(oracle.run(tf_fixtures.save_gated_attention_model, directory=str(tmp_path / "m")),
                             tmp_path)


def _loads_ports_and_matches(saved, tmp_path):
    """The saved model loaded and ported gives Keras's outputs; layer by layer with gradients too."""
    xs = [torch.tensor(a) for a in saved["x"]]
    out = tmp_path / "ported.py"
    kcompat.models.port(saved["path"], out)
    for module in (kcompat.load_model(saved["path"]).eval(), import_file(out).load()):
        for y, want in zip(module(*xs), saved["y"]):
            assert_close(y.detach().numpy(), want, "float32")
    assert_model_parity(kcompat.load_model(saved["path"]), saved["path"], inputs=saved["x"])
