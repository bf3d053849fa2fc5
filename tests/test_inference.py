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


@pytest.fixture(scope="module")
def padding_model(oracle, tmp_path_factory):
    import tf_fixtures

    return oracle.run(tf_fixtures.save_padding_model, directory=str(tmp_path_factory.mktemp("padding")))


def _conv(model, name):
    return model._modules[next(s.attr for s in model.graph.layers if s.name == name)]


def test_zero_padding_is_folded_into_the_convolution_after_it(padding_model):
    """Symmetric ZeroPadding2D becomes the Conv2D's (and the SeparableConv2D's) own padding; a
    one-sided one before a depthwise convolution of a ReLU6's output becomes zero kernel taps;
    after a plain ReLU (unbounded: 0 * inf) and where something else reads the ReLU6 it stays."""
    eager = kcompat.load_model(padding_model["path"]).eval()
    fast = kcompat.optimize_for_inference(eager)
    kinds = {name: type(_conv(fast, name)).__name__ for name in ("stem_pad", "dw_pad", "relu_pad", "shared_pad",
                                                                  "sep_pad")}
    assert kinds == {"stem_pad": "_Folded", "dw_pad": "_Folded", "relu_pad": "ZeroPadding2D",
                     "shared_pad": "_Folded", "sep_pad": "_Folded"}
    assert _conv(fast, "stem").input_padding == ((2, 2), (2, 2)) and _conv(fast, "stem").widened is None
    dw = _conv(fast, "dw")
    assert dw.input_padding == ((0, 1), (1, 0)) and dw.widened == ((1, 0), (0, 1))
    assert tuple(dw.depthwise_weight.shape) == (12, 2, 4, 4)  # one zero row first, one zero column last
    assert _conv(fast, "dw_shared").widened == ((0, 1), (1, 0))  # the ReLU6 read twice: still finite
    assert _conv(fast, "dw_after_relu").input_padding is None
    assert _conv(eager, "dw").input_padding is None and tuple(_conv(eager, "dw").depthwise_weight.shape)[2:] == (3, 3)
    x = torch.tensor(padding_model["x"][0])
    with torch.no_grad():
        wants = eager(x)
        for form in (fast, kcompat.optimize_for_inference(eager, compile=True)):
            for name, got, want, tf in zip("bcef", form(x), wants, padding_model["y"]):
                assert_close(got.numpy(), want.numpy(), "float32", f"output {name} against the eager module")
                assert_close(got.numpy(), tf, "float32", f"output {name} against TensorFlow")
        eager.inference_fusion = fast.inference_fusion = False  # each layer on its own: the same numbers
        for name, got, tf in zip("bcef", fast(x), padding_model["y"]):
            assert_close(got.numpy(), tf, "float32", f"output {name}, unfused, against TensorFlow")


def test_a_nan_is_never_hidden_by_the_zero_taps(padding_model):
    """A NaN in the input reaches every output element the eager module's reaches (the zero taps
    may carry it one row or column further, never less far), in both inference forms; the sample
    without it keeps its numbers."""
    eager = kcompat.load_model(padding_model["path"]).eval()
    x = torch.tensor(padding_model["x"][0])
    x[0, 6, 5, 1] = float("nan")
    with torch.no_grad():
        wants = eager(x)
        assert any(want.isnan().any() for want in wants)
        for form in (kcompat.optimize_for_inference(eager), kcompat.optimize_for_inference(eager, compile=True)):
            for name, got, want in zip("bcef", form(x), wants):
                assert (got.isnan() | ~want.isnan()).all(), f"output {name}: a NaN of the eager module's is a number"
                assert not got[1].isnan().any(), name
                assert_close(got[1].numpy(), want[1].numpy(), "float32")


def test_a_fused_relu6_gives_0_for_a_nan_and_the_unfused_one_keeps_it(padding_model):
    """As the README says: oneDNN's ReLU6 post-op (the eager module's fused chain) maps NaN to 0,
    as TensorFlow's fused Conv2D + ReLU6 in tf.function does; unfused it stays NaN, as in
    TensorFlow's eager layers."""
    eager = kcompat.load_model(padding_model["path"]).eval()
    x = torch.tensor(padding_model["x"][0])
    x[0, 6, 5, 1] = float("nan")
    with torch.no_grad():
        fused = eager(x)[0]
        eager.inference_fusion = False
        unfused = eager(x)[0]
    assert unfused.isnan().any() and not fused.isnan().any()


