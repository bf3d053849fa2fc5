"""The ``kcompat-parity`` command: the grid, peers, PNG, fuzzing with shrinking, ``--model``, exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import random
from collections import Counter
from dataclasses import replace

import pytest

import kcompat
from kcompat.harness import cli
from kcompat.harness.fuzz import fuzz, simplifications
from kcompat.harness.grid import Case, axis_options, default_grid, random_case
from kcompat.harness.peers import peers
from kcompat.harness.run import run_case
from kcompat.testing import check_parity

import tf_fixtures


def _report(directory):
    with open(directory / "report.json") as f:
        return json.load(f)


def test_grid_sample_with_peers_and_png(tmp_path, capsys):
    """The README's main job on a sample of the grid (the whole grid: test_parity.py, and the
    main job itself): every generation agrees; peers are judged beside; reports are written."""
    rc = cli.main(["--peers", "--png", "--sample", "120", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    report = _report(tmp_path)
    assert rc == 0, out
    assert report["cases"] == 120 and report["failed"] == 0 and "120 of 2540 cases" in out
    statuses = {r["results"]["kcompat"]["status"] for r in report["results"]}
    assert statuses == {"match", "refused"}
    keras_rows = [r for r in report["results"] if r["reference"] == "keras"]
    assert all(set(r["results"]) == {"kcompat", "keras3-torch", "torch-recipe"} for r in keras_rows)
    assert {len(r["input_shape"]) - 2 for r in keras_rows} == {1, 2, 3}
    assert {r["reference"] for r in report["results"]} == {"keras", "tf_keras", "tf1", "tf.nn"}
    assert {key.split("/")[1] for key in report["summary"]} == {"1-D", "2-D", "3-D"}
    # 3-D with a kernel axis below its stride: judged by the float64 reference, and said so.
    judged_by_reference = [r for r in report["results"] if len(r["input_shape"]) == 5
                           and any(k < s for k, s in zip(r["config"]["kernel_size"], r["config"]["strides"]))]
    assert judged_by_reference and all("float64 reference" in r["results"]["kcompat"]["notes"][0]
                                       for r in judged_by_reference)
    assert "float64 reference" in out
    recipe_failures = sum(not r["results"]["torch-recipe"]["ok"] for r in keras_rows)
    assert recipe_failures > len(keras_rows) // 5  # the usual hand port is wrong on many configurations
    assert "torch-recipe" in out and "all agree with TensorFlow" in out
    assert (tmp_path / "report.md").read_text().count("\n| `") == 120
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    umask = os.umask(0)
    os.umask(umask)
    for name in ("report.json", "report.md", "report.png"):  # written via a temp file, then plain permissions
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_grid_covers_every_rank_and_generation():
    grid = default_grid()
    assert len(grid) == 2540
    counts = Counter((case.rank, case.reference) for case in grid)
    assert set(counts) == {(1, "keras"), (1, "tf_keras"), (3, "keras"), (3, "tf_keras"),
                           *((2, ref) for ref in ("keras", "tf_keras", "tf1", "tf.nn"))}
    options = set(axis_options())
    for rank in (1, 2, 3):
        cases = [c for c in grid if c.rank == rank and c.reference == "keras"]
        seen = {(k, s, d, None if op is None else op[0]) for c in cases for k, s, d, op in
                [(c.config["kernel_size"][0], c.config["strides"][0], c.config["dilation_rate"][0],
                  c.config["output_padding"])]}
        assert seen == options, rank  # every per-axis option on the first axis, at every rank
        assert {c.config["padding"] for c in cases} == {"valid", "same"} and {c.channels_first for c in cases} == {
            True, False}
    # Keras 2's Conv3DTranspose ignores dilation_rate: no dilated 3-D case against it.
    assert all(max(c.config["dilation_rate"]) == 1 for c in grid if c.rank == 3 and c.reference == "tf_keras")
    assert any(max(c.config["dilation_rate"]) > 1 for c in grid if c.rank == 3 and c.reference == "keras")


def test_random_cases_respect_each_generation():
    rng = random.Random(3)
    cases = [random_case(rng, ("keras", "tf_keras", "tf1", "tf.nn")) for _ in range(400)]
    assert {c.rank for c in cases} == {1, 2, 3}
    assert {c.rank for c in cases if c.reference in ("tf1", "tf.nn")} == {2}
    assert all(max(c.config["dilation_rate"]) == 1 for c in cases if c.rank == 3 and c.reference == "tf_keras")
    for case in cases:
        assert all(len(case.config[key]) == case.rank for key in ("kernel_size", "strides", "dilation_rate"))
        assert len(case.spatial) == case.rank
    assert {random_case(random.Random(3), ranks=(2,)).rank} == {2}


def test_peer_judgements(oracle):
    """The torch recipe shifts 'same' k3 s2 by a row; Keras 3's torch backend computes what TF refuses."""
    k3 = Case(dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 5, 4, 3))
    results = run_case(k3, oracle, peers=peers(oracle))
    assert results["kcompat"].status == "match" and results["keras3-torch"].status == "match"
    assert results["torch-recipe"].status == "mismatch" and results["torch-recipe"].differences
    refused = Case(dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=0), (2, 4, 4, 3))
    results = run_case(refused, oracle, peers=peers(oracle))
    assert results["kcompat"].status == "refused"
    assert results["keras3-torch"].status == "accepts" and results["torch-recipe"].status == "accepts"


