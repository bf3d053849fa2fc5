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

import inspect
import json
import keyword
import os
import pprint
import re
import textwrap
import warnings

import torch

from .. import __version__
from .._files import write_together
from ..convert import safetensors_io
from ..layers import KERAS_LAYERS
from .graph import TensorRef, call_training, refs
from .loading import load_model

__all__ = ["port", "port_source"]

_SERIALIZED = {"keras.initializers": "initializers", "keras.regularizers": "regularizers",
               "keras.constraints": "constraints"}
WIDTH = 100  # the generated source's line length
_MODULE_ATTRIBUTES = set(vars(torch.nn.Module()))  # torch's own bookkeeping, not the layer's
_RESERVED = {"self", "torch", "kcompat", "training", "os", "WEIGHTS", "load"}


class _Code(str):
    """Source text that ``repr`` writes as is (a constructor call inside rendered arguments)."""

    def __repr__(self):
        return str(self)


def _normal(config):
    """A config in a form where lists and tuples compare equal."""
    return json.dumps(config, sort_keys=True, default=repr)


def _pretty(value):
    """A config value as the source a user would write: a serialized initializer, regularizer or
    constraint as its kcompat class, a dtype policy as its name, lists as tuples."""
    import kcompat

    if isinstance(value, dict) and value.get("module") in _SERIALIZED and isinstance(value.get("class_name"), str):
        namespace = getattr(kcompat, _SERIALIZED[value["module"]])
        if isinstance(getattr(namespace, value["class_name"], None), type):
            args = ", ".join(f"{k}={_pretty(v)!r}" for k, v in (value.get("config") or {}).items() if v is not None)
            return _Code(f"kcompat.{_SERIALIZED[value['module']]}.{value['class_name']}({args})")
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return (value.get("config") or {}).get("name", value)
    if isinstance(value, list):
        return tuple(_pretty(v) for v in value)
    return value


def _class_path(cls):
    import kcompat

    return f"kcompat.{cls.__name__}" if getattr(kcompat, cls.__name__, None) is cls else \
        f"kcompat.layers.{cls.__name__}"


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
    return _class_path(cls), [repr(kwargs[n]) for n in positional] + [f"{k}={kwargs[k]!r}" for k in keywords]


