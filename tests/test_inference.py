"""kcompat.optimize_for_inference: BatchNormalization folded into the layer before it, a ReLU after
it made that layer's in-place activation, the numbers kept (against the eager module and
TensorFlow, on the model families both Keras generations save), what it cannot keep refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.testing.tolerance import assert_close

NAMES = ["dcgan_generator", "pix2pix_unet", "conv1d_autoencoder", "xception_unet", "cvae_nested", "unet3d"]


def _loaded(families, name):
    reference, models = families
    model = next(m for m in models if m["name"] == name)
    path = model["files"]["keras" if reference == "keras" else "h5"]
    return model, kcompat.load_model(path).eval()


@pytest.mark.parametrize("name", NAMES)
def test_the_inference_form_computes_what_the_model_computes(families, name):
    model, eager = _loaded(families, name)
    fast = kcompat.optimize_for_inference(eager)
    x = torch.tensor(model["x"])
    with torch.no_grad():
        want, got = eager(x), fast(x)
    assert_close(got.numpy(), want.numpy(), "float32", f"{name}: inference form against the eager module")
    assert_close(got.numpy(), model["inference"], "float32", f"{name}: inference form against TensorFlow")
    assert not any(p.requires_grad for p in fast.parameters())
    assert eager.training is False and all(p.requires_grad for p in eager.parameters())  # left as it was


def test_batch_normalizations_after_a_linear_layer_are_folded(families):
    """The DCGAN generator's Dense and Conv2DTranspose each feed a BatchNormalization (no
    activation between): every one is folded, and the folded layers' own weights moved."""
    _, eager = _loaded(families, "dcgan_generator")
    norms = sum(type(m).__name__ == "BatchNormalization" for m in eager.children())
    fast = kcompat.optimize_for_inference(eager)
    assert fast.folded_batch_norms == norms > 0
    assert not any(type(m).__name__ == "BatchNormalization" for m in fast.children())


def test_a_layer_read_twice_keeps_its_batch_normalization(oracle, tmp_path):
    """A convolution whose output also feeds something else (a residual add) keeps its
    BatchNormalization: folding would change what the other reader sees."""
    import tf_fixtures

    saved = oracle.run(tf_fixtures.save_fold_model, directory=str(tmp_path))
    eager = kcompat.load_model(saved["path"]).eval()
    fast = kcompat.optimize_for_inference(eager)
    assert fast.folded_batch_norms == 4  # of 5: conv2d_1 also feeds the Add
    # the ReLU after the first Conv2D + BatchNormalization became the convolution's in-place activation
    assert not any(type(m).__name__ == "ReLU" for m in fast.children())
    assert any(type(m).__name__ == "ReLU" for m in eager.children())
    with torch.no_grad():
        for y, want in zip(fast(torch.tensor(saved["x"][0])), saved["y"]):
            assert_close(y.numpy(), want, "float32")


def test_training_mode_is_refused():
    model = kcompat.layers.Dense(3)
    model(torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"training mode .* Call model\.eval\(\) first"):
        kcompat.optimize_for_inference(model.train())
    with pytest.raises(TypeError, match=r"takes a torch\.nn\.Module"):
        kcompat.optimize_for_inference(np.ones(3))


@pytest.mark.slow
def test_the_compiled_inference_form_keeps_the_numbers(families):
    """compile=True: torch.compile with inductor's freezing over the folded module, on the
    pix2pix U-Net of both generations: within float32 rounding of the eager module."""
    model, eager = _loaded(families, "pix2pix_unet")
    fast = kcompat.optimize_for_inference(eager, compile=True)
    x = torch.tensor(model["x"])
    with torch.no_grad():
        want = eager(x)
    got = fast(x)
    assert not got.requires_grad
    assert_close(got.numpy(), want.numpy(), "float32", "compiled inference form against the eager module")
    assert_close(got.numpy(), model["inference"], "float32", "compiled inference form against TensorFlow")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcgan_generator", "xception_unet"])
def test_the_compiled_inference_form_is_one_graph(families, name):
    """compile=True captures the whole model (torch.export, non-strict) before inductor: no graph
    break leaves a layer to eager Python (a Reshape's shape arithmetic broke dynamo's trace of the
    module, and the per-layer recompiles then hit its limit), and the numbers stay the eager module's."""
    from torch._dynamo.utils import counters

    model, eager = _loaded(families, name)
    fast = kcompat.optimize_for_inference(eager, compile=True)
    x = torch.tensor(model["x"])
    counters.clear()
    got = fast(x)
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 1
    with torch.no_grad():
        assert_close(got.numpy(), eager(x).numpy(), "float32", f"{name}: compiled against the eager module")
