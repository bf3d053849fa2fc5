"""Every path a call can take computes TF's numbers, and the choice between them is measured
once per geometry (:mod:`kcompat._paths`).

Each path is forced in turn and checked against autograd through torch's transposed
convolution at padding 0 with TF's crop written out independently (float64, forward and
every gradient), over the configuration spaces of ranks 1-3; the benchmark's layers are
checked on every path against TensorFlow itself. The choice is checked with planted timings:
which path wins, what is measured when, and that measuring leaves the caller's graph alone.
"""

from __future__ import annotations

import types

import pytest
import torch

import kcompat
from kcompat.harness.grid import default_grid
from kcompat import _paths, functional
from kcompat.harness.bench_layers import BENCH_LAYERS

from conftest import plain_conv_transpose
from kcompat.testing.tolerance import assert_close

LAYERS = {1: kcompat.Conv1DTranspose, 2: kcompat.Conv2DTranspose, 3: kcompat.Conv3DTranspose}


def _accepted(config, spatial):
    try:
        output = functional.keras_output_size(spatial, config["kernel_size"], config["strides"], config["padding"],
                                              config["output_padding"], config["dilation_rate"])
        functional.plan(spatial, output, config["kernel_size"], config["strides"], config["padding"],
                        config["dilation_rate"])
    except ValueError:
        return False
    return True


def _space():
    """Keras 3's grid cases (every rank) that TensorFlow accepts, with at least 2 filters and input
    lengths of 3 for 1 (a size-1 axis has one path, see test_size_one_axes_have_one_path); 3-D in
    channels_last only."""
    out = []
    for case in default_grid(("keras",)):
        if case.rank == 3 and case.channels_first:
            continue
        config = {k: v for k, v in case.config.items() if k != "data_format"}
        config["filters"] = max(2, config["filters"])
        spatial = tuple(3 if n == 1 else n for n in case.spatial)
        if _accepted(config, spatial):
            fmt = case.config["data_format"]
            cid = f"{case.id.rsplit('-in', 1)[0]}-in{'x'.join(map(str, spatial))}-{fmt}"
            out.append(pytest.param(config, spatial, fmt, id=cid))
    return out


def _geometry_paths(layer, x):
    """``(inference names, training names)`` of the paths that can compute ``layer(x)``."""
    channels_last = layer.data_format == "channels_last"
    shape = layer.compute_output_shape(tuple(x.shape))
    size = shape[1:-1] if channels_last else shape[2:]
    x_nchw = x.movedim(-1, 1) if channels_last else x
    call = functional.prepare_call(x_nchw.shape, tuple(size), layer.weight.shape, layer.strides, layer.padding,
                            layer.dilation_rate, channels_last)
    return (() if call.empty or call.canonical else call.inference_paths[0],
            () if call.empty or call.canonical else call.training_paths[0])


