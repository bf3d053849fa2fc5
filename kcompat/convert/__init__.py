"""Keras files and TensorFlow checkpoints to PyTorch weights for kcompat layers.

``kcompat-convert model.keras model.safetensors`` on the command line; in Python,
:func:`convert` writes the same files and :func:`load` returns the file's transposed
convolutions as built, loaded ``kcompat.Conv{1,2,3}DTranspose`` modules. Keras files are read with
h5py and zipfile, TF checkpoints with kcompat's own tensor-bundle reader: no TensorFlow needed.
"""

from .converter import ConversionError, config_path, convert, load
from .safetensors_io import load_file

__all__ = ["ConversionError", "config_path", "convert", "load", "load_file"]
