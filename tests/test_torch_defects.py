"""Defects of torch's own kernels that kcompat routes around, pinned so they stay routed around.

torch 2.13's CPU (oneDNN) deconvolution returns a wrong *weight gradient*, intermittently, for
channels_last input when a kernel smaller than its stride meets ``output_padding`` (seen with
k=1, output_padding=s-1: errors of order 1-10). kcompat hands torch an NCHW copy there. The
sweep below fails in roughly 5% of its cases without that, on every run.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from kcompat.functional import conv_transpose, keras_output_size


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_float32_gradients_through_channels_last_match_float64(padding):
    torch.manual_seed(1)
    worst = 0.0
    for _, k, s, spatial, batch in itertools.product(range(3), (1, 2, 3), (1, 2, 3), ((3, 5), (4, 4), (2, 3)),
                                                     (1, 2, 3)):
        x = torch.randn(batch, *spatial, 3, dtype=torch.float64)
        weight = torch.randn(3, 4, k, k, dtype=torch.float64)
        size = keras_output_size(spatial, (k, k), (s, s), padding, None, (1, 1))
        kwargs = dict(output_size=size, strides=(s, s), padding=padding, dilation=(1, 1), channels_last=True)
        upstream = torch.randn(batch, *size, 4, dtype=torch.float64)
        results = []
        for dtype in (torch.float32, torch.float64):
            xt = x.to(dtype).requires_grad_()
            wt = weight.to(dtype).requires_grad_()
            y = conv_transpose(xt, wt, **kwargs)
            y.backward(upstream.to(dtype))
            results.append((y.detach().double(), xt.grad.double(), wt.grad.double()))
        for ours, exact in zip(*results):
            worst = max(worst, float((ours - exact).abs().max() / max(1.0, float(exact.abs().max()))))
    assert worst < 1e-5, f"float32 result off float64 by {worst:.3g}"
