"""Shared fixtures: the TensorFlow oracle, a plain-autograd transposed convolution, planted bugs.

Comparisons use kcompat.testing.tolerance, the rule the harness and assert_parity use."""

from __future__ import annotations

import pytest

from kcompat.testing.tf_oracle import default_oracle


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (torch.compile/export/ONNX, benchmark smoke); CI does")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="session")
def oracle():
    return default_oracle()


@pytest.fixture(scope="session", params=["keras", "tf_keras"])
def families(request, oracle, tmp_path_factory):
    """``(reference, [model])``: the issue's model families (tf_fixtures.save_model_families),
    built, trained a step and saved by Keras 3 and by Keras 2, once per session."""
    import tf_fixtures

    directory = tmp_path_factory.mktemp(f"families-{request.param}")
    return request.param, oracle.run(tf_fixtures.save_model_families, reference=request.param,
                                     directory=str(directory))


def plain_conv_transpose(x, weight, bias, config, output_size):
    """TF's transposed convolution in plain autograd ops, independent of kcompat's paths:
    torch's at padding 0, TF's crop of it (zero rows past its end), the bias. ``x`` is
    channels-first; ``config`` holds per-axis tuples."""
    import torch.nn.functional as F

    from kcompat import shapes

    rank = weight.dim() - 2
    op = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
    y = op(x, weight, stride=config["strides"], dilation=config["dilation_rate"])
    for axis in range(rank):
        before = shapes.tf_padding_before(output_size[axis], config["kernel_size"][axis], config["strides"][axis],
                                          config["padding"], config["dilation_rate"][axis])
        short = before + output_size[axis] - y.shape[axis + 2]
        if short > 0:
            y = F.pad(y, [0, 0] * (rank - 1 - axis) + [0, short])
        y = y.narrow(axis + 2, before, output_size[axis])
    return y if bias is None else y + bias.view(1, -1, *[1] * rank)


@pytest.fixture
def patch_shapes(monkeypatch):
    """``patch(name, fn)`` replaces a function of kcompat.shapes for one test, clearing the
    geometry kcompat.functional caches per shape (before, and after the test)."""
    from kcompat import functional, shapes

    caches = (functional.plan, functional.prepare_call)

    def patch(name, fn):
        monkeypatch.setattr(shapes, name, fn)
        for cache in caches:
            cache.cache_clear()

    yield patch
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def crop_off_by_one(patch_shapes):
    """A planted bug, the classic hand-port one: 'same' crops the odd row at the front instead
    of the back (only where kernel - stride is odd)."""
    from kcompat import shapes

    correct = shapes.tf_padding_before

    def wrong(output_length, kernel_size, stride, padding, dilation=1):
        before = correct(output_length, kernel_size, stride, padding, dilation)
        total = shapes.effective_kernel_size(kernel_size, dilation) - stride
        return before + 1 if padding == "same" and total > 0 and total % 2 else before

    patch_shapes("tf_padding_before", wrong)
    yield
