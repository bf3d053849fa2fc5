"""State that cannot be poisoned: bad calls leave the geometry caches clean, and one layer
called from several threads at once computes every call on its own input's geometry."""

from __future__ import annotations

import threading

import pytest
import torch

import kcompat
import kcompat.tf_nn as knn
from kcompat import functional


@pytest.fixture(autouse=True)
def fresh_caches():
    for cached in (functional.plan, functional.keras_output_size, functional.prepare_call):
        cached.cache_clear()


@pytest.mark.parametrize("bad", [dict(strides=(2.0, 2.0)), dict(strides=(True, 2)), dict(dilation=(1.0, 1)),
                                 dict(output_size=(11.0, 11)), dict(padding=((0.0, 0), (0, 0)))])
def test_functional_refuses_non_integers_and_caches_nothing(bad):
    x, weight = torch.randn(1, 5, 5, 3), torch.randn(3, 4, 3, 3)
    kwargs = dict(output_size=(11, 11), strides=(2, 2), padding="valid", dilation=(1, 1), channels_last=True)
    kwargs.update(bad)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"`{name}` must hold plain integers"):
        functional.conv_transpose(x, weight, **kwargs)
    assert functional.prepare_call.cache_info().currsize == 0
    # The same geometry with integers, afterwards: computed, and equal to a fresh process's answer.
    y = kcompat.Conv2DTranspose(4, 3, strides=2, in_channels=3)(x)
    assert y.shape == (1, 11, 11, 4)


@pytest.mark.parametrize("strides,dilations", [(2.0, None), (2.5, None), (True, 1), (2, 1.0), (2, True)])
def test_nn_takes_numbers_as_tensorflow_does_and_then_layers_still_work(oracle, strides, dilations):
    """TF's ``make_int``: ``2.0``, ``2.5`` and ``True`` are ints 2, 2 and 1; the layer call after
    must not see a cache entry keyed by them (``2.0 == 2`` and ``True == 1`` as dict keys)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 5, 5, 3)).astype("float32"), rng.standard_normal((3, 3, 4, 3)).astype("float32")
    stride = int(strides)
    size = [1, (5 - 1) * stride + 3, (5 - 1) * stride + 3, 4]
    theirs = oracle.nn_call("v2", x, w, output_shape=size, strides=strides, padding="VALID", dilations=dilations)
    ours = knn.conv2d_transpose(torch.tensor(x), torch.tensor(w), size, strides, "VALID", dilations=dilations)
    np.testing.assert_allclose(ours.numpy(), theirs["output"], rtol=1e-5, atol=1e-4)
    layer = kcompat.Conv2DTranspose(4, 3, strides=stride, in_channels=3)
    assert layer(torch.tensor(x)).shape == tuple(size)


@pytest.mark.parametrize("strides,error,message", [
    ("2", TypeError, "Expected int for argument 'strides' not '2'."),
    ([1, "a"], TypeError, "Expected int for argument 'strides' not 'a'."),
    (2**40, ValueError, "Attr strides has value 1099511627776 out of range for an int32"),
])
def test_nn_refuses_what_make_int_refuses(strides, error, message):
    x, w = torch.randn(1, 5, 5, 3), torch.randn(3, 3, 4, 3)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        knn.conv2d_transpose(x, w, [1, 11, 11, 4], strides, "VALID")


@pytest.mark.parametrize("policy", [None, "mixed_bfloat16"])
def test_one_layer_many_threads_many_shapes(policy):
    """Each thread calls the same layer on its own input size; before the per-call record was one
    tuple, a thread could pair one call's signature with another's output size (0-37 spurious
    'TensorFlow rejects this configuration' errors per 10,000 calls, 269 with mixed_bfloat16)."""
    layer = kcompat.Conv2DTranspose(2, 3, strides=2, padding="same", in_channels=1, dtype=policy)
    sizes = [(3, 4), (5, 2), (4, 4), (2, 7)]
    errors, barrier = [], threading.Barrier(len(sizes))

    def work(h, w):
        x = torch.randn(1, h, w, 1)
        barrier.wait()
        try:
            for _ in range(400):
                y = layer(x)
                if y.shape != (1, 2 * h, 2 * w, 2):
                    errors.append(f"shape {tuple(y.shape)} for input {h}x{w}")
        except Exception as e:  # noqa: BLE001 - every failure is the finding
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=size) for size in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
