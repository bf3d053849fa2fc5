"""``kcompat-port``: a Keras model file as plain PyTorch source the user owns, and its weights.

The source is one ``torch.nn.Module`` class per model (a nested model gets its own): the
``__init__`` builds kcompat's layer for each Keras layer, under the Keras name, with only the
arguments that differ from the layer's defaults (found by dropping each argument while the
layer's config and state stay the same, each try checked by running the constructor);
the ``forward`` calls them in graph order (:attr:`~.graph.Graph.order`), one line per call.
The weights are :func:`~.loading.load_model`'s ``state_dict()``, written as ``.safetensors``
beside the source; the generated ``load()`` reads them back. The generated module is
:func:`load_model`'s module, as code: same submodules, state dict, numbers and modes.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import os
import re
import textwrap
import warnings

import torch

from .._version import __version__
from .._files import refuse_input, write_together
from ..formats import input_files, safetensors_io
from ..layers import keras2_names, layer_class
from . import names
from .graph import TensorRef, call_training, refs
from .loading import custom_key, load_model

__all__ = ["TEMPLATE_NODES", "CustomObjects", "check_source", "literal", "port", "port_source"]

_SERIALIZED = {"keras.initializers": "initializers", "keras.regularizers": "regularizers",
               "keras.constraints": "constraints"}
WIDTH = 100  # the generated source's line length
_MODULE_ATTRIBUTES = set(vars(torch.nn.Module()))  # torch's own bookkeeping, not the layer's
_BUILD_ARGUMENTS = ("_input_shape_arg", "_in_channels_arg")  # how a layer was built, not what it computes
# Names the template itself uses at module level or in a method: no generated name may take them.
_RESERVED = frozenset({"self", "torch", "kcompat", "training", "mode", "os", "WEIGHTS", "SOURCE", "load", "weights",
                       "model", "super", "float", "bool"})


class _Call:
    """A constructor call in the generated source: a checked dotted path under ``kcompat``, and
    its arguments (literals or calls). ``value()`` makes the object itself, without any text."""

    def __init__(self, path, target, args=(), kwargs=None):
        self.path, self.target, self.args, self.kwargs = path, target, tuple(args), dict(kwargs or {})

    def value(self):
        return self.target(*(_value(a) for a in self.args), **{k: _value(v) for k, v in self.kwargs.items()})


def _value(item):
    """The object a rendered item stands for (a :class:`_Call` made, containers as they are)."""
    if isinstance(item, _Call):
        return item.value()
    if isinstance(item, tuple):
        return tuple(_value(v) for v in item)
    if isinstance(item, list):
        return [_value(v) for v in item]
    if isinstance(item, dict):
        return {k: _value(v) for k, v in item.items()}
    return item


def literal(value):
    """``value`` as Python source that can only evaluate to it: ``None``, bools, ints, floats
    (``float('inf')``/``float('nan')`` for the ones without a literal), strings (``repr``, which
    escapes every quote, backslash and unprintable character), tuples, lists, dicts of them, and
    :class:`_Call` s. Anything else is refused: a model file's content never becomes code."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if value != value:
            return "float('nan')"
        if value in (float("inf"), float("-inf")):
            return "float('inf')" if value > 0 else "-float('inf')"
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, _Call):
        parts = [literal(a) for a in value.args] + [f"{_keyword(k)}={literal(v)}" for k, v in value.kwargs.items()]
        return f"{value.path}({', '.join(parts)})"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write a {type(value).__name__} as a literal")


def _keyword(name):
    if not names.is_plain(name):
        raise ValueError(f"{name!r} cannot be a keyword argument")
    return name


def _normal(config):
    """A config in a form where lists and tuples compare equal."""
    return json.dumps(config, sort_keys=True, default=repr)


def _object_path(namespace, class_name, base):
    """``kcompat.<namespace>.<class_name>`` where that is a public subclass of ``base``, else ``None``."""
    import kcompat

    if not isinstance(class_name, str) or not names.is_plain(class_name) or class_name.startswith("_"):
        return None
    cls = getattr(getattr(kcompat, namespace), class_name, None)
    return cls if isinstance(cls, type) and issubclass(cls, base) else None


