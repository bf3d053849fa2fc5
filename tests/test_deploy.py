"""Deployment: torch.compile (no graph breaks, eager's numbers), torch.export, ONNX (checked with
onnxruntime), and half precision under torch.autocast against TensorFlow's mixed policies."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kcompat
from kcompat.layouts import keras_order

from kcompat.testing.tolerance import assert_close

LAYERS = kcompat.layers.BY_RANK
# One per path: cropped strided (own backward), kernel == stride (matmul), stride 1, dilated.
CASES = {
    "same-s2-op1": dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1, activation="relu"),
    "valid-k2s2": dict(filters=3, kernel_size=2, strides=2),
    "same-s1": dict(filters=2, kernel_size=4, padding="same", activation="tanh"),
    "dilated": dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
    # one filter: gradients off oneDNN (kcompat._deconv.slow_gradients)
    "one-filter": dict(filters=1, kernel_size=3, strides=2, padding="same"),
}


def _layer(rank, name, data_format="channels_last", **extra):
    torch.manual_seed(rank)
    layer = LAYERS[rank](**CASES[name], data_format=data_format, in_channels=3, **extra)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.normal_()
    return layer


def _input(rank, data_format="channels_last", batch=2):
    spatial = (5, 4, 3)[:rank]
    return torch.randn(batch, *spatial, 3) if data_format == "channels_last" else torch.randn(batch, 3, *spatial)


def _compare_compiled(compiled, eager, inputs, params):
    """Outputs and the gradients (inputs and ``params``) of ``compiled`` equal ``eager``'s."""
    results, upstream = [], None
    for fn in (compiled, eager):
        xs = [x.clone().requires_grad_() for x in inputs]
        y = fn(*xs)
        upstream = torch.randn_like(y) if upstream is None else upstream
        results.append((y, torch.autograd.grad(y, xs + params, upstream)))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=1e-6)
    for ours, theirs in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("rank,name", [(1, "same-s2-op1"), (2, "same-s2-op1"), (2, "valid-k2s2"), (3, "same-s2-op1"),
                                       (3, "dilated"), (2, "one-filter"), (3, "one-filter")])
def test_compile_matches_eager_without_graph_breaks(rank, name, data_format):
    torch._dynamo.reset()
    layer, x = _layer(rank, name, data_format), _input(rank, data_format)
    compiled = torch.compile(layer, fullgraph=True)  # fullgraph: a graph break is an error
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), layer(x), rtol=1e-6, atol=1e-6)
    _compare_compiled(compiled, layer, [x], [layer.weight])


@pytest.mark.slow
def test_tf1_layer_compiles_without_graph_breaks():
    """The TF1 class, built: its TF1 bookkeeping (owner on the call stack, node history) is
    eager-only, so the compiled call is the layer's computation alone."""
    torch._dynamo.reset()
    from kcompat.compat.v1 import layers as v1_layers

    layer = v1_layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation=torch.tanh)
    layer(_input(2))  # builds
    compiled = torch.compile(layer, fullgraph=True)
    for batch in (2, 3):
        _compare_compiled(compiled, layer, [_input(2, batch=batch)], [layer.kernel, layer.bias])


class _TF1Generator(torch.nn.Module):
    def forward(self, z):
        from kcompat.compat import v1 as tf1

        with tf1.variable_scope("generator"):
            h = tf1.layers.conv2d_transpose(z, 4, 3, strides=2, padding="same", name="deconv1")
            w = tf1.get_variable("w", (5, 5, 2, 4))
            return tf1.nn.conv2d_transpose(h, w, (h.shape[0], 2 * h.shape[1], 2 * h.shape[2], 2), 2, "SAME")


@pytest.mark.slow
def test_tf1_graph_code_compiles_eagerly_where_it_finds_its_module():
    """TF1 graph code inside a forward finds its module on the call stack, so those calls run
    eagerly (graph breaks) inside the compiled forward: same numbers, same variables, any shape."""
    torch._dynamo.reset()
    model = _TF1Generator()
    model(_input(2))  # creates the variables
    names = sorted(model.state_dict())
    compiled = torch.compile(model)
    for batch in (2, 3, 1):
        _compare_compiled(compiled, model, [_input(2, batch=batch)], list(model.parameters()))
    assert sorted(model.state_dict()) == names == ["generator.deconv1.bias", "generator.deconv1.kernel",
                                                   "generator.w"]


