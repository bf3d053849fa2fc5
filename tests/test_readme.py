"""Every code block of the README runs as written, each in a fresh interpreter or shell.

The two quickstart commands (a fresh venv, installs, the parity grid or this suite) are what CI
itself runs; the benchmark block is smoke-tested in test_bench_script.py. Every other block
runs here, in a directory holding the ``generator.keras`` the README's commands read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tf_fixtures

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks():
    text = README.read_text()
    for match in re.finditer(r"^```(python|bash)\n(.*?)^```", text, flags=re.S | re.M):
        line = text[:match.start()].count("\n") + 1
        yield pytest.param(match.group(1), match.group(2), id=f"{match.group(1)}-line{line}")


def _run_elsewhere(code):
    """Blocks this test does not run, and where they run instead."""
    if "pip install" in code and "python3 -m venv" in code:
        return "the quickstart: CI runs the test command, the main job is run before an issue is resolved"
    if code.lstrip().startswith("python scripts/bench.py"):
        return "the benchmark: tests/test_bench_script.py"
    return None


@pytest.fixture(scope="module")
def workdir(oracle, tmp_path_factory):
    directory = tmp_path_factory.mktemp("readme")
    files = oracle.run(tf_fixtures.save_keras_models, reference="keras", directory=str(directory / "saved"))["files"]
    shutil.copy(files["model.keras"], directory / "generator.keras")
    return directory


def test_the_readme_has_blocks_of_both_kinds():
    kinds = [p.values[0] for p in _blocks()]
    assert kinds.count("python") >= 5 and kinds.count("bash") >= 3


@pytest.mark.slow  # each block in a fresh process, TensorFlow workers included
@pytest.mark.parametrize("kind,code", list(_blocks()))
def test_block_runs(kind, code, workdir):
    if _run_elsewhere(code):
        pytest.skip(_run_elsewhere(code))
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    if kind == "python":
        command = [sys.executable, "-c", code]
    else:
        # Commands only (comments after '#' are the README's prose); `kcompat-*` from this venv.
        lines = [line.split("  #")[0].strip() for line in code.splitlines() if line.strip()]
        command = ["bash", "-euo", "pipefail", "-c", "\n".join(lines)]
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README block failed:\n{code}\n--- stdout\n{proc.stdout[-3000:]}\n" \
                                 f"--- stderr\n{proc.stderr[-3000:]}"