def _pretty(value):
    """A config value as what a user would write: a serialized initializer, regularizer or
    constraint as a call of its kcompat class, a dtype policy as its name, lists as tuples."""
    from ..serialization import KerasObject

    if isinstance(value, dict) and value.get("module") in _SERIALIZED:
        namespace = _SERIALIZED[value["module"]]
        cls = _object_path(namespace, value.get("class_name"), KerasObject)
        config = value.get("config") or {}
        if cls is not None and isinstance(config, dict) and all(names.is_plain(k) for k in config):
            kwargs = {k: _pretty(v) for k, v in config.items() if v is not None}
            return _Call(f"kcompat.{namespace}.{cls.__name__}", cls, kwargs=kwargs)
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        name = (value.get("config") or {}).get("name")
        if isinstance(name, str):
            return name
    if isinstance(value, list):
        return tuple(_pretty(v) for v in value)
    if isinstance(value, dict):
        return {k: _pretty(v) for k, v in value.items()}
    return value


def _class_path(cls):
    """The dotted name under which the generated source reaches ``cls``: ``kcompat.Dense``, else
    ``kcompat.layers.X``, else its own module's path, whichever leads to ``cls`` itself."""
    import kcompat

    for path in (f"kcompat.{cls.__name__}", f"kcompat.layers.{cls.__name__}", f"{cls.__module__}.{cls.__name__}"):
        target = kcompat
        for part in path.split(".")[1:]:
            target = getattr(target, part, None)
        if target is cls and path.startswith("kcompat.") and all(names.is_plain(p) for p in path.split(".")):
            return path
    raise ValueError(f"kcompat's {cls.__name__} cannot be reached from `import kcompat`")


def _call_parts(cls, kwargs):
    """``("kcompat.Dense", ["64", "use_bias=False", "name='fc'"])``: the required arguments by
    position, the name last."""
    required = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                if n != "self" and p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    positional = []
    for n in required:
        if n not in kwargs:
            break
        positional.append(n)
    keywords = [k for k in kwargs if k not in positional and k != "name"] + (["name"] if "name" in kwargs else [])
    return _class_path(cls), [literal(kwargs[n]) for n in positional] + [f"{_keyword(k)}={literal(kwargs[k])}"
                                                                         for k in keywords]


def _wrapped(prefix, head, parts, width=WIDTH):
    """``prefix + head(parts)`` on lines of at most ``width`` where it can: continued under the
    opening parenthesis, or (where that runs long) on lines of their own, indented once more."""
    line = f"{prefix}{head}("
    if len(line) + len(", ".join(parts)) + 1 <= width:
        return [f"{line}{', '.join(parts)})"]
    for first, indent in ((line, " " * len(line)), (None, " " * (len(prefix) - len(prefix.lstrip()) + 4))):
        lines, current = ([], first) if first is not None else ([line], indent)
        for i, part in enumerate(parts):
            piece = part + (", " if i < len(parts) - 1 else ")")
            if len(current) + len(piece.rstrip()) > width and current.strip() and not current.endswith("("):
                lines.append(current.rstrip())
                current = indent
            current += piece
        lines.append(current)
        if all(len(text) <= width for text in lines):
            break
    return lines


def _state(layer):
    """What makes the layer compute as it does: its config and every plain attribute it keeps
    (Keras 2's BatchNormalization semantics live in one, not in the config); how it was built
    (``in_channels=``/``input_shape=``) aside."""

    def plain(value):
        if isinstance(value, torch.Tensor):
            return ["tensor", list(value.shape), str(value.dtype)]
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if hasattr(value, "get_config"):
            return [type(value).__name__, plain(value.get_config())]
        if callable(value):
            return getattr(value, "__qualname__", type(value).__name__)
        return re.sub(r" at 0x[0-9a-f]+", "", repr(value))

    hidden = {k: plain(v) for k, v in vars(layer).items() if k not in _MODULE_ATTRIBUTES and k not in _BUILD_ARGUMENTS}
    return _normal([layer.get_config(), hidden])