def test_fuzz_finds_planted_bug_and_shrinks_it(oracle, crop_off_by_one):
    report = fuzz(80, seed=5, oracle=oracle)
    # Every case runs, every failure is listed and shrunk.
    assert report.ran == 80 and len(report.failures) > 1 and len(report.shrunk) == len(report.failures)
    assert all(not r.ok for _, r in report.failures)
    case, result, steps = report.shrunk[0]
    assert result.status == "mismatch" and steps > 0
    c = case.config
    assert case.input_shape[0] == 1 and c["filters"] == 1 and not c["use_bias"] and c["activation"] == "linear"
    assert c["padding"] == "same" and not case.channels_first
    # Locally minimal: no simplification of it fails the same way.
    for simpler in simplifications(case):
        assert run_case(simpler, oracle)["kcompat"].status != "mismatch", simpler.id


def test_fuzz_shrinks_3d_cases(oracle, crop_off_by_one):
    report = fuzz(40, seed=5, oracle=oracle, ranks=(3,))
    case, result, _ = report.shrunk[0]
    assert not report.ok and result.status == "mismatch" and case.rank == 3
    assert case.input_shape == (1, 1, 1, 1, 1) and case.config["filters"] == 1
    for simpler in simplifications(case):
        assert run_case(simpler, oracle)["kcompat"].status != "mismatch", simpler.id


def test_float64_reference_finds_bugs(oracle, crop_off_by_one):
    """Where TensorFlow's numbers are not used (3-D, kernel < stride on an axis), the float64
    reference still catches a wrong crop on another axis."""
    config = dict(filters=2, kernel_size=(1, 3, 3), strides=2, padding="same")
    result = check_parity(config, (2, 3, 4, 3, 2), oracle=oracle)
    assert result.status == "mismatch" and "float64 reference" in result.notes[0]


def _keras_case(kernel, strides, padding, output_padding, activation, spatial, dtype="float32", filters=2,
                channels_first=False):
    """One Keras 3 case pinned by value (its own input shape, 3 channels, batch 2)."""
    rank = len(spatial)
    config = {"filters": filters, "kernel_size": (kernel,) * rank, "strides": (strides,) * rank,
              "dilation_rate": (1,) * rank, "output_padding": None if output_padding is None else (output_padding,) * rank,
              "padding": padding, "data_format": "channels_first" if channels_first else "channels_last",
              "activation": activation, "use_bias": True}
    return Case(config, (2, 3, *spatial) if channels_first else (2, *spatial, 3), "keras", dtype)


