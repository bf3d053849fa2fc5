"""Names from a model file as Python and torch names: pure, no torch import at call time.

A Keras layer name becomes a submodule name (``state_dict`` keys, ``self.<name>`` in the source
``kcompat-port`` writes). Most names are plain ASCII identifiers and stay as they are; any other
(``conv1/conv`` from Keras 2, ``½``, fullwidth ``ｐ`` that Python folds to ``p``, a keyword, a
``torch.nn.Module`` attribute such as ``train`` or ``_parameters``, a ``__`` name Python would
mangle) is mapped to an ASCII identifier, unique among the model's names; the Keras name stays
in the layer's ``name`` and in :attr:`~.graph.LayerSpec.name`. ``load_model`` and the generated
source use the same mapping, so their state dicts are the same.
"""

from __future__ import annotations

import functools
import keyword
import re
import unicodedata

__all__ = ["attribute_names", "identifier", "is_plain", "module_attributes"]


@functools.lru_cache(maxsize=None)
def module_attributes():
    """The names a submodule may not take: ``torch.nn.Module``'s own attributes and KerasModel's
    (torch imported on first use: graph.py stays pure)."""
    import torch

    return frozenset(dir(torch.nn.Module)) | frozenset(vars(torch.nn.Module())) | {"graph", "keras_name",
                                                                                   "weight_problems"}


def is_plain(name, reserved=()):
    """Whether ``name`` is used as it is: an ASCII identifier, no keyword, not in ``reserved``,
    not starting with ``__`` (Python mangles those inside a class)."""
    return (isinstance(name, str) and name.isascii() and name.isidentifier() and not keyword.iskeyword(name)
            and not name.startswith("__") and name not in reserved)


def identifier(name, taken, reserved=()):
    """An ASCII identifier for ``name``, not in ``taken`` (then added to it) nor ``reserved``:
    ``name`` itself where it is plain, else its NFKC form with every other character ``_``
    (``conv1/conv`` -> ``conv1_conv``), suffixed ``_2``, ``_3``... until unique."""
    if is_plain(name, reserved) and name not in taken:
        taken.add(name)
        return name
    base = re.sub(r"[^0-9A-Za-z_]", "_", unicodedata.normalize("NFKC", str(name)))
    if not base or base[0].isdigit():
        base = "layer_" + base
    if base.startswith("__"):
        base = "x" + base
    if keyword.iskeyword(base) or base in reserved:
        base += "_"
    text, i = base, 1
    while text in taken or text in reserved or keyword.iskeyword(text):
        i += 1
        text = f"{base}_{i}"
    taken.add(text)
    return text


def attribute_names(names):
    """``{keras name: submodule name}`` for one model's layer names (unique, in order): plain
    names kept, the others mapped (:func:`identifier`) around them."""
    reserved = module_attributes()
    kept = {n for n in names if is_plain(n, reserved)}
    taken, out = set(kept), {}
    for name in names:
        out[name] = name if name in kept else identifier(name, taken, reserved)
    return out
