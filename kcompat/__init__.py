"""kcompat: TensorFlow/Keras's ``Conv{1,2,3}DTranspose`` on PyTorch, identical to TensorFlow.

``import kcompat`` never imports TensorFlow; the parity tools in :mod:`kcompat.testing`
run TensorFlow in worker processes of their own.
"""

from . import activations, constraints, errors, functional, initializers, nn, regularizers, shapes
from .constraints import apply_constraints
from .layers import (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose,
                     Convolution2DTranspose, Convolution3DTranspose)
from . import compat  # noqa: E402 - after the layers it builds on

__version__ = "0.1.0"

__all__ = [
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "Convolution3DTranspose",
    "apply_constraints",
    "compat",
    "activations",
    "constraints",
    "errors",
    "nn",
    "functional",
    "initializers",
    "regularizers",
    "shapes",
]
