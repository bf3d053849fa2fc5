"""Weight conversion end to end: real models built and saved by TensorFlow in the test, converted
with ``kcompat-convert``, rebuilt with kcompat and compared with the TF layers' outputs.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile

import h5py
import numpy as np
import pytest
import safetensors.torch
import torch

import kcompat
from kcompat.convert import ConversionError, config_path, convert, load
from kcompat.convert import safetensors_io
from kcompat.convert.cli import main
from kcompat.convert.converter import state_dict_key
from kcompat.convert.tf_checkpoint import open_checkpoint

from kcompat.testing.tolerance import assert_close
from test_tf1 import Program

import tf_fixtures

FORMATS = ["safetensors", "pt"]


@pytest.fixture(scope="module")
def saved(oracle, tmp_path_factory):
    """Every Keras file format, written by Keras 3 and Keras 2 from one trained generator each."""
    root = tmp_path_factory.mktemp("models")
    return {api: oracle.run(tf_fixtures.save_keras_models, reference=api, directory=str(root / api))
            for api in ("keras", "tf_keras")}


def _read(output):
    """The written state dict; a .safetensors file read by the official library (interoperability)
    and by kcompat's own reader, which must agree bit for bit."""
    if output.endswith(".pt"):
        return torch.load(output, weights_only=True)
    official = safetensors.torch.load_file(output)
    ours = safetensors_io.read(output)[0]
    assert sorted(official) == sorted(ours) and all(torch.equal(official[k], ours[k]) for k in official)
    return official


def _h5_datasets(path):
    count = 0

    def visit(_, obj):
        nonlocal count
        count += isinstance(obj, h5py.Dataset)

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as f:
            f.visititems(visit)
    else:
        with h5py.File(path) as f:
            f.visititems(visit)
    return count


CASES = [("keras", "model.keras"), ("keras", "model.h5"), ("keras", "model.weights.h5"),
         ("tf_keras", "model.h5"), ("tf_keras", "model.weights.h5"), ("tf_keras", "ckpt/model"),
         ("tf_keras", "legacy_weights.h5")]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api,name", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_convert_and_reproduce(saved, tmp_path, api, name, fmt):
    info = saved[api]
    source = info["files"][name]
    output = str(tmp_path / f"out.{fmt}")
    assert main([source, output, "--quiet"]) == 0
    summary = convert(source, str(tmp_path / f"again.{fmt}"))
    # Every tensor of the file is accounted for: written or left out (and counted).
    if name == "ckpt/model":
        checkpoint = open_checkpoint(source)
        total = sum(len(layer.tensors) for layer in checkpoint.layers) + len(checkpoint.skipped)
    else:
        total = _h5_datasets(source)
    assert summary["tensors_in_file"] == total == summary["written"] + sum(summary["skipped"].values())
    assert summary["written"] == info["weights"], "every model weight is written"
    state = _read(output)
    assert len(state) == info["weights"]
    with open(config_path(output)) as f:
        configs = json.load(f)["layers"]
    for path, (x, y, weights) in info["layers"].items():
        if configs:  # whole models: kcompat rebuilds the layers from the JSON and reproduces TF
            layer = load(output)[path]
            assert_close(layer(torch.tensor(x)).detach().numpy(), y, "float32", path)
        if name == "ckpt/model":
            continue  # object checkpoints name layers by position; values are checked below
        if name == "legacy_weights.h5":  # no classes in the file: copied unchanged under the Keras names
            np.testing.assert_array_equal(state[f"{path.split('.')[-1]}/kernel"].numpy(), weights[0])
            continue
        key = path if name != "model.weights.h5" or api == "keras" else None
        if key is not None:
            np.testing.assert_array_equal(state[f"{key}.weight"].numpy(), weights[0].transpose(3, 2, 0, 1))
            if len(weights) > 1:
                np.testing.assert_array_equal(state[f"{key}.bias"].numpy(), weights[1])
    if name == "ckpt/model":  # TF layout under the object path, as the checkpoint holds it
        # The same kernels, bit for bit (a float32 sum's rounding depends on the order it is added in).
        kernels = sorted((tuple(v.shape), v.numpy().tobytes()) for k, v in state.items() if k.endswith(".kernel")
                         and v.dim() == 4)
        expected = sorted((tuple(w[0].shape), np.ascontiguousarray(w[0], np.float32).tobytes())
                          for _, _, w in info["layers"].values())
        assert kernels == expected


@pytest.mark.parametrize("layer_path,reference,converted,role,key,expected", [
    ("generator.deconv1", "keras", True, "kernel", "x", ("generator.deconv1.weight", "to_torch_layout")),
    ("generator.deconv1", "tf_keras", True, "bias", "x", ("generator.deconv1.bias", None)),
    ("up", "keras", True, "other", "up/extra", ("up/extra", None)),
    ("generator/deconv1", "tf1", False, "kernel", "generator/deconv1/kernel", ("generator.deconv1.kernel", None)),
    ("bn", "keras", False, "gamma", "bn/gamma", ("bn/gamma", None)),
])
def test_state_dict_key_is_the_whole_naming_rule(layer_path, reference, converted, role, key, expected):
    assert state_dict_key(layer_path, reference, converted, role, key) == expected


