"""Hostile model files: nothing in a file runs, nothing is lost, nothing is half-written.

Small real models (Keras 3 ``.keras``; tf_keras ``model.json`` + ``.weights.h5``) are mutated in
pure Python as an attacker would: names (layers, nested layers and models, the model, its input)
from an adversarial table and a seeded generator, dtype strings, numbers (inf, nan, huge),
broken structure, lying sizes, hostile file names. On each, ``load_model`` loads or refuses in
one line that names the file; ``kcompat-port`` writes a file that holds only the template's
node kinds, imports under an audit hook that sees no file, process or network action, and is
``load_model``'s module (state dict and outputs), or refuses in one line and writes nothing.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

import kcompat
from kcompat.convert import cli as convert_cli
from kcompat.models import cli as port_cli

import tf_fixtures
from ported import import_file

# The node kinds kcompat-port's template uses: written out here, apart from the generator's own list.
TEMPLATE_NODES = {"Module", "Expr", "Constant", "Import", "alias", "Assign", "Name", "Load", "Store", "Attribute",
                  "Call", "keyword", "ClassDef", "FunctionDef", "arguments", "arg", "Return", "If", "Compare",
                  "IsNot", "NotEq", "BoolOp", "And", "UnaryOp", "USub", "Try", "With", "withitem", "Subscript", "Tuple",
                  "List", "Dict"}
PWNED = "KCOMPAT_PWNED"  # a file the hostile strings try to create
HOSTILE = [
    f'x"""; import os; open("{PWNED}", "w"); """',
    f"x'''; import os; open('{PWNED}', 'w'); '''",
    f"'; import os; open('{PWNED}', 'w'); '",
    f'a\nimport os\nopen("{PWNED}", "w")\n#',
    f"a\r__import__('os').system('touch {PWNED}')",
    "a\\", '\\"""', "a\u2028b", "a\x85b", "{x}", "%(x)s", "{0.__class__}",
    "ｐ", "ｓｅｌｆ", "ｔｒａｉｎ", "½", "é", "\u202eevil", "🙂", "Ⅻ", "ﬁ",
    "train", "graph", "training", "_parameters", "__class__", "__init__", "_modules", "forward", "double",
    "class", "None", "True", "lambda", "self", "torch", "kcompat", "os", "WEIGHTS", "load", "SOURCE", "keras_name",
    "weight_problems", "super", "float", "1abc", "a.b", "a b", "-", "x" * 3000, "", "a/b", "\x00", "\t",
]


def _generated_strings(seed, count=24):
    """Random names from the pieces that break source code, identifiers and file formats."""
    pieces = ['"', "'", "\\", "\n", "\r", "#", "{", "}", "(", ")", ";", " ", ".", "/", "ｐ", "p", "_", "__", "é", "½",
              "\u2028", "0", "1", "a", "Z", "import ", "os", "self", "train", "ｓ", "\t", "\x0c", "\u00a0", "%", ":",
              ",", "=", '"""', "'''", "lambda", "\x85", "𝔵", "ᵃ", "\u0301"]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


SEED = int(os.environ.get("KCOMPAT_HOSTILE_SEED", "20261207"))
NAMES = HOSTILE + _generated_strings(SEED, int(os.environ.get("KCOMPAT_HOSTILE_COUNT", "24")))


@pytest.fixture(scope="module")
def bases(oracle, tmp_path_factory):
    files = oracle.run(tf_fixtures.save_hostile_bases, directory=str(tmp_path_factory.mktemp("hostile-bases")))
    out = tmp_path_factory.mktemp("template") / "plain.py"
    kcompat.models.port(files["keras"], out)
    TEMPLATE_DOCS.update(_check_source(out.read_text()))
    return files


# ------------------------------------------------------------------- mutations
def _rename(structure, renames):
    """Every string equal to a key of ``renames`` replaced (the bases' names are distinctive)."""
    if isinstance(structure, str):
        return renames.get(structure, structure)
    if isinstance(structure, list):
        return [_rename(v, renames) for v in structure]
    if isinstance(structure, dict):
        return {_rename(k, renames): _rename(v, renames) for k, v in structure.items()}
    return structure