@pytest.mark.parametrize("case", [
    # One filter's bias gradient over 2160 outputs: a sum of N(0, 1) values that cancels to -0.64.
    Case({"filters": 1, "kernel_size": (7, 2, 7), "strides": (4, 2, 4), "padding": "valid",
          "output_padding": (3, 0, 1), "data_format": "channels_last", "dilation_rate": (1, 1, 1),
          "activation": "linear", "use_bias": True}, (3, 3, 1, 4, 1)),
    # tanh of bfloat16 sums of 81 products: the sums' rounding, squashed.
    _keras_case(3, 1, "valid", 0, "tanh", (5, 4, 3), "mixed_bfloat16", filters=3),
    # relu on bfloat16 sums: outputs near 0 land on either side of the kink.
    _keras_case(4, 2, "valid", 1, "relu", (5,), "mixed_bfloat16"),
], ids=["cancelling-bias-gradient", "tanh-bfloat16", "relu-kink-bfloat16"])
def test_tolerance_follows_the_terms_summed(oracle, case):
    """Cases that failed a tolerance scaled by the result alone, from --fuzz and the half grids."""
    result = run_case(case, oracle)["kcompat"]
    assert result.status == "match", str(result)
    if case.config["activation"] == "relu":
        assert any("kink" in note for note in result.notes)


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "float16"])
@pytest.mark.parametrize("case", [
    _keras_case(3, 2, "same", None, "relu", (5,)),
    _keras_case(3, 2, "same", None, "tanh", (5, 4, 3)),
    _keras_case(4, 3, "same", None, "linear", (5, 4, 3), channels_first=True),
], ids=lambda case: case.id)
def test_half_precision_still_catches_a_crop_off_by_one(oracle, crop_off_by_one, dtype, case):
    assert run_case(replace(case, dtype=dtype), oracle)["kcompat"].status == "mismatch"