@pytest.mark.parametrize("config,spatial,data_format", _space())
def test_every_path_equals_plain_autograd(config, spatial, data_format):
    torch.manual_seed(0)
    rank = len(spatial)
    config = {**config, "activation": None}
    layer = LAYERS[rank](**config, data_format=data_format, in_channels=3).double()
    if layer.bias is not None:
        torch.nn.init.normal_(layer.bias)
    x_nchw = torch.randn(2, 3, *spatial, dtype=torch.float64)
    x = x_nchw.movedim(1, -1).contiguous() if data_format == "channels_last" else x_nchw.clone()
    inference, training = _geometry_paths(layer, x)
    if not training:
        pytest.skip("an empty or size-1 geometry: one path only")

    rx = x.detach().clone().requires_grad_()
    rx_nchw = rx.movedim(-1, 1) if data_format == "channels_last" else rx
    rw = layer.weight.detach().clone().requires_grad_()
    rb = None if layer.bias is None else layer.bias.detach().clone().requires_grad_()
    shape = layer.compute_output_shape(tuple(x.shape))
    size = shape[1:-1] if data_format == "channels_last" else shape[2:]
    expected = plain_conv_transpose(rx_nchw, rw, rb, layer.get_config(), size)
    upstream = torch.randn_like(expected)
    ref_leaves = [t for t in (rx, rw, rb) if t is not None]
    want = (expected, *torch.autograd.grad(expected, ref_leaves, upstream))

    wrong = {}
    for path in training:
        xg = x.clone().requires_grad_()
        with _paths.force(path):
            y = layer(xg)
        y_nchw = y.movedim(-1, 1) if data_format == "channels_last" else y
        leaves = [t for t in (xg, layer.weight, layer.bias) if t is not None]
        got = (y_nchw, *torch.autograd.grad(y_nchw, leaves, upstream))
        errors = [(g - w).abs().max().item() for g, w in zip(got, want)]
        if max(errors) > 1e-12:
            wrong[f"train:{path}"] = errors
    for path in inference:
        with _paths.force(path), torch.no_grad():
            y = layer(x)
        y_nchw = y.movedim(-1, 1) if data_format == "channels_last" else y
        if (y_nchw - expected).abs().max().item() > 1e-12:
            wrong[f"infer:{path}"] = (y_nchw - expected).abs().max().item()
    assert not wrong, f"paths off plain autograd (max errors of output, d_input, d_kernel, d_bias): {wrong}"


@pytest.mark.parametrize("kernel,strides,padding,output_padding", [
    (3, 2, "same", None),  # overlapping taps, cropped
    ((5, 3), (2, 3), "same", (1, 0)),  # output_padding, non-square
    (1, 3, "valid", 2),  # taps that land nowhere, zero rows past the end
    (2, 2, "valid", None),  # kernel == stride: tiles
])
def test_gemm_path_double_backward(kernel, strides, padding, output_padding):
    """Gradient penalties (WGAN-GP, R1) differentiate the gradient on the GEMM path too."""
    torch.manual_seed(0)
    layer = kcompat.Conv2DTranspose(2, kernel, strides, padding=padding, output_padding=output_padding,
                                    in_channels=3).double()
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    size = layer.compute_output_shape(x.shape)[1:-1]

    def call(x, w, b):
        with _paths.force("gemm"):
            return torch.tanh(functional.conv_transpose(x, w, b, output_size=size, strides=layer.strides,
                                                        padding=layer.padding, dilation=layer.dilation_rate,
                                                        channels_last=True))

    assert "gemm" in _geometry_paths(layer, x)[1]
    assert torch.autograd.gradgradcheck(call, (x, layer.weight, layer.bias))


@pytest.mark.parametrize("path", ["deconv", "deconv-nchw", "deconv+split", "deconv-nchw+split", "gemm"])
@pytest.mark.parametrize("config,shape", [pytest.param(c, s, id=n) for n, s, c in BENCH_LAYERS])
def test_benchmark_layers_match_keras_on_every_path(parity, config, shape, path):
    """The paths the benchmark measures, at its real sizes, against TensorFlow."""
    layer = kcompat.Conv2DTranspose(**config, in_channels=shape[-1])
    paths = _geometry_paths(layer, torch.zeros(shape))
    if path not in paths[0] + paths[1]:
        pytest.skip(f"{path} is no candidate for this geometry")
    with _paths.force(path):
        result = parity(layer, shape[1:])
    assert result.status == "match" and result.max_rel < 1e-5


# ------------------------------------------------------------------- the choice


