"""Whole Keras models on PyTorch: :func:`load_model`, the call graph (:mod:`.graph`), the
module that runs it (:class:`KerasModel`), and :func:`port` (``kcompat-port``: the model as
PyTorch source, :mod:`.codegen`)."""

from .codegen import port
from .loading import load_model, load_state
from .module import KerasModel

__all__ = ["KerasModel", "load_model", "load_state", "port"]
