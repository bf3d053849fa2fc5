"""The model file formats, read (and safetensors written) without TensorFlow.

Keras files (``keras_files``: ``.keras`` archives, ``.h5`` in Keras 3's and Keras 2's layouts,
with ``hdf5_heaps``'s pre-flight check), TensorFlow checkpoints (``tf_checkpoint``, its
``crc32c``), SavedModel directories (``saved_model``) and safetensors (``safetensors_io``), each
reporting what a file holds as ``records``. Below the converter (:mod:`kcompat.convert`) and
``load_model`` (:mod:`kcompat.models`), both of which read files through it.
"""

from __future__ import annotations

import os

from . import saved_model, tf_checkpoint

__all__ = ["input_files"]


def input_files(source):
    """Every file reading ``source`` reads (the model file, a checkpoint's files, a SavedModel's
    metadata and variables): what a command must never write over."""
    source = str(source)
    if saved_model.is_saved_model(source):
        return input_files(saved_model.variables_prefix(source)) + [
            os.path.join(source, n) for n in (saved_model.METADATA, "saved_model.pb")
            if os.path.isfile(os.path.join(source, n))]
    files = tf_checkpoint.checkpoint_files(source) if tf_checkpoint.is_checkpoint(source) else []
    return files + ([source] if os.path.isfile(source) else [])
