"""CUDA: every rank and path on the GPU against the CPU float64 computation (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

import kcompat

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

LAYERS = kcompat.layers.BY_RANK
CASES = [
    dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1, activation="relu"),
    dict(filters=3, kernel_size=2, strides=2),
    dict(filters=2, kernel_size=4, padding="same"),
    dict(filters=2, kernel_size=1, strides=3, padding="same", output_padding=2),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="valid", use_bias=False),
]


@pytest.fixture(autouse=True)
def no_tf32():
    """float32 means float32 (TF32 matmuls/convolutions would round to 10 mantissa bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _run(layer, x, upstream):
    x = x.clone().requires_grad_()
    y = layer(x)
    (y.float() * upstream.to(y.device)).sum().backward()
    params = [layer.weight] + ([layer.bias] if layer.bias is not None else [])
    return [t.detach().double().cpu() for t in (y, x.grad, *[p.grad for p in params])]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("config", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items() if k != "activation"))
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_cuda_matches_cpu_float64(rank, config, data_format):
    torch.manual_seed(0)
    cpu = LAYERS[rank](**config, data_format=data_format, in_channels=3).double()
    gpu = LAYERS[rank](**config, data_format=data_format, in_channels=3, device="cuda")
    gpu.load_state_dict({k: v.float() for k, v in cpu.state_dict().items()})
    spatial = (5, 4, 3)[:rank]
    x = torch.randn(2, *spatial, 3) if data_format == "channels_last" else torch.randn(2, 3, *spatial)
    upstream = torch.randn(cpu.compute_output_shape(tuple(x.shape)))
    expected = _run(cpu, x.double(), upstream.double())
    got = _run(gpu, x.cuda(), upstream)
    for ours, want in zip(got, expected):
        torch.testing.assert_close(ours, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_cuda_autocast(rank, half):
    """Under autocast the output is half precision and within half tolerances of float64."""
    torch.manual_seed(0)
    config = CASES[0]
    cpu = LAYERS[rank](**config, in_channels=3).double()
    gpu = LAYERS[rank](**config, in_channels=3, device="cuda")
    gpu.load_state_dict({k: v.float() for k, v in cpu.state_dict().items()})
    x = torch.randn(2, *(5, 4, 3)[:rank], 3).to(half).float()
    with torch.no_grad():
        expected = cpu(x.double())
        with torch.autocast("cuda", dtype=half):
            got = gpu(x.cuda())
    assert got.dtype == half
    tolerance = {torch.float16: 1e-2, torch.bfloat16: 6e-2}[half] * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got.double().cpu(), expected, rtol=0, atol=tolerance)
