"""Whole Keras models on PyTorch: :func:`load_model`, the call graph (:mod:`.graph`) and the
module that runs it (:class:`KerasModel`)."""

from .loading import load_model
from .module import KerasModel

__all__ = ["KerasModel", "load_model"]
