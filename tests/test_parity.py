"""Forward outputs and gradients against real TensorFlow, run in the test, by the one parity engine.

Every case of the harness's grid (:func:`kcompat.harness.grid.default_grid`: every generation
and rank, both data formats, the input lengths and activations in turn) in float32, Keras 3's
cases in float64 too, and a sample in half precision, each compared by
:func:`kcompat.testing.check_parity`: the comparison, tolerances and routing around
TensorFlow's defects that ``kcompat-parity`` and ``assert_parity`` use. Where TensorFlow
refuses a configuration, kcompat must refuse it too. The test ids are the grid's case ids.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kcompat
from kcompat.harness.grid import default_grid
from kcompat.testing import check_parity, numpy_reference
from kcompat.testing.tolerance import assert_close

HALF = ("float16", "bfloat16", "mixed_float16")
CASES = (default_grid()
         + default_grid(("keras",), dtype="float64")
         + [case for dtype in HALF
            for i, case in enumerate(default_grid(("keras",), dtype=dtype, ranks=(2,), data_formats=("channels_last",)))
            if i % 6 < 2])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_matches_tensorflow(oracle, case):
    result = check_parity(case.config, case.input_shape, reference=case.reference, dtype=case.dtype, oracle=oracle)
    assert result.ok, str(result)
    if result.status == "refused":  # both refuse: an output_padding or size TensorFlow rejects
        assert "output_padding" in result.message or "negative" in result.message, result.message


@pytest.mark.parametrize("case", default_grid(("keras",)), ids=lambda case: case.id)
def test_float64_equals_numpy_reference(case):
    """The transposed convolution in float64 against the numpy reference written from TF's
    definition (no TensorFlow, no torch deconvolution in the reference)."""
    config = case.config
    layer = kcompat.layers.BY_RANK[case.rank](**dict(config, dtype="float64"))
    x = np.random.default_rng(case.rank).standard_normal(case.input_shape)
    try:
        size = layer.compute_output_shape(case.input_shape)
        spatial = size[1:-1] if config["data_format"] == "channels_last" else size[2:]
        layer.build(case.input_shape)
        ours = kcompat.functional.conv_transpose(
            torch.tensor(x), layer.weight.detach(), layer.bias, output_size=spatial, strides=layer.strides,
            padding=layer.padding, dilation=layer.dilation_rate, channels_last=config["data_format"] == "channels_last")
    except ValueError:
        return  # a configuration TensorFlow refuses: test_matches_tensorflow checks both refuse
    kernel, *bias = layer.get_weights()
    expected = numpy_reference.conv_transpose(x, kernel, bias[0] if bias else None, layer.strides, layer.padding,
                                              spatial, layer.dilation_rate, config["data_format"] == "channels_last")
    assert_close(ours.detach().numpy(), expected, "float64", "float64 numpy reference")
