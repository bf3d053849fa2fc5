"""Deployment: torch.compile (no graph breaks, eager's numbers), torch.export, ONNX (checked with
onnxruntime), and half precision under torch.autocast against TensorFlow's mixed policies."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kcompat
from kcompat.layers.conv_transpose import keras_order

from conftest import assert_matches_reference

LAYERS = kcompat.layers.BY_RANK
# One per path: cropped strided (own backward), kernel == stride (matmul), stride 1, dilated.
CASES = {
    "same-s2-op1": dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1, activation="relu"),
    "valid-k2s2": dict(filters=3, kernel_size=2, strides=2),
    "same-s1": dict(filters=2, kernel_size=4, padding="same", activation="tanh"),
    "dilated": dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
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


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("rank,name", [(1, "same-s2-op1"), (2, "same-s2-op1"), (2, "valid-k2s2"), (3, "same-s2-op1"),
                                       (3, "dilated")])
def test_compile_matches_eager_without_graph_breaks(rank, name, data_format):
    torch._dynamo.reset()
    layer, x = _layer(rank, name, data_format), _input(rank, data_format)
    compiled = torch.compile(layer, fullgraph=True)  # fullgraph: a graph break is an error
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), layer(x), rtol=1e-6, atol=1e-6)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    outputs = [compiled(xs[0]), layer(xs[1])]
    upstream = torch.randn_like(outputs[1])
    grads = [torch.autograd.grad(y, (xi, layer.weight), upstream) for y, xi in zip(outputs, xs)]
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)
    for ours, eager in zip(*grads):
        torch.testing.assert_close(ours, eager, rtol=1e-5, atol=1e-5)


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


def test_torch_export_matches_eager():
    model, inputs = _Decoders().eval(), _model_inputs()
    exported = torch.export.export(model, inputs)
    with torch.no_grad():
        expected = model(*inputs)
    for ours, eager in zip(exported.module()(*inputs), expected):  # same ops; kernels may round apart
        torch.testing.assert_close(ours, eager, rtol=1e-6, atol=1e-6)


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
    assert_matches_reference(y.float().detach().numpy(), theirs["output"], dtype, "output")
    tolerance = {"float16": 2e-2, "bfloat16": 1.5e-1}[dtype]
    ours = [xt.grad, layer.weight.grad.permute(*keras_order(rank))] + ([layer.bias.grad] if layer.use_bias else [])
    for what, a, b in zip(("d_input", "d_kernel", "d_bias"), ours, theirs["grads"]):
        assert_matches_reference(a.float().numpy(), b, dtype, what, tolerance)
