"""The example model shipped with kcompat and the README's first command on it:
``kcompat-port --example OUT.py --check`` writes the port and checks it against TensorFlow."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file, save_file

import kcompat
from kcompat import examples
from kcompat.models import cli
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_shipped_file_is_what_its_script_builds(oracle):
    found = oracle.run(tf_fixtures.example_against_its_script, script=os.path.join(ROOT, "scripts", "make_example.py"),
                       path=examples.path("unet"))
    assert found == {"config": True, "weights": True}


def test_the_example_ports_and_checks(tmp_path, capsys):
    out = tmp_path / "unet.py"
    assert cli.main(["--example", str(out), "--check"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (f"wrote {out} (class ExampleUnet; load() returns it with its weights) and "
                          f"{tmp_path / 'unet.safetensors'} (56 tensors)")
    assert printed[1].startswith(f"checked {out}: the port matches {examples.path('unet')} as TensorFlow runs it "
                                 "(keras; 37 layer calls); output max abs ")
    generated = import_file(str(out)).load()
    loaded = kcompat.load_model(examples.path()).eval()
    x = torch.randn(2, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # to rounding: load_model's module runs its inference fusion in eval()
        assert_close(generated(x).numpy(), loaded(x).numpy(), "float32", "generated against load_model")
    assert {type(m).__name__ for m in generated.modules()} >= {"Conv2DTranspose", "BatchNormalization", "Concatenate"}


def test_check_reports_a_port_that_differs(tmp_path):
    """A generated module whose weights were changed after porting fails the check, and the
    summary names where."""
    out = tmp_path / "unet.py"
    assert cli.main(["--example", str(out), "--quiet"]) == 0
    weights = tmp_path / "unet.safetensors"
    state = load_file(str(weights))
    state["up1_deconv.weight"] = state["up1_deconv.weight"] * 1.01
    save_file(state, str(weights))
    result = cli.check(str(out), examples.path())
    assert not result.ok
    text = cli.summary(result, str(out))
    assert text.startswith(f"{out} differs from TensorFlow:") and "up1_deconv" in text


@pytest.mark.parametrize("argv, message", [
    (["--example"], "the following arguments are required: SOURCE OUT.py"),
    (["--example", "a.py", "b.py"], "--example takes OUT.py only; received 2 paths ['a.py', 'b.py']"),
    (["model.keras"], "expected SOURCE and OUT.py (or --example OUT.py); received 1 path ['model.keras']"),
    (["a", "b", "c"], "expected SOURCE and OUT.py (or --example OUT.py); received 3 paths ['a', 'b', 'c']"),
    (["model.json", "out.py", "--weights", "w.weights.h5", "--check"],  # refused before anything is written
     "--check: compares with a whole-model file (.keras or .h5); a config with --weights is not one (check the "
     "ported module with kcompat.testing.assert_model_parity and the Keras model itself)"),
])
def test_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"kcompat-port: error: {message}"


def test_check_refuses_a_config_with_weights(tmp_path, capsys):
    assert cli.main(["--example", str(tmp_path / "unet.py"), "--quiet"]) == 0
    with pytest.raises(ValueError, match="--check: compares with a whole-model file"):
        cli.check(str(tmp_path / "unet.py"), "model.json", weights="w.weights.h5")


def test_examples_are_named():
    assert examples.path() == examples.path("unet") and os.path.isfile(examples.path())
    with pytest.raises(ValueError, match=r"example: expected one of 'unet'; received 'vgg'"):
        examples.path("vgg")
