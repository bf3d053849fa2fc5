"""What the layers being made are made for, per thread: a Keras 2 model's (names with ``/``, Keras
2's arithmetic where its config does not say) or a shapes-only build (weights on ``meta``).

A leaf module: the layers and the activations both read it.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["building_keras2", "building_shapes_only", "keras2_names", "shapes_only"]

_building = threading.local()  # .shapes_only: weights created inside shapes_only() hold no memory


@contextlib.contextmanager
def _building_with(flag):
    before = getattr(_building, flag, False)
    setattr(_building, flag, True)
    try:
        yield
    finally:
        setattr(_building, flag, before)


def keras2_names():
    """Layers made inside take Keras 2's names: tf.keras allowed ``/`` (DenseNet's ``conv1/conv``),
    which Keras 3 refuses."""
    return _building_with("keras2_names")


def building_keras2():
    """Whether the layer being made belongs to a Keras 2 model (inside :func:`keras2_names`):
    where Keras 2's arithmetic differs and its config does not say so (UnitNormalization)."""
    return getattr(_building, "keras2_names", False)


def shapes_only():
    """Layers built inside create their weights on torch's ``meta`` device: shapes and dtypes, no
    memory and no draws, so that a model file's weights can be checked against its config
    before anything is allocated. ``layer._materialize()`` draws them afterwards."""
    return _building_with("shapes_only")


def building_shapes_only():
    """Whether weights made now hold no memory (inside :func:`shapes_only`)."""
    return getattr(_building, "shapes_only", False)