def _read_config(bases, kind):
    if kind == "keras":
        with zipfile.ZipFile(bases["keras"]) as z:
            return json.loads(z.read("config.json"))
    if kind == "h5":
        import h5py

        with h5py.File(bases["h5"]) as f:
            config = f.attrs["model_config"]
            return json.loads(config.decode() if isinstance(config, bytes) else config)
    with open(bases["json"]) as f:
        return json.load(f)


def _write(bases, kind, config, directory, renames=None, name=None):
    """The mutated model file(s): ``(path, weights or None)``. A ``.keras`` archive's weights carry
    each layer's name too: renamed there as well."""
    import h5py

    os.makedirs(directory, exist_ok=True)
    text = json.dumps(config)
    if kind == "keras":
        path = os.path.join(directory, name or "model.keras")
        weights = os.path.join(directory, ".weights.h5")
        with zipfile.ZipFile(bases["keras"]) as z:
            members = {n: z.read(n) for n in z.namelist()}
        with open(weights, "wb") as f:
            f.write(members["model.weights.h5"])
        with h5py.File(weights, "a") as f:
            def visit(_, obj):
                value = obj.attrs.get("name")
                if isinstance(value, (str, bytes)) and (value.decode() if isinstance(value, bytes) else value) in (
                        renames or {}):
                    new = renames[value.decode() if isinstance(value, bytes) else value]
                    try:
                        obj.attrs["name"] = new
                    except (ValueError, TypeError):  # a name h5py cannot hold (NUL): the file keeps the old
                        pass
            f["vars"].attrs["name"] = renames.get("hostile_base", "hostile_base") if renames and "\x00" not in \
                renames.get("hostile_base", "") else f["vars"].attrs["name"]
            f.visititems(visit)
        with open(weights, "rb") as f:
            members["model.weights.h5"] = f.read()
        os.unlink(weights)
        members["config.json"] = text.encode()
        with zipfile.ZipFile(path, "w") as z:
            for member, data in members.items():
                z.writestr(member, data)
        return path, None
    if kind == "h5":
        return _write_h5(bases["h5"], os.path.join(directory, name or "model.h5"), text, renames or {}), None
    path = os.path.join(directory, name or "model.json")
    with open(path, "w") as f:
        f.write(text)
    return path, bases["weights"]