def _construct(cls, kwargs):
    """The layer ``cls(**kwargs)`` makes (``kwargs`` as rendered: calls made), ``None`` where refused."""
    try:
        with warnings.catch_warnings():  # Keras 2's spellings (alpha=) warn on every try
            warnings.simplefilter("ignore")
            return cls(**{k: _value(v) for k, v in kwargs.items()})
    except (TypeError, ValueError):
        return None


def _same(cls, kwargs, target):
    layer = _construct(cls, kwargs)
    return layer is not None and _state(layer) == target


def _build_argument(cls, kwargs, built, input_shape):
    """The argument that builds the layer at construction as ``built`` is built (``in_channels=``,
    else Keras's ``input_shape=``), so that its parameters exist before an optimizer is made;
    ``{}`` where neither gives the same weights (the weights then build it at ``load_state_dict``)."""
    if not getattr(built, "WEIGHTS", ()) or not built.built:
        return {}
    target = _state(built)
    candidates = []
    if isinstance(getattr(built, "in_channels", None), int):  # a constructor without it refuses it: tried, dropped
        candidates.append({"in_channels": int(built.in_channels)})
    if isinstance(input_shape, tuple) and len(input_shape) > 1:
        candidates.append({"input_shape": tuple(input_shape[1:])})
    for extra in candidates:
        with torch.device("meta"):  # shapes only: no memory, no draws
            layer = _construct(cls, dict(kwargs, **extra))
        if layer is not None and _state(layer) == target:
            return extra
    return {}


def _constructor(spec, built):
    """``(head, parts)``: the shortest constructor call of kcompat's layer for ``spec`` that builds
    the same layer as ``built`` (load_model's), built at construction where that can be said."""
    cls = layer_class(spec.class_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = cls.from_config(dict(spec.config))
    target = _state(layer)
    kwargs = {k: _pretty(v) for k, v in layer._constructor_arguments().items()}
    if not all(names.is_plain(k) for k in kwargs) or not _same(cls, kwargs, target):
        config = _Call(f"{_class_path(cls)}.from_config", cls.from_config, args=(dict(spec.config),))
        if _state(config.value()) != target:
            raise ValueError(f"layer {spec.name!r} ({spec.class_name}): kcompat-port cannot write a call that builds "
                             "it from its config")
        return config.path, [literal(dict(spec.config))]
    for key in [k for k in kwargs if k != "name"]:  # drop what the defaults give anyway
        rest = {k: v for k, v in kwargs.items() if k != key}
        if _same(cls, rest, target):
            kwargs = rest
    for key, value in list(kwargs.items()):  # (3, 3) -> 3, as Keras users write it
        if isinstance(value, tuple) and value and all(v == value[0] for v in value) and isinstance(value[0], int):
            shorter = dict(kwargs, **{key: value[0]})
            if _same(cls, shorter, target):
                kwargs = shorter
    kwargs.update(_build_argument(cls, kwargs, built, spec.input_shape))
    return _call_parts(cls, kwargs)


def _identifier(name, taken):
    return names.identifier(name, taken, _RESERVED)


def _class_name(name, taken):
    text = "".join(part[:1].upper() + part[1:] for part in re.split(r"[\W_]", str(name)) if part) or "Model"
    return _identifier(text if not text[0].isdigit() else "Model" + text, taken)


def _render(structure, values):
    if isinstance(structure, TensorRef):
        if structure not in values:
            raise ValueError(f"layer {structure.layer!r}: output {structure.tensor} of its call {structure.node} is "
                             "used, but no call of the model makes it")
        return values[structure]
    if isinstance(structure, list):
        return "[" + ", ".join(_render(v, values) for v in structure) + "]"
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{literal(k)}: {_render(v, values)}" for k, v in structure.items()) + "}"
    return literal(structure)


