"""The package's structure: no import circle, no module using another's private names, true ``__all__``."""

import ast
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = sorted(p for p in (ROOT / "kcompat").rglob("*.py"))


def _name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module, level, name, is_package):
    if not level:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(path):
    """``(module imported, names taken from it, at module level?)`` of one file, kcompat's only."""
    module, tree = _name(path), ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, node.level, node.module, path.name == "__init__.py")
            if source.split(".")[0] == "kcompat":
                found.append((source, [a.name for a in node.names], id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top) for a in node.names if a.name.split(".")[0] == "kcompat"]
    return found


def _is_module(name):
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_uses_another_modules_private_names(path):
    module = _name(path)
    aliases, private = {}, []
    for source, names, _ in _imports(path):
        for name in names:
            target = f"{source}.{name}"
            if _is_module(target):
                aliases[name] = target
            elif name.startswith("_") and not name.startswith("__") and source != module:
                private.append(f"from {source} import {name}")
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({(a.asname or a.name): a.name for a in node.names if a.name.startswith("kcompat")})
        elif isinstance(node, ast.ImportFrom):
            aliases.update({a.asname: aliases[a.name] for a in node.names if a.asname and a.name in aliases})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            private.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    assert not private, f"{module} uses private names of other modules: {private}"


def test_no_import_circle_at_module_level():
    graph = {}
    for path in MODULES:
        targets = set()
        for source, names, top in _imports(path):
            if top:
                targets |= {f"{source}.{n}" for n in names if _is_module(f"{source}.{n}")} | {source}
        graph[_name(path)] = targets - {_name(path)}
    # Importing a package's submodule runs the package's __init__ first, but a package that imports
    # its own submodules is not a circle: only edges into a non-ancestor count.
    def edges(module):
        return {t for t in graph.get(module, ()) if t in graph and not module.startswith(t + ".")}

    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        if state.get(module) == "open":
            circle = trail[trail.index(module):] + [module]
            raise AssertionError("import circle: " + " -> ".join(circle))
        state[module] = "open"
        for target in sorted(edges(module)):
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


PUBLIC = ["kcompat", "kcompat.activations", "kcompat.constraints", "kcompat.errors", "kcompat.functional",
          "kcompat.initializers", "kcompat.layers", "kcompat.layers.base", "kcompat.layers.activation",
          "kcompat.layers.conv", "kcompat.layers.core", "kcompat.layers.merging", "kcompat.layers.normalization",
          "kcompat.layers.pooling", "kcompat.layers.regularization", "kcompat.layers.reshaping", "kcompat.layers.separable",
          "kcompat.layouts", "kcompat.tf_nn",
          "kcompat.regularizers", "kcompat.shapes", "kcompat.compat.v1", "kcompat.compat.v1.base",
          "kcompat.compat.v1.layers", "kcompat.compat.v1.nn", "kcompat.compat.v1.ops", "kcompat.compat.v1.image",
          "kcompat.compat.v1.contrib", "kcompat.compat.v1.contrib.layers", "kcompat.compat.v1.tensor_shape",
          "kcompat.testing.tf1_parity",
          "kcompat.convert", "kcompat.harness", "kcompat.models", "kcompat.models.graph",
          "kcompat.models.module", "kcompat.models.loading",
          "kcompat.testing", "kcompat.testing.parity", "kcompat.testing.result", "kcompat.testing.tolerance",
          "kcompat.testing.tf_defects", "kcompat.testing.tf_oracle", "kcompat.testing.tf_calls",
          "kcompat.testing.tf_worker", "kcompat.testing.layer_parity", "kcompat.testing.model_parity",
          "kcompat.convert.converter", "kcompat.harness.grid"]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_names_exist_and_are_documented(name):
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip(), f"{name} has no docstring"
    for item in getattr(module, "__all__", ()):
        value = getattr(module, item)  # raises where __all__ lists a missing name
        if callable(value) and getattr(value, "__module__", "").startswith("kcompat"):
            assert value.__doc__, f"{name}.{item} has no docstring"