@pytest.mark.slow
def test_tf1_code_exports():
    from kcompat.compat.v1 import layers as v1_layers

    layer = v1_layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    for model in (_TF1Generator(), torch.nn.Sequential(layer)):
        x = _input(2)
        model(x)  # creates / builds the variables
        exported = torch.export.export(model.eval(), (x,))
        with torch.no_grad():
            torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_nn_ops_compile_without_graph_breaks(rank):
    torch._dynamo.reset()
    op = {1: kcompat.tf_nn.conv1d_transpose, 2: kcompat.tf_nn.conv2d_transpose, 3: kcompat.tf_nn.conv3d_transpose}[rank]
    filters = torch.randn(*(3,) * rank, 4, 3, requires_grad=True)

    def upsample(x):
        return op(x, filters, (x.shape[0], *(2 * n for n in x.shape[1:-1]), 4), 2, "SAME")

    compiled = torch.compile(upsample, fullgraph=True)
    for batch in (2, 3):
        _compare_compiled(compiled, upsample, [_input(rank, batch=batch)], [filters])


class _Decoders(torch.nn.Module):
    """A model with a layer of each rank and path, in both data formats."""

    def __init__(self):
        super().__init__()
        self.image = _layer(2, "same-s2-op1")
        self.upsample = LAYERS[2](2, 2, 2, in_channels=3)  # kernel == stride
        self.audio = _layer(1, "same-s1", "channels_first")
        self.volume = _layer(3, "dilated")

    def forward(self, image, audio, volume):
        return self.upsample(self.image(image)), self.audio(audio), self.volume(volume)


def _model_inputs():
    torch.manual_seed(0)
    return _input(2), _input(1, "channels_first"), _input(3, batch=1)


@pytest.mark.slow
def test_torch_export_matches_eager():
    model, inputs = _Decoders().eval(), _model_inputs()
    exported = torch.export.export(model, inputs)
    with torch.no_grad():
        expected = model(*inputs)
    for ours, eager in zip(exported.module()(*inputs), expected):  # same ops; kernels may round apart
        torch.testing.assert_close(ours, eager, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, inputs = _Decoders().eval(), _model_inputs()
    path = str(tmp_path / "decoders.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, path, input_names=["image", "audio", "volume"], dynamo=True, verbose=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {name: t.numpy() for name, t in zip(("image", "audio", "volume"), inputs)})
    with torch.no_grad():
        expected = model(*inputs)
    for ours, eager in zip(outputs, expected):
        np.testing.assert_allclose(ours, eager.numpy(), rtol=1e-5, atol=1e-5)


AUTOCAST = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}


@pytest.mark.parametrize("policy", sorted(AUTOCAST))
@pytest.mark.parametrize("rank,name", [(1, "same-s2-op1"), (2, "same-s2-op1"), (2, "valid-k2s2"), (3, "same-s1")])
def test_autocast_matches_tensorflow_mixed_policy(oracle, rank, name, policy):
    """A float32 layer under torch.autocast against Keras 3's layer with the mixed policy: both
    compute in half precision over float32 weights. Tolerances: the half ones (float16 1e-2,
    bfloat16 6e-2 of the largest value; gradients 2e-2 / 1.5e-1)."""
    layer, x = _layer(rank, name), _input(rank)
    half = AUTOCAST[policy]
    x = x.to(half).float()  # values both sides hold exactly
    xt = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=half):
        y = layer(xt)
    assert y.dtype == half
    upstream = torch.randn(y.shape).to(half).float()
    (y.float() * upstream).sum().backward()
    config = dict(CASES[name], data_format="channels_last", dtype=policy)
    theirs = oracle.layer_call("keras", config, x.numpy(), layer.get_weights(), upstream.numpy(), flavour="eigen")
    dtype = str(half).replace("torch.", "")
    assert_close(y.float().detach().numpy(), theirs["output"], dtype, "output")
    tolerance = {"float16": 2e-2, "bfloat16": 1.5e-1}[dtype]
    ours = [xt.grad, layer.weight.grad.permute(*keras_order(rank))] + ([layer.bias.grad] if layer.use_bias else [])
    for what, a, b in zip(("d_input", "d_kernel", "d_bias"), ours, theirs["grads"]):
        assert_close(a.float().numpy(), b, dtype, what, tolerance)