@pytest.fixture
def planted(monkeypatch):
    """Paths with planted costs: ``planted({"deconv": 0.004, ...})`` makes each call of a path
    take that long on the clock measuring reads (a fake one: the choice is deterministic) and
    counts the calls; measuring starts afresh and is switched on."""
    clock = [0.0]
    monkeypatch.setattr(_paths, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(_paths, "_mode", "measure")
    _paths.clear()
    calls = {}

    def plant(costs):
        for name, cost in costs.items():
            real = functional.PATHS[name]

            def slowed(*args, _real=real, _name=name, _cost=cost):
                calls[_name] = calls.get(_name, 0) + 1
                clock[0] += _cost
                return _real(*args)

            monkeypatch.setitem(functional.PATHS, name, slowed)
        return calls

    yield plant
    _paths.clear()


LARGE = dict(filters=64, kernel_size=3, strides=2, padding="same")  # 1.2e8 multiply-adds on (4, 16, 16, 64)


def test_the_fastest_candidate_is_chosen_once_per_geometry(planted):
    calls = planted({"deconv": 0.006, "deconv-nchw": 0.006, "gemm": 0.001})
    layer = kcompat.Conv2DTranspose(**LARGE, in_channels=64)
    x = torch.randn(4, 16, 16, 64)
    with torch.no_grad():
        y = layer(x)
        measured = dict(calls)
        for _ in range(3):
            layer(x)
    rounds = round(_paths._MEASURE_TIME / 0.013 + 0.5)  # each round costs 13 ms on the planted clock
    assert measured == {"deconv": 1 + rounds, "deconv-nchw": 1 + rounds, "gemm": 2 + rounds}  # warm-up, rounds, the call
    assert calls["gemm"] == measured["gemm"] + 3 and calls["deconv"] == measured["deconv"]
    (choice,) = _paths.choices().values()
    assert choice.path == "gemm" and set(choice.seconds) == {"deconv", "deconv-nchw", "gemm"}
    with torch.no_grad(), _paths.force("deconv"):
        torch.testing.assert_close(y, layer(x))


def test_a_near_tie_keeps_the_default(planted):
    planted({"deconv": 0.010, "deconv-nchw": 0.0098, "gemm": 0.0099})  # within _MARGIN
    layer = kcompat.Conv2DTranspose(**LARGE, in_channels=64)
    with torch.no_grad():
        layer(torch.randn(4, 16, 16, 64))
    assert [c.path for c in _paths.choices().values()] == ["deconv"]


def test_training_measures_forward_and_backward_off_the_callers_graph(planted):
    calls = planted({"deconv+split": 0.004, "deconv-nchw+split": 0.004, "deconv": 0.004, "deconv-nchw": 0.004,
                     "gemm": 0.0})
    layer = kcompat.Conv2DTranspose(**LARGE, in_channels=64)
    x = torch.randn(4, 16, 16, 64, requires_grad=True)
    y = layer(x)
    assert x.grad is None and layer.weight.grad is None  # measuring took no gradient into them
    y.sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    (key, choice), = _paths.choices().items()
    assert choice.path == "gemm" and key[3] is True and set(calls) == set(choice.seconds)


def test_a_small_geometry_is_measured_once_it_is_hot(planted):
    calls = planted({"deconv": 0.002, "deconv-nchw": 0.001, "gemm": 0.003})
    layer, x = kcompat.Conv2DTranspose(4, 3, 2, padding="same", in_channels=3), torch.randn(2, 5, 5, 3)
    with torch.no_grad():
        for _ in range(_paths.HOT_CALLS - 1):
            layer(x)
        assert calls == {"deconv": _paths.HOT_CALLS - 1} and _paths.choices() == {}
        layer(x)
    (choice,) = _paths.choices().values()
    assert choice.path == "deconv-nchw" and set(choice.seconds) == {"deconv", "deconv-nchw", "gemm"}


def test_rules_and_tracing_take_the_default_without_measuring(planted, monkeypatch):
    calls = planted({"deconv": 0.0, "deconv-nchw": 0.0, "gemm": 0.0})
    with torch.no_grad():
        kcompat.Conv2DTranspose(4, 3, 2, padding="same", in_channels=3)(torch.randn(2, 5, 5, 3))  # small, first call
        assert calls == {"deconv": 1}
        previous = _paths.set_path_choice("rules")
        try:
            kcompat.Conv2DTranspose(**LARGE, in_channels=64)(torch.randn(4, 16, 16, 64))
        finally:
            _paths.set_path_choice(previous)
        assert calls == {"deconv": 2}
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        kcompat.Conv2DTranspose(**LARGE, in_channels=64)(torch.randn(4, 16, 17, 64))
        assert calls == {"deconv": 3}
    assert all(c.seconds == {} for c in _paths.choices().values())
    with pytest.raises(ValueError, match=r"`mode` must be 'measure' or 'rules'. Received: mode='fast'"):
        _paths.set_path_choice("fast")


def test_a_candidate_torch_cannot_run_is_dropped(planted, monkeypatch):
    planted({"deconv": 0.003, "deconv-nchw": 0.003})

    def broken(*args):
        raise RuntimeError("planted: not on this machine")

    monkeypatch.setitem(functional.PATHS, "gemm", broken)
    layer = kcompat.Conv2DTranspose(**LARGE, in_channels=64)
    with torch.no_grad():
        layer(torch.randn(4, 16, 16, 64))
    (choice,) = _paths.choices().values()
    assert choice.path in ("deconv", "deconv-nchw") and "gemm" not in choice.seconds


def test_size_one_axes_have_one_path():
    """Geometries routed around torch's defects (a size-1 axis) are never measured elsewhere."""
    layer = kcompat.Conv2DTranspose(1, 3, 2, padding="same", in_channels=64)
    assert _geometry_paths(layer, torch.zeros(4, 16, 16, 64)) == ((), ())


@pytest.mark.parametrize("cin,filters,kernel,strides,padding,spatial", [
    (64, 1, 5, 2, "same", (14, 14)),  # the DCGAN tutorial's output layer
    (1, 4, 3, 2, "valid", (5, 6)),
    (3, 2, 4, 3, "same", (1, 7)),
    (1, 1, 7, 2, "same", (9, 4)),  # one channel and one filter, kernel above stride
])
@pytest.mark.parametrize("training", [False, True])
def test_size_one_axes_may_take_the_gemm_path(monkeypatch, cin, filters, kernel, strides, padding, spatial, training):
    """No deconvolution, so none of the defects the canonical route avoids: forced, the GEMM
    gives that route's output and gradients to rounding, and path_taken says which ran."""
    monkeypatch.setattr(_paths, "_mode", "measure")
    _paths.clear()
    torch.manual_seed(0)
    layer = kcompat.Conv2DTranspose(filters, kernel, strides, padding=padding, in_channels=cin)
    x = torch.randn(2, *spatial, cin)
    upstream = torch.randn(layer.compute_output_shape(tuple(x.shape)))
    results = {}
    for path in ("canonical", "gemm"):
        leaf = x.clone().requires_grad_(training)
        layer.zero_grad(set_to_none=True)
        with _paths.force(path), torch.set_grad_enabled(training):
            y = layer(leaf)
            if training:
                y.backward(upstream)
        results[path] = [y.detach()] + ([leaf.grad, layer.weight.grad, layer.bias.grad] if training else [])
    for name, ours, theirs in zip(("output", "d_input", "d_weight", "d_bias"), results["gemm"], results["canonical"]):
        assert_close(ours.numpy(), theirs.numpy(), "float32", name)
    shape = layer.compute_output_shape(tuple(x.shape))[1:-1]
    args = dict(output_size=tuple(shape), strides=layer.strides, padding=layer.padding, dilation=layer.dilation_rate,
                channels_last=True)
    for _ in range(20):  # hot: measured
        leaf = x.clone().requires_grad_(training)
        with torch.set_grad_enabled(training):
            layer(leaf)
    path, seconds = functional.path_taken(x.clone().requires_grad_(training), layer.weight, layer.bias,
                                          training=training, **args)
    assert path in ("canonical", "gemm") and set(seconds) == {"canonical", "gemm"}