class _Writer:
    """Collects the generated classes, nested models first."""

    def __init__(self, custom=None):
        self.classes = []  # source of each class, nested models' first
        self.class_names = set() if custom is None else {custom.name}  # _identifier keeps _RESERVED out
        self.by_graph = {}
        self.custom = custom

    def graph_class(self, model, modes):
        """The class name for ``model`` (a :class:`~.module.KerasModel`); ``modes``: whether a
        caller passes ``training=``."""
        graph = model.graph
        key = id(graph)
        if key in self.by_graph:
            return self.by_graph[key]
        name = _class_name(graph.name, self.class_names)  # before the nested ones: the model keeps its name
        self.by_graph[key] = name
        inits, taken = [], set()
        slashes = any("/" in spec.name for spec in graph.layers if spec.graph is None and spec.class_name != "InputLayer")
        indent = " " * (12 if slashes else 8)
        for spec in graph.layers:
            if spec.class_name == "InputLayer":
                continue
            sub = model._modules[spec.attr]
            if spec.graph is not None:
                called_with_mode = any(call_training(graph, c) is not None for c in spec.calls)
                inits.append(f"{indent}self.{spec.attr} = {self.graph_class(sub, called_with_mode)}()")
            elif self.custom is not None and custom_key(spec, self.custom.objects) is not None:  # the user's factory
                key = custom_key(spec, self.custom.objects)
                inits += _wrapped(f"{indent}self.{spec.attr} = ",
                                  f"{self.custom.name}.CUSTOM_OBJECTS[{literal(key)}]",
                                  [literal(dict(spec.config))])
            else:
                inits += _wrapped(f"{indent}self.{spec.attr} = ", *_constructor(spec, sub))
        if slashes:  # tf.keras's names: '/' allowed, as Keras 2 allowed it
            inits.insert(0, "        with kcompat.layers.keras2_names():  # tf.keras's layer names ('/')")
        args = ["x"] if graph.sequential else [_identifier(n, taken) for n in graph.input_names]
        lines = [f"class {name}(torch.nn.Module):",
                 '    """A Keras model as PyTorch (its Keras name: ``keras_name``): channels_last tensors in and',
                 '    out, as in Keras; train()/eval() are Keras\'s training=True/False."""', "",
                 f"    keras_name = {literal(graph.name)}", "",
                 "    def __init__(self):",
                 "        super().__init__()", *inits]
        signature = ", ".join(["self", *args] + (["training=None"] if modes else []))
        lines += ["", f"    def forward({signature}):"]
        if modes:
            lines += ["        if training is not None and bool(training) != self.training:  # this call's mode",
                      "            mode = self.training",
                      "            self.train(bool(training))",
                      "            try:",
                      f"                return self({', '.join(args)})",
                      "            finally:",
                      "                self.train(mode)"]
        lines += _forward_lines(graph, args, taken)
        self.classes.append("\n".join(lines))
        return name


def _outputs_of(graph):
    """``{(layer, node): count}`` for calls whose result is a list (a nested model's several
    outputs; an op's, as many as the graph uses)."""
    several = {}
    used = {}
    for spec in graph.layers:
        for call in spec.calls:
            for ref in refs([call.inputs, call.kwargs]):
                used[(ref.layer, ref.node)] = max(used.get((ref.layer, ref.node), 0), ref.tensor + 1)
    for ref in refs(graph.outputs):
        used[(ref.layer, ref.node)] = max(used.get((ref.layer, ref.node), 0), ref.tensor + 1)
    for spec in graph.layers:
        if spec.graph is not None and isinstance(spec.graph.outputs, (list, tuple)):
            for node in range(len(spec.calls)):
                several[(spec.name, node)] = len(spec.graph.outputs)
        elif spec.graph is None and getattr(layer_class(spec.class_name), "several_outputs", lambda c: False)(
                spec.config):
            for node in range(len(spec.calls)):
                several[(spec.name, node)] = used.get((spec.name, node), 1)
    return several


