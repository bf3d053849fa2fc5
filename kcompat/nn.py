"""Deprecated name of :mod:`kcompat.tf_nn` (``tf.nn``'s ops): a PyTorch reader takes
``kcompat.nn`` for ``torch.nn``'s meaning. Every name still works here, with a
``DeprecationWarning`` that gives the new one."""

from __future__ import annotations

import warnings

from . import tf_nn as _tf_nn

__all__ = list(_tf_nn.__all__)


def __getattr__(name):
    value = getattr(_tf_nn, name)  # an unknown name raises tf_nn's AttributeError
    warnings.warn(f"kcompat.nn.{name} is kcompat.tf_nn.{name} (tf.nn's ops; 'kcompat.nn' reads as torch.nn)",
                  DeprecationWarning, stacklevel=2)
    return value


def __dir__():
    return sorted(__all__)