def test_load_straight_from_a_keras_file(saved):
    layers = load(saved["keras"]["files"]["model.keras"])  # every layer, nested ones by dotted path
    assert list(layers) == ["project", "reshape", "bn", "deconv1", "deconv2", "deconv3", "head1.up", "head2.up"]
    assert isinstance(layers["project"], kcompat.Dense) and isinstance(layers["bn"], kcompat.BatchNormalization)
    for path, (x, y, _) in saved["keras"]["layers"].items():
        assert isinstance(layers[path], kcompat.Conv2DTranspose)
        assert_close(layers[path](torch.tensor(x)).detach().numpy(), y, "float32", path)


@pytest.mark.parametrize("api,name", [("keras", "model.keras"), ("keras", "model.h5"), ("tf_keras", "model.h5")])
def test_1d_and_3d_layers_convert_and_load(oracle, tmp_path, api, name):
    """Conv1DTranspose and Conv3DTranspose: converted to torch layout, rebuilt from their configs,
    TensorFlow's outputs on their inputs."""
    info = oracle.run(tf_fixtures.save_nd_model, reference=api, directory=str(tmp_path / api))
    out = str(tmp_path / "nd.safetensors")
    assert main([info["files"][name], out]) == 0
    state = _read(out)
    assert tuple(state["audio.weight"].shape) == (4, 3, 5) and tuple(state["voxels.weight"].shape) == (3, 2, 3, 2, 3)
    for layers in (load(info["files"][name]), load(out)):
        assert [type(layers[p]).__name__ for p in ("audio", "voxels")] == ["Conv1DTranspose", "Conv3DTranspose"]
        for path, (x, y, weights) in info["layers"].items():
            assert_close(layers[path](torch.tensor(x)).detach().numpy(), y, "float32", path)
            np.testing.assert_array_equal(layers[path].get_weights()[0], weights[0])


def test_weights_only_files_have_no_configs_to_load(saved):
    with pytest.raises(ConversionError, match="weights-only"):
        load(saved["keras"]["files"]["model.weights.h5"])


