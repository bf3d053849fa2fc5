"""Where a Keras class name finds kcompat's class: declared once, by ``@keras_layer`` on the class.

Loading, conversion, ``kcompat-port``'s source and the parity harness read :data:`KERAS_LAYERS`;
a new layer is its class, decorated, in its family's module (plus its tests), and nothing else::

    @keras_layer()                       # as Keras's config names it: "UnitNormalization"
    class UnitNormalization(Layer): ...

    @keras_layer("Convolution2D")        # and Keras's other names for it
    class Conv2D(BaseConv): ...

    @keras_layer(package="Custom")       # and as registered: "Custom>LayerScale"
    class LayerScale(Layer): ...
"""

from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["KERAS_LAYERS", "keras_layer", "layer_class"]

KERAS_LAYERS: dict[str, type] = {}  # Keras class name (as a config writes it) -> kcompat's class

T = TypeVar("T", bound=type)


def keras_layer(*aliases: str, package: str | None = None) -> Callable[[T], T]:
    """A class decorator that declares the class as kcompat's layer for the Keras class name
    ``cls.__name__``, for each of ``aliases`` (``"Convolution2D"``), and for
    ``"<package>>ClassName"`` (a ``register_keras_serializable`` name) where ``package`` is
    given. A name declared for another class is refused (``ValueError``)."""
    for name in (*aliases, package):
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise ValueError(f"keras_layer: expected Keras names (identifiers); received {name!r}")

    def declare(cls: T) -> T:
        names = (cls.__name__, *aliases) + ((f"{package}>{cls.__name__}",) if package else ())
        for name in names:
            held = KERAS_LAYERS.get(name)
            if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"keras_layer: the Keras class name {name!r} is kcompat's "
                                 f"{held.__module__}.{held.__qualname__} already; {cls.__module__}.{cls.__qualname__} "
                                 "cannot take it too")
        for name in names:  # a module reloaded replaces its own classes
            KERAS_LAYERS[name] = cls
        return cls

    return declare


def layer_class(class_name: str) -> type | None:
    """kcompat's class for a Keras class name as a config writes it, or ``None``."""
    return KERAS_LAYERS.get(class_name)