def test_fuzz_command(tmp_path, capsys, crop_off_by_one):
    rc = cli.main(["--fuzz", "80", "--seed", "5", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    report = _report(tmp_path)
    assert rc == 1 and "DIFFER" in out and "Reproduce:" in out and "assert_parity(" in out
    assert report["fuzz"]["seed"] == 5 and report["fuzz"]["shrunk_config"]["filters"] == 1
    assert report["fuzz"]["ran"] == 80 and len(report["fuzz"]["failures"]) > 1
    assert out.count("Reproduce:") == len(report["fuzz"]["failures"])
    with pytest.raises(AssertionError, match="DIFFERS"):  # the printed line reproduces the failure
        eval(report["fuzz"]["reproduce"], {"kcompat": kcompat})


def test_fuzz_passes_on_kcompat(tmp_path):
    assert cli.main(["--fuzz", "60", "--seed", "11", "--references", "keras,tf_keras,tf1,tf.nn",
                     "--output", str(tmp_path), "--quiet"]) == 0
    assert _report(tmp_path)["fuzz"]["ran"] == 60


@pytest.fixture(scope="module")
def saved_models(oracle, tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {api: oracle.run(tf_fixtures.save_keras_models, reference=api,
                             directory=str(directory / api))["files"] for api in ("keras", "tf_keras")}


@pytest.mark.parametrize("api,name", [("keras", "model.keras"), ("keras", "model.h5"), ("tf_keras", "model.h5")])
def test_model_file(saved_models, tmp_path, capsys, api, name):
    """The whole model first, then every layer call in graph order (a nested model's layers, then the model)."""
    rc = cli.main(["--model", saved_models[api][name], "--output", str(tmp_path)])
    out = capsys.readouterr().out
    report = _report(tmp_path)
    assert rc == 0, out
    ids = [r["id"] for r in report["results"]]
    assert ids == ["(whole model)", "project", "reshape", "bn", "deconv1", "deconv2", "deconv3", "head1.up", "head1",
                   "head2." + ("up" if api == "keras" else "up2"), "head2"], ids
    assert report["results"][5]["input_shape"] == [2, 8, 8, 16]  # the layer's real input shape
    assert all(r["reference"] == api for r in report["results"])
    whole = report["results"][0]["results"]["kcompat"]
    assert {"output", "d_input", "d_deconv1.kernel", "d_bn.gamma"} <= {d["name"] for d in whole["differences"]}
    assert "BatchNormalization" in out and "whole model and 10 layer calls" in out


def test_model_file_in_training_mode(saved_models, tmp_path):
    """--training: batch statistics, and the moving statistics the pass leaves, compared too."""
    assert cli.main(["--model", saved_models["keras"]["model.keras"], "--training", "--output", str(tmp_path),
                     "--quiet"]) == 0
    whole = _report(tmp_path)["results"][0]["results"]["kcompat"]
    assert "bn.moving_mean after" in {d["name"] for d in whole["differences"]}


@pytest.mark.parametrize("api,name", [("keras", "model.keras"), ("tf_keras", "model.h5")])
def test_model_file_with_1d_and_3d_layers(oracle, tmp_path, api, name):
    info = oracle.run(tf_fixtures.save_nd_model, reference=api, directory=str(tmp_path / "model"))
    assert cli.main(["--model", info["files"][name], "--output", str(tmp_path / "out"), "--quiet"]) == 0
    results = _report(tmp_path / "out")["results"]
    assert [(r["id"], r["input_shape"]) for r in results] == [("(whole model)", [2, 8, 4]), ("audio", [2, 8, 4]),
                                                               ("voxels", [2, 2, 3, 2, 3])]


def test_model_mismatch_exits_1(saved_models, tmp_path, capsys, crop_off_by_one):
    # The planted crop bug hits the 'same' layers whose kernel - stride is odd; the first is named.
    assert cli.main(["--model", saved_models["keras"]["model.keras"], "--output", str(tmp_path)]) == 1
    failed = {r["id"] for r in _report(tmp_path)["results"] if not r["results"]["kcompat"]["ok"]}
    assert failed == {"(whole model)", "deconv1", "deconv3", "head1.up", "head1"}
    first = "First divergence: layer 'deconv1' (Conv2DTranspose), forward: output"
    assert first in capsys.readouterr().out and first in (tmp_path / "report.md").read_text()


def test_training_needs_model(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--training"])
    assert exited.value.code == 2 and "--training: only with --model" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["model.weights.h5", "ckpt/model", "missing.keras"])
def test_model_that_cannot_be_checked_exits_2(saved_models, tmp_path, capsys, name):
    path = saved_models["tf_keras"].get(name, str(tmp_path / name))
    assert cli.main(["--model", path, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kcompat-parity: error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_without_tensorflow_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    assert cli.main(["--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install tensorflow-cpu" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,message", [
    (["--references", "keras,torch"], "expected a comma-separated subset of keras, tf_keras, tf1, tf.nn; "
                                      "received 'keras,torch'"),
    (["--ranks", "4"], "--ranks: expected a comma-separated subset of 1, 2, 3; received '4'"),
    (["--ranks", "two"], "--ranks: expected a comma-separated subset of 1, 2, 3; received 'two'"),
    (["--references", "tf1,tf.nn", "--ranks", "1,3"], "--ranks 1,3: tf1, tf.nn are checked in 2-D only"),
])
def test_bad_arguments_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_png_cells():
    """Each case's cell: its error, white when both refuse, red for shape/refusal disagreements,
    blank where the implementation was not run (peers skip configurations refused at construction)."""
    from kcompat.harness.report import _cell
    from kcompat.testing.result import Difference, ParityResult

    def result(status, rel=None):
        diffs = () if rel is None else (Difference("output", (1,), rel, rel, (0,), 0.0, 0.0, 1e-5, 1e-5, True),)
        return ParityResult("keras", {}, (1, 1, 1, 1), "float32", status, diffs)

    assert _cell(None) is None
    assert _cell(result("match", 1e-7)) == ("error", pytest.approx(-7))
    assert _cell(result("mismatch", 1e-2)) == ("error", pytest.approx(-2))
    assert _cell(result("refused")) == ("refused", 1.0)
    assert [_cell(result(s))[0] for s in ("mismatch", "refuses", "accepts", "crashed")] == ["broken"] * 4