def test_command_line_entry_points(saved, tmp_path):
    source = saved["keras"]["files"]["model.keras"]
    out = tmp_path / "g.safetensors"
    run = subprocess.run([sys.executable, "scripts/convert_weights.py", source, str(out), "--json"],
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["converted_layers"] == 8 and summary["skipped"] == {"optimizer state": 28}  # every layer
    table = subprocess.run([sys.executable, "-m", "kcompat.convert.cli", source, str(tmp_path / "t.pt")],
                           capture_output=True, text=True)
    assert table.returncode == 0 and "head2.up" in table.stdout and "kcompat.Conv2DTranspose (torch layout)" in table.stdout
    umask = os.umask(0)
    os.umask(umask)
    for written in (out, tmp_path / "g.safetensors.json", tmp_path / "t.pt"):  # not mkstemp's 0600
        assert written.stat().st_mode & 0o777 == 0o666 & ~umask


GENERATOR_TF1 = """
    def build(tf1, x):
        with tf1.variable_scope("generator"):
            with tf1.variable_scope("block1"):
                h = tf1.layers.conv2d_transpose(x, 16, 5, strides=2, padding="same", activation="relu", name="deconv")
            with tf1.variable_scope("block2"):
                h = tf1.layers.conv2d_transpose(h, 8, 3, strides=2, padding="valid", name="deconv")
            return tf1.layers.conv2d_transpose(h, 3, 4, padding="same", activation="tanh", name="to_rgb")
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_tf1_saver_checkpoint(oracle, tmp_path, fmt):
    """A TF1 graph saved with ``tf.train.Saver`` loads straight into its kcompat.compat.v1 port."""
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 32)).astype("float32")
    source = textwrap.dedent(GENERATOR_TF1)
    ref = oracle.run(tf_fixtures.save_tf1_checkpoint, source=source, directory=str(tmp_path), x=x)
    output = str(tmp_path / f"g.{fmt}")
    summary = convert(ref["prefix"], output)
    assert summary["skipped"] == {"optimizer state": 15}  # 6 variables x 2 Adam slots, beta powers, step
    program = Program(source)
    program(x=torch.tensor(x))
    program.load_state_dict(_read(output))  # strict: every variable, nothing else
    assert_close(program(x=torch.tensor(x)).detach().numpy(), ref["output"], "float32")


def test_checkpoint_reader_matches_tensorflow(oracle, tmp_path):
    x = np.ones((1, 2, 2, 32), "float32")
    ref = oracle.run(tf_fixtures.save_tf1_checkpoint, source=textwrap.dedent(GENERATOR_TF1),
                      directory=str(tmp_path), x=x)
    model = open_checkpoint(ref["prefix"])
    ours = {t.source: t.read() for layer in model.layers for t in layer.tensors}
    ours.update({t.source: t.read() for t in model.skipped if t.read is not None})
    assert sorted(ours) == sorted(ref["variables"])
    for name, value in ref["variables"].items():
        np.testing.assert_array_equal(ours[name], value)


def test_a_second_optimizers_state_is_left_out(oracle, tmp_path):
    """GAN code trains two networks with two Adam optimizers: the second's slots (named after it)
    and its ``beta1_power_1``/``beta2_power_1`` are optimizer state, not weights."""
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 32)).astype("float32")
    source = textwrap.dedent(GENERATOR_TF1)
    ref = oracle.run(tf_fixtures.save_tf1_checkpoint, source=source, directory=str(tmp_path), x=x, optimizers=2)
    assert {"beta1_power_1", "beta2_power_1"} <= set(ref["variables"])
    assert any(name.endswith("/d_adam_1") for name in ref["variables"])
    summary = convert(ref["prefix"], str(tmp_path / "g.safetensors"))
    assert summary["skipped"] == {"optimizer state": 17}  # 6 x 2 slots, 2 x 2 beta powers, the step
    program = Program(source)
    program(x=torch.tensor(x))
    program.load_state_dict(_read(str(tmp_path / "g.safetensors")))  # strict: every variable, nothing else
    assert_close(program(x=torch.tensor(x)).detach().numpy(), ref["output"], "float32")


@pytest.mark.parametrize("api,layout", [("keras", "cvae"), ("keras", "dcgan"), ("tf_keras", "cvae"),
                                        ("tf_keras", "dcgan"), ("tf_keras", "legacy")])
def test_object_checkpoints_keep_the_model_and_leave_out_the_optimizer(oracle, tmp_path, api, layout):
    """The tutorials' ``tf.train.Checkpoint(model=..., optimizer=...)``: after training, Keras 3
    keys every model variable under the optimizer (``optimizer/_trainable_variables/N``). Read
    through the object graph, exactly the models' variables are written and every slot, counter
    and hyperparameter is counted as optimizer state."""
    ref = oracle.run(tf_fixtures.save_object_checkpoint, reference=api, layout=layout, directory=str(tmp_path))
    output = str(tmp_path / "g.safetensors")
    summary = convert(ref["prefix"], output)
    weights = ref["weights"]
    assert summary["written"] == len(weights)
    assert summary["skipped"] == {"optimizer state": ref["entries"] - len(weights) - 2, "bookkeeping": 2}
    written = _read(output)
    assert not [k for k in written if "optimizer" in k], sorted(written)

    def fingerprint(array):
        return tuple(np.shape(array)), np.asarray(array, np.float32).tobytes()

    assert sorted(map(fingerprint, (v.numpy() for v in written.values()))) == sorted(map(fingerprint, weights))


def test_crc32c_matches_the_castagnoli_checksum():
    from kcompat.convert.crc32c import crc32c, mask, unmask

    def bitwise(data, crc=0):
        register = crc ^ 0xFFFFFFFF
        for byte in data:
            register ^= byte
            for _ in range(8):
                register = (register >> 1) ^ (0x82F63B78 if register & 1 else 0)
        return register ^ 0xFFFFFFFF

    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0 and crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    rng = np.random.default_rng()
    for size in [1, 3, 4, 7, 8, 63, 64, 65, 1000, 4096, 70001, *rng.integers(0, 20000, 4)]:
        data, start = rng.integers(0, 256, int(size), dtype=np.uint8).tobytes(), int(rng.integers(0, 2**32))
        assert crc32c(data) == bitwise(data) and crc32c(data, start) == bitwise(data, start), size
        assert unmask(mask(start)) == start


def _entry_offset(prefix, name):
    from kcompat.convert.tf_checkpoint import read_index

    return read_index(prefix)[1][name]["offset"]


@pytest.mark.parametrize("where", ["a weight", "the object graph"])
def test_a_flipped_checkpoint_byte_is_a_checksum_error(capsys, oracle, tmp_path, where):
    """One flipped bit in a shard fails the conversion as TensorFlow's reader does (its per-tensor
    CRC-32C), instead of converting silently."""
    ref = oracle.run(tf_fixtures.save_object_checkpoint, reference="tf_keras", layout="cvae", directory=str(tmp_path))
    prefix = ref["prefix"]
    name = ("model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE" if where == "a weight"
            else "_CHECKPOINTABLE_OBJECT_GRAPH")
    at = _entry_offset(prefix, name) + 20
    shard = prefix + ".data-00000-of-00001"
    data = bytearray(open(shard, "rb").read())
    data[at] ^= 0x10
    open(shard, "wb").write(bytes(data))
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [prefix, out], "checksum does not match")
    _no_output_left(tmp_path, out)
    assert open(shard, "rb").read() == bytes(data)


# ------------------------------------------------------------------ bad input
def _no_output_left(directory, output):
    assert not os.path.exists(output) and not os.path.exists(config_path(output))
    assert not [n for n in os.listdir(directory) if n.endswith(".tmp")], "a temporary file was left behind"


def _fails(capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("kcompat-convert: error: ") and message in err, err


def test_missing_file(capsys, tmp_path):
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(tmp_path / "nope.keras"), out], "nope.keras: no such file")
    _no_output_left(tmp_path, out)


def test_file_of_another_kind(capsys, tmp_path):
    other = tmp_path / "notes.h5"
    other.write_text("not a model")
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(other), out], "not a Keras or TensorFlow model file")
    _no_output_left(tmp_path, out)


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_truncated_files(capsys, saved, tmp_path, name):
    data = open(saved["keras"]["files"][name], "rb").read()
    broken = tmp_path / name
    broken.write_bytes(data[: len(data) // 2])
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(broken), out], "corrupt or truncated")
    _no_output_left(tmp_path, out)


def test_truncated_checkpoint_shard(capsys, oracle, tmp_path):
    ref = oracle.run(tf_fixtures.save_tf1_checkpoint, source=textwrap.dedent(GENERATOR_TF1),
                      directory=str(tmp_path), x=np.ones((1, 2, 2, 32), "float32"))
    shard = ref["prefix"] + ".data-00000-of-00001"
    data = open(shard, "rb").read()
    open(shard, "wb").write(data[: len(data) // 3])
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [ref["prefix"], out], "truncated")
    _no_output_left(tmp_path, out)
    index = ref["prefix"] + ".index"
    open(index, "wb").write(open(index, "rb").read()[:20])
    _fails(capsys, [ref["prefix"], out], "corrupt or truncated TensorFlow checkpoint index")
    _no_output_left(tmp_path, out)


def test_config_kcompat_cannot_reproduce(capsys, saved, tmp_path):
    source = saved["keras"]["files"]["model.keras"]
    with zipfile.ZipFile(source) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["config"]["name"] == "deconv2":
            layer["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                             "config": "my_swish", "registered_name": "function"}
    files["config.json"] = json.dumps(config).encode()
    custom = tmp_path / "custom.keras"
    with zipfile.ZipFile(custom, "w") as archive:
        for n, data in files.items():
            archive.writestr(n, data)
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(custom), out], "layer 'deconv2' (Conv2DTranspose): Could not interpret activation function "
                                       "identifier")
    _no_output_left(tmp_path, out)


def test_existing_output_needs_force(capsys, saved, tmp_path):
    source = saved["keras"]["files"]["model.keras"]
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"keep me")
    _fails(capsys, [source, str(out)], "already exists (use --force to overwrite)")
    assert out.read_bytes() == b"keep me"
    assert main([source, str(out), "--force", "--quiet"]) == 0
    assert len(_read(str(out))) == saved["keras"]["weights"]


def test_output_that_cannot_be_written(capsys, saved, tmp_path):
    source = saved["keras"]["files"]["model.keras"]
    _fails(capsys, [source, str(tmp_path / "missing" / "o.safetensors")], "cannot write")
    directory = tmp_path / "a-directory.safetensors"
    directory.mkdir()
    _fails(capsys, [source, str(directory), "--force"], "cannot write")
    assert os.listdir(directory) == [] and not os.path.exists(config_path(str(directory)))
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize("what", ["the model file", "a link to it", "its checkpoint index", "its checkpoint data"])
def test_an_input_is_never_overwritten_even_with_force(capsys, saved, tmp_path, what):
    """`kcompat-convert gen.keras gen.keras --force` used to replace the source model."""
    if what.startswith("its checkpoint"):  # a copy: a failing test must not destroy the module's files
        original = saved["tf_keras"]["files"]["ckpt/model"]
        for name in glob.glob(glob.escape(original) + ".*"):
            shutil.copy(name, tmp_path / os.path.basename(name))
        source = str(tmp_path / os.path.basename(original))
        target = glob.glob(glob.escape(source) + (".index" if what.endswith("index") else ".data-*"))[0]
    else:
        source = str(tmp_path / "gen.keras")
        shutil.copy(saved["keras"]["files"]["model.keras"], source)
        target = source
        if what == "a link to it":
            target = str(tmp_path / "link.safetensors")
            os.symlink(source, target)
    before = open(target, "rb").read()
    _fails(capsys, [source, target, "--force"], "is an input of this kcompat-convert run")
    assert open(target, "rb").read() == before
    assert not [n for n in os.listdir(os.path.dirname(target)) if n.endswith(".tmp")]


def test_a_conversion_with_no_model_weight_fails(capsys, tmp_path):
    """A file whose every tensor is left out (optimizer state, counters) writes nothing and says so."""
    source = str(tmp_path / "state.weights.h5")
    with h5py.File(source, "w") as f:  # Keras 3's layout: a model without weights, its optimizer's state
        f.create_group("layers")
        f.create_dataset("optimizer/vars/0", data=np.zeros((), np.int64))
        f.create_dataset("optimizer/vars/1", data=np.zeros((3, 3), np.float32))
    out = str(tmp_path / "o.safetensors")
    assert main([source, out, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no model weights found" in err and "nothing written" in err, err
    _no_output_left(tmp_path, out)


def test_load_without_a_transposed_convolution_to_build_raises(saved):
    with pytest.raises(ConversionError, match="pass the whole-model .keras/.h5 file"):
        load(saved["keras"]["files"]["model.weights.h5"])


def test_sigterm_during_a_conversion_leaves_nothing(saved, tmp_path):
    """SIGTERM cleans up as Ctrl-C does: no output, no hidden temporary file."""
    out = str(tmp_path / "o.safetensors")
    code = textwrap.dedent(f"""
        import sys, time
        from kcompat.convert import cli, converter
        real = converter.safetensors_io.write_state
        def slow(*args):
            time.sleep(3)
            return real(*args)
        converter.safetensors_io.write_state = slow
        sys.exit(cli.main([{saved["keras"]["files"]["model.keras"]!r}, {out!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]:
        assert proc.poll() is None and time.monotonic() < deadline, "the conversion never started writing"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "terminated; nothing written" in err, err
    _no_output_left(tmp_path, out)


def _converted(saved, tmp_path):
    out = str(tmp_path / "gen.safetensors")
    assert main([saved["keras"]["files"]["model.keras"], out, "--quiet"]) == 0
    return out


def _rewrite_header(path, change):
    """The file at ``path`` with its safetensors header (a dict) passed through ``change``."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header, data = json.loads(f.read(length)), f.read()
    raw = json.dumps(change(header)).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)


def _first(header):
    return next(v for k, v in header.items() if k != "__metadata__")


HOSTILE_SAFETENSORS = {
    "huge header length": (lambda p: _patch_bytes(p, 0, struct.pack("<Q", 2**62)), "exceeds the file"),
    "short file": (lambda p: open(p, "wb").write(b"\x01\x02"), "shorter than the 8-byte header length"),
    "header not JSON": (lambda p: _patch_bytes(p, 8, b"\xff{"), "the header is not JSON"),
    "header a list": (lambda p: _rewrite_header(p, lambda h: [1, 2]), "a JSON list, not an object"),
    "unknown dtype": (lambda p: _rewrite_header(p, lambda h: (_first(h).update(dtype="C64"), h)[1]),
                      "has dtype 'C64'"),
    "offsets past the end": (lambda p: _rewrite_header(p, lambda h: (_first(h).update(data_offsets=[0, 2**40]), h)[1]),
                             "outside the"),
    "offsets disagree with the shape": (
        lambda p: _rewrite_header(p, lambda h: (_first(h).update(shape=[7, 7, 7]), h)[1]), "needs"),
    "bad shape": (lambda p: _rewrite_header(p, lambda h: (_first(h).update(shape=[-1]), h)[1]), "not a list of integers"),
}


def _patch_bytes(path, at, data):
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


@pytest.mark.parametrize("damage", list(HOSTILE_SAFETENSORS))
def test_load_refuses_a_broken_safetensors_file_in_one_line(saved, tmp_path, damage):
    out = _converted(saved, tmp_path)
    mutate, message = HOSTILE_SAFETENSORS[damage]
    mutate(out)
    with pytest.raises(ConversionError, match="not a valid safetensors file") as info:
        load(out)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_load_refuses_a_pickled_pt_in_one_line(saved, tmp_path):
    out = str(tmp_path / "gen.pt")
    assert main([saved["keras"]["files"]["model.keras"], out, "--quiet"]) == 0
    torch.save({"deconv1.weight": torch.zeros(1), "extra": ConversionError("not a tensor")}, out)
    with pytest.raises(ConversionError, match="weights_only refused it") as info:
        load(out)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_unsigned_integers_round_trip_through_safetensors(tmp_path, dtype):
    """TF checkpoints can hold them; they are written, not a crash."""
    value = torch.from_numpy(np.array([[0, 1], [2, np.iinfo(dtype).max]], dtype))
    path = str(tmp_path / "u.safetensors")
    with open(path, "wb") as f:
        safetensors_io.write_header(f, [("v", value.dtype, tuple(value.shape))])
        f.write(value.numpy().tobytes())
    tensors, _ = safetensors_io.read(path)
    np.testing.assert_array_equal(tensors["v"].numpy(), value.numpy())


@pytest.mark.parametrize("size,message", [(2**62, "needs 24: a corrupt checkpoint"), (24, "lies past the end")])
def test_checkpoint_entries_are_checked_before_reading(tmp_path, size, message):
    from kcompat.convert import tf_checkpoint

    shard = tmp_path / "m.data-00000-of-00001"
    shard.write_bytes(b"\0" * 16)
    entry = {"dtype": 1, "shape": (2, 3), "shard": 0, "offset": 0, "size": size, "sliced": False}
    with pytest.raises(ConversionError, match=message):
        tf_checkpoint._check_entry("dense/kernel", entry, np.float32, str(shard))


def _weights_file_reaching(path, secret, how):
    """A Keras 3 ``.weights.h5`` whose one dense kernel reaches ``secret`` (another file) by ``how``."""
    with h5py.File(path, "w") as f:
        vars_ = f.create_group("layers/dense/vars")
        if how == "external storage":
            vars_.create_dataset("0", shape=(4,), dtype="<f4", external=[(secret, 0, 16)])
        elif how == "virtual dataset":
            with h5py.File(secret + ".h5", "w") as src:
                src.create_dataset("data", data=np.arange(4, dtype=np.float32))
            layout = h5py.VirtualLayout(shape=(4,), dtype="<f4")
            layout[:] = h5py.VirtualSource(secret + ".h5", "data", shape=(4,))
            vars_.create_virtual_dataset("0", layout)
        else:
            with h5py.File(secret + ".h5", "w") as src:
                src.create_dataset("data", data=np.arange(4, dtype=np.float32))
            vars_["0"] = h5py.ExternalLink(secret + ".h5", "/data")


@pytest.mark.parametrize("how", ["external storage", "virtual dataset", "external link"])
def test_a_weights_file_never_reads_another_file(capsys, tmp_path, how):
    """A crafted file used to copy the bytes of a file outside the model into the output."""
    secret = str(tmp_path / "secret")
    with open(secret, "wb") as f:
        f.write(np.arange(4, dtype=np.float32).tobytes())
    source = str(tmp_path / "crafted.weights.h5")
    _weights_file_reaching(source, secret, how)
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [source, out], "kcompat reads only what is inside the model file")
    _no_output_left(tmp_path, out)


def _archive_like(saved, tmp_path, config=None, compress=None, flag_bits=0, declared=None):
    """A copy of the Keras 3 archive with ``config.json`` replaced (bytes), its members'
    compression method or flag bits set as given, and config.json's declared size a lie."""
    source = saved["keras"]["files"]["model.keras"]
    path = str(tmp_path / "crafted.keras")
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "config.json" and config is not None:
                data = config
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    if compress is not None or flag_bits:
        raw = bytearray(open(path, "rb").read())
        for sig, method_at, flag_at in ((b"PK\x03\x04", 8, 6), (b"PK\x01\x02", 10, 8)):
            at = raw.find(sig)
            while at != -1:
                if compress is not None:
                    raw[at + method_at:at + method_at + 2] = struct.pack("<H", compress)
                raw[at + flag_at] |= flag_bits
                at = raw.find(sig, at + 4)
        open(path, "wb").write(bytes(raw))
    if declared is not None:
        raw = bytearray(open(path, "rb").read())
        for sig, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
            at = raw.find(sig)
            while at != -1:
                if raw[at + name_at:at + name_at + 11] == b"config.json":
                    raw[at + size_at:at + size_at + 4] = struct.pack("<I", declared)
                at = raw.find(sig, at + 4)
        open(path, "wb").write(bytes(raw))
    return path


@pytest.mark.parametrize("case,message", [
    ("config a list", "config.json is a JSON list, not a model config object"),
    ("layers a dict", "`layers` must be a list of layer configs"),
    ("layers of strings", "`layers` must be a list of layer configs"),
    ("declared too large", "config.json declares 67108874 bytes"),
    ("lying sizes", "corrupt or truncated Keras archive"),
    ("encrypted", "is encrypted"),
    ("unknown compression", "uses compression method 99"),
])
def test_hostile_keras_archives_fail_in_one_line(capsys, saved, tmp_path, case, message):
    configs = {"config a list": b"[1, 2]", "layers a dict": json.dumps({"config": {"layers": {"a": 1}}}).encode(),
               "layers of strings": json.dumps({"config": {"layers": ["Dense"]}}).encode(),
               "declared too large": b" " * (64 * 2**20 + 10), "lying sizes": b" " * (64 * 2**20 + 10)}
    path = _archive_like(saved, tmp_path, config=configs.get(case), flag_bits=0x1 if case == "encrypted" else 0,
                         compress=99 if case == "unknown compression" else None,
                         declared=1000 if case == "lying sizes" else None)
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [path, out], message)
    _no_output_left(tmp_path, out)


@pytest.mark.parametrize("compression", ["stored", "deflated", "truncated"])
def test_an_archive_reads_the_same_stored_or_deflated(saved, tmp_path, compression):
    """Stored members are read in place (HDF5 seeks, which zipfile's stream does by reading again
    from the start), deflated ones inflated once; a truncated archive is refused in one line."""
    source = saved["keras"]["files"]["model.keras"]
    path = str(tmp_path / "copy.keras")
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED if compression == "deflated" else zipfile.ZIP_STORED)
    if compression == "truncated":
        raw = open(path, "rb").read()
        at = raw.find(b"model.weights.h5") + 200
        open(path, "wb").write(raw[:at] + raw[raw.find(b"PK\x01\x02"):])  # the data cut, the directory kept
        with pytest.raises(ConversionError, match="corrupt or truncated|truncated Keras archive"):
            load(path)
        return
    want, got = kcompat.load_model(source).state_dict(), kcompat.load_model(path).state_dict()
    assert list(want) == list(got)
    for key in want:
        assert torch.equal(want[key], got[key]), key


@pytest.mark.parametrize("kind,message", [
    ("group", "is a group where Keras writes a weight"),
    ("strings", "not the numbers of a weight"),
    ("complex", "holds complex64 data"),
    ("compound", "not the numbers of a weight"),
    ("64 GiB declared", "more than this machine's memory"),
])
def test_weights_that_are_not_numbers_fail_in_one_line(capsys, tmp_path, kind, message):
    source = str(tmp_path / "odd.weights.h5")
    with h5py.File(source, "w") as f:  # Keras 3's layout, one layer with one odd weight
        vars_ = f.create_group("layers/dense/vars")
        if kind == "group":
            vars_.create_group("0")
        elif kind == "strings":
            vars_.create_dataset("0", data=np.array([b"a", b"b"]))
        elif kind == "complex":
            vars_.create_dataset("0", data=np.ones(3, np.complex64))
        elif kind == "compound":
            vars_.create_dataset("0", data=np.zeros(2, [("a", "<f4"), ("b", "<i4")]))
        else:
            vars_.create_dataset("0", shape=(2**34,), dtype="<f4", chunks=(2**16,))  # nothing stored: a small file
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [source, out], message)
    _no_output_left(tmp_path, out)