def _forward_lines(graph, args, taken):
    values = {ref: arg for ref, arg in zip(graph.inputs, args)}
    several = _outputs_of(graph)
    lines = []
    chain = graph.sequential and len(args) == 1
    for spec, node in graph.order:
        call = spec.calls[node]
        if chain:
            target = args[0]
        else:
            target = _identifier(spec.name if node == 0 else f"{spec.name}_{node}", taken)
        inputs = call.inputs
        cls = layer_class(spec.class_name) if spec.graph is None else None
        unpacked = (spec.graph is not None or getattr(cls, "unpacks_arguments", False)) and isinstance(inputs, list)
        parts = [_render(v, values) for v in inputs] if unpacked else [_render(inputs, values)]
        if getattr(cls, "takes_call_arguments", False):  # an op node: the call's own arguments, as saved
            parts += [f"{_keyword(k)}={_render(v, values)}" for k, v in call.kwargs.items() if k != "name"]
        elif call_training(graph, call) is not None:
            parts.append(f"training={literal(bool(call_training(graph, call)))}")
        lines += _wrapped(f"        {target} = ", f"self.{spec.attr}", parts)
        count = several.get((spec.name, node))
        for i in range(count or 1):
            values[TensorRef(spec.name, node, i)] = f"{target}[{i}]" if count else target
    lines.append(f"        return {_render(graph.outputs, values)}")
    return lines


class CustomObjects:
    """The user's module of factories for layers kcompat does not have: a Python file that defines
    ``CUSTOM_OBJECTS = {Keras class name: factory(config) -> torch.nn.Module}``. The generated
    source imports it by its name (keep it beside the generated file, or on the path)."""

    def __init__(self, path):
        import importlib.util

        path = os.fspath(path)
        name = os.path.basename(path)[:-3] if path.endswith(".py") else ""
        if not names.is_plain(name) or name in _RESERVED:
            raise ValueError(f"--custom-objects: {path!r} must be a .py file whose name is a module name "
                             "(letters, digits and underscores, not starting with a digit)")
        if not os.path.isfile(path):
            raise ValueError(f"--custom-objects: {path}: no such file")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the user's own code, as importing the generated file will run it
        objects = getattr(module, "CUSTOM_OBJECTS", None)
        if not isinstance(objects, dict) or not all(isinstance(k, str) and callable(v) for k, v in objects.items()):
            raise ValueError(f"--custom-objects: {path} must define CUSTOM_OBJECTS = {{Keras class name: "
                             "factory(config) returning a torch.nn.Module}")
        self.name, self.objects, self.path = name, dict(objects), path


def port_source(model, source_name, weights_name, custom=None):
    """The generated source of ``model`` (a :class:`~.module.KerasModel`). Every string of the
    model file is written as a literal (:func:`literal`), every name as a checked identifier;
    the result is checked by :func:`check_source` before it is returned."""
    writer = _Writer(custom)
    with keras2_names() if model.graph.keras2 else contextlib.nullcontext():
        top = writer.graph_class(model, False)
    head = ['"""A Keras model as PyTorch (the Keras file: ``SOURCE``; the model: ``keras_name`` of the class).',
            "",
            *textwrap.wrap(f"Generated by kcompat-port {__version__}: yours to edit. The weights are in the "
                           ".safetensors file of the same name beside it (``WEIGHTS``).", WIDTH),
            "",
            f"    model = load()   # {top} with its weights, in eval() mode",
            "    y = model(x)     # channels_last in and out, as the Keras model",
            '"""',
            "",
            "import os",
            "",
            "import torch",
            "",
            "import kcompat",
            *(["", f"import {custom.name}  # your layers' factories (CUSTOM_OBJECTS)"] if custom is not None else []),
            "",
            f"SOURCE = {literal(str(source_name))}",
            f"WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), {literal(str(weights_name))})"]
    tail = ["def load(weights=WEIGHTS):",
            f'    """{top} with its weights (``weights``: a safetensors file of its state dict),',
            '    in eval() mode."""',
            f"    model = {top}()",
            ("    kcompat.models.load_state(model, kcompat.convert.load_file(weights))  # your layers' lazy "
             "parameters" if custom is not None else "    model.load_state_dict(kcompat.convert.load_file(weights))"),
            "    return model.eval()"]
    source = "\n\n\n".join(["\n".join(head), *writer.classes, "\n".join(tail)]) + "\n"
    check_source(source, {custom.name} if custom is not None else ())
    return source