def test_ruff_finds_nothing():
    """The lint configuration in pyproject.toml ([tool.ruff]), as CI runs it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ruff", "check", "kcompat", "tests", "scripts"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", ["kcompat.load_model", "kcompat.optimize_for_inference",
                                  "kcompat.models.loading.load_model", "kcompat.inference.optimize_for_inference",
                                  "kcompat.models.codegen.port", "kcompat.convert.converter.convert",
                                  "kcompat.convert.converter.load", "kcompat.testing.parity.assert_parity",
                                  "kcompat.testing.model_parity.check_model_parity",
                                  "kcompat.testing.model_parity.assert_model_parity"])
def test_the_public_entry_points_are_annotated(path):
    """Every parameter and the return of the functions users call first carry a type a checker
    resolves (kcompat ships py.typed)."""
    import importlib
    import inspect
    import typing

    module, name = path.rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(function)
    parameters = [p for p in inspect.signature(function).parameters if p not in ("self",)]
    missing = [p for p in [*parameters, "return"] if p not in hints]
    assert not missing, f"{path}: no annotation for {missing}"


def test_the_readme_layout_names_every_module():
    """The README's code layout has a bullet per package directory, naming each of its modules."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Code layout, and adding a layer"):]
    bullets = {}
    for bullet in re.split(r"\n- ", section)[1:]:
        head = re.match(r"`(kcompat/[a-z0-9_/]*)`", bullet)
        if head:
            bullets[head.group(1)] = bullet
    missing = []
    for path in sorted((ROOT / "kcompat").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        directory = str(path.parent.relative_to(ROOT)) + "/"
        bullet = bullets.get(directory, "")
        if f"`{path.stem}`" not in bullet and f"`{path.name}`" not in bullet:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"README's code layout does not name: {missing}"


# The TF-side tooling: the library never imports it (only the commands and the harness do).
TOOLING = ("kcompat.testing", "kcompat.harness")
COMMANDS = ("kcompat.models.cli", "kcompat.convert.cli", "kcompat.harness")


@pytest.mark.parametrize("path", [p for p in MODULES if not _name(p).startswith(TOOLING + COMMANDS)], ids=_name)
def test_the_library_does_not_import_the_tf_side_tooling(path):
    found = [source for source, _, _ in _imports(path) if source.startswith(TOOLING)]
    assert not found, f"{_name(path)} imports {found}"


def test_every_layer_constructor_is_annotated():
    """Each declared layer's ``__init__`` (and its bases' up to ``Layer``) annotates every argument
    and its return, resolvable by ``typing.get_type_hints``."""
    import inspect
    import typing

    from kcompat.layers import KERAS_LAYERS, Layer

    missing = []
    for cls in {c for c in KERAS_LAYERS.values()}:
        for owner in cls.__mro__:
            if owner is Layer or not issubclass(owner, Layer) or "__init__" not in vars(owner):
                continue
            init = vars(owner)["__init__"]
            hints = typing.get_type_hints(init)
            for name, parameter in inspect.signature(init).parameters.items():
                if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) \
                        and name not in hints:
                    missing.append(f"{owner.__qualname__}({name})")
            if "return" not in hints:
                missing.append(f"{owner.__qualname__} -> None")
    assert not missing, sorted(set(missing))


def _package(module):
    """The unit the layering is judged in: a subpackage (``kcompat.models``) or a top-level module."""
    return ".".join(module.split(".")[:2])


def test_no_import_circle_between_packages():
    """Counting imports inside functions too: the packages form layers (formats below models
    below convert, ...). Left out: the facade ``kcompat`` (it re-exports everything, and
    ``kcompat-port``'s source is written against it) and the commands (``cli``, the harness),
    which sit on top of everything; and ``tf_ops``' loading of TF1's op modules to fill its table
    (``tf_op`` imports ``compat.v1``'s ``ops``/``nn``/``image`` on first use, as a plug-in is
    loaded: they declare their TF2 names with ``@tf_names`` and import the table's leaf module,
    never ``tf_ops``)."""
    plugin_loads = {("kcompat.tf_ops", "kcompat.compat")}
    graph = {}
    for path in MODULES:
        module = _name(path)
        if module.endswith(".cli") or module.startswith("kcompat.harness") or module == "kcompat":
            continue
        for source, names, _ in _imports(path):
            targets = {f"{source}.{n}" for n in names if _is_module(f"{source}.{n}")} or {source}
            for target in targets:
                if _package(target) not in ("kcompat", _package(module)) and (
                        module, _package(target)) not in plugin_loads:
                    graph.setdefault(_package(module), set()).add(_package(target))
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import circle: " + " -> ".join(trail[trail.index(node):] + [node])
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            visit(target, trail + [node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])
