"""Keras files and TensorFlow checkpoints to PyTorch weights for kcompat layers.

``kcompat-convert model.keras model.safetensors`` on the command line; in Python,
:func:`convert` writes the same files and :func:`load` returns the file's transposed
convolutions as built, loaded ``kcompat.Conv{1,2,3}DTranspose`` modules. Keras files are read with
h5py and zipfile, TF checkpoints with kcompat's own tensor-bundle reader: no TensorFlow needed.
"""

import sys

from ..formats import crc32c, hdf5_heaps, keras_files, records, safetensors_io, saved_model, tf_checkpoint
from ..formats.safetensors_io import load_file
from .converter import ConversionError, config_path, convert, load

# The readers moved to kcompat.formats (below load_model and the converter both); their old
# paths (kcompat.convert.keras_files, ...) still import.
for _module in (crc32c, hdf5_heaps, keras_files, records, safetensors_io, saved_model, tf_checkpoint):
    sys.modules.setdefault(f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}", _module)

__all__ = ["ConversionError", "config_path", "convert", "load", "load_file"]
