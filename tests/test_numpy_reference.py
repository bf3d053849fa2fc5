"""The float64 numpy reference's gradients (kcompat.testing.numpy_reference.conv_transpose_vjp).

The harness judges kcompat by them where TensorFlow cannot be trusted (3-D, a kernel axis
smaller than its stride), so they are checked here against plain float64 autograd over the
1-D, 2-D and 3-D configuration spaces, in both data formats. No TensorFlow.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from kcompat import functional
from kcompat.harness.grid import default_grid
from kcompat.layouts import torch_order
from kcompat.testing import numpy_reference

from conftest import plain_conv_transpose

def _output_size(config, spatial):
    return functional.keras_output_size(spatial, config["kernel_size"], config["strides"], config["padding"],
                                        config["output_padding"], config["dilation_rate"])


SPACE = [pytest.param(case.config, case.spatial, case.config["data_format"], id=case.id)
         for case in default_grid(("keras",))
         if min(_output_size(case.config, case.spatial)) > 0]  # an empty output has no gradient to check


@pytest.mark.parametrize("config,spatial,data_format", SPACE)
def test_vjp_equals_autograd(config, spatial, data_format):
    rank = len(spatial)
    size = _output_size(config, spatial)
    rng = np.random.default_rng(len(str(config)) + sum(spatial))
    channels_last = data_format == "channels_last"
    x = rng.standard_normal((2, *spatial, 3) if channels_last else (2, 3, *spatial))
    kernel = rng.standard_normal((*config["kernel_size"], config["filters"], 3))
    bias = rng.standard_normal(config["filters"])
    upstream = rng.standard_normal((2, *size, config["filters"]) if channels_last else (2, config["filters"], *size))

    xt, kt, bt = (torch.tensor(a, requires_grad=True) for a in (x, kernel, bias))
    y = plain_conv_transpose(xt.movedim(-1, 1) if channels_last else xt, kt.permute(*torch_order(rank)), bt,
                             config, size)
    y = y.movedim(1, -1) if channels_last else y
    (y * torch.tensor(upstream)).sum().backward()

    geometry = dict(strides=config["strides"], padding=config["padding"], dilation=config["dilation_rate"],
                    channels_last=channels_last)
    forward = numpy_reference.conv_transpose(x, kernel, bias, output_size=size, **geometry)
    d_x, d_kernel, d_bias = numpy_reference.conv_transpose_vjp(x, kernel, upstream, **geometry)
    for name, ours, expected in (("output", forward, y), ("d_input", d_x, xt.grad), ("d_kernel", d_kernel, kt.grad),
                                 ("d_bias", d_bias, bt.grad)):
        np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=0, atol=1e-12, err_msg=name)
