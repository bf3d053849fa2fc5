"""The module of your layers that ``kcompat-port`` asks for, written for you to fill in.

Where a model holds layers kcompat does not have (a ``Lambda``, your own class, an op kcompat
lacks), ``kcompat-port`` writes ``OUT_layers.py``: one ``torch.nn.Module`` class per such Keras
class, each showing the layers that use it, the first one's Keras config and the weights the
file holds for them, and ``CUSTOM_OBJECTS`` mapping each Keras name to its class. You write
each ``__init__``/``forward``; ``kcompat-port SOURCE OUT.py --custom-objects OUT_layers.py``
then ports the model with them. Every name from the model file in it is a checked identifier or
a literal (:func:`.codegen.literal`), and the source is checked as the port's is.
"""

from __future__ import annotations

import os
import textwrap

from .._version import __version__
from . import names

__all__ = ["skeleton_source", "skeleton_path"]

_NODES = frozenset({"Raise"})  # beyond the port's template: the placeholders' raise
_NAMES = frozenset({"NotImplementedError"})


def skeleton_path(output):
    """Where the skeleton for port ``output`` (``OUT.py``) goes: ``OUT_layers.py`` beside it."""
    return os.fspath(output)[:-3] + "_layers.py"


def _specs(graph, keys, custom_name):
    """``{key: [layer spec, ...]}`` of ``graph``'s layers (nested too) whose custom key is in ``keys``."""
    found = {}
    for spec in graph.layers:
        if spec.graph is not None:
            for key, specs in _specs(spec.graph, keys, custom_name).items():
                found.setdefault(key, []).extend(specs)
        elif spec.class_name != "InputLayer" and custom_name(spec) in keys:
            found.setdefault(custom_name(spec), []).append(spec)
    return found


def _weights(path, config=None):
    """``{layer name: [(weight key, shape), ...]}`` the file holds (empty where it cannot say);
    ``config``: the model config of a weights-only file (it names Keras 2's layers)."""
    from ..formats.keras_files import open_model_file
    from ..formats.records import ConversionError

    try:
        with open_model_file(path, config) as model_file:
            return {layer.path: [(t.key, tuple(t.shape)) for t in layer.tensors] for layer in model_file.layers}
    except (ConversionError, OSError, ValueError):
        return {}


def _class_name(key, taken):
    """A class name for Keras name ``key`` (``Scale``; ``tf.signal.fft2d`` -> ``TfSignalFft2d``)."""
    words = "".join(c if c.isalnum() else " " for c in key).split() if key.isascii() else []
    plain = key if names.is_plain(key) else "".join(word[:1].upper() + word[1:] for word in words)
    return names.identifier(plain or "Layer", taken, reserved={"torch", "CUSTOM_OBJECTS", "SOURCE"})


def skeleton_source(path, graph, keys, custom_name, command, weights=None, config=None):
    """The skeleton module's source for the layers of ``graph`` whose custom keys are ``keys``;
    ``command`` is the ``kcompat-port`` line that uses it (shown as a literal); ``weights`` and
    ``config``: the weights file of a config ``path``, and that config."""
    from .codegen import WIDTH, check_source, literal

    by_key = _specs(graph, set(keys), custom_name)
    stored = _weights(path) if weights is None else _weights(weights, config)
    taken, classes, table = set(), [], []
    for key in keys:
        specs = by_key.get(key, [])
        name = _class_name(key, taken)
        weights = [w for spec in specs[:1] for w in stored.get(spec.name, [])]
        config = dict(specs[0].config) if specs else {}
        classes.append("\n".join([
            f"class {name}(torch.nn.Module):",
            '    """A Keras layer kcompat does not have (its key in CUSTOM_OBJECTS; LAYERS use it). Write',
            "    __init__ from the config and forward as the Keras layer computes; the file's weights go",
            '    to this module\'s parameters (then buffers) in the order WEIGHTS lists them."""',
            "",
            f"    KERAS_NAME = {literal(key)}",
            f"    LAYERS = {literal(tuple(spec.name for spec in specs))}",
            f"    KERAS_CONFIG = {literal(config)}  # the first layer's",
            f"    WEIGHTS = {literal(tuple(weights))}  # (key in the file, Keras shape)",
            "",
            "    def __init__(self, config):",
            "        super().__init__()",
            "        raise NotImplementedError(self.KERAS_NAME, 'write this module: kcompat-port wrote a skeleton')",
            "",
            "    def forward(self, *inputs):",
            "        raise NotImplementedError(self.KERAS_NAME, 'write forward')"]))
        table.append(f"    {literal(key)}: {name},")
    head = ['"""Your torch modules for the layers of ``SOURCE`` that kcompat does not have.', "",
            *textwrap.wrap(f"Written by kcompat-port {__version__} as a skeleton: write each class, then run "
                           "``COMMAND``. Each factory (a class here) is called with the layer's Keras config.",
                           WIDTH), '"""', "", "import torch", "",
            f"SOURCE = {literal(os.path.basename(os.fspath(path)))}",
            f"COMMAND = {literal(command)}"]
    source = "\n\n\n".join(["\n".join(head), *classes,
                            "\n".join(["CUSTOM_OBJECTS = {", *table, "}"])]) + "\n"
    check_source(source, extra_nodes=_NODES, extra_names=_NAMES)
    return source
