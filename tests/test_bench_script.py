"""scripts/bench.py runs and reports every implementation (its numbers are not judged here:
speed is shown by running the script, never by a timed test)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import kcompat

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


@pytest.mark.slow
def test_bench_json_has_every_implementation_and_ratio():
    out = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "1", "--max-rounds", "1", "--min-time", "0.001",
                          "--only", "latency", "--json"], capture_output=True, text=True, timeout=300, check=True).stdout
    report = json.loads(out)
    assert report["matmul_gflops"] > 0
    assert [row["mode"] for row in report["rows"]] == ["forward", "forward+backward"]
    for row in report["rows"]:
        assert set(row["ms"]) == {"kcompat-cl", "kcompat-cf", "torch-nchw", "torch-cl", "tf-eager", "tf-function",
                                  "keras3-tf", "keras3-torch"}
        assert all(v > 0 for v in row["ms"].values())
        assert set(row["ratios"]) == set(row["ratio_errors"]) == {
            "kcompat/raw-torch", "kcompat-best/raw-torch", "kcompat/tensorflow", "keras3-torch/kcompat"}
        assert row["rounds"] == 1
        # the path each kcompat row took, and what measuring it timed (nothing where the rule chose)
        assert set(row["paths"]) == set(row["path_ms"]) == {"kcompat-cl", "kcompat-cf"}
        for impl, path in row["paths"].items():
            assert path in kcompat.functional.PATHS
            assert row["path_ms"][impl] == {} or path in row["path_ms"][impl]


def test_ratio_spread_is_the_median_with_twice_its_standard_error(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # what importing the script sets; undone after the test
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench
    finally:
        sys.path.pop(0)
    samples = {"kcompat-cl": [2.0, 2.2, 2.0, 2.1, 1.9], "kcompat-cf": [3.0] * 5, "torch-nchw": [1.0] * 5,
               "torch-cl": [4.0] * 5, "tf-function": [4.0] * 5, "keras3-tf": [2.0] * 5}
    spread = bench.ratio_spread(samples)
    q1, _, q3 = __import__("statistics").quantiles([2.0, 2.2, 2.0, 2.1, 1.9], n=4)
    assert spread["kcompat/raw-torch"] == (2.0, pytest.approx(2 * 1.2533 * (q3 - q1) / 1.349 / 5 ** 0.5))
    assert spread["kcompat/tensorflow"][0] == 1.0  # against the faster TensorFlow (Keras 3 on TF here)
    assert spread["kcompat-best/raw-torch"] == (2.0, pytest.approx(spread["kcompat/raw-torch"][1]))


@pytest.mark.slow
def test_bench_around_reports_every_implementation_and_ratio():
    out = subprocess.run([sys.executable, str(SCRIPT), "--around", "--rounds", "1", "--max-rounds", "1",
                          "--min-time", "0.001", "--only", "Conv1D", "--json"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = json.loads(out)["rows"]
    assert [row["mode"] for row in rows] == ["forward", "forward+backward"]
    for row in rows:
        assert set(row["ms"]) == {"kcompat", "torch-port", "torch-module", "tf-function", "keras3-torch"}
        assert all(v > 0 for v in row["ms"].values())
        assert set(row["ratios"]) == {"kcompat/torch-port", "kcompat/torch-module", "kcompat/tensorflow",
                                      "keras3-torch/kcompat"}


@pytest.mark.parametrize("n", range(1, 7))
def test_call_orders_give_every_implementation_every_predecessor_equally(n):
    """What runs before a call changes its time (caches, allocator): within the orders, each
    implementation follows each other one equally often, and every order holds each once."""
    sys.path.insert(0, str(SCRIPT.parent))
    import bench

    names = [f"impl{i}" for i in range(n)]
    orders = bench.balanced_orders(names)
    assert all(sorted(order) == names for order in orders)
    follows = {}
    for order in orders:
        for before, after in zip(order, order[1:]):
            follows[before, after] = follows.get((before, after), 0) + 1
    assert len(follows) == n * (n - 1)
    assert len(set(follows.values())) <= 1


@pytest.mark.slow
def test_bench_models_reports_every_implementation_and_ratio():
    out = subprocess.run([sys.executable, str(SCRIPT), "--models", "--rounds", "1", "--max-rounds", "1",
                          "--min-time", "0.001", "--only", "DCGAN", "--json"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rows = json.loads(out)["rows"]
    assert [(row["layer"], row["mode"]) for row in rows] == [("DCGAN generator (batch 64)", "forward"),
                                                            ("DCGAN generator (batch 64)", "forward+backward")]
    onnx = importlib.util.find_spec("tf2onnx") is not None and importlib.util.find_spec("onnxruntime") is not None
    forward, training = rows
    assert set(forward["ms"]) == {"kcompat", "kcompat-inference", "tf-function", "keras3-torch"} | (
        {"onnxruntime"} if onnx else set())
    assert set(forward["ratios"]) == {"kcompat/tensorflow", "inference/tensorflow", "keras3-torch/kcompat"} | (
        {"inference/onnxruntime"} if onnx else set())
    assert set(training["ms"]) == {"kcompat", "tf-function", "keras3-torch"}  # inference forms: no training
    assert set(training["ratios"]) == {"kcompat/tensorflow", "keras3-torch/kcompat"}
    assert all(v > 0 for row in rows for v in row["ms"].values())


@pytest.mark.slow
def test_bench_models_times_a_tf_keras_file():
    """keras-unet-collection's U-Net is Keras 2 code: built by tf_keras, saved as .h5 and timed as
    the file its users have (Keras 3 cannot read it: no Keras 3 column)."""
    pytest.importorskip("keras_unet_collection")
    out = subprocess.run([sys.executable, str(SCRIPT), "--models", "--rounds", "1", "--max-rounds", "1",
                          "--min-time", "0.001", "--only", "keras-unet-collection", "--json"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rows = json.loads(out)["rows"]
    assert [row["mode"] for row in rows] == ["forward", "forward+backward"]
    assert {"kcompat", "kcompat-inference", "tf-function"} <= set(rows[0]["ms"])
    assert "keras3-torch" not in rows[0]["ms"]
    assert all(v > 0 for row in rows for v in row["ms"].values())
