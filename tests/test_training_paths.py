"""The training paths against plain autograd, in float64.

When a gradient is wanted the rule's paths differentiate strided layers with kcompat's own
backward (``_ConvTranspose``: the input gradient on channels_last tensors, the weight gradient
on contiguous ones) and compute kernel == stride layers as one matmul
(:func:`kcompat._gemm.tiles`); the other paths are forced one by one in test_paths.py. The
parity tests check them against TensorFlow; here they are checked against autograd through
torch's transposed convolution at padding 0 and TF's crop written out independently, for
every combination of what requires a gradient, and for double backward.
"""

from __future__ import annotations

import pytest
import torch

import kcompat
from kcompat.harness.grid import default_grid
from kcompat.functional import conv_transpose, keras_output_size, plan

from conftest import plain_conv_transpose

REQUIRES = {"all": (True, True, True), "weights": (False, True, True), "input": (True, False, False)}


def _training_space():
    """Configurations that take a training path (a stride above 1, or kernel equal to stride)
    and that TensorFlow accepts."""
    space = []
    for case in default_grid(("keras",), ranks=(2,), data_formats=("channels_last",)):
        config = {k: v for k, v in case.config.items() if k != "data_format"}
        spatial, cid = case.spatial, case.id.rsplit("-", 1)[0]
        if max(config["strides"]) == 1 and config["kernel_size"] != config["strides"]:
            continue
        try:
            output = keras_output_size(spatial, config["kernel_size"], config["strides"], config["padding"],
                                       config["output_padding"], config["dilation_rate"])
            plan(spatial, output, config["kernel_size"], config["strides"], config["padding"],
                 config["dilation_rate"])
        except ValueError:
            continue
        space.append((config, spatial, cid))
    return space


@pytest.mark.parametrize("requires", list(REQUIRES))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("config,spatial", [pytest.param(c, s, id=i) for c, s, i in _training_space()])
def test_gradients_equal_plain_autograd(config, spatial, data_format, requires):
    torch.manual_seed(0)
    config = {**config, "activation": None}
    layer = kcompat.Conv2DTranspose(**config, data_format=data_format, in_channels=3).double()
    if layer.bias is not None:
        torch.nn.init.normal_(layer.bias)
    want_x, want_w, want_b = REQUIRES[requires]
    layer.requires_grad_(False)
    layer.weight.requires_grad_(want_w)
    if layer.bias is not None:
        layer.bias.requires_grad_(want_b)
    x_nchw = torch.randn(2, 3, *spatial, dtype=torch.float64)
    x = x_nchw.permute(0, 2, 3, 1).contiguous() if data_format == "channels_last" else x_nchw.clone()
    x.requires_grad_(want_x)
    y = layer(x)
    y_nchw = y.permute(0, 3, 1, 2) if data_format == "channels_last" else y
    upstream = torch.randn_like(y_nchw)
    leaves = [t for t in (x, layer.weight, layer.bias) if t is not None and t.requires_grad]
    grads = torch.autograd.grad(y_nchw, leaves, upstream)

    rx = x.detach().clone().requires_grad_(want_x)
    rx_nchw = rx.permute(0, 3, 1, 2) if data_format == "channels_last" else rx
    rw = layer.weight.detach().clone().requires_grad_(want_w)
    rb = None if layer.bias is None else layer.bias.detach().clone().requires_grad_(want_b)
    expected = plain_conv_transpose(rx_nchw, rw, rb, config, y_nchw.shape[2:])
    ref_leaves = [t for t in (rx, rw, rb) if t is not None and t.requires_grad]
    ref_grads = torch.autograd.grad(expected, ref_leaves, upstream)

    torch.testing.assert_close(y_nchw, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def layer_call(layer, x, weight, bias):
    """The layer's computation on explicit tensors (gradgradcheck perturbs its inputs)."""
    shape = layer.compute_output_shape(x.shape)
    size = shape[1:-1] if layer.data_format == "channels_last" else shape[2:]
    return conv_transpose(x, weight, bias, output_size=size, strides=layer.strides, padding=layer.padding,
                          dilation=layer.dilation_rate, channels_last=layer.data_format == "channels_last")


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kernel,strides,padding,output_padding", [
    (3, 2, "same", None),  # the split backward, cropped
    (5, 2, "same", 1),  # cropped, output_padding
    (1, 3, "same", 2),  # zero rows past torch's end
    (2, 2, "valid", None),  # kernel == stride: the matmul
    ((3, 2), (3, 2), "same", None),  # kernel == stride, non-square
])
def test_double_backward(kernel, strides, padding, output_padding, data_format):
    """Gradient penalties (WGAN-GP, R1) differentiate the gradient: it stays differentiable."""
    torch.manual_seed(0)
    layer = kcompat.Conv2DTranspose(2, kernel, strides, padding=padding, output_padding=output_padding,
                                    data_format=data_format, in_channels=3).double()
    shape = (2, 3, 4, 3) if data_format == "channels_last" else (2, 3, 3, 4)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w, b: torch.tanh(layer_call(layer, x, w, b)),
                                        (x, layer.weight, layer.bias))


def test_frozen_layer_on_frozen_input_takes_no_gradient_path():
    """Nothing requires a gradient: the output has no graph, as torch's own layers give."""
    layer = kcompat.Conv2DTranspose(2, 3, 2, padding="same", in_channels=3).requires_grad_(False)
    assert layer(torch.randn(1, 4, 4, 3)).grad_fn is None
