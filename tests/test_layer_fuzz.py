"""scripts/fuzz_layers.py from a fixed seed: every kcompat layer against Keras 3 and Keras 2,
valid and invalid configurations, forward, input and weight gradients and moving statistics, each
disagreement judged in float64 (the script's own comparison, apart from the parity engine). Fresh
seeds are the script's to run: ``python scripts/fuzz_layers.py --valid 20 --invalid 4``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_layers.py"


@pytest.fixture(scope="module")
def fuzz_layers():
    spec = importlib.util.spec_from_file_location("fuzz_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_layers"] = module  # the TensorFlow workers find keras_side by this name and file
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("reference", ["keras", "tf_keras"])
def test_every_layer_agrees_with_keras_from_a_fixed_seed(fuzz_layers, oracle, reference):
    report = fuzz_layers.fuzz(20261207, valid=3, invalid=1, references=(reference,), oracle=oracle)
    counts = report.counts
    assert counts["valid"] == 3 * len(fuzz_layers.LAYERS)
    assert counts["agree"] >= 0.9 * counts["valid"], counts  # the rest: refusals and TF's missing kernels
    assert not report.failures, "\n".join(f"{case.layer} {case.config} {case.shapes}: {why}"
                                          for case, _, why in report.failures)

