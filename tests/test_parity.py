"""Forward outputs and gradients against real TensorFlow (Keras 3 and Keras 2), run in the test.

Every configuration of ``configs.config_space()`` in both data formats; float32 and float64
against Keras 3, float32 against Keras 2 (``tf_keras``). Each case is also checked in float64
against the independent numpy reference. Where TensorFlow refuses a configuration, kcompat
must refuse it too, with a ``ValueError``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import kcompat
from kcompat.layouts import keras_order, torch_order
from kcompat.testing import numpy_reference
from kcompat.testing.parity import float64_reference, keras3_bias_defect, representable, tensorflow_unreliable
from kcompat.testing.tf_oracle import TFError, route

from conftest import GRAD_TOLERANCE, assert_matches_reference, plain_conv_transpose
from configs import config_space_nd, params

BATCH, IN_CHANNELS = 2, 3
LAYERS = kcompat.layers.BY_RANK


def _inputs(config, spatial, dtype, data_format, seed):
    rng = np.random.default_rng(seed)
    shape = (BATCH, *spatial, IN_CHANNELS) if data_format == "channels_last" else (BATCH, IN_CHANNELS, *spatial)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((*config["kernel_size"], config["filters"], IN_CHANNELS)).astype(dtype)
    weights = [kernel] + ([rng.standard_normal(config["filters"]).astype(dtype)] if config["use_bias"] else [])
    return rng, x, weights


def _refused_by_tensorflow_too(oracle, api, config, x, weights):
    """kcompat refused: TF's default CPU kernel must refuse as well.

    The oneDNN kernel skips TF's shape check when the output is empty, so refusals are
    confirmed against the default kernel.
    """
    with pytest.raises(TFError):
        oracle.call("eigen", "layer_call", api=api, config=config, x=x, weights=weights, rewrite=True)


def _own_float64_reference(config, x, weights, upstream, output_shape):
    """What ``layer_call`` returns, from plain float64 autograd ops (conftest's
    plain_conv_transpose) and the layer's activation."""
    channels_last = config["data_format"] == "channels_last"
    rank = x.ndim - 2
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    kernel = torch.tensor(weights[0], dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(weights[1], dtype=torch.float64, requires_grad=True) if config["use_bias"] else None
    size = output_shape[1:-1] if channels_last else output_shape[2:]
    y = plain_conv_transpose(xt.movedim(-1, 1) if channels_last else xt,
                             kernel.permute(*torch_order(rank)), bias, config, size)
    y = y.movedim(1, -1) if channels_last else y
    y = kcompat.activations.get(config["activation"])(y)
    (y * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    return {"output": y.detach().numpy(),
            "grads": [t.grad.numpy() for t in (xt, kernel, bias) if t is not None]}


def _our_grads(xt, layer):
    """d_input, d_kernel (Keras layout) and d_bias when there is one, as float32+ numpy."""
    rank = layer.rank
    grads = [xt.grad, layer.weight.grad.permute(*keras_order(rank))] + ([layer.bias.grad] if layer.use_bias else [])
    return [g.float().numpy() if g.dtype in (torch.float16, torch.bfloat16) else g.numpy() for g in grads]


def check_parity(oracle, api, config, spatial, dtype, data_format):
    config = dict(config, data_format=data_format, dtype=dtype)
    rng, x, weights = _inputs(config, spatial, dtype, data_format, seed=len(str(config)) + sum(spatial))
    layer = LAYERS[len(spatial)](**config)
    layer.set_weights(weights)
    xt = torch.tensor(x, requires_grad=True)
    try:
        y = layer(xt)
    except ValueError as ours:
        _refused_by_tensorflow_too(oracle, api, config, x, weights)
        assert "output_padding" in str(ours) or "negative" in str(ours)
        return
    upstream = rng.standard_normal(tuple(y.shape)).astype(dtype)
    (y * torch.tensor(upstream)).sum().backward()
    if tensorflow_unreliable(config, len(spatial)):
        # Two independent float64 references: the library's (numpy + TF's activation) and plain autograd.
        ref = float64_reference(oracle, api, layer.get_config(), x, weights, upstream, tuple(y.shape))
        own = _own_float64_reference(config, x, weights, upstream, tuple(y.shape))
        for name, a, b in zip(("output", "d_input", "d_kernel", "d_bias"), [ref["output"], *ref["grads"]],
                              [own["output"], *own["grads"]]):
            assert_matches_reference(a, b, "float64", name + " (numpy vs plain autograd)")
    elif keras3_bias_defect(api, config, tuple(y.shape), route(config, x.dtype, len(spatial))):
        # Documented divergence (see test_layer.py): Keras 3 itself, through channels_last.
        ref = oracle.call("eigen", "layer_call", api=api, config=config, x=x, weights=weights,
                          upstream=upstream, rewrite=True)
    else:
        ref = oracle.layer_call(api, config, x, weights, upstream)
    assert_matches_reference(y.detach().numpy(), ref["output"], dtype, "output")
    for name, ours, theirs in zip(("d_input", "d_kernel", "d_bias"), _our_grads(xt, layer), ref["grads"]):
        assert_matches_reference(ours, theirs, dtype, name)
    # The pre-activation result, in float64, against the numpy reference written from TF's definition.
    spatial_out = tuple(y.shape[1:-1] if data_format == "channels_last" else y.shape[2:])
    linear = kcompat.functional.conv_transpose(
        torch.tensor(x, dtype=torch.float64), layer.weight.detach().double(),
        None if layer.bias is None else layer.bias.detach().double(), output_size=spatial_out,
        strides=layer.strides, padding=layer.padding, dilation=layer.dilation_rate,
        channels_last=data_format == "channels_last")
    expected = numpy_reference.conv_transpose(x, weights[0], weights[1] if config["use_bias"] else None,
                                              layer.strides, layer.padding, spatial_out, layer.dilation_rate,
                                              data_format == "channels_last")
    assert_matches_reference(linear.numpy(), expected, "float64", "float64 numpy reference")


@pytest.mark.parametrize("config,spatial,dtype,data_format",
                         params(("float32", "float64"), ("channels_last", "channels_first")))
def test_keras3(oracle, config, spatial, dtype, data_format):
    check_parity(oracle, "keras", config, spatial, dtype, data_format)


# Keras 2 refuses unequal dilation rates at call time; Keras 3 (which kcompat follows) computes them.
@pytest.mark.parametrize("config,spatial,dtype,data_format", [
    p for p in params(("float32",), ("channels_last", "channels_first"))
    if len(set(p.values[0]["dilation_rate"])) == 1
])
def test_keras2(oracle, config, spatial, dtype, data_format):
    check_parity(oracle, "tf_keras", config, spatial, dtype, data_format)


def _nd_params(dtypes, keras2=False):
    """1-D and 3-D spaces, both data formats. Keras 2's Conv3DTranspose ignores dilation_rate
    (kcompat dilates, as Keras 3 does), so its 3-D comparison leaves dilation out."""
    out = []
    for rank in (1, 3):
        for p in params(dtypes, ("channels_last", "channels_first"), space=functools.partial(config_space_nd, rank)):
            if keras2 and rank == 3 and max(p.values[0]["dilation_rate"]) > 1:
                continue
            out.append(p)
    return out


@pytest.mark.parametrize("config,spatial,dtype,data_format", _nd_params(("float32", "float64")))
def test_keras3_1d_3d(oracle, config, spatial, dtype, data_format):
    check_parity(oracle, "keras", config, spatial, dtype, data_format)


@pytest.mark.parametrize("config,spatial,dtype,data_format", _nd_params(("float32",), keras2=True))
def test_keras2_1d_3d(oracle, config, spatial, dtype, data_format):
    check_parity(oracle, "tf_keras", config, spatial, dtype, data_format)


HALF = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@pytest.mark.parametrize("config,spatial,dtype,data_format", [
    p for i, p in enumerate(params(("float16", "bfloat16"), ("channels_last",))) if i % 6 < 2
])
def test_keras3_half_precision(oracle, config, spatial, dtype, data_format):
    """float16/bfloat16 layers against Keras 3 layers of the same dtype (outputs and gradients)."""
    half = HALF[dtype]
    config = dict(config, data_format=data_format, dtype=dtype)
    rng, x, weights = _inputs(config, spatial, "float32", data_format, seed=sum(spatial))
    # Values exactly representable in the half type, handed to both sides as float32.
    x, weights = representable(x, dtype), [representable(w, dtype) for w in weights]
    layer = kcompat.Conv2DTranspose(**config)
    layer.set_weights(weights)
    xt = torch.tensor(x).to(half).requires_grad_()
    try:
        y = layer(xt)
    except ValueError:
        _refused_by_tensorflow_too(oracle, "keras", config, x, weights)
        return
    upstream = representable(rng.standard_normal(tuple(y.shape)), dtype)
    (y * torch.tensor(upstream).to(half)).sum().backward()
    ref = oracle.call("eigen", "layer_call", api="keras", config=config, x=x, weights=weights,
                      upstream=upstream, rewrite=True)
    assert_matches_reference(y.detach().float().numpy(), ref["output"], dtype, "output")
    for name, ours, theirs in zip(("d_input", "d_kernel", "d_bias"), _our_grads(xt, layer), ref["grads"]):
        assert_matches_reference(ours, np.asarray(theirs, np.float32), dtype, name, tolerance=GRAD_TOLERANCE[dtype])
