"""kcompat: TensorFlow/Keras's ``Conv{1,2,3}DTranspose`` on PyTorch, identical to TensorFlow,
and the layers around them (``Dense``, ``Conv2D``, ``BatchNormalization``, pooling, reshaping, merging, ...:
``kcompat.layers.KERAS_LAYERS`` lists them by Keras class name).

``import kcompat`` never imports TensorFlow; the parity tools in :mod:`kcompat.testing`
run TensorFlow in worker processes of their own.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Mapping

import torch

from . import activations, constraints, errors, functional, initializers, layers, regularizers, shapes, tf_nn
from ._version import __version__ as __version__
from .constraints import apply_constraints
from .layers import (Activation, Add, Average, AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D,
                     AvgPool2D, AvgPool3D, BatchNormalization, Concatenate, Conv1D, Conv1DTranspose, Conv2D,
                     Conv2DTranspose, Conv3D, Conv3DTranspose, Convolution1D, Convolution1DTranspose, Convolution2D,
                     Convolution2DTranspose, Convolution3D, Convolution3DTranspose, Cropping1D, Cropping2D,
                     Cropping3D, Dense, DepthwiseConv1D, DepthwiseConv2D, Dropout, ELU, Embedding, Flatten,
                     GaussianDropout, GaussianNoise, GlobalAveragePooling1D, GlobalAveragePooling2D,
                     GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
                     GroupNormalization, LayerNormalization, LeakyReLU, MaxPool1D, MaxPool2D, MaxPool3D,
                     MaxPooling1D, MaxPooling2D, MaxPooling3D, Maximum, Minimum, Multiply, Normalization, PReLU,
                     Permute, ReLU,
                     RepeatVector, Rescaling, Reshape, SeparableConv1D, SeparableConv2D, Softmax, SpatialDropout1D,
                     SpatialDropout2D, SpatialDropout3D, Subtract, UpSampling1D, UpSampling2D, UpSampling3D,
                     ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

# kcompat logs under "kcompat" (path measurements, fused chains, loaded files at DEBUG/INFO); the
# application decides whether and where that goes, as with any library.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# Imported on first use: the TF1 compatibility layer needs torch._dynamo (1.5-2.5 s to import)
# for torch.compiler.disable, the converter h5py, the parity tools their TensorFlow workers.
_LAZY = ("compat", "convert", "examples", "harness", "models", "nn", "testing")


__all__ = [
    "load_model",
    "optimize_for_inference",
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNormalization",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Normalization",
    "Maximum",
    "Minimum",
    "Multiply",
    "PReLU",
    "Permute",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "SeparableConv1D",
    "SeparableConv2D",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "Subtract",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "apply_constraints",
    "compat",
    "activations",
    "constraints",
    "errors",
    "tf_nn",
    "functional",
    "initializers",
    "regularizers",
    "shapes",
]


def load_model(path: str | os.PathLike, *, weights: str | os.PathLike | None = None,
               custom_objects: Mapping[str, Any] | None = None, strict: bool = True) -> torch.nn.Module:
    """A Keras model file (``.keras``, whole-model ``.h5``, or a JSON config with ``weights=``) as a
    ``torch.nn.Module`` of kcompat layers named as Keras names them (:mod:`kcompat.models`)."""
    from .models import load_model as load

    return load(path, weights=weights, custom_objects=custom_objects, strict=strict)


def optimize_for_inference(model: torch.nn.Module, *, compile: bool = False) -> torch.nn.Module:  # noqa: A002
    """A copy of ``model`` made for inference, its numbers kept: BatchNormalization folded into the
    layer before it, a ReLU after that layer its in-place activation, ZeroPadding into the
    convolution after it, no autograd; ``compile=True`` compiles it whole with inductor's freezing
    (:mod:`kcompat.inference`). A model in training mode is refused."""
    from .inference import optimize_for_inference as optimize

    return optimize(model, compile=compile)


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    cls = layers.declared(name)  # a layer class declared in kcompat.layers beyond the imports above
    if cls is not None:
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