def _looping_heap(data):
    """``data`` (an HDF5 file's bytes) with its first global heap object made a free-space
    object of size 0: HDF5 1.14 then walks that heap forever."""
    data = bytearray(data)
    at = data.find(b"GCOL\x01\x00\x00\x00")
    assert at >= 0, "the file has no global heap"
    data[at + 16:at + 32] = bytes(16)
    return bytes(data)


def test_hdf5_itself_hangs_on_a_heap_object_of_size_zero(saved, tmp_path):
    """Pins the HDF5 defect :mod:`kcompat.convert.hdf5_heaps` routes around: if this starts
    failing, h5py's HDF5 no longer hangs and the pre-flight check may go."""
    path = tmp_path / "loop.h5"
    path.write_bytes(_looping_heap(open(saved["keras"]["files"]["model.h5"], "rb").read()))
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", f"import h5py; dict(h5py.File({str(path)!r}).attrs)"],
                       timeout=4, capture_output=True)


@pytest.mark.parametrize("name", ["model.h5", "model.weights.h5", "model.keras"])
def test_a_heap_hdf5_would_hang_on_is_refused(saved, tmp_path, name):
    source = saved["keras"]["files"][name]
    path = str(tmp_path / name)
    if name == "model.keras":
        with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
            for info in src.infolist():
                data = src.read(info.filename)
                dst.writestr(info, _looping_heap(data) if info.filename == "model.weights.h5" else data)
    else:
        open(path, "wb").write(_looping_heap(open(source, "rb").read()))
    out = str(tmp_path / "o.safetensors")
    run = subprocess.run([sys.executable, "-m", "kcompat.convert.cli", path, out], timeout=120,
                         capture_output=True, text=True)  # a subprocess: a regression would hang
    assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr
    assert "global heap at byte" in run.stderr and "the HDF5 library would hang; refused" in run.stderr, run.stderr
    _no_output_left(tmp_path, out)
    with pytest.raises(ConversionError, match="would hang"):
        load(path)