def test_a_model_called_before_is_copied(padding_model):
    """A model that ran fused in eval() holds packed oneDNN weights: the inference form (a deep
    copy), ``copy.deepcopy`` and pickle leave them behind and find their own."""
    import copy
    import pickle

    eager = kcompat.load_model(padding_model["path"]).eval()
    x = torch.tensor(padding_model["x"][0])
    with torch.no_grad():
        want = eager(x)
        for other in (kcompat.optimize_for_inference(eager), copy.deepcopy(eager), pickle.loads(pickle.dumps(eager))):
            for got, expected in zip(other(x), want):
                assert_close(got.numpy(), expected.numpy(), "float32")


@pytest.mark.slow
def test_the_compiled_form_takes_every_way_of_passing_inputs(oracle, tmp_path):
    """A model of two inputs, compiled: a list, a dict, keyword arguments, ``training=False``, a
    non-contiguous tensor (another stride: compiled again, not run with the wrong one), each
    against TensorFlow; a signature seen before is not compiled again."""
    import tf_fixtures

    saved = oracle.run(tf_fixtures.save_two_input_model, directory=str(tmp_path))
    fast = kcompat.optimize_for_inference(kcompat.load_model(saved["path"]).eval(), compile=True)
    image, vector = (torch.tensor(x) for x in saved["x"])
    strided = torch.tensor(np.ascontiguousarray(saved["x"][0].transpose(0, 2, 1, 3))).transpose(1, 2)
    assert not strided.is_contiguous()
    calls = [lambda: fast([image, vector]), lambda: fast({"image": image, "vector": vector}),
             lambda: fast(image=image, vector=vector), lambda: fast([image, vector], training=False),
             lambda: fast([strided, vector]), lambda: fast([image, vector]),
             lambda: fast({"vector": vector, "image": image})]  # the same tensors, the keys in another order
    for call in calls:
        for got, want in zip(call(), saved["y"]):
            assert_close(got.numpy(), want, "float32")
    assert len(fast._compiled) == 6


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
    """compile=True captures the whole model (torch.export, non-strict) and inductor compiles that
    one graph, without dynamo: no graph break leaves a layer to eager Python (a Reshape's shape
    arithmetic broke dynamo's trace of the module, and the per-layer recompiles then hit its
    limit), no dynamo guard runs on each call, and the numbers stay the eager module's."""
    from torch._dynamo.utils import counters

    model, eager = _loaded(families, name)
    fast = kcompat.optimize_for_inference(eager, compile=True)
    x = torch.tensor(model["x"])
    counters.clear()
    got = fast(x)
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert not counters["stats"]["unique_graphs"]  # dynamo traced nothing
    assert counters["aot_autograd"]["total"] == 1  # one graph, through inductor
    counters.clear()
    fast(x)
    assert not counters["aot_autograd"]["total"]  # the same signature: compiled once
    with torch.no_grad():
        assert_close(got.numpy(), eager(x).numpy(), "float32", f"{name}: compiled against the eager module")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2", "EfficientNetB0"])
def test_the_benchmark_models_inference_forms_match_tensorflow(oracle, tmp_path, name):
    """scripts/bench.py --models' keras.applications networks (no top, pooled; 64x64 here): both
    inference forms, BatchNormalization folded, ReLUs fused, ZeroPadding absorbed, within the
    whole-model tolerance of TensorFlow and of the eager module (relative to the output's range:
    random weights make some features tiny beside others)."""
    import tf_fixtures

    saved = oracle.run(tf_fixtures.save_application, reference="keras", name=name, directory=str(tmp_path),
                       include_top=False, input_shape=(64, 64, 3))
    eager = kcompat.load_model(saved["path"]).eval()
    x = torch.tensor(saved["x"])
    scale = np.abs(saved["y"]).max()
    with torch.no_grad():
        want = eager(x).numpy()
        for form in (kcompat.optimize_for_inference(eager), kcompat.optimize_for_inference(eager, compile=True)):
            got = form(x).numpy()
            assert np.abs(got - saved["y"]).max() <= 1e-4 * scale, f"{name}: against TensorFlow"
            assert np.abs(got - want).max() <= 1e-5 * scale, f"{name}: against the eager module"
    if name == "MobileNetV2":  # its four stride-2 depthwise convolutions: the one-sided padding as zero taps
        assert sum(getattr(m, "widened", None) is not None for m in form.modules()) == 4
