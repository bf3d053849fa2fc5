"""The op tables' one declaration: ``@tf_names("math.multiply", ...)`` on a function puts it in
:data:`OPS` (TensorFlow's ops by API name, read by :func:`kcompat.tf_ops.tf_op`) under each name.

A leaf module, so that the modules that define ops (:mod:`kcompat.tf_ops`, TF1's
:mod:`kcompat.compat.v1.ops` and ``nn``) declare them where they are defined without importing
each other; :mod:`kcompat.keras_ops` makes its own table with :func:`registrar`.
"""

from __future__ import annotations

__all__ = ["OPS", "registrar", "tf_names"]

OPS = {}  # TF API name without "tf." -> function


def registrar(table):
    """``declare(*names)``: a decorator that puts a function in ``table`` under each of ``names``
    (TensorFlow's ops here, Keras 3's operations in :mod:`kcompat.keras_ops`)."""
    def declare(*names):
        def decorate(fn):
            for name in names:
                table[name] = fn
            return fn
        return decorate
    return declare


tf_names = registrar(OPS)  # declares the decorated function as TensorFlow's op under each name
