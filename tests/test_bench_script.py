"""scripts/bench.py runs and reports every implementation (its numbers are not judged here:
speed is shown by running the script, never by a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def test_bench_json_has_every_implementation_and_ratio():
    out = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "1", "--min-time", "0.001", "--only", "latency",
                          "--json"], capture_output=True, text=True, timeout=300, check=True).stdout
    report = json.loads(out)
    assert report["matmul_gflops"] > 0
    assert [row["mode"] for row in report["rows"]] == ["forward", "forward+backward"]
    for row in report["rows"]:
        assert set(row["ms"]) == {"kcompat-cl", "kcompat-cf", "torch-nchw", "torch-cl", "tf-eager", "tf-function",
                                  "keras3-torch"}
        assert all(v > 0 for v in row["ms"].values())
        assert set(row["ratios"]) == {"kcompat/raw-torch", "kcompat-best/raw-torch", "kcompat/tf-function",
                                      "keras3-torch/kcompat"}