# The node kinds of the template (kcompat-port's own code): a generated file holds these only.
TEMPLATE_NODES = frozenset({
    "Module", "Expr", "Constant", "Import", "alias", "Assign", "Name", "Load", "Store", "Attribute", "Call", "keyword",
    "ClassDef", "FunctionDef", "arguments", "arg", "Return", "If", "Compare", "IsNot", "NotEq", "BoolOp", "And",
    "UnaryOp", "USub", "Try", "With", "withitem", "Subscript", "Tuple", "List", "Dict"})
_TEMPLATE_GLOBALS = frozenset({"self", "torch", "kcompat", "os", "super", "float", "bool", "__file__"})
_TEMPLATE_IMPORTS = frozenset({"os", "torch", "kcompat"})


def check_source(source, user_modules=(), extra_nodes=(), extra_names=()):
    """Refuse generated ``source`` that is not the template's code: another node kind, an import
    other than ``os``/``torch``/``kcompat``, a name the file does not define itself (nor one of the
    template's: ``self``, ``torch``, ``kcompat``, ``os``, ``super``, ``float``, ``bool``,
    ``__file__``), a special attribute (``__init__`` aside), a docstring anywhere but
    first in a module, class or function. Raises ``ValueError``. ``extra_nodes``/``extra_names``:
    what another template adds (the skeleton's ``raise NotImplementedError``)."""
    tree = ast.parse(source)
    imports = _TEMPLATE_IMPORTS | set(user_modules)
    defined = set(_TEMPLATE_GLOBALS) | set(user_modules) | set(extra_names)
    allowed = TEMPLATE_NODES | set(extra_nodes)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    for node in ast.walk(tree):
        kind = type(node).__name__
        if kind not in allowed:
            raise ValueError(f"generated source holds a {kind} node (line {getattr(node, 'lineno', '?')})")
        if isinstance(node, ast.Import) and any(a.name not in imports or a.asname for a in node.names):
            raise ValueError(f"generated source imports {[a.name for a in node.names]}")
        if isinstance(node, ast.Name) and node.id not in defined:
            raise ValueError(f"generated source uses the name {node.id!r}, which it does not define")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr != "__init__":
            raise ValueError(f"generated source reads the attribute {node.attr!r}")
        if isinstance(node, ast.Expr) and not isinstance(node.value, (ast.Call, ast.Constant)):
            raise ValueError(f"generated source holds an expression statement (line {node.lineno})")
        for field in ("body", "orelse", "finalbody"):
            for i, statement in enumerate(getattr(node, field, None) or []):
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and not (
                        i == 0 and field == "body" and isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                        and isinstance(statement.value.value, str)):
                    raise ValueError(f"generated source holds a stray constant (line {statement.lineno})")
    return tree


def _inputs_of(path, weights):
    """Every file kcompat-port reads for ``path`` and ``weights`` (a checkpoint's files too)."""
    return [f for p in (path, weights) if p is not None for f in input_files(p)]