@pytest.mark.parametrize("name,value,message", [
    ("kernel", np.float32(1), "layer 'deconv1': Layer deconv1 weight shape mismatch for `kernel`: expected "
                              "(5, 5, 16, 32) (Keras layout), received ()."),
    ("kernel", np.zeros(5, np.float32), "mismatch for `kernel`: expected (5, 5, 16, 32) (Keras layout), received (5,)"),
    ("kernel", "as uint16", "layer 'deconv1': weight 0 holds uint16 data; a Keras layer's weights are floating point"),
    ("bias", np.float32(1), "mismatch for `bias`: expected (16,) (Keras layout), received ()"),
    ("bias", np.zeros((3, 3), np.float32), "mismatch for `bias`: expected (16,) (Keras layout), received (3, 3)"),
])
def test_a_transposed_convolutions_weights_must_fit_its_config(capsys, saved, tmp_path, name, value, message):
    source = str(tmp_path / "model.h5")
    shutil.copy(saved["keras"]["files"]["model.h5"], source)
    with h5py.File(source, "a") as f:
        dataset = f"model_weights/deconv1/deconv1/{name}"
        old = f[dataset][()]
        del f[dataset]
        f[dataset] = old.astype(np.uint16) if isinstance(value, str) else value
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [source, out], message)
    _no_output_left(tmp_path, out)
    with pytest.raises(ConversionError, match=re.escape(message)):
        load(source)


