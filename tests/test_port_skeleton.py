"""``kcompat-port`` on a model with layers kcompat does not have: it writes ``OUT_layers.py``, a
module with a class to write for each, and says how to port with it; filled in, the advice
works. Names from the file stay literals and checked identifiers; the skeleton is never
written over."""

from __future__ import annotations

import ast
import json
import os
import sys
import zipfile

import pytest
import torch

from kcompat.models import cli, codegen
from kcompat.testing.tolerance import assert_close

import tf_fixtures
from ported import import_file

FILLED = '''

def _lambda_init(self, config):
    torch.nn.Module.__init__(self)
    self.offset, self.factor = {"twice": (0.0, 2.0), "plus_one": (1.0, 1.0)}[config["name"]]


def _scale_init(self, config):
    torch.nn.Module.__init__(self)
    self.alpha = torch.nn.Parameter(torch.ones(3))
    self.beta = torch.nn.Parameter(torch.zeros(()))


Lambda.__init__ = _lambda_init
Lambda.forward = lambda self, x: x * self.factor + self.offset
Scale.__init__ = _scale_init
Scale.forward = lambda self, x: x * self.alpha + self.beta
'''


@pytest.fixture(scope="module")
def saved(oracle, tmp_path_factory):
    return oracle.run(tf_fixtures.save_custom_layers, directory=str(tmp_path_factory.mktemp("custom")))


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_skeleton_is_written_and_the_advice_works(saved, tmp_path, capsys, monkeypatch):
    out = tmp_path / "custom.py"
    code, _, err = _run([saved["path"], out], capsys)
    skeleton = tmp_path / "custom_layers.py"
    assert code == 1 and not out.exists() and skeleton.exists()
    assert err == (f"kcompat-port: error: {saved['path']}: kcompat does not reproduce 3 layers of this model: Lambda x2 "
                   "('twice', 'plus_one': its Python code is not in the file); Scale x1 ('scale'). Wrote "
                   f"{skeleton}, a class for each to write; then run kcompat-port custom.keras custom.py "
                   "--custom-objects custom_layers.py\n")
    source = skeleton.read_text()
    module = import_file(str(skeleton))
    assert list(module.CUSTOM_OBJECTS) == ["Lambda", "Scale"]
    assert module.Lambda.LAYERS == ("twice", "plus_one") and module.Scale.LAYERS == ("scale",)
    assert module.Scale.KERAS_CONFIG["name"] == "scale"
    assert [shape for _, shape in module.Scale.WEIGHTS] == [(3,), ()]
    assert module.COMMAND == "kcompat-port custom.keras custom.py --custom-objects custom_layers.py"
    with pytest.raises(NotImplementedError, match="Scale"):
        module.Scale({})

    skeleton.write_text(source + FILLED)  # the user writes the classes
    code, printed, err = _run([saved["path"], out, "--custom-objects", skeleton], capsys)
    assert code == 0, err
    monkeypatch.syspath_prepend(str(tmp_path))  # the generated file imports custom_layers beside it
    try:
        generated = import_file(str(out)).load()
    finally:
        sys.modules.pop("custom_layers", None)
    assert generated.scale.alpha.tolist() == [0.5, -1.0, 2.0]
    assert_close(generated(torch.tensor(saved["x"])).detach().numpy(), saved["y"], "float32", "filled-in port")


def test_a_config_with_weights_shows_the_weights_files_shapes(saved, tmp_path, capsys):
    """Where the model is a JSON config and ``--weights`` its weights, the skeleton lists what the
    weights file holds, and its command repeats ``--weights``."""
    directory = os.path.dirname(saved["path"])
    code, _, err = _run([os.path.join(directory, "custom.json"), tmp_path / "custom.py", "--weights",
                         os.path.join(directory, "custom.weights.h5")], capsys)
    assert code == 1 and "Wrote " in err
    module = import_file(str(tmp_path / "custom_layers.py"))
    assert [shape for _, shape in module.Scale.WEIGHTS] == [(3,), ()]
    assert module.COMMAND == ("kcompat-port custom.json custom.py --weights custom.weights.h5 --custom-objects "
                              "custom_layers.py")


def test_the_skeleton_is_never_written_over(saved, tmp_path, capsys):
    out = tmp_path / "custom.py"
    skeleton = tmp_path / "custom_layers.py"
    skeleton.write_text("# my work in progress\n")
    for extra in ([], ["--force"]):
        code, _, err = _run([saved["path"], out, *extra], capsys)
        assert code == 1 and f"{skeleton} exists (not overwritten): write these layers there, then run " in err
        assert skeleton.read_text() == "# my work in progress\n"


def test_no_skeleton_when_a_module_is_given(saved, tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("CUSTOM_OBJECTS = {'Scale': lambda config: None}\n")
    code, _, err = _run([saved["path"], tmp_path / "custom.py", "--custom-objects", mine], capsys)
    assert code == 1 and "Lambda x2" in err and "--custom-objects my_layers.py" in err
    assert not (tmp_path / "custom_layers.py").exists()


def _renamed(path, target, old, new):
    """A copy of the .keras file at ``path`` with layer class ``old`` named ``new`` in its config."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["class_name"] == old:
                        layer["class_name"] = new
                data = json.dumps(config).encode()
            copy.writestr(info, data)


@pytest.mark.parametrize("hostile", ["Sc'ale\"\"\"\nimport os", "__import__('os').system('x')", "class", "Ｓｃａｌｅ"])
def test_names_from_the_file_stay_literals(saved, tmp_path, capsys, hostile):
    model = tmp_path / "custom.keras"
    _renamed(saved["path"], model, "Scale", hostile)
    code, _, err = _run([model, tmp_path / "custom.py"], capsys)
    skeleton = tmp_path / "custom_layers.py"
    assert code == 1 and skeleton.exists() and err.count("\n") == 1
    source = skeleton.read_text()
    codegen.check_source(source, extra_nodes={"Raise"}, extra_names={"NotImplementedError"})
    tree = ast.parse(source)
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert all(name.isascii() and name.isidentifier() for name in classes)
    module = import_file(str(skeleton))
    assert hostile in module.CUSTOM_OBJECTS and module.CUSTOM_OBJECTS[hostile].KERAS_NAME == hostile
