"""Keras-style lookup and serialization of initializers, regularizers and constraints.

``get_config()`` of a layer must equal Keras 3's, so objects serialize to Keras 3's
``{"module", "class_name", "config", "registered_name"}`` dicts; configs written by Keras 2
(``{"class_name", "config"}``) are read too.
"""

from __future__ import annotations

import re

__all__ = ["KerasObject", "serialize", "deserialize"]


def to_snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``GlorotUniform`` -> ``glorot_uniform``, ``L1L2`` -> ``l1l2``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasObject:
    """Base of kcompat's Keras-compatible objects: config round trip as in Keras."""

    keras_module = "keras"

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def registry_of(*classes, aliases=None):
    """Lookup table by class name and snake-case name, as Keras builds ``ALL_OBJECTS_DICT``."""
    table = {}
    for cls in classes:
        table[cls.__name__] = cls
        table[to_snake_case(cls.__name__)] = cls
    table.update(aliases or {})
    return table


def serialize(obj):
    """Keras 3's serialized form of ``obj`` (``None`` stays ``None``)."""
    if obj is None:
        return None
    if isinstance(obj, KerasObject):
        return {
            "module": obj.keras_module,
            "class_name": type(obj).__name__,
            "config": obj.get_config(),
            "registered_name": getattr(obj, "registered_name", None),
        }
    name = getattr(obj, "__name__", type(obj).__name__)
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def deserialize(identifier, registry, argument):
    """An object from a name, a Keras 2/3 config dict, an instance or a callable.

    ``argument`` names the layer argument in error messages.
    """
    if identifier is None or isinstance(identifier, KerasObject):
        return identifier
    if isinstance(identifier, str):
        cls = registry.get(identifier)
        if cls is None:
            raise ValueError(_unknown(identifier, registry, argument))
        return cls()
    if isinstance(identifier, dict):
        class_name = identifier.get("class_name")
        cls = registry.get(class_name) if isinstance(class_name, str) else None
        if cls is None:
            raise ValueError(_unknown(identifier, registry, argument))
        return cls.from_config(dict(identifier.get("config") or {}))
    if callable(identifier):
        return identifier
    raise ValueError(_unknown(identifier, registry, argument))


def _unknown(identifier, registry, argument):
    names = sorted(n for n in registry if not n[0].isupper())
    return (
        f"Could not interpret `{argument}` identifier: {identifier!r}. "
        f"Expected None, a callable, a Keras config dict or one of {names}. "
        f"Received: {argument}={identifier!r}"
    )