@pytest.mark.parametrize("name", ["model.h5", "model.weights.h5"])
@pytest.mark.parametrize("signature", [b"TREE", b"HEAP", b"SNOD"])
def test_byte_flipped_hdf5_metadata_fails_in_one_line(capsys, saved, tmp_path, name, signature):
    """HDF5's own errors on corrupt metadata (a B-tree, a local heap, a symbol table node whose
    signature a flipped bit broke) are one-line errors, as are those raised while reading."""
    data = bytearray(open(saved["keras"]["files"][name], "rb").read())
    at = data.rfind(signature)
    data[at] ^= 0x01
    source = tmp_path / name
    source.write_bytes(bytes(data))
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(source), out], "corrupt or truncated HDF5 file")
    _no_output_left(tmp_path, out)


@pytest.mark.parametrize("damage,message", [
    (lambda raw, doc: raw[: len(raw) // 2], "not valid JSON"),
    (lambda raw, doc: b"\xff\xfe" + raw, "not valid JSON"),
    (lambda raw, doc: json.dumps([doc]).encode(), "not a kcompat-convert config file"),
    (lambda raw, doc: json.dumps({**doc, "layers": {"up": {"config": {}, "weights": "up.weight"}}}).encode(),
     "not a kcompat-convert config file"),
    (lambda raw, doc: json.dumps({**doc, "layers": {k: {**e, "config": {**e["config"], "strides": 0}}
                                                    for k, e in doc["layers"].items()}}).encode(),
     "cannot be built from its config"),
    (lambda raw, doc: json.dumps({**doc, "layers": {k: {**e, "weights": e["weights"] + [k + ".extra"]}
                                                    for k, e in doc["layers"].items()}}).encode(),
     "the weights hold no tensor"),
    (lambda raw, doc: json.dumps({**doc, "layers": {k: {**e, "config": {**e["config"], "filters": 3}}
                                                    if "filters" in e["config"] else e
                                                    for k, e in doc["layers"].items()}}).encode(),
     "the weights do not fit its config (size mismatch for"),
])
def test_load_refuses_a_damaged_converted_config_in_one_line(saved, tmp_path, damage, message):
    out = _converted(saved, tmp_path)
    raw = open(config_path(out), "rb").read()
    open(config_path(out), "wb").write(damage(raw, json.loads(raw)))
    with pytest.raises(ConversionError, match=re.escape(message)) as caught:
        load(out)
    assert "\n" not in str(caught.value)


def _state_of(module):
    return {k: v.detach() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("fmt", ["whole", "json+weights"])
def test_every_format_with_a_config_gives_load_models_state_dict(families, tmp_path, fmt):
    """One scheme: module path + torch parameter name, torch layout (what
    ``load_model(...).state_dict()`` reads), every layer's config beside it; optimizer state
    counted, not written; ``load`` rebuilds every layer from the output."""
    reference, models = families
    for model in models:
        files = model["files"]
        whole = files["keras" if reference == "keras" else "h5"]
        out = str(tmp_path / f"{model['name']}-{fmt}.safetensors")
        if fmt == "whole":
            summary = convert(whole, out)
        else:  # Keras 2's .weights.h5 keys layers by class counter only: the config names them
            summary = convert(files["weights"], out, config=files["json"])
        expected = _state_of(kcompat.load_model(whole))
        state = _read(out)
        assert list(state) == list(expected), model["name"]
        assert all(torch.equal(state[k], expected[k]) for k in state), model["name"]
        assert summary["written"] == len(state) and summary["skipped"].get("optimizer state", 0) > 0
        assert summary["tensors_in_file"] == summary["written"] + sum(summary["skipped"].values())
        layers = load(out)
        module = kcompat.load_model(whole)
        assert list(layers) == [n for n, m in module.named_modules() if isinstance(m, kcompat.layers.Layer)]
        for path, layer in layers.items():
            assert layer.get_config() == module.get_submodule(path).get_config(), path


@pytest.mark.parametrize("api,layout", [("keras", "dcgan"), ("tf_keras", "dcgan"), ("keras", "cvae")])
def test_a_tutorial_checkpoint_with_its_models_config(oracle, tmp_path, capsys, api, layout):
    """The tutorials' checkpoint (a generator, a discriminator, their Adam state) with --config
    generator.json: the generator's state dict; the other model's variables and the optimizer's
    counted as left out."""
    ref = oracle.run(tf_fixtures.save_object_checkpoint, reference=api, layout=layout, directory=str(tmp_path))
    name = "generator" if layout == "dcgan" else "model"
    out = str(tmp_path / "g.safetensors")
    assert main([ref["prefix"], out, "--config", ref["configs"][name], "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = _state_of(kcompat.load_model(ref["configs"][name], weights=ref["prefix"]))
    state = _read(out)
    assert list(state) == list(expected) and all(torch.equal(state[k], expected[k]) for k in state)
    assert summary["tensors_in_file"] == summary["written"] + sum(summary["skipped"].values())
    if layout == "dcgan":
        assert summary["skipped"]["not in the model"] == 2  # the discriminator's kernel and bias
    assert summary["skipped"]["optimizer state"] > 0


def test_a_config_that_does_not_fit_the_weights_fails_in_one_line(oracle, tmp_path, capsys):
    directory = tmp_path / "misfits"
    oracle.run(tf_fixtures.save_models_that_do_not_fit, directory=str(directory))
    out = str(tmp_path / "o.safetensors")
    _fails(capsys, [str(directory / "wide.weights.h5"), out, "--config", str(directory / "narrow.json")],
           "does not fit the model (2 problems): layer 'fc': Layer fc weight shape mismatch")
    _no_output_left(tmp_path, out)
    _fails(capsys, [str(directory / "wide.weights.h5"), out, "--config", str(tmp_path / "none.json")],
           "--config: ")


@pytest.mark.parametrize("api,name", [(api, name) for api, name in CASES if name != "model.h5" and name != "model.keras"])
def test_every_weights_format_with_the_config_converts_to_one_scheme(saved, tmp_path, api, name):
    """Weights-only files (v3 .weights.h5, Keras 2's HDF5 weights, a model-rooted TF2 checkpoint
    from model.save_weights) with the config they were saved from (here the whole-model .h5): the
    same keys and values as load_model's module; load_model itself reads each as weights=."""
    files = saved[api]["files"]
    config = files["model.h5"]
    expected = _state_of(kcompat.load_model(config))
    out = str(tmp_path / "w.safetensors")
    summary = convert(files[name], out, config=config)
    state = _read(out)
    assert list(state) == list(expected) and all(torch.equal(state[k], expected[k]) for k in state)
    assert summary["tensors_in_file"] == summary["written"] + sum(summary["skipped"].values())
    loaded = _state_of(kcompat.load_model(config, weights=files[name]))
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