def _call_text(cls, kwargs):
    head, parts = _call_parts(cls, kwargs)
    return f"{head}({', '.join(parts)})"


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
    (Keras 2's BatchNormalization semantics live in one, not in the config)."""

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

    hidden = {k: plain(v) for k, v in vars(layer).items() if k not in _MODULE_ATTRIBUTES}
    return _normal([layer.get_config(), hidden])


def _evaluates_to(text, target):
    import kcompat

    try:
        with warnings.catch_warnings():  # Keras 2's spellings (alpha=) warn on every try
            warnings.simplefilter("ignore")
            layer = eval(text, {"kcompat": kcompat, "torch": torch})  # noqa: S307 (our own generated source)
    except (TypeError, ValueError, NameError, SyntaxError):
        return False
    return _state(layer) == target


def _constructor(spec):
    """``(head, parts)``: the shortest constructor call of kcompat's layer for ``spec`` that builds
    the same layer."""
    cls = KERAS_LAYERS[spec.class_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = cls.from_config(dict(spec.config))
    target = _state(layer)
    kwargs = {k: _pretty(v) for k, v in layer._constructor_arguments().items()}
    if not _evaluates_to(_call_text(cls, kwargs), target):
        return f"{_class_path(cls)}.from_config", [pprint.pformat(dict(spec.config), width=WIDTH - 12)]
    for key in [k for k in kwargs if k != "name"]:  # drop what the defaults give anyway
        rest = {k: v for k, v in kwargs.items() if k != key}
        if _evaluates_to(_call_text(cls, rest), target):
            kwargs = rest
    for key, value in list(kwargs.items()):  # (3, 3) -> 3, as Keras users write it
        if isinstance(value, tuple) and value and all(v == value[0] for v in value) and isinstance(value[0], int):
            shorter = dict(kwargs, **{key: value[0]})
            if _evaluates_to(_call_text(cls, shorter), target):
                kwargs = shorter
    return _call_parts(cls, kwargs)


def _identifier(name, taken):
    base = re.sub(r"\W", "_", str(name)) or "x"
    if base[0].isdigit():
        base = "_" + base
    if keyword.iskeyword(base) or base in _RESERVED:
        base += "_"
    text, i = base, 1
    while text in taken:
        i += 1
        text = f"{base}_{i}"
    taken.add(text)
    return text


def _class_name(name, taken):
    text = "".join(part[:1].upper() + part[1:] for part in re.split(r"\W|_", str(name)) if part) or "Model"
    return _identifier(text if not text[0].isdigit() else "Model" + text, taken)


def _attribute(name):
    """How the generated source names a submodule: ``self.up1``, or ``self._modules["double"]``
    where the Keras name is not an identifier or is a ``torch.nn.Module`` attribute."""
    plain = name.isidentifier() and not keyword.iskeyword(name) and not hasattr(torch.nn.Module, name)
    return f"self.{name}" if plain else f"self._modules[{name!r}]"


def _render(structure, names):
    if isinstance(structure, TensorRef):
        return names[structure]
    if isinstance(structure, list):
        return "[" + ", ".join(_render(v, names) for v in structure) + "]"
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{k!r}: {_render(v, names)}" for k, v in structure.items()) + "}"
    return repr(structure)


class _Writer:
    """Collects the generated classes, nested models first."""

    def __init__(self):
        self.classes = []  # source of each class, nested models' first
        self.class_names = set()
        self.by_graph = {}

    def graph_class(self, graph, modes):
        """The class name for ``graph``; ``modes``: whether a caller passes ``training=``."""
        key = id(graph)
        if key in self.by_graph:
            return self.by_graph[key]
        name = _class_name(graph.name, self.class_names)  # before the nested ones: the model keeps its name
        self.by_graph[key] = name
        inits, taken = [], set()
        for spec in graph.layers:
            if spec.class_name == "InputLayer":
                continue
            if spec.graph is not None:
                called_with_mode = any(call_training(graph, c) is not None for c in spec.calls)
                inits.append(f"        {_attribute(spec.name)} = {self.graph_class(spec.graph, called_with_mode)}()")
            else:
                inits += _wrapped(f"        {_attribute(spec.name)} = ", *_constructor(spec))
        args = ["x"] if graph.sequential else [_identifier(n, taken) for n in graph.input_names]
        lines = [f"class {name}(torch.nn.Module):",
                 f'    """The Keras model {graph.name!r}: channels_last tensors in and out, as in Keras;',
                 '    train()/eval() are Keras\'s training=True/False."""', "",
                 "    def __init__(self):",
                 "        super().__init__()", *inits]
        lines += _build_lines(graph, args)
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


def _build_lines(graph, args):
    """A zero pass that builds every layer to its input's shape (Keras's ``build``), when the
    config gives every input's shape; else the weights build them at ``load_state_dict``."""
    specs = graph.input_specs
    if not specs or any(s is None or any(n is None for n in s[0][1:]) for s in specs):
        return []
    zeros = []
    for shape, dtype in specs:
        dims = ", ".join(str(n) for n in (1, *shape[1:]))
        zeros.append(f"torch.zeros({dims}{'' if dtype == 'float32' else f', dtype=torch.{dtype}'})")
    return ["        self.eval()",
            "        with torch.no_grad():  # builds every layer to the shape it receives, as Keras's build does",
            f"            self({', '.join(zeros)})",
            "        self.train()"]


def _outputs_of(graph):
    """``{(layer, node): count}`` for calls whose result is a list (a nested model's several outputs)."""
    several = {}
    for spec in graph.layers:
        if spec.graph is not None and isinstance(spec.graph.outputs, (list, tuple)):
            for node in range(len(spec.calls)):
                several[(spec.name, node)] = len(spec.graph.outputs)
    return several


def _forward_lines(graph, args, taken):
    names = {ref: arg for ref, arg in zip(graph.inputs, args)}
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
        argument = ", ".join(_render(v, names) for v in inputs) if (
            spec.graph is not None and isinstance(inputs, list)) else _render(inputs, names)
        mode = call_training(graph, call)
        extra = "" if mode is None else f", training={mode}"
        lines.append(f"        {target} = {_attribute(spec.name)}({argument}{extra})")
        count = several.get((spec.name, node))
        for i in range(count or 1):
            names[TensorRef(spec.name, node, i)] = f"{target}[{i}]" if count else target
        for ref in refs([call.inputs, call.kwargs]):
            if ref not in names:
                raise ValueError(f"model {graph.name!r}: layer {spec.name!r} uses {ref}, which no earlier call made")
    lines.append(f"        return {_render(graph.outputs, names)}")
    return lines


def port_source(model, source_name, weights_name):
    """The generated source of ``model`` (a :class:`~.module.KerasModel`)."""
    writer = _Writer()
    top = writer.graph_class(model.graph, False)
    head = [f'"""The Keras model {model.graph.name!r} of {source_name}, as PyTorch.',
            "",
            *textwrap.wrap(f"Generated by kcompat-port {__version__}: yours to edit. The weights are in "
                           f"{weights_name} beside it.", WIDTH),
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
            "",
            f"WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights_name!r})"]
    tail = ["def load(weights=WEIGHTS):",
            f'    """{top} with its weights (``weights``: a safetensors file of its state dict),',
            '    in eval() mode."""',
            f"    model = {top}()",
            "    model.load_state_dict(kcompat.convert.load_file(weights))",
            "    return model.eval()"]
    return "\n\n\n".join(["\n".join(head), *writer.classes, "\n".join(tail)]) + "\n"


def port(path, output, *, weights=None, force=False):
    """Write ``output`` (a ``.py`` file) and its weights (the same name, ``.safetensors``) for the
    Keras model in ``path`` (what :func:`load_model` reads; ``weights=`` likewise). Returns
    ``(class name, weights path, tensors)``. Both files are written, or neither."""
    output = os.fspath(output)
    if not output.endswith(".py"):
        raise ValueError(f"output: expected a .py file name; received {output!r}")
    stem = os.path.basename(output)[:-3]
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise ValueError(f"output: {os.path.basename(output)!r} cannot be imported as a Python module; name it "
                         "with letters, digits and underscores, not starting with a digit")
    weights_path = output[:-3] + ".safetensors"
    for target in (output, weights_path):
        if os.path.isdir(target):
            raise ValueError(f"{target}: cannot write: is a directory")
        if not force and os.path.exists(target):
            raise ValueError(f"{target}: already exists (use --force to overwrite)")
    model = _checked(path, weights)
    source = port_source(model, os.path.basename(os.fspath(path)), os.path.basename(weights_path))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "source": os.path.basename(os.fspath(path)), "writer": "kcompat-port"}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        write_together([(weights_path, lambda stream: safetensors_io.write_state(stream, state, metadata)),
                        (output, source.encode())])
    except OSError as exc:
        raise ValueError(f"{output}: cannot write ({exc.strerror or exc})") from None
    return _class_name(model.graph.name, set()), weights_path, len(state)  # the top class is named first


def _checked(path, weights):
    """:func:`load_model`'s module, refusing layers the generated source could not construct."""
    from .loading import read_config, read_graph

    graph = read_graph(path, read_config(os.fspath(path), weights))
    missing = [(s.name, s.class_name) for s in _leaves(graph) if s.class_name not in KERAS_LAYERS]
    if missing:
        listed = ", ".join(f"{n!r} ({c})" for n, c in missing)
        raise ValueError(f"{path}: kcompat-port writes kcompat's layers only, and kcompat does not reproduce {listed}: "
                         "port the rest and add a module of your own for it, or use kcompat.load_model(..., "
                         "custom_objects=...)")
    return load_model(path, weights=weights)


def _leaves(graph):
    for spec in graph.layers:
        if spec.graph is not None:
            yield from _leaves(spec.graph)
        elif spec.class_name != "InputLayer":
            yield spec
