"""Layer classes, one module per family, on one Keras layer base (:mod:`kcompat.layers.base`).

Every module of this package is imported here, so a class a module declares with
``@keras_layer`` (:mod:`kcompat.layers.registry`) is in :data:`KERAS_LAYERS` and reachable as
``kcompat.layers.<Name>`` and ``kcompat.<Name>``, with no other edit.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .applications import CustomScaleLayer, LayerScale, StochasticDepth
from .attention import Attention, MultiHeadAttention
from .ops import KerasOp, SlicingOpLambda, TFOpLambda
from .base import Layer, Weight, WeightlessLayer, keras2_names
from .registry import KERAS_LAYERS, keras_layer, layer_class
from .conv import BaseConv, Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D
from .conv_transpose import (BY_RANK, BaseConvTranspose, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
                             Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose)
from .core import Dense, EinsumDense, Embedding, Identity, Rescaling
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from .preprocessing import CenterCrop, Normalization, Resizing
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .regularization import (Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                             SpatialDropout3D)
from .separable import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                        UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

for _module in _pkgutil.iter_modules(__path__):  # a family module added later needs no import line
    _importlib.import_module(f"{__name__}.{_module.name}")


def declared(name):
    """The class a module of this package declares (``@keras_layer``) under its own ``name``, or
    ``None``: what ``kcompat.layers.<name>`` and ``kcompat.<name>`` reach beyond their imports."""
    cls = KERAS_LAYERS.get(name)
    if cls is not None and cls.__name__ == name and cls.__module__.startswith(__name__ + "."):
        return cls
    return None


def __getattr__(name):
    cls = declared(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls


__all__ = ["KERAS_LAYERS", "keras_layer", "layer_class", "declared", "Layer", "Weight", "WeightlessLayer", "keras2_names",
           "BY_RANK", "BaseConv",
           "BaseConvTranspose", "Normalization", "CustomScaleLayer", "LayerScale", "StochasticDepth",
           "KerasOp", "SlicingOpLambda", "TFOpLambda", "CenterCrop", "Identity", "Resizing", "UnitNormalization",
           "MultiHeadAttention", "Dot", "Attention", "EinsumDense",
           "Activation", "Add", "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D",
           "AvgPool2D", "AvgPool3D", "BatchNormalization", "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D",
           "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "Convolution1D", "Convolution1DTranspose",
           "Convolution2D", "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose", "Cropping1D",
           "Cropping2D", "Cropping3D", "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "Dropout", "ELU", "Embedding",
           "Flatten", "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
           "GroupNormalization", "LayerNormalization", "LeakyReLU", "MaxPool1D", "MaxPool2D", "MaxPool3D",
           "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Maximum", "Minimum", "Multiply", "PReLU", "Permute",
           "ReLU", "RepeatVector", "Rescaling", "Reshape", "SeparableConv1D", "SeparableConv2D", "Softmax",
           "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Subtract", "UpSampling1D", "UpSampling2D",
           "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"]