def port(path: str | os.PathLike, output: str | os.PathLike, *, weights: str | os.PathLike | None = None,
         force: bool = False, custom_objects: str | os.PathLike | None = None) -> tuple[str, str, int]:
    """Write ``output`` (a ``.py`` file) and its weights (the same name, ``.safetensors``) for the
    Keras model in ``path`` (what :func:`load_model` reads; ``weights=`` likewise). Returns
    ``(class name, weights path, tensors)``. Both files are written, or neither; an input is
    never overwritten, under any name or link, ``force`` or not. Layers kcompat does not have
    (and ``custom_objects`` is not given) raise ``ValueError`` after ``OUT_layers.py`` is written
    for the user to fill in (:mod:`.skeleton`; an existing one is never written over)."""
    output = os.fspath(output)
    if not output.endswith(".py"):
        raise ValueError(f"output: expected a .py file name; received {output!r}")
    stem = os.path.basename(output)[:-3]
    if not names.is_plain(stem):
        raise ValueError(f"output: {os.path.basename(output)!r} cannot be imported as a Python module; name it "
                         "with ASCII letters, digits and underscores, not starting with a digit")
    weights_path = output[:-3] + ".safetensors"
    custom = CustomObjects(custom_objects) if custom_objects is not None else None
    inputs = _inputs_of(os.fspath(path), None if weights is None else os.fspath(weights)) + (
        [custom.path] if custom is not None else [])
    for target in (output, weights_path):
        if os.path.isdir(target):
            raise ValueError(f"{target}: cannot write: is a directory")
        refuse_input(target, inputs, "kcompat-port")
        if not force and (os.path.exists(target) or os.path.islink(target)):
            raise ValueError(f"{target}: already exists (use --force to overwrite)")
    try:
        model = _checked(path, weights, custom)
    except _Unknown as exc:
        raise ValueError(_write_skeleton(exc, path, weights, output, inputs)) from None
    source = port_source(model, os.path.basename(os.fspath(path)), os.path.basename(weights_path), custom)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "source": os.path.basename(os.fspath(path)), "writer": "kcompat-port"}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        write_together([(weights_path, lambda stream: safetensors_io.write_state(stream, state, metadata)),
                        (output, source.encode())])
    except OSError as exc:
        raise ValueError(f"{output}: cannot write ({exc.strerror or exc})") from None
    return _class_name(model.graph.name, set()), weights_path, len(state)  # the top class is named first


class _Unknown(ValueError):
    """Layers neither kcompat nor ``--custom-objects`` can build (``found``: :func:`.loading.unknown_layers`'s),
    with the message saying so; ``custom``: whether a module was given."""

    def __init__(self, message, where, found, custom):
        super().__init__(message)
        self.where, self.found, self.custom = where, found, custom


def _checked(path, weights, custom=None):
    """:func:`load_model`'s module, refusing layers the generated source could not construct."""
    from .loading import UnknownLayers, unknown_message

    try:
        return load_model(path, weights=weights, custom_objects=custom.objects if custom is not None else None)
    except UnknownLayers as exc:
        raise _Unknown(unknown_message(exc.where, exc.found, "kcompat-port writes kcompat's layers and yours: give "
                                       "a module of factories for these (--custom-objects my_layers.py, which "
                                       "defines CUSTOM_OBJECTS = {class name: factory(config)})"),
                       exc.where, exc.found, custom is not None) from None


def _write_skeleton(unknown, path, weights, output, inputs):
    """Write ``OUT_layers.py`` (:mod:`.skeleton`) for the layers in ``unknown``, unless a module was
    given or the file exists (it may hold your work: never overwritten); the error's message."""
    from .loading import custom_name, read_config, read_graph, unknown_message
    from .skeleton import skeleton_path, skeleton_source

    target = skeleton_path(output)
    if unknown.custom:
        return str(unknown)
    command = " ".join(["kcompat-port", os.path.basename(os.fspath(path)), os.path.basename(output),
                        *(["--weights", os.path.basename(os.fspath(weights))] if weights is not None else []),
                        "--custom-objects", os.path.basename(target)])
    if os.path.exists(target) or os.path.islink(target):
        return unknown_message(unknown.where, unknown.found, f"{target} exists (not overwritten): write these "
                               f"layers there, then run {command}")
    refuse_input(target, inputs, "kcompat-port")
    config = read_config(os.fspath(path), None if weights is None else os.fspath(weights))
    source = skeleton_source(path, read_graph(path, config), list(unknown.found), custom_name, command,
                             None if weights is None else os.fspath(weights), config)
    try:
        write_together([(target, source.encode())])
    except OSError as exc:
        raise ValueError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return unknown_message(unknown.where, unknown.found, f"Wrote {target}, a class for each to write; then run "
                           f"{command}")