def _write_h5(base, path, text, renames):
    """Keras 2's whole-model HDF5 with the layers renamed: its groups, ``layer_names`` and
    ``weight_names`` (``<layer>/<weight>:0``) follow the config, as tf_keras writes them."""
    import h5py

    def decode(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    with h5py.File(base) as old, h5py.File(path, "w") as new:
        for key in ("backend", "keras_version"):
            new.attrs[key] = old.attrs[key]
        new.attrs["model_config"] = text
        weights, out = old["model_weights"], new.create_group("model_weights")
        for key in ("backend", "keras_version"):
            out.attrs[key] = weights.attrs[key]
        names = [decode(n) for n in weights.attrs["layer_names"]]
        out.attrs["layer_names"] = [renames.get(n, n).encode() for n in names]
        for layer in names:
            group = out.create_group(renames.get(layer, layer))
            weight_names = [decode(n) for n in weights[layer].attrs["weight_names"]]
            renamed = ["/".join([renames.get(p, p) for p in w.split("/")[:-1]] + [w.split("/")[-1]])
                       for w in weight_names]
            group.attrs["weight_names"] = [w.encode() for w in renamed]
            for w, r in zip(weight_names, renamed):
                group[r] = weights[layer][w][()]
    return path


def _renames(text):
    """Every kind of name set to ``text`` (top-level names kept distinct from one another)."""
    return {"conv_a": text, "act_c": text + "_", "image_in": text + "i", "block_model": text + "m",
            "conv_b": text, "hostile_base": text}


# ------------------------------------------------------------------- checks
def _one_line_error(exc_or_text, path):
    text = str(exc_or_text)
    assert len(text.splitlines()) == 1, f"a multi-line error: {text!r}"
    assert "Traceback" not in text and "a kcompat bug" not in text, text
    assert os.path.basename(str(path)) in text or str(path) in text, f"the error does not name the file: {text!r}"


def _docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body and isinstance(
                node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            yield node.body[0].value.value


def _doc_shape(doc):
    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", "ID", doc)


TEMPLATE_DOCS = set()  # the docstrings' shapes in the port of the unmodified file (identifiers as ID)


def _check_source(source):
    """Only the template's node kinds and imports; every docstring one of the template's (its
    identifiers aside: no string of the file); every identifier ASCII."""
    tree = ast.parse(source)
    kinds = {type(node).__name__ for node in ast.walk(tree)}
    assert kinds <= TEMPLATE_NODES, kinds - TEMPLATE_NODES
    docs = {_doc_shape(doc) for doc in _docstrings(tree)}
    if TEMPLATE_DOCS:
        assert docs <= TEMPLATE_DOCS, docs - TEMPLATE_DOCS
    for node in ast.walk(tree):
        for name in (getattr(node, "id", None), getattr(node, "attr", None), getattr(node, "arg", None)):
            assert name is None or name.isascii(), name
    assert {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names} == {
        "os", "torch", "kcompat"}
    return docs


def _same_module(generated, loaded):
    assert list(generated.state_dict()) == list(loaded.state_dict())
    for (key, a), b in zip(generated.state_dict().items(), loaded.state_dict().values()):
        assert a.equal(b) or (a.isnan().any() and torch.equal(a.nan_to_num(), b.nan_to_num())), key
    x = torch.randn(2, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ys = generated.eval()(x), loaded.eval()(x)
    np.testing.assert_allclose(ys[0].numpy(), ys[1].numpy(), rtol=1e-6, atol=1e-6, equal_nan=True)


AUDIT = textwrap.dedent("""
    import json, sys
    import os, torch, kcompat, kcompat.convert  # what the generated file imports, before the hook
    WATCHED = ("open", "os.", "subprocess.", "socket.", "shutil.", "ctypes.", "compile", "exec", "import",
               "builtins.input", "urllib.", "http.", "webbrowser.", "pickle.", "marshal.", "sys.settrace",
               "code.", "winreg.", "glob.", "pathlib.", "tempfile.")
    seen, active = [], [False]

    def hook(event, args):
        if active[0] and event.startswith(WATCHED):
            seen.append([event, repr(args)[:200]])

    codes = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            codes[path] = compile(f.read(), path, "exec")
    sys.addaudithook(hook)
    report = {}
    for path, code in codes.items():
        seen.clear()
        namespace = {"__name__": "generated", "__file__": path}
        active[0] = True
        try:
            exec(code, namespace)
        finally:
            active[0] = False
        events = [e for e in seen if not (e[0] == "exec" and e is seen[0]) and not (
            e[0] == "import" and e[1].split("'")[1] in ("os", "torch", "kcompat"))]
        report[path] = events
    print(json.dumps(report))
""")


def _audit(paths):
    """``{path: events}``: what importing each generated file did, under an audit hook (a fresh process)."""
    if not paths:
        return {}
    done = subprocess.run([sys.executable, "-c", AUDIT, *paths], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _port(path, weights, out, capsys):
    argv = [path, str(out), "--quiet"] + (["--weights", weights] if weights else [])
    code = port_cli.main(argv)
    return code, capsys.readouterr().err


def _case(bases, kind, config, directory, capsys, renames=None, name=None):
    """One hostile file through load_model, kcompat-port, kcompat-convert --config and convert.load:
    ``("loaded", generated path)`` or ``("refused", message)``. Asserts the contract on the way."""
    path, weights = _write(bases, kind, config, directory, renames, name)
    out_dir = os.path.join(directory, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "ported.py")
    try:
        loaded = kcompat.load_model(path, weights=weights)
    except ValueError as exc:
        _one_line_error(exc, path)
        code, err = _port(path, weights, out, capsys)
        assert code == 1 and err.startswith("kcompat-port: error: ") and len(err.splitlines()) == 1, err
        assert "a kcompat bug" not in err, err
        assert os.listdir(out_dir) == [], os.listdir(out_dir)
        argv = ([weights, os.path.join(out_dir, "c.safetensors"), "--config", path] if weights else
                [path, os.path.join(out_dir, "c.safetensors")])
        assert convert_cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("kcompat-convert: error: ") and len(err.splitlines()) == 1, err
        assert "a kcompat bug" not in err, err
        assert os.listdir(out_dir) == []
        if kind in ("keras", "h5"):  # the layers of a whole-model file
            with pytest.raises(ValueError) as refused:
                kcompat.convert.load(path)
            _one_line_error(refused.value, path)
        return "refused", str(exc)
    code, err = _port(path, weights, out, capsys)
    assert code == 0, err
    with open(out, encoding="utf-8") as f:
        source = f.read()
    _check_source(source)
    assert sorted(os.listdir(out_dir)) == ["ported.py", "ported.safetensors"]
    generated = import_file(out)
    assert all(not p.is_meta for p in generated.load().parameters())
    _same_module(generated.load(), loaded)
    assert generated.load().state_dict().keys() == loaded.state_dict().keys()
    return "loaded", out


@pytest.mark.parametrize("kind", ["keras", "tf_keras", "h5"])
def test_hostile_names_never_run_and_port_exactly(bases, kind, tmp_path, capsys):
    """Every name of the table and of the seeded generator, in every position a name takes; in
    Keras 3 archives, tf_keras JSON + weights, and tf_keras whole-model HDF5 (where an HDF5
    group cannot hold the name, NUL or an empty path part, the case is left out: tf_keras could
    not write it)."""
    base = _read_config(bases, kind)
    outcomes, generated = {}, []
    for i, text in enumerate(NAMES):
        if kind == "h5" and ("\x00" in text or text in ("", ".") or text.startswith("/") or "//" in text
                             or text.endswith("/")):
            continue
        renames = _renames(text)
        outcome, detail = _case(bases, kind, _rename(base, renames), str(tmp_path / str(i)), capsys, renames)
        outcomes[text] = outcome
        if outcome == "loaded":
            generated.append(detail)
    assert not os.path.exists(PWNED) and not os.path.exists(tmp_path / PWNED)
    events = _audit(generated)
    assert all(not e for e in events.values()), {p: e for p, e in events.items() if e}
    loaded = [t for t, o in outcomes.items() if o == "loaded"]
    refused = sorted({repr(t)[:40] for t, o in outcomes.items() if o == "refused"})
    # what a name may not be: empty; holding '/' in a Keras 3 file (Keras 3's rule; tf.keras allowed it)
    assert {t for t, o in outcomes.items() if o == "refused"} == {
        t for t in outcomes if not t or ("/" in t and kind == "keras")}, refused
    print(f"{kind}, seed {SEED}: {len(loaded)} of {len(outcomes)} hostile names loaded and ported, refused: {refused}")


def test_names_python_folds_together_stay_apart(bases, tmp_path, capsys):
    """``ｐ`` and ``p`` (NFKC folds one into the other in Python source), ``ｓｅｌｆ`` beside ``self_``."""
    base = _read_config(bases, "keras")
    for a, b in (("ｐ", "p"), ("ｓｅｌｆ", "self_"), ("ﬁ", "fi"), ("Ⅻ", "XII")):
        renames = {"conv_a": a, "act_c": b}
        outcome, out = _case(bases, "keras", _rename(base, renames), str(tmp_path / a), capsys, renames)
        assert outcome == "loaded"  # and the port is load_model's module, outputs included (in _case)
        children = {getattr(m, "name", None): n for n, m in import_file(out).load().named_children()}
        assert a in children and b in children and children[a] != children[b] and children[b] == b


def test_a_layer_named_as_a_module_attribute_keeps_its_keras_name(bases, tmp_path):
    base = _read_config(bases, "keras")
    for name in ("train", "training", "_parameters", "graph", "__class__"):
        path, _ = _write(bases, "keras", _rename(base, {"conv_a": name}), str(tmp_path / name.strip("_")),
                         {"conv_a": name})
        model = kcompat.load_model(path)
        layer = next(m for m in model.children() if getattr(m, "name", None) == name)
        attribute = next(n for n, m in model.named_children() if m is layer)
        assert attribute != name and attribute.isidentifier() and attribute.isascii()
        assert callable(model.train) and model.training in (True, False)  # the Module's own attributes intact


@pytest.mark.parametrize("edit,expected", [
    ({"dtype": "float32)); import os; (torch.zeros(1"}, "is not a dtype kcompat knows"),
    ({"dtype": "string"}, "is not a dtype kcompat knows"),
    ({"dtype": "float33"}, "is not a dtype kcompat knows"),
    ({"dtype": 7}, "is not a dtype kcompat knows"),
    ({"dtype": {"class_name": "DTypePolicy", "config": {"name": "x; import os"}}}, "is not a dtype kcompat knows"),
    ({"batch_shape": [None, -5, 8, 3]}, "is not a list of sizes"),
    ({"batch_shape": [None, "8", 8, 3]}, "is not a list of sizes"),
    ({"batch_shape": [None, 8.5, 8, 3]}, "is not a list of sizes"),
])
@pytest.mark.parametrize("kind", ["keras", "tf_keras"])
def test_hostile_inputs_are_refused_in_one_line(bases, kind, tmp_path, capsys, edit, expected):
    config = copy.deepcopy(_read_config(bases, kind))
    layer = config["config"]["layers"][0]["config"]
    if kind == "tf_keras" and "batch_shape" in edit:
        edit = {"batch_input_shape": edit["batch_shape"]}
    layer.update(edit)
    outcome, message = _case(bases, kind, config, str(tmp_path), capsys)
    assert outcome == "refused" and expected in message, message


@pytest.mark.parametrize("key", ["dtype", "padding", "data_format", "activation", "kernel_initializer",
                                 "kernel_regularizer", "kernel_constraint"])
@pytest.mark.parametrize("kind", ["keras", "tf_keras"])
def test_hostile_enum_values_are_refused_in_one_line(bases, kind, tmp_path, capsys, key):
    """A dtype, padding, data format, activation, initializer... that is code: refused by the layer's
    own checks (Keras's words), never written into the port."""
    for i, value in enumerate([f"float32)); open('{PWNED}', 'w'); (torch.zeros(1", "same'); import os; ('",
                               {"class_name": "os.system", "config": {"command": "true"}},
                               {"module": "keras.initializers", "class_name": "__class__", "config": {}},
                               {"module": "keras.initializers", "class_name": "Zeros", "config": {"x) or (y": 1}}]):
        config = copy.deepcopy(_read_config(bases, kind))
        _layer(config, "conv_a")["config"][key] = value
        outcome, message = _case(bases, kind, config, str(tmp_path / str(i)), capsys)
        assert outcome == "refused", (key, value)
    assert not os.path.exists(PWNED)


def _layer(config, name):
    for layer in config["config"]["layers"]:
        if layer["config"].get("name") == name:
            return layer
        if "layers" in layer["config"]:
            for inner in layer["config"]["layers"]:
                if inner["config"].get("name") == name:
                    return inner
    raise KeyError(name)


def _slope(kind):
    return "negative_slope" if kind == "keras" else "alpha"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, -0.0, 5e-324])
@pytest.mark.parametrize("kind", ["keras", "tf_keras"])
def test_numbers_without_a_literal_port_exactly(bases, kind, tmp_path, capsys, value):
    config = copy.deepcopy(_read_config(bases, kind))
    _layer(config, "act_c")["config"][_slope(kind)] = value
    outcome, out = _case(bases, kind, config, str(tmp_path), capsys)
    assert outcome == "loaded"
    layer = import_file(out).load().act_c
    assert layer.negative_slope == value or (value != value and layer.negative_slope != layer.negative_slope)


@pytest.mark.parametrize("mutate,expected", [
    (lambda c: c["config"].update(input_layers=5), "input_layers"),
    (lambda c: c["config"].update(output_layers={"a": 1}), "output_layers"),
    (lambda c: c["config"]["layers"].__setitem__(1, ["Conv2D", {}]), "layer config"),
    (lambda c: c["config"]["layers"][1].update(config=[1, 2]), "layer config"),
    (lambda c: c["config"]["layers"][1].update(inbound_nodes=5), "inbound_nodes must be a list"),
    (lambda c: (c["config"]["layers"][1]["config"].update(name=None), c["config"]["layers"][1].update(name=None)),
     "without a name"),
    (lambda c: c["config"]["layers"].append(copy.deepcopy(c["config"]["layers"][1])),
     'The name "conv_a" is used 2 times in the model. All layer names should be unique.'),
    (lambda c: _layer(c, "act_c")["config"].update(name="conv_a"), "is used 2 times in the model"),
    (lambda c: c.update(config=[]), "has no list of `layers`"),
    (lambda c: c["config"].update(layers=None), "has no list of `layers`"),
])
@pytest.mark.parametrize("kind", ["keras", "tf_keras"])
def test_broken_structure_is_refused_in_one_line(bases, kind, tmp_path, capsys, mutate, expected):
    config = copy.deepcopy(_read_config(bases, kind))
    if kind == "tf_keras" and expected == "is used 2 times in the model":
        _layer(config, "act_c")["config"]["name"] = "conv_a"
    else:
        mutate(config)
    outcome, message = _case(bases, kind, config, str(tmp_path), capsys)
    assert outcome == "refused" and expected in message, message


@pytest.mark.parametrize("kind", ["keras", "tf_keras"])
def test_bad_tensor_references_are_refused_in_one_line(bases, kind, tmp_path, capsys):
    for i, bad in enumerate((["conv_a", "x", 0], ["conv_a", 0, -1], ["conv_a", True, 0], ["nowhere", 0, 0],
                             ["conv_a", 7, 0])):
        config = copy.deepcopy(_read_config(bases, kind))
        node = _layer(config, "act_c")["inbound_nodes"][0]
        if kind == "keras":
            node["args"][0]["config"]["keras_history"] = bad
        else:
            node[0][:3] = bad
        outcome, message = _case(bases, kind, config, str(tmp_path / str(i)), capsys)
        assert outcome == "refused", bad


@pytest.mark.parametrize("name", [f'x"""y{PWNED}.keras', "a'b.keras", "new\nline.keras", "é½ｐ.keras",
                                  "-rf.keras", "a b.keras"])
def test_hostile_file_names(bases, tmp_path, capsys, name):
    outcome, out = _case(bases, "keras", _read_config(bases, "keras"), str(tmp_path), capsys, name=name)
    assert outcome == "loaded"
    assert import_file(out).SOURCE == name


# ------------------------------------------------------------------- sizes
MEASURE = textwrap.dedent("""
    import resource, sys, time, warnings
    import kcompat, torch
    start = time.perf_counter()
    outcome = "loaded"
    try:
        if sys.argv[1] == "port":
            from kcompat.models import port
            port(sys.argv[2], sys.argv[3])
            import importlib.util
            spec = importlib.util.spec_from_file_location("ported", sys.argv[3])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = next(v for k, v in vars(module).items() if isinstance(v, type) and k != "torch")
            model = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]()
            assert all(not p.is_meta for p in model.parameters()) and list(model.parameters())
        else:
            kcompat.load_model(sys.argv[2])
    except ValueError as exc:
        outcome = "refused: " + str(exc)
    print(outcome.replace(chr(10), " "))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, time.perf_counter() - start)
""")


def _measure(*argv):
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome, figures = done.stdout.strip().splitlines()[-2:]
    peak, seconds = figures.split()
    return outcome, int(peak), float(seconds)


def _input_shape(config, kind, shape):
    layer = config["config"]["layers"][0]["config"]
    layer["batch_shape" if kind == "keras" else "batch_input_shape"] = shape


def test_hostile_sizes_cost_memory_for_the_weights_only(bases, tmp_path):
    """A declared 4000x4000 input or one of 10^6 x 10^6, a Dense of 600000 units and a kernel of
    10^5 x 10^5 the weights do not have: peak memory within 256 MB of loading the plain file."""
    config = _read_config(bases, "keras")
    _, base_peak, _ = _measure("load", bases["keras"])
    cases = {}
    big = copy.deepcopy(config)
    _input_shape(big, "keras", [None, 4000, 4000, 3])
    cases["input 4000x4000x3"] = (big, "loaded")
    huge = copy.deepcopy(config)
    _input_shape(huge, "keras", [None, 10 ** 6, 10 ** 6, 3])
    cases["input 10^6 x 10^6 x 3"] = (huge, "loaded")
    unknown = copy.deepcopy(config)
    _input_shape(unknown, "keras", [None, None, None, 3])
    cases["input of unknown size"] = (unknown, "loaded")
    wide = copy.deepcopy(config)
    _layer(wide, "dense_g")["config"]["units"] = 600000
    cases["Dense(600000) the file does not have"] = (wide, "refused")
    kernel = copy.deepcopy(config)
    _layer(kernel, "conv_a")["config"]["kernel_size"] = [100000, 100000]
    cases["a 10^5 x 10^5 kernel the file does not have"] = (kernel, "refused")
    report = []
    for i, (label, (mutated, expected)) in enumerate(cases.items()):
        path, _ = _write(bases, "keras", mutated, str(tmp_path / str(i)))
        outcome, peak, seconds = _measure("load", path)
        report.append(f"{label}: {outcome[:60]}, peak {peak / 2**20:.0f} MB (plain file {base_peak / 2**20:.0f} MB), "
                      f"{seconds:.1f} s")
        assert outcome.startswith(expected), outcome
        assert peak < base_peak + 256 * 2**20 and seconds < 60, report[-1]
        if expected == "loaded":
            outcome, peak, seconds = _measure("port", path, str(tmp_path / str(i) / "ported.py"))
            assert outcome == "loaded" and peak < base_peak + 256 * 2**20, (outcome, peak)
    print("\n".join(report))


def test_the_port_of_a_model_of_unknown_size_has_its_parameters_at_construction(bases, tmp_path, capsys):
    config = copy.deepcopy(_read_config(bases, "keras"))
    _input_shape(config, "keras", [None, None, None, 3])
    outcome, out = _case(bases, "keras", config, str(tmp_path), capsys)
    assert outcome == "loaded"
    module = import_file(out)
    fresh = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]()
    loaded = module.load()
    assert [(k, v.shape) for k, v in fresh.state_dict().items()] == [(k, v.shape) for k, v in loaded.state_dict().items()]
    torch.optim.SGD(fresh.parameters(), lr=0.1)  # parameters exist before any forward pass


# ------------------------------------------------------------------- weights that do not fit
def test_strict_false_returns_and_warns_what_does_not_fit(bases, tmp_path):
    config = copy.deepcopy(_read_config(bases, "tf_keras"))
    _layer(config, "dense_g")["config"]["units"] = 5
    path, weights = _write(bases, "tf_keras", config, str(tmp_path))
    with pytest.raises(ValueError, match=r"does not fit the model \(1 problem\): layer 'dense_g'"):
        kcompat.load_model(path, weights=weights)
    with pytest.warns(UserWarning, match=r"layer 'dense_g'.*strict=False keeps the initializers' values"):
        model = kcompat.load_model(path, weights=weights, strict=False)
    problems = model.weight_problems
    assert problems.missing == [] and problems.unexpected == [] and len(problems.mismatched) == 1
    assert "dense_g" in problems.mismatched[0] and "expected (2, 5)" in problems.mismatched[0]
    assert model.dense_g.kernel.shape == (2, 5) or tuple(model.dense_g.get_weights()[0].shape) == (2, 5)
    reference = kcompat.load_model(bases["json"], weights=bases["weights"])
    assert torch.equal(model.conv_a.weight, reference.conv_a.weight)  # what fits is loaded


# ------------------------------------------------------------------- inputs and outputs
def _refuses_to_overwrite(argv, protected, capsys):
    before = {p: open(p, "rb").read() for p in protected}
    for extra in ([], ["--force"]):
        assert port_cli.main([*argv, *extra]) == 1
        err = capsys.readouterr().err
        assert "is an input of this kcompat-port run" in err and err.count("\n") == 1, err
        assert {p: open(p, "rb").read() for p in protected} == before


def test_kcompat_port_never_writes_over_its_inputs(bases, tmp_path, capsys):
    same = tmp_path / "same.py"
    shutil.copy(bases["keras"], same)
    _refuses_to_overwrite([str(same), str(same)], [same], capsys)
    out = tmp_path / "OUT.safetensors"
    shutil.copy(bases["keras"], out)
    _refuses_to_overwrite([str(out), str(tmp_path / "OUT.py")], [out], capsys)
    weights = tmp_path / "W.safetensors"
    shutil.copy(bases["weights"], weights)
    _refuses_to_overwrite([bases["json"], str(tmp_path / "W.py"), "--weights", str(weights)], [weights], capsys)
    link = tmp_path / "link.py"
    link.symlink_to(same)
    _refuses_to_overwrite([str(same), str(link)], [same], capsys)
    hard = tmp_path / "hard.py"
    os.link(same, hard)
    _refuses_to_overwrite([str(same), str(hard)], [same], capsys)
    weights_link = tmp_path / "L.safetensors"
    weights_link.symlink_to(bases["weights"])
    _refuses_to_overwrite([bases["json"], str(tmp_path / "L.py"), "--weights", bases["weights"]],
                          [bases["weights"]], capsys)


def _stop_at_the_second_rename(monkeypatch, exc):
    """The signal ``exc`` arrives as the second of two files is renamed into place."""
    from kcompat import _files

    real_publish, calls = _files.publish, []

    def publish(tmp, path):
        calls.append(path)
        if len(calls) == 2:
            raise exc()
        return real_publish(tmp, path)
    monkeypatch.setattr(_files, "publish", publish)


@pytest.mark.parametrize("where", ["weights", "source", "between renames"])
@pytest.mark.parametrize("signal_exception", ["KeyboardInterrupt", "Terminated"])
def test_a_signal_while_writing_leaves_both_files_or_neither(bases, tmp_path, capsys, monkeypatch, where,
                                                             signal_exception):
    """Ctrl-C or SIGTERM (as the runner raises it) while the weights are written, while the source
    is, or between the two renames: nothing of the new files stays, no temporary either."""
    from kcompat import _cli, _files
    from kcompat.convert import safetensors_io

    exc = KeyboardInterrupt if signal_exception == "KeyboardInterrupt" else _cli.Terminated
    if where == "weights":
        monkeypatch.setattr(safetensors_io, "write_state", lambda *a, **k: (_ for _ in ()).throw(exc()))
    elif where == "source":
        real = _files.temporary

        def temporary(path):
            if path.endswith(".py"):
                raise exc()
            return real(path)
        monkeypatch.setattr(_files, "temporary", temporary)
    else:
        _stop_at_the_second_rename(monkeypatch, exc)
    code = port_cli.main([bases["keras"], str(tmp_path / "gen.py")])
    assert code == (130 if exc is KeyboardInterrupt else 128 + signal.SIGTERM)
    assert "nothing written" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("signal_exception", ["KeyboardInterrupt", "Terminated"])
def test_a_signal_between_kcompat_converts_renames_leaves_neither_file(bases, tmp_path, capsys, monkeypatch,
                                                                       signal_exception):
    from kcompat import _cli

    exc = KeyboardInterrupt if signal_exception == "KeyboardInterrupt" else _cli.Terminated
    _stop_at_the_second_rename(monkeypatch, exc)
    assert convert_cli.main([bases["keras"], str(tmp_path / "w.safetensors")]) in (130, 128 + signal.SIGTERM)
    assert "nothing written" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("tool", ["kcompat.models.cli", "kcompat.convert.cli"])
def test_sigterm_and_sigint_on_the_commands(bases, tmp_path, tool):
    """The real signals at several moments of a run: exit 0 with both files, or neither and no temporary."""
    command = [sys.executable, "-c", f"import sys; from {tool} import main; sys.exit(main())"]
    outputs = ("gen.py", "gen.safetensors") if "models" in tool else ("gen.safetensors", "gen.safetensors.json")
    for i, (signum, delay) in enumerate((s, d) for s in (signal.SIGTERM, signal.SIGINT) for d in (1.0, 2.0, 3.0, 4.0)):
        directory = tmp_path / str(i)
        directory.mkdir()
        process = subprocess.Popen([*command, bases["keras"], str(directory / outputs[0])], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            process.wait(delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signum)
            process.wait(60)
        files = sorted(os.listdir(directory))
        assert files in ([], sorted(outputs)), (signum, delay, files)
        assert process.returncode != 0 or files, (process.returncode, files)  # a signal after the end: both stay
