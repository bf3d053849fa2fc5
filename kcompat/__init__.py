"""kcompat: TensorFlow/Keras's ``Conv{1,2,3}DTranspose`` on PyTorch, identical to TensorFlow,
and the layers around them (so far ``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``).

``import kcompat`` never imports TensorFlow; the parity tools in :mod:`kcompat.testing`
run TensorFlow in worker processes of their own.
"""

import importlib

from . import activations, constraints, errors, functional, initializers, nn, regularizers, shapes
from .constraints import apply_constraints
from .layers import (ELU, Activation, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose,
                     Convolution2DTranspose, Convolution3DTranspose, LeakyReLU, ReLU, Softmax)

# Imported on first use: the TF1 compatibility layer needs torch._dynamo (1.5-2.5 s to import)
# for torch.compiler.disable, the converter h5py, the parity tools their TensorFlow workers.
_LAZY = ("compat", "convert", "harness", "testing")

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "ELU",
    "LeakyReLU",
    "ReLU",
    "Softmax",
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


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
